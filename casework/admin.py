from django.contrib import admin

from casework.models import NeedCategory


@admin.register(NeedCategory)
class NeedCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "order"]


# Cases are not in the admin: administrators manage agencies, areas and accounts, and read
# case content only through a share, like everyone else.
