"""Phone-first pages in a real browser: concern report and safety check (offline marks kept
and resent once), and the live tally over a real WebSocket to a uvicorn process."""

from __future__ import annotations

import json

import pytest

from casework.models import Concern, SafetyMark
from tests.e2e.conftest import (
    assert_fits_phone,
    assert_no_serious_axe_violations,
    login,
    new_context,
)
from tests.factories import PASSWORD
from tests.watchcast import UNCONSENTED_LABEL, declare, make_watch_cast

pytestmark = pytest.mark.browser


def test_concern_report_on_a_phone(otagai_server, browser):
    wcast = make_watch_cast()
    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "resident", PASSWORD)
    page.goto(otagai_server.url + "/watch/concerns/new/")
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "concern report")
    # Nothing filled in: clear errors, nothing saved, still accessible.
    page.click("main form button[type=submit]")
    assert page.locator(".error-summary").is_visible()
    assert page.locator(".field-error").count() >= 3
    assert_no_serious_axe_violations(page, "concern report with errors")
    assert not Concern.objects.exists()
    page.select_option("#id_area", str(wcast.small_area.pk))
    page.fill("#id_who", "角の家のおばあさん")
    page.locator("input[name=signs][value=mail]").check()
    page.locator("input[name=urgency][value=urgent]").check()
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/watch/concerns/mine/" in page.url
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "my concerns")
    concern = Concern.objects.get()
    assert concern.urgency == "urgent" and concern.signs == ["mail"]
    ctx.close()


def test_safety_marks_made_offline_are_kept_and_sent_once(otagai_server, browser):
    wcast = make_watch_cast()
    declaration = declare(wcast, wcast.area)
    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "resident", PASSWORD)
    page.goto(f"{otagai_server.url}/watch/declarations/{declaration.pk}/safety/")
    assert UNCONSENTED_LABEL in page.content()
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "safety check")

    ctx.set_offline(True)
    card = page.locator(f"#person-{wcast.unconsented.pk}")
    card.locator("button[value=needs_help]").click()
    page.wait_for_selector("#outbox:not([hidden])")
    assert page.locator("#safety-root").get_attribute("data-pending") == "1"
    assert not SafetyMark.objects.exists()
    # The unsent mark is kept in localStorage, so a reload or a closed tab does not lose it.
    stored = page.evaluate(
        "() => localStorage.getItem(document.getElementById('safety-root').dataset.storageKey)"
    )
    queued = json.loads(stored)
    assert len(queued) == 1 and queued[0]["status"] == "needs_help"

    ctx.set_offline(False)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.wait_for_selector("#outbox[hidden]", state="attached")
    page.wait_for_function("() => document.getElementById('safety-root').dataset.pending === '0'")
    assert SafetyMark.objects.count() == 1
    assert SafetyMark.objects.get().status == "needs_help"

    # The same mark resent (say the answer was lost on the way): still one row.
    page.evaluate(
        "(q) => localStorage.setItem(document.getElementById('safety-root').dataset.storageKey, q)",
        json.dumps(queued),
    )
    page.reload()
    page.wait_for_function("() => document.getElementById('safety-root').dataset.pending === '0'")
    assert SafetyMark.objects.count() == 1
    ctx.close()


def test_live_tally_updates_over_a_real_websocket(otagai_server, browser):
    wcast = make_watch_cast()
    declaration = declare(wcast, wcast.area)
    coordinator_ctx = new_context(browser)
    watcher = coordinator_ctx.new_page()
    login(watcher, otagai_server, "coordinator", PASSWORD)
    watcher.goto(f"{otagai_server.url}/watch/declarations/{declaration.pk}/tally/")
    watcher.wait_for_function("() => document.getElementById('tally-root').dataset.updated")
    assert_no_serious_axe_violations(watcher, "tally")
    cell = watcher.locator(f'tr[data-area="{wcast.small_area.pk}"] td[data-key=needs_help]')
    assert cell.inner_text() == "0"

    resident_ctx = new_context(browser, phone=True)
    phone = resident_ctx.new_page()
    login(phone, otagai_server, "resident", PASSWORD)
    phone.goto(f"{otagai_server.url}/watch/declarations/{declaration.pk}/safety/")
    phone.locator(f"#person-{wcast.case.pk} button[value=needs_help]").click()
    watcher.wait_for_function(
        "(sel) => document.querySelector(sel).textContent === '1'",
        arg=f'tr[data-area="{wcast.small_area.pk}"] td[data-key=needs_help]',
    )
    assert (
        watcher.locator(
            f'tr[data-area="{wcast.small_area.pk}"] td[data-key=unchecked]'
        ).inner_text()
        == "2"
    )
    resident_ctx.close()
    coordinator_ctx.close()


def test_watch_pages_are_accessible(otagai_server, browser):
    from casework.models import Concern
    from permissions.emergency import break_glass_open

    wcast = make_watch_cast()
    declaration = declare(wcast, wcast.area)
    concern = Concern.objects.create(
        reporter=wcast.resident, life_area=wcast.area, who="角の家", signs=["mail"]
    )
    glass = break_glass_open(
        actor=wcast.outsider, case=wcast.unconsented, reason="連絡が取れず至急確認したい", hours=1
    )
    ctx = new_context(browser)
    page = ctx.new_page()
    login(page, otagai_server, "coordinator", PASSWORD)
    for path in [
        "/watch/",
        "/watch/concerns/",
        f"/watch/concerns/{concern.pk}/",
        "/watch/register/",
        f"/watch/cases/{wcast.case.pk}/visit/",
        f"/watch/cases/{wcast.case.pk}/watchers/",
        f"/watch/cases/{wcast.case.pk}/plan/",
        "/watch/disaster/",
        "/watch/declarations/",
        f"/watch/declarations/{declaration.pk}/",
        "/watch/emergency/",
        "/watch/emergency/review/",
        f"/watch/emergency/{glass.pk}/",
        f"/cases/{wcast.case.pk}/",
    ]:
        page.goto(otagai_server.url + path)
        assert_no_serious_axe_violations(page, path)
    ctx.close()
    phone_ctx = new_context(browser, phone=True)
    phone = phone_ctx.new_page()
    login(phone, otagai_server, "resident", PASSWORD)
    for path in ["/watch/", "/watch/concerns/mine/", "/watch/register/", "/watch/disaster/"]:
        phone.goto(otagai_server.url + path)
        assert_fits_phone(phone)
        assert_no_serious_axe_violations(phone, path)
    phone_ctx.close()
