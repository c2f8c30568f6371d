from django.contrib import admin

from permissions.models import (
    Agency,
    Area,
    AuditEvent,
    BreakGlass,
    Consent,
    Declaration,
    DisclosureRecord,
    Membership,
    Share,
)


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = ["name", "kana", "parent", "order"]
    list_filter = ["parent"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "area", "disaster_supporter", "is_active"]
    list_filter = ["kind", "disaster_supporter", "is_active"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "agency", "role", "title"]
    list_filter = ["role", "agency__kind"]
    search_fields = ["user__username", "user__last_name", "agency__name"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The whole log, filterable; append-only, so nothing can be added, changed or deleted."""

    list_display = ["at", "actor_label", "agency", "action", "case_id", "tier", "ip"]
    list_filter = ["action", "tier", "at", "agency"]
    search_fields = ["actor_label", "reason", "case__id"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


# Shares and consents are case information: managed on the case pages, audited there.
# They are deliberately not editable in the admin.
_ = (Consent, Share)


@admin.register(Declaration)
class DeclarationAdmin(admin.ModelAdmin):
    """Read-only here: declaring and ending go through the council's page (audited)."""

    list_display = ["started_at", "reason", "ended_at", "declared_by"]
    list_filter = ["ended_at"]
    filter_horizontal = ["areas"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(BreakGlass)
class BreakGlassAdmin(admin.ModelAdmin):
    """Emergency accesses, for oversight; opened and reviewed only through their pages."""

    list_display = ["started_at", "user", "agency", "case_id", "expires_at", "review"]
    list_filter = ["review", "started_at"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(DisclosureRecord)
class DisclosureRecordAdmin(admin.ModelAdmin):
    """The disclosure ledger; append-only."""

    list_display = ["at", "actor_label", "agency", "kind", "basis", "description"]
    list_filter = ["basis", "kind", "at"]
    readonly_fields = [f.name for f in DisclosureRecord._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
