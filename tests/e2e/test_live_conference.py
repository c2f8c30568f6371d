"""The live conference page in a real browser: two agencies, live updates without reload,
tier filtering, reload, a dropped socket, offline edits; accessible and phone-sized."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from conferences import services
from permissions.conferences import conference_access
from tests.conferences.conftest import acknowledge, schedule
from tests.conftest import make_cast
from tests.e2e.conftest import (
    assert_fits_phone,
    assert_no_serious_axe_violations,
    login,
    new_context,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


SENSITIVE = "要配慮ブラウザ：精神科の受診歴について"
SUPPORT = "支援ブラウザ：来週ケアマネが訪問する"
DURING_DROP = "切断中に追加されたメモ"
OFFLINE = "オフライン中に書いたメモ"


# The extensions the server agreed to on a socket opened like the page's own.
NEGOTIATED_EXTENSIONS = """() => new Promise((resolve, reject) => {
  const root = document.getElementById("live");
  const proto = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(proto + location.host + root.dataset.wsPath);
  ws.onopen = () => { resolve(ws.extensions); ws.close(); };
  ws.onerror = () => reject(new Error("the socket did not open"));
})"""


def _live_conference():  # type: ignore[no-untyped-def]
    cast = make_cast()
    conference = schedule(cast)
    acknowledge(conference, cast.coordinator)
    services.conference_start(
        actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
    )
    return cast, conference


def _chair_and_professional(otagai_server, browser):  # type: ignore[no-untyped-def]
    """Two browser contexts, logged in as the chair (A) and the professional (B)."""
    ctx_a, ctx_b = new_context(browser), new_context(browser)
    a, b = ctx_a.new_page(), ctx_b.new_page()
    login(a, otagai_server, "coordinator", PASSWORD)
    login(b, otagai_server, "professional", PASSWORD)
    return ctx_a, ctx_b, a, b


def _add_note(page, text: str, tier: str) -> None:  # type: ignore[no-untyped-def]
    page.fill("#compose-text", text)
    page.select_option("#compose-tier", tier)
    page.click("#compose button[type=submit]")


def test_two_agencies_share_a_live_page(otagai_server, browser):
    cast, conference = _live_conference()
    base = otagai_server.url
    ctx_a, ctx_b, a, b = _chair_and_professional(otagai_server, browser)

    a.goto(f"{base}/conferences/{conference.pk}/live/")
    a.wait_for_selector("#conn.conn--connected")
    assert a.locator("#state").inner_text() == "進行中"  # the snapshot's state, in words
    # B must acknowledge the confidentiality statement before any case content.
    b.goto(f"{base}/conferences/{conference.pk}/live/")
    assert b.url.endswith(f"/conferences/{conference.pk}/")
    assert "山﨑さん世帯: " not in b.content()
    assert_no_serious_axe_violations(b, "conference detail before acknowledgement")
    b.check("input[name=agree]")
    b.click("form[action$='acknowledge/'] button[type=submit]")
    b.wait_for_selector("#conn.conn--connected")
    assert_no_serious_axe_violations(b, "live page")
    a.wait_for_selector(f"#presence li[data-user='{cast.professional.pk}']")

    _add_note(a, SENSITIVE, "3")
    _add_note(a, SUPPORT, "2")
    a.fill("#action-title", "介護保険の申請を支援する")
    a.select_option("#action-owner-user", str(cast.professional.pk))
    a.fill("#action-due", (timezone.localdate() + dt.timedelta(days=7)).isoformat())
    a.click("#action-form button[type=submit]")
    a.wait_for_selector(".record[data-kind=action] >> text=介護保険の申請を支援する")

    b.wait_for_selector(f"text={SUPPORT}")
    b.wait_for_selector("text=介護保険の申請を支援する")
    a.wait_for_selector(f"text={SENSITIVE}")
    b.wait_for_timeout(500)
    assert SENSITIVE not in b.content()

    a.reload()
    a.wait_for_selector("#conn.conn--connected")
    for text in (SENSITIVE, SUPPORT, "介護保険の申請を支援する"):
        assert a.locator(f"text={text}").count() == 1

    # B's socket dies; A writes meanwhile; B reconnects and loses nothing.
    b.evaluate("otagaiLive.drop()")
    _add_note(a, DURING_DROP, "2")
    b.wait_for_selector(f"text={DURING_DROP}")
    b.wait_for_selector("#conn.conn--connected")

    # B's network goes: the page says so at once (not when the socket times out), the edit
    # waits in the outbox and is sent on reconnect.
    ctx_b.set_offline(True)
    b.wait_for_selector("#conn.conn--offline", timeout=3_000)
    _add_note(b, OFFLINE, "2")
    b.wait_for_selector("#outbox >> text=1")
    ctx_b.set_offline(False)
    b.wait_for_selector("#conn.conn--connected", timeout=20_000)
    a.wait_for_selector(f"text={OFFLINE}")
    assert b.locator(f"text={OFFLINE}").count() == 1
    assert SENSITIVE not in b.content()
    assert_no_serious_axe_violations(a, "live page with notes")
    # Chromium offers permessage-deflate; the server declines it, so that the sizes of B's
    # frames cannot confirm guesses at A's higher-tier notes (docs/deploy.md, "WebSockets").
    assert b.evaluate(NEGOTIATED_EXTENSIONS) == ""
    ctx_a.close()
    ctx_b.close()


def test_conference_pages_fit_a_phone(otagai_server, browser):
    cast, conference = _live_conference()
    acknowledge(conference, cast.resident)
    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "resident", PASSWORD)
    for path in [
        "/dashboard/",
        "/conferences/",
        f"/conferences/{conference.pk}/",
        f"/conferences/{conference.pk}/live/",
    ]:
        page.goto(otagai_server.url + path)
        if path.endswith("live/"):
            page.wait_for_selector("#conn.conn--connected")
        assert_fits_phone(page)
        assert_no_serious_axe_violations(page, path)
    ctx.close()
    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "coordinator", PASSWORD)
    link = conference.items.first()
    for path in [
        "/conferences/new/",
        f"/conferences/{conference.pk}/live/",
        f"/conferences/{conference.pk}/cases/{link.pk}/prep/",
        f"/conferences/{conference.pk}/feedback/results/",
    ]:
        page.goto(otagai_server.url + path)
        assert_fits_phone(page)
        assert_no_serious_axe_violations(page, path)
    ctx.close()


def test_preparation_and_feedback_pages_fit_a_phone(otagai_server, browser):
    from conferences.models import PrepAsk
    from permissions.models import Tier

    cast, conference = _live_conference()
    acknowledge(conference, cast.professional)
    ask = PrepAsk.objects.create(
        sheet=conference.items.get().prep,
        agency=cast.professional_agency,
        # A long link must wrap, not widen the phone's page (the ask page, the detail page).
        question="最近の訪問で気づいたことは？ https://www.city.bunkyo.lg.jp/tosei/kekaku/"
        "jusoteki_shienkaigi_2026_houmon_kiroku_youshiki.html",
        asked_by=cast.coordinator,
        tier=Tier.SUPPORT,
    )
    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "professional", PASSWORD)
    page.goto(f"{otagai_server.url}/conferences/{conference.pk}/asks/{ask.pk}/")
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "ask answer")
    page.fill("#id_answer", "玄関先で会話できた")
    page.click("main form button[type=submit]")
    assert "玄関先で会話できた" in page.content()
    services.conference_close(
        actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
    )
    page.goto(f"{otagai_server.url}/conferences/{conference.pk}/feedback/")
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "feedback form")
    page.check("input[name=useful][value=yes]")
    page.check("input[name=role_clear][value=partly]")
    page.click("main form button[type=submit]")
    assert page.url.endswith(f"/conferences/{conference.pk}/")
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "closed conference detail")
    ctx.close()


def test_refused_input_is_given_back_and_the_error_goes_with_the_next(otagai_server, browser):
    """What the server refuses is back in its field with the reason; nothing saved is lost;
    the next operation clears the old error."""
    cast, conference = _live_conference()
    ctx = new_context(browser)
    page = ctx.new_page()
    login(page, otagai_server, "coordinator", PASSWORD)
    page.goto(f"{otagai_server.url}/conferences/{conference.pk}/live/")
    page.wait_for_selector("#conn.conn--connected")
    _add_note(page, SUPPORT, "2")
    page.wait_for_selector(f".record >> text={SUPPORT}")

    too_long = "長" * 20_001
    _add_note(page, too_long, "2")
    page.wait_for_selector("#live-errors .message--error")
    assert "20,000" in page.locator("#live-errors").inner_text()
    assert page.input_value("#compose-text") == too_long

    page.fill("#action-title", "期限の過ぎた役割")
    page.select_option("#action-owner-user", str(cast.professional.pk))
    page.fill("#action-due", (timezone.localdate() - dt.timedelta(days=1)).isoformat())
    page.click("#action-form button[type=submit]")
    page.wait_for_selector("#live-errors >> text=過去の日付")
    assert page.input_value("#action-title") == "期限の過ぎた役割"

    page.fill("#compose-text", "短いメモ")
    page.click("#compose button[type=submit]")
    page.wait_for_selector(".record >> text=短いメモ")
    assert page.locator("#live-errors").inner_text() == ""
    assert page.locator(f".record >> text={SUPPORT}").count() == 1
    ctx.close()


def test_the_page_follows_the_meeting_from_scheduled_to_closed(otagai_server, browser):
    """A participant waiting on the page of a scheduled meeting gets the forms when the chair
    starts it, and loses them when the chair closes it; a closed meeting offers the chair no
    controls, and says why nothing can be written."""
    cast = make_cast()
    conference = schedule(cast)
    acknowledge(conference, cast.coordinator, cast.professional)
    base = otagai_server.url
    ctx_a, ctx_b, a, b = _chair_and_professional(otagai_server, browser)

    b.goto(f"{base}/conferences/{conference.pk}/live/")
    b.wait_for_selector("#conn.conn--connected")
    assert b.locator("#state").inner_text() == "開催予定"
    assert "会議はまだ始まっていません。" in b.locator(".why").inner_text()
    assert b.locator("#compose").count() == 0

    a.goto(f"{base}/conferences/{conference.pk}/")
    a.click("text=会議を始める")
    a.wait_for_selector("#conn.conn--connected")
    b.wait_for_selector("#compose", state="visible")  # the page drew itself again
    b.wait_for_selector("#conn.conn--connected")
    assert b.locator("#state").inner_text() == "進行中"

    a.click("#close-form button[type=submit]")
    a.wait_for_load_state("networkidle")
    b.wait_for_selector("#state >> text=終了")
    b.wait_for_selector("#compose", state="hidden")
    assert "会議は終了しました" in b.locator("#live-errors").inner_text()

    a.goto(f"{base}/conferences/{conference.pk}/live/")
    a.wait_for_selector("#conn.conn--connected")
    assert a.locator("#close-form, .chair-controls, #compose").count() == 0
    why = a.locator(".why").inner_text()
    assert "会議は終了しました" in why
    assert "書き込みはできません" not in why
    assert_no_serious_axe_violations(a, "closed meeting's live page")
    ctx_a.close()
    ctx_b.close()


def test_a_socket_that_answers_nothing_is_given_up(otagai_server, browser):
    """A network lost without the browser noticing: the socket stays open and nothing comes.
    After 15 s of silence the page pings; unanswered 5 s later it gives the socket up and
    says it is reconnecting; once the server answers again it is connected (the page's
    clock is run forward instead of waiting)."""
    _cast, conference = _live_conference()
    ctx = new_context(browser)
    page = ctx.new_page()
    login(page, otagai_server, "coordinator", PASSWORD)
    silent = {"on": False}

    def route(ws):  # type: ignore[no-untyped-def]
        server = ws.connect_to_server()
        server.on_message(lambda message: None if silent["on"] else ws.send(message))
        ws.on_message(lambda message: None if silent["on"] else server.send(message))

    page.route_web_socket(re.compile(r"/ws/conferences/"), route)
    page.clock.install()
    page.goto(f"{otagai_server.url}/conferences/{conference.pk}/live/")
    page.wait_for_selector("#conn.conn--connected")
    silent["on"] = True
    page.clock.run_for(14_000)
    assert page.locator("#conn.conn--connected").count() == 1  # quiet is not lost
    page.clock.run_for(7_000)
    page.wait_for_selector("#conn.conn--reconnecting")
    silent["on"] = False
    page.clock.run_for(30_000)
    page.wait_for_selector("#conn.conn--connected")
    ctx.close()
