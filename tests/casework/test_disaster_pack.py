"""Printable disaster-support packs: what a supporter may see, Japanese font embedded,
confidentiality header naming the reader, one disclosure-ledger row per export."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile

import pytest
from django.urls import reverse
from pypdf import PdfReader

from permissions.models import AuditEvent, DisclosureRecord
from tests.watchcast import (
    CONSENTED_NEEDS,
    OTHER_AREA_LABEL,
    PLAN_DESTINATION,
    UNCONSENTED_LABEL,
    UNCONSENTED_NEEDS,
    WITHDRAWN_LABEL,
    declare,
)

pytestmark = pytest.mark.django_db


def pack(wcast, who="resident", area=None):
    area = area or wcast.small_area
    return wcast.client_for(who).get(reverse("watch:disaster-pack", args=[area.pk]))


def pdf_text(response) -> str:
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    # Table cells wrap: compare without any whitespace.
    return "".join("".join(page.extract_text() for page in reader.pages).split())


def test_normal_times_pack_holds_consented_entries_only(wcast):
    text = pdf_text(pack(wcast))
    assert "山﨑さん世帯" in text and CONSENTED_NEEDS in text and PLAN_DESTINATION in text
    for hidden in [UNCONSENTED_LABEL, UNCONSENTED_NEEDS, WITHDRAWN_LABEL, OTHER_AREA_LABEL]:
        assert hidden not in text


def test_pack_header_names_reader_agency_and_time(wcast):
    text = pdf_text(pack(wcast))
    assert "高橋" in text and "和子" in text
    assert "民生委員協議会" in text
    record = DisclosureRecord.objects.get()
    assert record.at.astimezone().strftime("%Y") in text


def test_every_export_goes_to_the_disclosure_ledger(wcast):
    pack(wcast)
    pack(wcast)
    records = list(DisclosureRecord.objects.order_by("pk"))
    assert len(records) == 2
    record = records[0]
    assert record.actor == wcast.resident and record.agency == wcast.residents_agency
    assert record.basis == "consent" and record.case_ids == [wcast.case.pk]
    assert len(record.sha256) == 64
    assert AuditEvent.objects.filter(action="export").count() == 2


def test_declared_pack_holds_everyone_and_is_recorded_against_the_declaration(wcast):
    declaration = declare(wcast, wcast.area)
    text = pdf_text(pack(wcast))
    assert UNCONSENTED_LABEL in text and UNCONSENTED_NEEDS in text and WITHDRAWN_LABEL in text
    record = DisclosureRecord.objects.get()
    assert record.basis == "declaration" and record.declaration == declaration
    assert set(record.case_ids) == {wcast.case.pk, wcast.unconsented.pk, wcast.withdrawn.pk}
    assert AuditEvent.objects.get(action="export").detail["declaration"] == declaration.pk


def test_pack_of_an_area_outside_the_supporters_is_empty(wcast):
    text = pdf_text(pack(wcast, area=wcast.other_small_area))
    assert OTHER_AREA_LABEL not in text


@pytest.mark.parametrize("who", ["professional", "outsider"])
def test_non_supporters_cannot_export(wcast, who):
    response = pack(wcast, who)
    assert response.status_code == 403
    assert not DisclosureRecord.objects.exists()


def test_life_area_is_not_a_pack(wcast):
    assert pack(wcast, area=wcast.area).status_code == 404


def test_disclosure_ledger_is_append_only(wcast):
    from permissions.models import AppendOnlyError

    pack(wcast)
    record = DisclosureRecord.objects.get()
    with pytest.raises(AppendOnlyError):
        record.delete()
    with pytest.raises(AppendOnlyError):
        DisclosureRecord.objects.update(kind="x")


@pytest.mark.skipif(not shutil.which("pdffonts"), reason="needs poppler-utils (pdffonts)")
def test_japanese_font_is_embedded_as_a_subset(wcast):
    response = pack(wcast)
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(response.content)
        f.flush()
        out = subprocess.run(["pdffonts", f.name], capture_output=True, text=True, check=True)
    fonts = [line for line in out.stdout.splitlines()[2:] if line.strip()]
    assert fonts, out.stdout
    for line in fonts:
        name, *rest = line.split()
        assert "IPAexGothic" in name, line
        assert name[6] == "+", line  # ABCDEF+IPAexGothic: a subset
        assert " yes " in f" {' '.join(rest)} ", line  # emb column


@pytest.mark.postgres
def test_database_refuses_changes_to_the_ledger(wcast):
    from django.db import DatabaseError, connection, transaction

    pack(wcast)
    for sql in (
        "UPDATE permissions_disclosurerecord SET kind = 'x'",
        "DELETE FROM permissions_disclosurerecord",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert DisclosureRecord.objects.count() == 1


def register_pack(wcast, who):
    return wcast.client_for(who).get(reverse("watch:register-pack", args=[wcast.small_area.pk]))


@pytest.mark.parametrize("who", ["coordinator", "professional", "resident"])
def test_register_pack_is_watch_tier_only(wcast, who):
    from tests.conftest import SENSITIVE_TEXT, SUPPORT_TEXT, WATCH_TEXT

    text = pdf_text(register_pack(wcast, who))
    assert "山﨑さん世帯" in text and "".join(WATCH_TEXT.split()) in text
    for hidden in [SUPPORT_TEXT, SENSITIVE_TEXT]:
        assert "".join(hidden.split()) not in text
    record = DisclosureRecord.objects.get()
    assert record.kind == "watch_register_pdf" and record.case_ids == [wcast.case.pk]


def test_register_pack_of_an_outsider_holds_nobody(wcast):
    text = pdf_text(register_pack(wcast, "outsider"))
    assert "山﨑" not in text
    assert DisclosureRecord.objects.get().case_ids == []
