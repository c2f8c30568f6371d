"""The log-in page and dashboard in a real browser: Japanese, accessible, phone-sized."""

from __future__ import annotations

import pytest

from tests.conftest import make_cast
from tests.e2e.conftest import (
    assert_fits_phone,
    assert_no_serious_axe_violations,
    login,
    new_context,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_log_in_and_see_dashboard_in_japanese(otagai_server, page):
    make_cast()
    page.goto(otagai_server.url + "/")
    assert "/accounts/login/" in page.url
    assert page.locator("h1").inner_text() == "ログイン"
    assert_no_serious_axe_violations(page, "login")
    login(page, otagai_server, "coordinator", PASSWORD)
    assert page.locator("h1").inner_text() == "ダッシュボード"
    assert page.locator("html").get_attribute("lang") == "ja"
    assert "山﨑さん世帯" in page.content()
    assert_no_serious_axe_violations(page, "dashboard")


def test_pages_fit_a_phone(otagai_server, browser):
    cast = make_cast()
    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "professional", PASSWORD)
    for path in ["/dashboard/", "/cases/", f"/cases/{cast.case.pk}/", "/accounts/me/"]:
        page.goto(otagai_server.url + path)
        assert_fits_phone(page)
        assert_no_serious_axe_violations(page, path)
    ctx.close()
