"""Content-Security-Policy in a real browser: an injected inline script does not run, and the
pages (incl. the live conference and the safety check/tally over WebSockets) run with no
violation at all. Also: a coordinator's two-step log-in and the lock-out page, on a phone."""

from __future__ import annotations

import pytest

from tests.conftest import make_cast
from tests.e2e.conftest import (
    assert_fits_phone,
    assert_no_serious_axe_violations,
    login,
    new_context,
)
from tests.e2e.test_live_conference import _live_conference
from tests.factories import PASSWORD
from tests.watchcast import declare, make_watch_cast

pytestmark = pytest.mark.browser

# Every CSP violation the page reports, kept where the test can read it.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


def _recording_context(browser, *, phone: bool = False):  # type: ignore[no-untyped-def]
    ctx = new_context(browser, phone=phone)
    ctx.add_init_script(RECORD_VIOLATIONS)
    return ctx


def _violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.evaluate("window.__cspViolations || []")


def test_csp_blocks_an_injected_inline_script(otagai_server, browser):
    make_cast()
    ctx = _recording_context(browser)
    page = ctx.new_page()
    login(page, otagai_server, "professional", PASSWORD)
    page.goto(otagai_server.url + "/dashboard/")
    csp = page.request.get(otagai_server.url + "/dashboard/").headers
    assert "script-src 'self'" in csp["content-security-policy"]
    # What a stored XSS would do: put a script element (and an inline handler) in the page.
    page.evaluate(
        """() => {
        const s = document.createElement('script');
        s.textContent = 'window.__pwned = true';
        document.body.appendChild(s);
        const d = document.createElement('div');
        d.innerHTML = '<img src="data:," onload="window.__pwnedToo = true">';
        document.body.appendChild(d);
    }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned === undefined")
    assert page.evaluate("window.__pwnedToo === undefined")
    assert any(v.startswith("script-src") for v in _violations(page))
    ctx.close()


def test_pages_run_without_csp_violations(otagai_server, browser):
    cast, conference = _live_conference()
    base = otagai_server.url
    ctx = _recording_context(browser)
    page = ctx.new_page()
    login(page, otagai_server, "coordinator", PASSWORD)  # incl. the TOTP code
    assert page.url.endswith("/dashboard/")
    for url in (
        "/dashboard/",
        "/cases/",
        f"/cases/{cast.case.pk}/",
        "/conferences/",
        f"/conferences/{conference.pk}/",
        "/accounts/me/",
    ):
        page.goto(base + url)
        assert _violations(page) == [], url
    page.goto(f"{base}/conferences/{conference.pk}/live/")
    page.wait_for_selector("#conn.conn--connected")
    assert _violations(page) == []
    ctx.close()


def test_safety_pages_run_without_csp_violations(otagai_server, browser):
    wcast = make_watch_cast()
    declaration = declare(wcast, wcast.area)
    ctx = _recording_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "resident", PASSWORD)
    page.goto(f"{otagai_server.url}/watch/declarations/{declaration.pk}/safety/")
    page.wait_for_load_state("networkidle")
    assert page.locator("#safety-root").count() == 1
    assert _violations(page) == []
    ctx.close()
    ctx = _recording_context(browser)
    page = ctx.new_page()
    login(page, otagai_server, "coordinator", PASSWORD)
    page.goto(f"{otagai_server.url}/watch/declarations/{declaration.pk}/tally/")
    page.wait_for_load_state("networkidle")
    assert _violations(page) == []
    ctx.close()


def test_two_step_set_up_and_lock_out_pages_on_a_phone(otagai_server, browser):
    make_cast()
    ctx = _recording_context(browser, phone=True)
    page = ctx.new_page()
    page.goto(otagai_server.url + "/accounts/login/")
    page.fill("#id_username", "coordinator")
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/accounts/2fa/setup/" in page.url
    assert page.locator("main svg.qr-code").count() == 1
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "two-step set-up")
    assert _violations(page) == []
    ctx.close()

    ctx = _recording_context(browser, phone=True)
    page = ctx.new_page()
    for _ in range(6):
        page.goto(otagai_server.url + "/accounts/login/")
        page.fill("#id_username", "professional")
        page.fill("#id_password", "not-the-password")
        page.click("main form button[type=submit]")
        page.wait_for_load_state("networkidle")
    assert page.locator("main [role=alert]").count() == 1
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "lock-out")
    ctx.close()
