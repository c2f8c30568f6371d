"""Minutes: the chair's working draft and the approved, immutable versions.

Registered in the conferences app (imported at the end of conferences/models.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from permissions.models import Agency, AppendOnlyModel, DisclosureRecord

USER = settings.AUTH_USER_MODEL


class MinutesDraft(models.Model):
    """What the chair edits: assembled when the conference closes, kept after approval so a
    correction starts from the last approved text."""

    conference = models.OneToOneField(
        "conferences.Conference", on_delete=models.CASCADE, related_name="minutes_draft"
    )
    content = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("draft minutes")

    def __str__(self) -> str:
        return f"draft minutes {self.conference_id}"


class MinutesVersion(AppendOnlyModel):
    """An approved version: the content snapshot and its SHA-256. Never changed: the ORM
    refuses (AppendOnlyModel) and on PostgreSQL a trigger refuses UPDATE and DELETE."""

    conference = models.ForeignKey(
        "conferences.Conference", on_delete=models.PROTECT, related_name="minutes_versions"
    )
    number = models.PositiveSmallIntegerField(_("version"))
    content = models.JSONField()
    sha256 = models.CharField(_("SHA-256 of the content"), max_length=64)
    reason = models.CharField(_("reason for the correction"), max_length=500, blank=True)
    approved_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    approved_by_label = models.CharField(max_length=200)
    approved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["conference", "number"]
        verbose_name = _("minutes version")
        constraints = [
            models.UniqueConstraint(
                fields=["conference", "number"], name="minutes_version_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"minutes {self.conference_id} v{self.number}"


class MinutesExport(AppendOnlyModel):
    """Which version and variant a disclosure-ledger row is (the ledger row says to whom, on
    what basis, with the file's hash)."""

    version = models.ForeignKey(MinutesVersion, on_delete=models.PROTECT, related_name="exports")
    disclosure = models.OneToOneField(
        DisclosureRecord, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    variant = models.CharField(_("audience"), max_length=40)
    audience_agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.version} {self.variant}"
