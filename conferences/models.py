"""Case conferences: scheduling with a legal basis, preparation, agenda, attendance, and the
live record (notes, decisions, action items) with its append-only event log.

Who may see or do what is decided in `permissions.conferences`; these models hold facts only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from permissions.models import Agency, Area, Tier

MAX_TEXT = settings.OTAGAI_MAX_TEXT
USER = settings.AUTH_USER_MODEL


class Conference(models.Model):
    class Kind(models.TextChoices):
        # 支援会議: members appointed per case share without consent; secrecy duty.
        SUPPORT_MEETING = "support_meeting", _("Support meeting (支援会議)")
        # 重層的支援会議: rests on the person's consent; decides the support plan.
        MULTILAYER = "multilayer", _("Multi-layered support meeting (重層的支援会議)")
        COMMUNITY_CARE = "community_care", _("Community care meeting, individual (地域ケア会議)")
        CHILD_COUNCIL = "child_council", _("Child protection case meeting (要対協)")
        NEEDY = "needy", _("Support meeting for people in need (生活困窮者 支援会議)")

    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        LIVE = "live", _("In progress")
        CLOSED = "closed", pgettext_lazy("conference state", "Closed")
        MINUTES_APPROVED = "minutes_approved", _("Minutes approved")

    kind = models.CharField(_("type of meeting"), max_length=20, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=200)
    starts_at = models.DateTimeField(_("starts at"))
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"), default=60)
    place = models.CharField(_("place"), max_length=200, blank=True)
    online_url = models.URLField(_("online meeting link"), blank=True)
    chair = models.ForeignKey(
        USER, on_delete=models.PROTECT, related_name="chaired_conferences", verbose_name=_("chair")
    )
    minute_taker = models.ForeignKey(
        USER,
        on_delete=models.PROTECT,
        related_name="minuted_conferences",
        null=True,
        blank=True,
        verbose_name=_("minute-taker"),
    )
    state = models.CharField(
        _("state"), max_length=20, choices=State.choices, default=State.SCHEDULED
    )
    confidentiality_statement = models.TextField(
        _("confidentiality statement"), validators=[MaxLengthValidator(4000)]
    )
    current_item = models.ForeignKey(
        "AgendaItem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("current agenda item"),
    )
    # The last sequence number given to an event of this conference (see ConferenceEvent).
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    next_date = models.DateField(_("next meeting"), null=True, blank=True)
    # One conference per submitted form, however often the button is pressed.
    schedule_token = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["-starts_at", "-pk"]
        verbose_name = _("conference")
        verbose_name_plural = _("conferences")
        indexes = [models.Index(fields=["state", "starts_at"], name="conference_state_start")]

    def __str__(self) -> str:
        return self.title

    @property
    def legal_basis(self) -> str:
        return str(LEGAL_BASIS[self.kind])

    @property
    def ends_at(self) -> dt.datetime:
        return self.starts_at + dt.timedelta(minutes=self.duration_minutes)

    @property
    def is_live(self) -> bool:
        return self.state == self.State.LIVE

    @property
    def is_open_for_edits(self) -> bool:
        return self.state in {self.State.SCHEDULED, self.State.LIVE}

    @property
    def is_closed(self) -> bool:
        """Over: closed, with or without approved minutes (feedback opens then)."""
        return self.state in {self.State.CLOSED, self.State.MINUTES_APPROVED}


LEGAL_BASIS: dict[str, Any] = {
    Conference.Kind.SUPPORT_MEETING: _("Social Welfare Act art. 106-6 (no consent needed)"),
    Conference.Kind.MULTILAYER: _("Implementation guidelines; the person's consent"),
    Conference.Kind.COMMUNITY_CARE: _("Long-Term Care Insurance Act art. 115-48"),
    Conference.Kind.CHILD_COUNCIL: _("Child Welfare Act arts. 25-2 and 25-5"),
    Conference.Kind.NEEDY: _("Act on Self-Reliance Support for the Needy art. 9"),
}

DEFAULT_STATEMENT = _(
    "What is said and shown in this meeting is confidential. I will use it only to support "
    "the people discussed, will not pass it on outside the members of this meeting, and "
    "will keep any notes securely. Members of a statutory support meeting carry a legal duty "
    "of secrecy."
)


class ConferenceCase(models.Model):
    """A case on the agenda of a conference."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="items")
    case = models.ForeignKey(
        "casework.Case", on_delete=models.PROTECT, related_name="conference_links"
    )
    order = models.PositiveSmallIntegerField(default=0)
    # Cases that concern children come first so that children's agencies can leave.
    concerns_children = models.BooleanField(_("concerns children"), default=False)
    # 支援会議: the tier the appointed members' shares were granted at.
    member_tier = models.PositiveSmallIntegerField(
        _("members' tier"), choices=Tier.choices, default=Tier.SUPPORT
    )
    consent = models.ForeignKey(
        "permissions.Consent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("consent relied on"),
    )

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["conference", "case"], name="conference_case_unique")
        ]

    def __str__(self) -> str:
        return f"{self.conference_id}: {self.case_id}"


class Invitation(models.Model):
    """An invited agency (all its members may join) or an invited person (agency set too)."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="invitations")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        USER, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["agency__name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["conference", "agency"],
                condition=Q(user__isnull=True),
                name="invitation_unique_agency",
            ),
            models.UniqueConstraint(
                fields=["conference", "user"],
                condition=Q(user__isnull=False),
                name="invitation_unique_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conference_id}: {self.agency_id}/{self.user_id}"


class Participant(models.Model):
    """Attendance: confidentiality acknowledged, joined, or apologies sent."""

    conference = models.ForeignKey(
        Conference, on_delete=models.CASCADE, related_name="participants"
    )
    user = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+", null=True)
    acknowledged_at = models.DateTimeField(_("confidentiality acknowledged"), null=True)
    statement_ack = models.TextField(blank=True, editable=False)  # the text acknowledged
    joined_at = models.DateTimeField(_("joined"), null=True)
    apologies = models.BooleanField(_("sent apologies"), default=False)
    apology_note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        ordering = ["agency__name", "user__last_name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["conference", "user"], name="participant_unique")
        ]

    def __str__(self) -> str:
        return f"{self.conference_id}: {self.user_id}"


class Presence(models.Model):
    """One open live connection (who is here now). Rows go with the connection; the rows of a
    server process that stopped beating (killed, crashed) are ignored, then swept
    (conferences/consumers/presence.py, docs/live-protocol.md "Presence")."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=200, unique=True)
    connected_at = models.DateTimeField(default=timezone.now)
    # The LiveProcess holding the socket (no foreign key: a row may outlive its process's row
    # for a moment, and is then treated as that of a dead process).
    process = models.CharField(max_length=100, default="", db_index=True)

    class Meta:
        indexes = [models.Index(fields=["conference", "user"], name="presence_conf_user")]

    def __str__(self) -> str:
        return f"{self.conference_id}: {self.user_id}"


class PresenceVersion(models.Model):
    """The version of one person's presence at one meeting: every change of their presence
    rows (join, leave, sweep) takes this row's lock and the next number, in the transaction
    that changes them, so the presence frames of one person are totally ordered and a page
    keeps only the newest."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conference", "user"], name="presence_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.conference_id}: {self.user_id} v{self.version}"


class LiveProcess(models.Model):
    """A server process (one event loop) holding live sockets, with the database time of its
    last heartbeat. Presence rows of a process not seen for PRESENCE_STALE_SECONDS are no
    longer shown, and are swept by the live processes."""

    id = models.CharField(max_length=100, primary_key=True)
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.id


class PrepSheet(models.Model):
    """準備シート: what the coordinator prepares for one case before the meeting."""

    conference_case = models.OneToOneField(
        ConferenceCase, on_delete=models.CASCADE, related_name="prep"
    )
    # Support tier as a whole: it describes the household's situation.
    tier = models.PositiveSmallIntegerField(choices=Tier.choices, default=Tier.SUPPORT)
    household = models.TextField(
        _("what is known of the household"), blank=True, validators=[MaxLengthValidator(MAX_TEXT)]
    )
    current_support = models.TextField(
        _("what is being done now"), blank=True, validators=[MaxLengthValidator(MAX_TEXT)]
    )
    agencies_to_involve = models.TextField(
        _("which agencies should be involved"),
        blank=True,
        validators=[MaxLengthValidator(MAX_TEXT)],
    )
    updated_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"prep {self.conference_case_id}"


class PrepAsk(models.Model):
    """An ask to another department, answered by that agency before the meeting."""

    sheet = models.ForeignKey(PrepSheet, on_delete=models.CASCADE, related_name="asks")
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="+", verbose_name=_("agency")
    )
    tier = models.PositiveSmallIntegerField(_("tier"), choices=Tier.choices, default=Tier.SUPPORT)
    question = models.TextField(_("what is asked"), validators=[MaxLengthValidator(2000)])
    answer = models.TextField(_("answer"), blank=True, validators=[MaxLengthValidator(MAX_TEXT)])
    asked_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    asked_at = models.DateTimeField(default=timezone.now)
    answered_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["asked_at", "pk"]

    def __str__(self) -> str:
        return f"ask {self.pk}"


class AgendaItem(models.Model):
    class Kind(models.TextChoices):
        SITUATION = "situation", _("Situation")
        REVIEW = "review", _("Review of open actions")
        DISCUSSION = "discussion", _("Discussion")
        DECISIONS = "decisions", _("Decisions")
        ROLES = "roles", _("Role allocation")
        OTHER = "other", _("Other business")

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="agenda")
    # None: other business, not about one case (readable at the watch tier only).
    case = models.ForeignKey(
        "casework.Case", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Empty for the items scheduling generates: their heading is the case's label and the
    # kind's name, in the reader's language (`heading`). Items the chair adds have their own.
    title = models.CharField(_("title"), max_length=200, blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "pk"]

    def __str__(self) -> str:
        return self.heading

    @property
    def heading(self) -> str:
        """The item's title, or the generated one in the active language (reads the case:
        select it with the item)."""
        if self.title:
            return self.title
        kind = str(self.Kind(self.kind).label)
        if self.case is None:
            return kind
        return gettext("%(case)s: %(item)s") % {"case": self.case.label, "item": kind}


class LiveRecord(models.Model):
    """What notes, decisions and action items share: a tier, a case, an author, a version.

    `version` grows with every edit; an edit names the version it was based on, so that two
    people editing at once never overwrite each other silently.
    """

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="+")
    agenda_item = models.ForeignKey(
        AgendaItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    case = models.ForeignKey(
        "casework.Case", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tier = models.PositiveSmallIntegerField(_("tier"), choices=Tier.choices, default=Tier.SUPPORT)
    author = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, null=True, related_name="+")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, related_name="+")
    # Deleted records stay in the table (the minutes and the event log refer to them).
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["created_at", "pk"]


class Note(LiveRecord):
    text = models.TextField(_("note"), validators=[MaxLengthValidator(MAX_TEXT)])

    class Meta(LiveRecord.Meta):
        verbose_name = _("note")
        indexes = [models.Index(fields=["conference", "tier"], name="note_conference_tier")]

    def __str__(self) -> str:
        return f"note {self.pk}"


class Decision(LiveRecord):
    text = models.TextField(_("decision"), validators=[MaxLengthValidator(MAX_TEXT)])

    class Meta(LiveRecord.Meta):
        verbose_name = _("decision")

    def __str__(self) -> str:
        return f"decision {self.pk}"


class ActionItem(LiveRecord):
    """Who does what by when (役割分担). Follow-ups (status changes, history, reminders)
    extend this model; a conference is optional so that items can come from a case page."""

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("action item status", "Open")
        IN_PROGRESS = "in_progress", pgettext_lazy("action item status", "In progress")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")
        NOT_DONE = "not_done", _("Not done")

    class NotDoneReason(models.TextChoices):
        CIRCUMSTANCES = "circumstances_changed", _("Circumstances changed")
        NOT_UNDERTAKEN = "not_undertaken", _("Not undertaken by the agency")
        OTHER = "other", _("Other")

    OPEN_STATUSES = (Status.OPEN, Status.IN_PROGRESS)

    conference = models.ForeignKey(  # type: ignore[assignment]
        Conference, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    title = models.CharField(_("what"), max_length=300)
    details = models.TextField(_("details"), blank=True, validators=[MaxLengthValidator(MAX_TEXT)])
    owner_user = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="action_items"
    )
    owner_agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, null=True, blank=True, related_name="action_items"
    )
    due_on = models.DateField(_("due"))
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    status_reason = models.CharField(
        _("reason"), max_length=30, blank=True, choices=NotDoneReason.choices
    )
    completion_note = models.TextField(blank=True, validators=[MaxLengthValidator(MAX_TEXT)])
    # Follow-ups (docs/follow-ups.md). `status_reason` holds a `NotDoneReason` value;
    # `reason_text` says more when the reason is "other" (MARAC: why it was not done).
    reason_text = models.CharField(_("reason, in your words"), max_length=500, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta(LiveRecord.Meta):
        verbose_name = _("action item")
        constraints = [
            models.CheckConstraint(
                condition=Q(owner_user__isnull=False) | Q(owner_agency__isnull=False),
                name="action_has_owner",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def is_overdue(self, today: dt.date | None = None) -> bool:
        return self.is_open and self.due_on < (today or timezone.localdate())


class ActionChange(models.Model):
    """One change of an action item (who, when, what): append-only history."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        STATUS = "status", _("Status changed")
        REASSIGNED = "reassigned", _("Reassigned")
        DUE = "due", _("Due date changed")
        REVIEWED = "reviewed", _("Reviewed at a conference")
        EDITED = "edited", _("Edited")

    action = models.ForeignKey(ActionItem, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    conference = models.ForeignKey(
        Conference, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # {"field": [old, new], ...} plus "note" where one was given.
    detail = models.JSONField(default=dict)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action_id} {self.kind}"


class ActionReview(models.Model):
    """An open item carried forward into a later conference's "review of actions", and what
    the meeting decided about it (minuted: the minutes read these rows)."""

    class Outcome(models.TextChoices):
        PENDING = "", _("Not yet reviewed")
        DONE = "done", _("Done")
        CONTINUED = "continued", _("Continued")
        CLOSED = "closed", _("Closed with a reason")

    conference = models.ForeignKey(
        Conference, on_delete=models.CASCADE, related_name="action_reviews"
    )
    action = models.ForeignKey(ActionItem, on_delete=models.CASCADE, related_name="reviews")
    agenda_item = models.ForeignKey(
        AgendaItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    due_on_before = models.DateField()
    was_overdue = models.BooleanField(default=False)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True, default="")
    new_due_on = models.DateField(null=True, blank=True)
    reason = models.CharField(max_length=30, blank=True)
    note = models.TextField(blank=True, validators=[MaxLengthValidator(2000)])
    reviewed_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_on_before", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["conference", "action"], name="action_review_unique")
        ]

    def __str__(self) -> str:
        return f"review {self.conference_id}/{self.action_id}"


class FollowupNotification(models.Model):
    """In-app notice: an item was assigned or reassigned to you. Holds no case text: the
    item is shown through the reader's own access when opened."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", _("Assigned to you")
        REASSIGNED = "reassigned", _("Reassigned to you")
        ESCALATED = "escalated", _("Overdue by 14 days")

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="followup_notices")
    action = models.ForeignKey(ActionItem, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    note = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.kind} {self.action_id}"


class FollowupProfile(models.Model):
    """Per-user follow-up settings: the language of reminder mail and the calendar token."""

    user = models.OneToOneField(USER, on_delete=models.CASCADE, related_name="followup_profile")
    language = models.CharField(
        _("language of reminders"), max_length=8, choices=settings.LANGUAGES, default="ja"
    )
    # The private iCalendar feed: None = revoked (or never made). Stored hashed.
    calendar_token_hash = models.CharField(max_length=64, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"followups {self.user_id}"


class ReminderSent(models.Model):
    """One reminder or escalation mail already sent: `send_reminders` never sends it twice.

    `key` is "digest:<date>" per recipient and day, or "escalate:<action id>" once per item.
    """

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    actions = models.JSONField(default=list)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="reminder_sent_unique")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.key}"


class ConferenceEvent(models.Model):
    """The per-conference log every live change is written to, in the same transaction.

    `seq` is gap-free per conference. `case` and `tier` say who may receive the event; a
    `below_tier` event (a record whose tier was raised) goes only to readers who held the old
    tier but not the new one, and carries nothing but the record's id.
    """

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=40)
    case = models.ForeignKey(
        "casework.Case",
        on_delete=models.DO_NOTHING,
        null=True,
        db_constraint=False,
        related_name="+",
    )
    tier = models.PositiveSmallIntegerField(default=Tier.WATCH)
    below_tier = models.PositiveSmallIntegerField(null=True)
    payload = models.JSONField(default=dict)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["conference", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conference", "seq"], name="event_unique_seq")
        ]

    def __str__(self) -> str:
        return f"{self.conference_id}#{self.seq} {self.type}"


class ClientOp(models.Model):
    """A client operation already applied: a retry with the same id returns the same ack."""

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="+")
    client_op_id = models.CharField(max_length=64)
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField(null=True)
    result = models.JSONField(default=dict)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conference", "client_op_id"], name="client_op_unique")
        ]

    def __str__(self) -> str:
        return f"{self.conference_id}: {self.client_op_id}"


class Feedback(models.Model):
    class Answer(models.TextChoices):
        YES = "yes", _("Yes")
        PARTLY = "partly", _("Partly")
        NO = "no", _("No")

    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, null=True, related_name="+")
    useful = models.CharField(_("Was the meeting useful?"), max_length=10, choices=Answer.choices)
    role_clear = models.CharField(
        _("Was your agency's role clear?"), max_length=10, choices=Answer.choices
    )
    comment = models.TextField(_("comment"), blank=True, validators=[MaxLengthValidator(2000)])
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["conference", "user"], name="feedback_unique")
        ]

    def __str__(self) -> str:
        return f"feedback {self.conference_id}/{self.user_id}"


class CommunityIssue(models.Model):
    """A community issue (地域課題) noticed in a conference: a fixed topic and a life area, no
    free text, so that it can be counted in the unmet-needs report (casework.reporting)."""

    class Topic(models.TextChoices):
        ISOLATION = "isolation", _("No place to go; social isolation")
        HOUSING = "housing", _("Housing that cannot be found or kept")
        TRANSPORT = "transport", _("Shopping and transport")
        GAP = "gap", _("A need between existing services (制度の狭間)")
        YOUNG_CARERS = "young_carers", _("Young carers")
        WITHDRAWAL = "withdrawal", _("Support for people withdrawn at home")
        MONEY = "money", _("Money management and debt")
        OTHER = "other", _("Other")

    conference = models.ForeignKey(
        Conference, on_delete=models.CASCADE, related_name="community_issues"
    )
    topic = models.CharField(_("community issue"), max_length=20, choices=Topic.choices)
    area = models.ForeignKey(
        Area,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"parent__isnull": True},
        verbose_name=_("life area"),
    )
    tagged_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    tagged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["topic", "area_id"]
        verbose_name = _("community issue")
        verbose_name_plural = _("community issues")
        constraints = [
            models.UniqueConstraint(
                fields=["conference", "topic", "area"], name="community_issue_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_topic_display()} ({self.area})"


# Minutes live in their own module but belong to this app.
from conferences.minutes.models import (  # noqa: E402, F401
    MinutesDraft,
    MinutesExport,
    MinutesVersion,
)
