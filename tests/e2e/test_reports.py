"""The unmet-needs report in a real browser: axe, a 360-px phone, charts with tables."""

from __future__ import annotations

import pytest

from casework.models import NeedCategory
from tests.conftest import make_cast
from tests.e2e.conftest import (
    assert_fits_phone,
    assert_no_serious_axe_violations,
    login,
    new_context,
)
from tests.factories import PASSWORD, CaseFactory

pytestmark = pytest.mark.browser


def test_report_page_on_a_phone_and_desktop(otagai_server, browser):
    cast = make_cast()
    need = NeedCategory.objects.first() or NeedCategory.objects.create(code="x", name="孤立")
    for _i in range(7):
        CaseFactory(life_area=cast.area, lead_coordinator=cast.coordinator).need_categories.add(
            need
        )
    for phone in (True, False):
        ctx = new_context(browser, phone=phone)
        page = ctx.new_page()
        login(page, otagai_server, "coordinator", PASSWORD)
        page.goto(otagai_server.url + "/cases/reports/")
        assert page.locator("h1").inner_text().startswith(("Unmet", "政策", "未充足"))
        assert page.locator("svg.chart").count() == 3
        assert page.locator("svg.chart title").count() == 3
        assert page.locator("table.report-table").count() == 8
        if phone:
            assert_fits_phone(page)
        assert_no_serious_axe_violations(page, f"report (phone={phone})")
        if phone:
            # The download is a POST form: the browser saves the CSV and stays on the page.
            with page.expect_download() as download:
                page.locator("form.report-downloads button").first.click()
            saved = download.value.path().read_bytes()
            assert saved.startswith(b"\xef\xbb\xbf")
            assert page.locator("h1").count() == 1
        ctx.close()


def test_report_link_hidden_from_residents(otagai_server, browser):
    make_cast()
    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "resident", PASSWORD)
    assert page.locator("a[href='/cases/reports/']").count() == 0
    response = page.goto(otagai_server.url + "/cases/reports/")
    assert response is not None and response.status == 403
    ctx.close()


def test_tag_community_issue_on_the_conference_page(otagai_server, browser):
    import datetime as dt

    from django.utils import timezone

    from conferences.models import CommunityIssue, Conference

    cast = make_cast()
    conf = Conference.objects.create(
        kind=Conference.Kind.SUPPORT_MEETING,
        title="地域の会議",
        starts_at=timezone.now() - dt.timedelta(days=1),
        chair=cast.coordinator,
        created_by=cast.coordinator,
        schedule_token="e2e-community",
    )
    ctx = new_context(browser, phone=True)
    page = ctx.new_page()
    login(page, otagai_server, "coordinator", PASSWORD)
    page.goto(f"{otagai_server.url}/conferences/{conf.pk}/")
    page.select_option("#id_topic", "transport")
    page.select_option("#id_area", str(cast.area.pk))
    page.locator("section[aria-labelledby=community-heading] form button").last.click()
    page.wait_for_load_state("networkidle")
    assert CommunityIssue.objects.filter(conference=conf, topic="transport").exists()
    assert_fits_phone(page)
    assert_no_serious_axe_violations(page, "conference page with community issues")
    ctx.close()
