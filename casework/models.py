"""Cases: a person or household with complex needs, their household and family timeline.

Every field's tier is declared once, in `casework.tiers`.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from permissions.models import Agency, Area, Tier

MAX_TEXT = settings.OTAGAI_MAX_TEXT


def long_text(label: Any, **kwargs: Any) -> models.TextField:
    return models.TextField(label, blank=True, validators=[MaxLengthValidator(MAX_TEXT)], **kwargs)


def normalize_kana(text: str) -> str:
    """Fold text for name search: NFKC, lower case, katakana to hiragana, no spaces."""
    text = unicodedata.normalize("NFKC", text or "").lower()
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
