"""Cases: a person or household with complex needs, their household and family timeline.

Every field's tier is declared once, in `casework.tiers`.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from permissions.models import Agency, Area, Declaration, Tier

MAX_TEXT = settings.OTAGAI_MAX_TEXT


def long_text(label: Any, **kwargs: Any) -> models.TextField:
    return models.TextField(label, blank=True, validators=[MaxLengthValidator(MAX_TEXT)], **kwargs)


# Old and variant forms of kanji common in family names (異体字), folded to the everyday form
# for search only (the name itself is kept and printed as written): whoever types 高橋 or 山崎
# finds 髙橋 and 山﨑. A frozen copy lives in migration casework 0008, which refolds the
# stored search text: extend both together.
NAME_VARIANTS = {
    "髙": "高", "﨑": "崎", "嵜": "崎", "碕": "崎", "邊": "辺", "邉": "辺", "齋": "斎",
    "齊": "斎", "斉": "斎", "澤": "沢", "濱": "浜", "濵": "浜", "廣": "広", "櫻": "桜",
    "眞": "真", "國": "国", "嶋": "島", "嶌": "島", "德": "徳", "惠": "恵", "瀨": "瀬",
    "槇": "槙", "實": "実", "關": "関", "藏": "蔵", "條": "条", "冨": "富", "舘": "館",
    "萬": "万", "傳": "伝", "壽": "寿", "彌": "弥", "榮": "栄", "靜": "静", "來": "来",
    "淺": "浅", "龍": "竜", "黑": "黒", "圓": "円", "與": "与", "驛": "駅", "戶": "戸",
}  # fmt: skip
_FOLD_VARIANTS = str.maketrans(NAME_VARIANTS)


def normalize_kana(text: str) -> str:
    """Fold text for name search: NFKC, variant kanji to their everyday form, lower case,
    katakana to hiragana, no spaces."""
    text = unicodedata.normalize("NFKC", text or "").translate(_FOLD_VARIANTS).lower()
    folded = []
    for ch in text:
        code = ord(ch)
        if 0x30A1 <= code <= 0x30F6:  # katakana → hiragana
            ch = chr(code - 0x60)
        if not ch.isspace() and ch not in "・･":
            folded.append(ch)
    return "".join(folded)


class NeedCategory(models.Model):
    """A need from the council's taxonomy (社会的孤立, ひきこもり, 8050, …); extensible."""

    code = models.SlugField(unique=True)
    name = models.CharField(_("name"), max_length=100)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "pk"]
        verbose_name = _("need category")
        verbose_name_plural = _("need categories")

    def __str__(self) -> str:
        return self.name


class Case(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACTIVE = "active", _("Being supported")
        MONITORING = "monitoring", _("Monitoring")
        CLOSED = "closed", _("Closed")

    class Coverage(models.TextChoices):
        COVERED = "covered", _("Covered by existing services")
        PARTLY = "partly", _("Partly covered")
        NOT_COVERED = "not_covered", _("Not covered by existing services")

    # watch tier
    label = models.CharField(_("household"), max_length=100)
    life_area = models.ForeignKey(
        Area, on_delete=models.PROTECT, related_name="cases", verbose_name=_("life area")
    )
    small_area = models.ForeignKey(
        Area,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="small_area_cases",
        verbose_name=_("small area"),
    )
    address = models.CharField(_("address or landmark"), max_length=200, blank=True)
    watch_notes = models.TextField(
        _("how to watch over"), blank=True, validators=[MaxLengthValidator(2000)]
    )
    disaster_needs = models.TextField(
        _("support needed in a disaster"), blank=True, validators=[MaxLengthValidator(2000)]
    )
    watch_over = models.BooleanField(_("watch-over"), default=False)
    disaster_support = models.BooleanField(_("needs help in a disaster"), default=False)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.OPEN
    )
    # support tier
    summary = long_text(_("summary"))
    situation = long_text(_("situation"))
    issues = long_text(_("issues"))
    support_plan = long_text(_("support plan"))
    need_categories = models.ManyToManyField(
        NeedCategory, blank=True, related_name="cases", verbose_name=_("need categories")
    )
    coverage = models.CharField(
        _("existing services"),
        max_length=20,
        choices=Coverage.choices,
        default=Coverage.NOT_COVERED,
    )
    # sensitive tier (要配慮個人情報)
    health = long_text(_("health"))
    disability = long_text(_("disability"))
    abuse = long_text(_("abuse or neglect"))
    finances = long_text(_("finances in detail"))

    lead_coordinator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="led_cases",
        verbose_name=_("lead coordinator"),
    )
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # Set when retention removed the personal content (casework.retention): what is left is a
    # stub for statistics and for the audit trail and the disclosure ledger to point at.
    purged_at = models.DateTimeField(_("personal content removed"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Folded names and readings of the household (watch tier only) for kana search.
    search_text = models.CharField(max_length=1000, blank=True, editable=False)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        permissions = [
            ("export_case", "Can export this case (per person)"),
        ]
        indexes = [
            models.Index(fields=["life_area", "status"], name="case_area_status"),
            # The list's order: a page is read from this index instead of sorting every case.
            models.Index(fields=["-updated_at", "-id"], name="case_updated_desc"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def reference(self) -> str:
        return f"C-{self.pk:05d}"

    @property
    def updated_on(self) -> dt.date:
        """The local date of the last change (the list shows it as YYYY-MM-DD)."""
        return timezone.localdate(self.updated_at)

    @property
    def status_label(self) -> str:
        """`get_status_display()` without rebuilding the choices dict on every call (it
        hashes each lazy label, translating all of them): the list shows one per row."""
        try:
            return str(Case.Status(self.status).label)
        except ValueError:  # not one of the choices: shown as stored, as Django would
            return self.status


class HouseholdMember(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="members")
    name = models.CharField(_("name"), max_length=100)
    kana = models.CharField(_("reading (furigana)"), max_length=100, blank=True)
    relationship = models.CharField(_("relationship"), max_length=50, blank=True)
    is_subject = models.BooleanField(_("the person concerned"), default=False)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    age = models.PositiveSmallIntegerField(_("age"), null=True, blank=True)

    class Meta:
        ordering = ["-is_subject", "pk"]
        verbose_name = _("household member")
        verbose_name_plural = _("household members")

    def __str__(self) -> str:
        return self.name


class ChronologyEntry(models.Model):
    """One dated line of the family timeline (家族年表), written by an agency."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="chronology")
    occurred_on = models.DateField(_("date"))
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="+", verbose_name=_("agency")
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    tier = models.PositiveSmallIntegerField(_("tier"), choices=Tier.choices, default=Tier.SUPPORT)
    text = models.TextField(_("what happened"), validators=[MaxLengthValidator(MAX_TEXT)])
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["occurred_on", "pk"]
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline entries")
        indexes = [models.Index(fields=["case", "tier", "occurred_on"], name="chrono_case_tier")]

    def __str__(self) -> str:
        return f"{self.occurred_on} {self.text[:30]}"

    @property
    def tier_label(self) -> str:
        """`get_tier_display()` without rebuilding the choices dict (see Case.status_label)."""
        return str(Tier(self.tier).label)


class Concern(models.Model):
    """Something a resident noticed (気づき), triaged by a coordinator of its life area."""

    class Sign(models.TextChoices):
        MAIL = "mail", _("Mail or newspapers piling up")
        NOT_SEEN = "not_seen", _("Not seen for days")
        SMELL = "smell", _("Smell or rubbish")
        SHOUTING = "shouting", _("Shouting or loud noise")
        CHILD_ALONE = "child_alone", _("A child often alone")
        LIGHTS = "lights", _("Lights on or off all day")
        CONFUSED = "confused", _("Seems confused or lost")
        OTHER = "other", _("Something else")

    class Urgency(models.TextChoices):
        LOW = "low", _("Not urgent")
        SOON = "soon", _("Within a few days")
        URGENT = "urgent", _("Urgent: today")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        LOOKING = "looking", _("Being looked at")
        LINKED = "linked", _("Linked to a case")
        OPENED = "opened", _("New case opened")
        CLOSED = "closed", _("Closed")

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="concerns"
    )
    reporter_agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    who = models.CharField(_("who or which household"), max_length=100, blank=True)
    who_unknown = models.BooleanField(_("I do not know who"), default=False)
    life_area = models.ForeignKey(
        Area, on_delete=models.PROTECT, related_name="+", verbose_name=_("life area")
    )
    small_area = models.ForeignKey(
        Area,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("small area"),
    )
    place = models.CharField(_("address or landmark"), max_length=200, blank=True)
    signs = models.JSONField(_("what you noticed"), default=list, blank=True)
    details = models.TextField(
        _("anything else"), blank=True, validators=[MaxLengthValidator(2000)]
    )
    urgency = models.CharField(
        _("how urgent"), max_length=10, choices=Urgency.choices, default=Urgency.SOON
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RECEIVED
    )
    case = models.ForeignKey(
        Case, on_delete=models.SET_NULL, null=True, blank=True, related_name="concerns"
    )
    close_reason = models.CharField(_("reason for closing"), max_length=500, blank=True)
    triaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    triaged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("reported at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("concern")
        verbose_name_plural = _("concerns")
        indexes = [models.Index(fields=["life_area", "status"], name="concern_area_status")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d} {self.who or '?'}"

    @property
    def reporter_status(self) -> str:
        """What the reporter may know: received, being looked at, or closed. No case."""
        if self.status == self.Status.RECEIVED:
            return str(_("Received"))
        if self.status == self.Status.CLOSED:
            return str(_("Closed"))
        return str(_("Being looked at"))

    def sign_labels(self) -> list[str]:
        labels = dict(self.Sign.choices)
        return [str(labels[s]) for s in self.signs if s in labels]


class WatchAssignment(models.Model):
    """Who watches over a household, and how often (見守り)."""

    class Frequency(models.TextChoices):
        DAILY = "daily", _("Every day")
        WEEKLY = "weekly", _("Every week")
        FORTNIGHTLY = "fortnightly", _("Every two weeks")
        MONTHLY = "monthly", _("Every month")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="watch_assignments")
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="+", verbose_name=_("group")
    )
    watcher = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="watch_assignments",
        verbose_name=_("person"),
    )
    frequency = models.CharField(_("how often"), max_length=20, choices=Frequency.choices)
    note = models.CharField(_("how"), max_length=200, blank=True)

    class Meta:
        ordering = ["case", "pk"]
        verbose_name = _("watch-over assignment")
        verbose_name_plural = _("watch-over assignments")

    def __str__(self) -> str:
        return f"{self.case_id}: {self.agency} ({self.get_frequency_display()})"


class VisitLog(models.Model):
    """A watch-over visit; each one also writes a watch-tier line of the family timeline."""

    class Outcome(models.TextChoices):
        WELL = "well", _("Saw them, all well")
        CONCERN = "concern", _("Saw them, something worries me")
        NOT_MET = "not_met", _("Could not meet them")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="visits")
    visited_on = models.DateField(_("date"))
    outcome = models.CharField(_("how it went"), max_length=10, choices=Outcome.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)
    visitor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    chronology = models.OneToOneField(
        ChronologyEntry, on_delete=models.PROTECT, related_name="visit", null=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-visited_on", "-pk"]
        verbose_name = _("watch-over visit")
        verbose_name_plural = _("watch-over visits")

    def __str__(self) -> str:
        return f"{self.visited_on} {self.get_outcome_display()}"


class EvacuationPlan(models.Model):
    """The person's entry on the disaster-support list (避難行動要支援者名簿) and their
    individual evacuation plan (個別避難計画). Watch tier."""

    class ListConsent(models.TextChoices):
        CONSENTED = "consented", _("Consented")
        NOT_CONSENTED = "not_consented", _("Not consented")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="evacuation_plan")
    list_consent = models.CharField(
        _("consent to give the list to supporters"),
        max_length=20,
        choices=ListConsent.choices,
        default=ListConsent.NOT_CONSENTED,
    )
    consent_on = models.DateField(_("consent recorded on"), null=True, blank=True)
    supporters = models.CharField(_("who helps"), max_length=200, blank=True)
    destination = models.CharField(_("where to"), max_length=200, blank=True)
    route_notes = models.TextField(
        _("route notes"), blank=True, validators=[MaxLengthValidator(2000)]
    )
    needs = models.TextField(
        _("what help is needed"), blank=True, validators=[MaxLengthValidator(2000)]
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("evacuation plan")
        verbose_name_plural = _("evacuation plans")

    def __str__(self) -> str:
        return f"{self.case_id}: {self.get_list_consent_display()}"


class SafetyMark(models.Model):
    """One safety check (安否確認) of one person during a declaration. `client_id` is made by
    the page, so a mark resent after the connection returns is stored once."""

    class Status(models.TextChoices):
        SAFE = "safe", _("Safe")
        NEEDS_HELP = "needs_help", _("Needs help")
        NOT_REACHED = "not_reached", _("Not reached")
        EVACUATED = "evacuated", _("Evacuated")

    declaration = models.ForeignKey(
        Declaration, on_delete=models.PROTECT, related_name="safety_marks"
    )
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="safety_marks")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    evacuated_to = models.CharField(_("evacuated to"), max_length=200, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    client_id = models.UUIDField(unique=True)
    marked_at = models.DateTimeField(_("marked at"), default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-marked_at", "-pk"]
        verbose_name = _("safety check")
        verbose_name_plural = _("safety checks")
        indexes = [
            models.Index(fields=["declaration", "case", "-marked_at"], name="safety_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.status}"
