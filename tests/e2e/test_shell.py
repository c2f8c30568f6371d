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
    for path in [
        "/dashboard/",
        "/cases/",
        f"/cases/{cast.case.pk}/",
        "/accounts/me/",
        "/accounts/password/",
    ]:
        page.goto(otagai_server.url + path)
        assert_fits_phone(page)
        assert_no_serious_axe_violations(page, path)
    ctx.close()


def test_wrong_password_error_is_announced_and_accessible(otagai_server, page):
    make_cast()
    login(page, otagai_server, "coordinator", "not-the-password")
    assert "/accounts/login/" in page.url
    alert = page.locator("main [role=alert]")
    assert alert.count() >= 1 and alert.first.is_visible()
    assert page.locator("#id_username").input_value() == "coordinator"
    assert_no_serious_axe_violations(page, "login with an error")


def test_keyboard_focus_is_visible(otagai_server, page):
    make_cast()
    login(page, otagai_server, "coordinator", PASSWORD)
    page.goto(otagai_server.url + "/dashboard/")
    # The first Tab reaches the skip link, which comes into view when focused.
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert skip.evaluate("el => el === document.activeElement")
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0
    # Every focused control shows a thick outline.
    for _ in range(3):
        page.keyboard.press("Tab")
        style = page.evaluate(
            "() => { const el = document.activeElement, s = getComputedStyle(el);"
            " return [el.tagName, s.outlineStyle, parseFloat(s.outlineWidth)]; }"
        )
        assert style[1] != "none" and style[2] >= 2, style


def test_switch_to_english_and_back(otagai_server, page):
    page.goto(otagai_server.url + "/accounts/login/")
    assert page.locator("html").get_attribute("lang") == "ja"
    page.click("form.lang-switch button[value=en]")
    page.wait_for_load_state("networkidle")
    assert "/accounts/login/" in page.url
    assert page.locator("html").get_attribute("lang") == "en"
    page.click("form.lang-switch button[value=ja]")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "ja"
