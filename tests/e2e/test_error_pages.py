"""The error pages a person may meet, in a real browser on a 360-px phone: Japanese, in the
site's layout, accessible (axe-core)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.conferences.conftest import make_live
from tests.conftest import make_cast
from tests.e2e.conftest import (
    assert_fits_phone,
    assert_no_serious_axe_violations,
    login,
    new_context,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_error_pages_on_a_phone(otagai_server, browser):
    cast = make_cast()
    conference = make_live(cast)
    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "professional", PASSWORD)

    # 403: a right the professional lacks (the preparation sheet is the coordinator's).
    link = conference.items.get()
    response = page.goto(
        otagai_server.url + reverse("conferences:prep-edit", args=[conference.pk, link.pk])
    )
    assert response is not None and response.status == 403
    assert page.locator("h1").inner_text() == "この操作はできません"
    assert page.locator("html").get_attribute("lang") == "ja"
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "403")

    # The form's token gone (a tab left open across a log-out and log-in): nothing saved.
    page.goto(otagai_server.url + reverse("followups:create", args=[cast.case.pk]))
    page.fill("#id_title", "家計相談につなぐ")
    ctx.clear_cookies(name="csrftoken")
    page.evaluate("document.querySelector('input[name=csrfmiddlewaretoken]').value = 'x'")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator("main form button[type=submit]").click()
    assert posted.value.status == 403
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "送信した内容は保存されていません"
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "403 csrf")

    # 404: the browser tests' server runs with DEBUG (Django's own 404 page there), so the
    # page production serves is taken from a server without it (this test process) and
    # shown at the same origin, with the site's real stylesheet.
    missing = Client().get("/no/such/page/")
    assert missing.status_code == 404
    page.route(
        "**/no/such/page/",
        lambda route: route.fulfill(
            status=404, body=missing.content, content_type="text/html; charset=utf-8"
        ),
    )
    page.goto(otagai_server.url + "/no/such/page/")
    assert page.locator("h1").inner_text() == "このページは見つかりません"
    # The stylesheet applied (it lays out the header's inner row as a flex box).
    assert (
        page.evaluate("getComputedStyle(document.querySelector('.site-header__inner')).display")
        == "flex"
    )
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "404")
    ctx.close()
