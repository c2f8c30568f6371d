"""Minutes pages in a real browser: axe (no serious/critical) and a 360-px phone; the chair
approves in the browser; a resident's page never shows support text."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conferences.minutes_helpers import SUPPORT_NOTE, WATCH_NOTE, closed_conference
from tests.conftest import make_cast
from tests.e2e.conftest import (
    assert_fits_phone,
    assert_no_serious_axe_violations,
    login,
    new_context,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_minutes_pages_fit_a_phone(otagai_server, browser):
    cast = make_cast()
    conference = closed_conference(cast)
    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "coordinator", PASSWORD)
    page.goto(f"{otagai_server.url}/conferences/{conference.pk}/minutes/draft/")
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "draft minutes")
    page.fill(f"#id_c{cast.case.pk}_risk", "緊急度：中")
    page.click("button[name=approve]")
    assert page.url.endswith(f"/conferences/{conference.pk}/minutes/v1/")
    assert "緊急度：中" in page.content()
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "minutes version")
    for path in ("", "minutes/ledger/"):
        page.goto(f"{otagai_server.url}/conferences/{conference.pk}/{path}")
        assert_fits_phone(page)
        assert_no_serious_axe_violations(page, path or "conference page with minutes")
    # The chair exports from the conference page: a POST form, the browser downloads.
    page.goto(f"{otagai_server.url}/conferences/{conference.pk}/")
    with page.expect_download() as download:
        page.click("form[action$='/minutes/v1/pdf/sensitive/'] button")
    assert download.value.suggested_filename.startswith(f"minutes-{conference.pk}-v1-sensitive")
    text = _pdf_text(download.value.path())
    assert "緊急度：中" in text and SUPPORT_NOTE in text and WATCH_NOTE in text
    assert "佐藤美咲" in text  # the header names the reader
    # The case page links the case's minutes ledger, which lists that export.
    page.goto(f"{otagai_server.url}/cases/{cast.case.pk}/")
    page.click(f"a[href='/conferences/cases/{cast.case.pk}/minutes-ledger/']")
    assert page.url.endswith(f"/conferences/cases/{cast.case.pk}/minutes-ledger/")
    assert "佐藤 美咲" in page.locator("main table").inner_text()
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "case minutes ledger")
    ctx.close()

    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "resident", PASSWORD)
    page.goto(f"{otagai_server.url}/conferences/{conference.pk}/")
    content = page.content()
    assert WATCH_NOTE in content and SUPPORT_NOTE not in content
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "resident's conference page with minutes")
    with page.expect_download() as download:
        page.click("form[action$='/minutes/v1/pdf/watch/'] button")
    assert download.value.suggested_filename.startswith(f"minutes-{conference.pk}-v1-watch")
    text = _pdf_text(download.value.path())
    assert WATCH_NOTE in text and SUPPORT_NOTE not in text
    assert cast.resident.last_name + cast.resident.first_name in text
    ctx.close()


def _pdf_text(path: Path) -> str:
    """The text of a downloaded PDF, whitespace removed (extraction breaks lines anywhere)."""
    return "".join("".join(p.extract_text() or "" for p in PdfReader(path).pages).split())
