"""PDF per audience: Japanese text present and exact, the watch copy without support or
sensitive content, the Japanese font embedded as a subset, ledger rows for every export."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from conferences import services
from conferences.minutes.models import MinutesExport
from conferences.models import Note
from permissions.conferences import conference_access
from permissions.models import AuditEvent, DisclosureRecord, Tier
from tests.conferences.conftest import make_live
from tests.conferences.minutes_helpers import (
    SENSITIVE_NOTE,
    SUPPORT_ACTION,
    SUPPORT_DECISION,
    SUPPORT_NOTE,
    WATCH_ACTION,
    WATCH_NOTE,
    approve,
    closed_conference,
    record,
)
from tests.conftest import SENSITIVE_TEXT, SUPPORT_TEXT


def _text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    # Extraction may break lines anywhere; compare without whitespace.
    return "".join("".join(page.extract_text() or "" for page in reader.pages).split())


def _export(client: Client, conference, variant: str, number: int = 1):  # type: ignore[no-untyped-def]
    url = reverse("conferences:minutes-pdf", args=[conference.pk, number, variant])
    return client.post(url)


@pytest.fixture
def approved(cast):  # type: ignore[no-untyped-def]
    conference = closed_conference(cast)
    approve(cast, conference)
    return conference


@pytest.mark.django_db
def test_sensitive_copy_prints_everything_in_japanese(cast, approved):
    response = _export(cast.client_for("coordinator"), approved, "sensitive")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = _text(response.content)
    for expected in (WATCH_NOTE, SUPPORT_NOTE, SENSITIVE_NOTE, SUPPORT_DECISION, SUPPORT_ACTION):
        assert expected in text
    assert "山﨑さん世帯" in text  # 﨑 (JIS X 0213) prints
    assert "髙橋" in text
    assert "令和7年（2025年）12月5日" in text  # due date with era and Western year
    assert "佐藤美咲" in text  # the reader's name in the header
    assert "1/" in text


@pytest.mark.django_db
def test_watch_copy_leaves_out_support_and_sensitive(cast, approved):
    response = _export(cast.client_for("resident"), approved, "watch")
    assert response.status_code == 200
    text = _text(response.content)
    assert WATCH_NOTE in text and WATCH_ACTION in text and "山﨑さん世帯" in text
    for secret in (
        SUPPORT_NOTE,
        SENSITIVE_NOTE,
        SUPPORT_DECISION,
        SUPPORT_ACTION,
        SENSITIVE_TEXT,
        SUPPORT_TEXT,
    ):
        assert "".join(secret.split()) not in text
    assert "高橋和子" in text  # the reader named on every page


@pytest.mark.django_db
def test_per_agency_copy_never_exceeds_the_agency_share(cast, approved):
    client = cast.client_for("coordinator")
    response = _export(client, approved, f"agency-{cast.residents_agency.pk}")
    assert response.status_code == 200
    text = _text(response.content)
    assert WATCH_NOTE in text
    assert SUPPORT_NOTE not in text and SENSITIVE_NOTE not in text
    response = _export(client, approved, f"agency-{cast.professional_agency.pk}")
    text = _text(response.content)
    assert SUPPORT_NOTE in text and SENSITIVE_NOTE not in text


@pytest.mark.django_db
def test_font_embedded_as_subset(cast, approved):
    data = _export(cast.client_for("coordinator"), approved, "support").content
    reader = PdfReader(io.BytesIO(data))
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = (
                font.get("/FontDescriptor")
                or font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            )
            descriptor = descriptor.get_object()
            assert "/FontFile2" in descriptor  # TrueType outlines embedded
            fonts.add(str(font["/BaseFont"]))
    assert fonts and all("IPAexGothic" in f for f in fonts), fonts
    assert all(f[1:7].isupper() and f[7] == "+" for f in fonts)  # ABCDEF+ subset prefix
    if shutil.which("pdffonts"):
        out = subprocess.run(
            ["pdffonts", "-"], input=data, capture_output=True, check=True
        ).stdout.decode()
        lines = [line for line in out.splitlines()[2:] if line.strip()]
        assert lines and all("IPAexGothic" in line and " yes yes " in line for line in lines), out


@pytest.mark.django_db
def test_every_export_writes_the_ledger(cast, approved):
    _export(cast.client_for("resident"), approved, "watch")
    _export(cast.client_for("coordinator"), approved, f"agency-{cast.professional_agency.pk}")
    rows = list(MinutesExport.objects.select_related("disclosure", "version").order_by("pk"))
    assert [r.variant for r in rows] == ["watch", f"agency-{cast.professional_agency.pk}"]
    first, second = (r.disclosure for r in rows)
    assert first.kind == "minutes_pdf" and first.actor == cast.resident
    assert first.tier == Tier.WATCH and first.case_ids == [cast.case.pk]
    assert first.basis == DisclosureRecord.Basis.SHARE and len(first.sha256) == 64
    assert second.tier == Tier.SUPPORT and rows[1].audience_agency == cast.professional_agency
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).count() == 2


def _pages(data: bytes) -> list[str]:
    return ["".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(data)).pages]


@pytest.mark.django_db
def test_header_and_page_numbers_on_every_page(cast):
    # Enough notes for several pages: the header is a page-margin string, so it must repeat.
    conference = make_live(cast)
    for i in range(60):
        record(
            conference,
            cast,
            Note,
            f"追記{i}：" + "声をかけても応答がないことが多い。" * 4,
            Tier.WATCH,
        )
    services.conference_close(
        actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
    )
    approve(cast, conference)
    response = _export(cast.client_for("resident"), conference, "watch")
    pages = _pages(response.content)
    assert len(pages) >= 3
    exported = timezone.localtime().strftime("%Y-%m-%d")
    for n, text in enumerate(pages, start=1):
        assert "取扱注意" in text, n
        assert "高橋和子" in text and "民生委員協議会" in text and exported in text, n
        assert f"{n}/{len(pages)}" in text, n


@pytest.mark.django_db
def test_header_prints_any_name_literally(cast, approved):
    # Quotes, a backslash and markup in a name can neither end the CSS string nor the style.
    cast.resident.last_name = 'O"Hara\\</style><h1>'
    cast.resident.first_name = "花子;}"
    cast.resident.save()
    response = _export(cast.client_for("resident"), approved, "watch")
    assert response.status_code == 200
    first = _pages(response.content)[0]
    assert 'O"Hara\\</style><h1>花子;}' in first
    assert first.count("取扱注意") == 1
