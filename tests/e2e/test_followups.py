"""My follow-ups on a phone: one tap marks an item started or done; overdue is said in words;
the item page and the coordinator overview pass axe and fit a 360-px screen."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conferences import actions
from conferences.models import ActionItem
from permissions.access import access_case
from permissions.models import Tier
from tests.conftest import make_cast
from tests.e2e.conftest import (
    assert_fits_phone,
    assert_no_serious_axe_violations,
    login,
    new_context,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

LONG_URL = (
    "https://www.city.bunkyo.lg.jp/tosei/kekaku/jusoteki_shienkaigi_2026_gomidashi_youkou.html"
)


def _item(cast, title: str, due_in: int) -> ActionItem:  # type: ignore[no-untyped-def]
    return actions.action_create(
        actor=cast.coordinator,
        access=access_case(cast.coordinator, cast.case.pk, "contribute"),
        title=title,
        tier=Tier.WATCH,
        owner_user=cast.resident,
        due_on=timezone.localdate() + dt.timedelta(days=due_in),
    )


def test_one_tap_status_update_on_a_phone(otagai_server, browser):
    cast = make_cast()
    late = _item(cast, "声かけの結果を報告する", 1)
    ActionItem.objects.filter(pk=late.pk).update(due_on=timezone.localdate() - dt.timedelta(days=3))
    # A long link in a title must wrap, not widen the phone's page.
    later = _item(cast, f"ゴミ出しの様子を見る {LONG_URL}", 5)
    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "resident", PASSWORD)
    page.goto(otagai_server.url + "/dashboard/")
    cards = page.locator("li.followup")
    assert cards.count() == 2
    first = cards.nth(0)
    assert "声かけの結果を報告する" in first.inner_text()
    assert first.locator(".badge--bad").is_visible()  # overdue: a word, not colour alone
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "dashboard with follow-ups")
    # One tap: done.
    with page.expect_navigation():
        first.locator("button.button--primary").tap()
    assert "/dashboard/" in page.url, page.content()[:3000]
    late.refresh_from_db()
    assert late.status == "done" and late.changes.filter(kind="status").count() == 1
    assert page.locator("li.followup").count() == 1
    # One tap: started.
    with page.expect_navigation():
        page.locator(f"li.followup[data-action='{later.pk}'] button").first.tap()
    later.refresh_from_db()
    assert later.status == "in_progress"
    # The item page: a reason is required to close it as not done.
    page.goto(f"{otagai_server.url}/followups/{later.pk}/")
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "follow-up page")
    page.select_option("#id_status", "not_done")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.locator(".field-error").count() >= 1
    later.refresh_from_db()
    assert later.status == "in_progress"
    assert_no_serious_axe_violations(page, "follow-up page with errors")
    ctx.close()


def test_coordinator_overview_on_a_phone(otagai_server, browser):
    cast = make_cast()
    _item(cast, "声かけの結果を報告する", 1)
    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "coordinator", PASSWORD)
    page.goto(otagai_server.url + "/followups/overview/")
    assert "声かけの結果を報告する" in page.content()
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "follow-up overview")
    page.goto(otagai_server.url + "/followups/calendar/")
    assert_no_serious_axe_violations(page, "calendar settings")
    assert_fits_phone(page)
    ctx.close()
