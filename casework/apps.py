from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

# Django 6.1's label for an empty choice in a select (`BLANK_CHOICE_LABEL` in
# django.db.models.fields) is not in Django's Japanese catalogue yet: ours translates it, and
# this line keeps it in ours when `makemessages` collects the strings again.
DJANGO_BLANK_CHOICE = gettext_noop("- Select an option -")


class CaseworkConfig(AppConfig):
    name = "casework"
    verbose_name = _("Case records")
