"""Administration of conference scheduling facts only. Notes, decisions, action items and the
event log are deliberately not registered: their tiers are enforced by `permissions/`, and
staff status is not a share of any case."""

from django.contrib import admin

from conferences.models import Conference, Invitation, Participant


class InvitationInline(admin.TabularInline):
    model = Invitation
    extra = 0
    raw_id_fields = ["agency", "user"]


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 0
    fields = ["user", "agency", "acknowledged_at", "joined_at", "apologies"]
    readonly_fields = fields


@admin.register(Conference)
class ConferenceAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "state", "starts_at", "chair"]
    list_filter = ["kind", "state"]
    date_hierarchy = "starts_at"
    raw_id_fields = ["chair", "minute_taker", "created_by", "closed_by", "current_item"]
    readonly_fields = ["last_seq", "schedule_token", "created_at", "started_at", "closed_at"]
    inlines = [InvitationInline, ParticipantInline]
