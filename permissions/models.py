"""Agencies, areas, memberships, shares and consents: the facts access is decided from.

Only `permissions.policy` interprets these facts; nothing else checks roles or tiers.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Tier(models.IntegerChoices):
    """How sensitive a piece of case information is. Higher reads lower."""

    WATCH = 1, _("Watch-over")  # みまもり
    SUPPORT = 2, _("Support")  # 支援
    SENSITIVE = 3, _("Sensitive")  # 要配慮個人情報


class Area(models.Model):
    """A life area (生活圏域, no parent) or a small area (町会, parent = its life area)."""

    name = models.CharField(_("name"), max_length=100)
    kana = models.CharField(_("reading"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="small_areas",
        verbose_name=_("life area"),
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "pk"]
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="area_unique_name_in_parent"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_life_area(self) -> bool:
        return self.parent_id is None


class Agency(models.Model):
    class Kind(models.TextChoices):
        COUNCIL = "council", _("Social Welfare Council")
        WARD_SECTION = "ward_section", _("Ward section")
        PROFESSIONAL = "professional", _("Professional body")
        RESIDENTS = "residents", _("Residents' group")

    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    area = models.ForeignKey(
        Area,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="agencies",
        verbose_name=_("area"),
        help_text=_("For residents' groups: the area they cover."),
    )
    # 避難行動要支援者名簿: designated supporters (民生委員, 町会, police, fire, the council).
    disaster_supporter = models.BooleanField(_("designated disaster supporter"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["kind", "name"]
        verbose_name = _("agency")
        verbose_name_plural = _("agencies")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        COORDINATOR = "coordinator", _("Coordinator")
        PROFESSIONAL = "professional", _("Professional")
        RESIDENT = "resident", _("Resident member")
        AGENCY_ADMIN = "agency_admin", _("Agency administrator")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    title = models.CharField(pgettext_lazy("job title", "title"), max_length=100, blank=True)
    life_areas = models.ManyToManyField(
        Area,
        blank=True,
        related_name="coordinators",
        verbose_name=_("life areas covered"),
        limit_choices_to={"parent__isnull": True},
    )

    class Meta:
        ordering = ["agency__name"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "agency"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.agency} ({self.get_role_display()})"


class Consent(models.Model):
    """What the person agreed to share, with which agencies, up to which tier (本人同意)."""

    class Method(models.TextChoices):
        WRITTEN = "written", _("Signed form")
        VERBAL = "verbal", _("Verbal, recorded by staff")
        PROXY = "proxy", _("By a legal representative")

    case = models.ForeignKey("casework.Case", on_delete=models.CASCADE, related_name="consents")
    agencies = models.ManyToManyField(Agency, related_name="consents", verbose_name=_("agencies"))
    tier = models.PositiveSmallIntegerField(
        _("highest tier covered"), choices=Tier.choices, default=Tier.SUPPORT
    )
    given_on = models.DateField(_("date given"))
    method = models.CharField(_("method"), max_length=20, choices=Method.choices)
    expires_on = models.DateField(_("valid until"), null=True, blank=True)
    scope_note = models.TextField(_("what was agreed"), blank=True, max_length=2000)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["-given_on", "-pk"]
        verbose_name = _("consent")
        verbose_name_plural = _("consents")

    def __str__(self) -> str:
        return f"{self.case_id}: {self.given_on}"

    @staticmethod
    def valid_q(prefix: str = "", today: dt.date | None = None) -> Q:
        """Consent that grants today: not withdrawn, not expired (checked at query time)."""
        today = today or timezone.localdate()
        return Q(**{f"{prefix}withdrawn_at__isnull": True}) & (
            Q(**{f"{prefix}expires_on__isnull": True}) | Q(**{f"{prefix}expires_on__gte": today})
        )

    def state(self, today: dt.date | None = None) -> str:
        today = today or timezone.localdate()
        if self.withdrawn_at:
            return "withdrawn"
        if self.expires_on and self.expires_on < today:
            return "expired"
        if self.given_on > today:
            return "future"
        return "valid"

    def get_state_display(self) -> str:
        return str(CONSENT_STATE_LABELS[self.state()])


CONSENT_STATE_LABELS = {
    "valid": _("Valid"),
    "expired": _("Expired"),
    "withdrawn": _("Withdrawn"),
    "future": _("Not yet in force"),
}


class Share(models.Model):
    """An agency's access to one case: the single source of truth for agency access."""

    class Basis(models.TextChoices):
        INTAKE = "intake", _("Agency holding the consultation (相談受付)")
        SUPPORT_MEETING = "support_meeting", _("Support meeting member (Social Welfare Act 106-6)")
        CONSENT = "consent", _("Recorded consent of the person")
        CHILD_COUNCIL = "child_council", _("Child protection council (Child Welfare Act 25-2)")
        EMERGENCY = "emergency", _("Emergency (vital interest)")

    case = models.ForeignKey("casework.Case", on_delete=models.CASCADE, related_name="shares")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="shares")
    tier = models.PositiveSmallIntegerField(_("highest tier"), choices=Tier.choices)
    may_contribute = models.BooleanField(_("may contribute"), default=False)
    coordinates = models.BooleanField(_("coordinates the case"), default=False)
    basis = models.CharField(_("legal basis"), max_length=20, choices=Basis.choices)
    consent = models.ForeignKey(
        Consent,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="shares",
        verbose_name=_("consent"),
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    granted_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        ordering = ["agency__name"]
        verbose_name = _("share")
        verbose_name_plural = _("shares")
        constraints = [
            models.UniqueConstraint(fields=["case", "agency"], name="share_unique_case_agency"),
            models.CheckConstraint(
                condition=~Q(basis="consent") | Q(consent__isnull=False),
                name="share_consent_basis_needs_consent",
            ),
            models.CheckConstraint(condition=Q(tier__in=[1, 2, 3]), name="share_tier_valid"),
        ]
        indexes = [models.Index(fields=["agency", "case"], name="share_agency_case")]

    def __str__(self) -> str:
        return f"{self.agency} → {self.case_id} ({self.get_tier_display()})"

    @staticmethod
    def active_q(prefix: str = "", now: dt.datetime | None = None) -> Q:
        """Shares that grant now. Expiry and withdrawn or expired consent need no job."""
        now = now or timezone.now()
        not_expired = Q(**{f"{prefix}expires_at__isnull": True}) | Q(
            **{f"{prefix}expires_at__gt": now}
        )
        consent_ok = ~Q(**{f"{prefix}basis": Share.Basis.CONSENT}) | Consent.valid_q(
            f"{prefix}consent__", timezone.localdate(now)
        )
        return not_expired & consent_ok

    def clean(self) -> None:
        if self.basis == Share.Basis.CONSENT and not self.consent_id:
            raise ValidationError(
                {"consent": _("Sharing on the basis of consent needs a recorded consent.")}
            )
        if self.expires_at and self.expires_at <= timezone.now():
            raise ValidationError({"expires_at": _("The expiry must be in the future.")})


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an append-only row."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")

    def delete(self):  # type: ignore[no-untyped-def]
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")

    def bulk_update(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")


class AppendOnlyModel(models.Model):
    """A row that is written once. The ORM refuses changes; on PostgreSQL a trigger does too."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only")


class AuditEvent(AppendOnlyModel):
    """Who read, changed or exported what, when, and why."""

    class Action(models.TextChoices):
        CASE_VIEW = "case_view", _("Viewed case")
        CASE_LIST = "case_list", _("Listed cases")
        CASE_SEARCH = "case_search", _("Searched cases")
        CASE_CREATE = "case_create", _("Opened case")
        CASE_UPDATE = "case_update", _("Changed case")
        CHRONOLOGY_ADD = "chronology_add", _("Added timeline entry")
        MEMBER_CHANGE = "member_change", _("Changed household member")
        SHARE_GRANT = "share_grant", _("Granted share")
        SHARE_CHANGE = "share_change", _("Changed share")
        SHARE_REVOKE = "share_revoke", _("Revoked share")
        CONSENT_RECORD = "consent_record", _("Recorded consent")
        CONSENT_WITHDRAW = "consent_withdraw", _("Withdrew consent")
        EXPORT = "export", _("Exported")
        AUDIT_VIEW = "audit_view", _("Viewed access log")
        ACCESS_DENIED = "access_denied", _("Access refused")
        CONCERN_REPORT = "concern_report", _("Reported a concern")
        CONCERN_TRIAGE = "concern_triage", _("Triaged a concern")
        WATCH_CHANGE = "watch_change", _("Changed watch-over")
        VISIT_LOG = "visit_log", _("Logged a watch-over visit")
        PLAN_CHANGE = "plan_change", _("Changed evacuation plan")
        LIST_VIEW = "list_view", _("Viewed disaster-support list")
        DECLARATION_START = "declaration_start", _("Declared a disaster")
        DECLARATION_END = "declaration_end", _("Ended a disaster declaration")
        SAFETY_MARK = "safety_mark", _("Recorded a safety check")
        BREAK_GLASS = "break_glass", _("Emergency access (break-glass)")
        BREAK_GLASS_REVIEW = "break_glass_review", _("Reviewed emergency access")
        REPORT_VIEW = "report_view", _("Viewed review report")
        CONFERENCE_SCHEDULE = "conference_schedule", _("Scheduled a conference")
        RETENTION = "retention", _("Removed personal content (retention)")
        MINUTES_APPROVE = "minutes_approve", _("Approved a version of the minutes")

    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        db_constraint=False,
        verbose_name=_("who"),
    )
    actor_label = models.CharField(_("who (as recorded)"), max_length=200, blank=True)
    agency = models.ForeignKey(
        Agency,
        on_delete=models.DO_NOTHING,
        null=True,
        related_name="+",
        db_constraint=False,
        verbose_name=_("agency"),
    )
    action = models.CharField(_("action"), max_length=32, choices=Action.choices, db_index=True)
    # No database constraint: the trail outlives the case (retention keeps it).
    case = models.ForeignKey(
        "casework.Case",
        on_delete=models.DO_NOTHING,
        null=True,
        related_name="+",
        db_constraint=False,
        verbose_name=_("case"),
    )
    tier = models.PositiveSmallIntegerField(_("tier shown"), choices=Tier.choices, null=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["case", "-at"], name="audit_case_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"


class Declaration(models.Model):
    """A declared disaster for some areas (災害対策基本法 49条の11): while it lasts, the
    designated supporters of those areas see the whole disaster-support list, without consent.
    """

    reason = models.CharField(_("reason"), max_length=500)
    areas = models.ManyToManyField(Area, related_name="declarations", verbose_name=_("areas"))
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(_("declared at"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    end_note = models.CharField(_("note on ending"), max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("disaster declaration")
        verbose_name_plural = _("disaster declarations")
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="declaration_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.reason[:40]}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


class BreakGlass(models.Model):
    """Emergency access to a case without a share: a reason, a few hours, watch and support
    tiers only, an alert at once and a coordinator's review afterwards."""

    class Review(models.TextChoices):
        PENDING = "pending", _("Waiting for review")
        ACCEPTED = "accepted", _("Accepted")
        QUESTIONED = "questioned", _("Questioned")

    MAX_HOURS = 4

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="break_glasses"
    )
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(
        "casework.Case", on_delete=models.CASCADE, related_name="break_glasses"
    )
    reason = models.CharField(_("reason"), max_length=1000)
    tier = models.PositiveSmallIntegerField(_("tier granted"), choices=Tier.choices)
    started_at = models.DateTimeField(_("opened at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    review = models.CharField(
        _("review"), max_length=20, choices=Review.choices, default=Review.PENDING
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_note = models.CharField(_("review note"), max_length=1000, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("emergency access")
        verbose_name_plural = _("emergency accesses")
        constraints = [
            # Never above the support tier, whatever the caller asks.
            models.CheckConstraint(condition=Q(tier__in=[1, 2]), name="breakglass_tier_max"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("started_at")),
                name="breakglass_expires_after_start",
            ),
        ]
        indexes = [models.Index(fields=["user", "case", "expires_at"], name="breakglass_lookup")]

    def __str__(self) -> str:
        return f"{self.user} → {self.case_id} ({self.started_at:%Y-%m-%d %H:%M})"

    @staticmethod
    def active_q(prefix: str = "", now: dt.datetime | None = None) -> Q:
        now = now or timezone.now()
        return Q(**{f"{prefix}expires_at__gt": now, f"{prefix}started_at__lte": now})

    @property
    def is_active(self) -> bool:
        return self.started_at <= timezone.now() < self.expires_at


class DisclosureRecord(AppendOnlyModel):
    """The disclosure ledger: what went to whom, on what basis (every export)."""

    class Basis(models.TextChoices):
        CONSENT = "consent", _("Consent of the persons listed")
        DECLARATION = "declaration", _("Declared disaster (Disaster Countermeasures Act 49-11)")
        SHARE = "share", _("Share on the case")
        STATISTICS = "statistics", _("Anonymised statistics, small cells suppressed")

    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        verbose_name=_("who"),
    )
    actor_label = models.CharField(_("who (as recorded)"), max_length=200)
    agency = models.ForeignKey(
        Agency,
        on_delete=models.DO_NOTHING,
        null=True,
        related_name="+",
        db_constraint=False,
        verbose_name=_("agency"),
    )
    kind = models.CharField(_("what"), max_length=50)
    description = models.CharField(_("description"), max_length=500)
    basis = models.CharField(_("basis"), max_length=20, choices=Basis.choices)
    declaration = models.ForeignKey(
        Declaration,
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="disclosures",
        db_constraint=False,
    )
    case_ids = models.JSONField(_("cases included"), default=list)
    tier = models.PositiveSmallIntegerField(_("highest tier included"), choices=Tier.choices)
    sha256 = models.CharField(_("SHA-256 of the file"), max_length=64)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("disclosure record")
        verbose_name_plural = _("disclosure ledger")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.kind}"
