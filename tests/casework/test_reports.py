"""The unmet-needs report: hand-computed counts, suppression, fiscal years, access, exports."""

from __future__ import annotations

import datetime as dt
import io
import itertools

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from pypdf import PdfReader

from casework.models import Case, NeedCategory
from casework.reporting import (
    COMPLEMENT,
    PRIMARY,
    TOKYO,
    Filters,
    Table,
    determined_cells,
    fiscal_year_of,
    min_cell,
    suppress,
    unmet_needs_report,
)
from conferences.models import CommunityIssue, Conference
from permissions.models import AuditEvent, DisclosureRecord
from tests.factories import AreaFactory, CaseFactory

FY = 2025


def at(y: int, m: int, d: int, h: int = 12) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=TOKYO)


# --- Suppression ---------------------------------------------------------------------------


def _table(cells: list[list[int]]) -> Table:
    return Table(
        "t",
        "t",
        "r",
        [f"r{i}" for i in range(len(cells))],
        [f"c{j}" for j in range(len(cells[0]))],
        cells,
    )


def _attack(table: Table) -> dict[tuple[int, int], set[int]]:
    """What an attacker can work out: every non-negative assignment of the hidden inner cells
    that agrees with every published total and with the display rule (primary 1..4)."""
    nr, nc = len(table.rows), len(table.cols)
    hidden = sorted(c for c in table.hidden if c[0] < nr and c[1] < nc)
    grand = table.value(nr, nc)
    ranges = [
        range(1, table.threshold) if table.hidden[c] == PRIMARY else range(grand + 1)
        for c in hidden
    ]
    feasible: dict[tuple[int, int], set[int]] = {c: set() for c in hidden}
    for values in itertools.product(*ranges):
        guess = [row[:] for row in table.cells]
        for (r, c), v in zip(hidden, values, strict=True):
            guess[r][c] = v
        trial = _table(guess)
        if all(
            trial.value(r, c) == table.published(r, c)
            for r in range(nr + 1)
            for c in range(nc + 1)
            if table.published(r, c) is not None
        ):
            for cell, v in zip(hidden, values, strict=True):
                feasible[cell].add(v)
    return feasible


def test_primary_and_complementary_suppression() -> None:
    t = suppress(_table([[2, 9, 7], [8, 6, 10], [11, 12, 5]]), 5)
    assert t.hidden[(0, 0)] == PRIMARY
    assert t.shown(0, 0) == "<5"
    # Row 0 and column 0 each needed a second hidden cell.
    assert sum(1 for c in range(4) if (0, c) in t.hidden) >= 2
    assert sum(1 for r in range(4) if (r, 0) in t.hidden) >= 2
    assert all(v == COMPLEMENT for k, v in t.hidden.items() if k != (0, 0))
    assert not determined_cells(t)


def test_suppressed_cell_cannot_be_recovered_from_totals() -> None:
    t = suppress(_table([[3, 6, 7], [6, 9, 8], [5, 8, 12]]), 5)
    assert (0, 0) in t.hidden
    feasible = _attack(t)
    # The true value is among the candidates, but never the only one.
    for cell, values in feasible.items():
        assert t.cells[cell[0]][cell[1]] in values
        assert len(values) > 1, f"{cell} recovered as {values}"


def test_naive_suppression_would_leak() -> None:
    """Without complements, the row total gives the small cell away."""
    t = _table([[3, 6, 7], [6, 9, 8], [5, 8, 12]])
    t.threshold = 5
    t.hidden = {(0, 0): PRIMARY}
    assert _attack(t)[(0, 0)] == {3}


def test_bridge_is_closed() -> None:
    t = _table([[1, 1, 9, 9], [1, 1, 9, 9], [9, 9, 1, 1], [9, 9, 1, 1]])
    suppress(t, 5)
    assert not determined_cells(t)


def test_small_total_is_itself_suppressed() -> None:
    t = suppress(_table([[0, 3], [0, 0]]), 5)
    assert t.shown(0, 2) in {"<5", "x"} and t.shown(2, 1) in {"<5", "x"}
    assert not determined_cells(t)


def test_threshold_only_upward(settings) -> None:
    settings.OTAGAI_REPORT_MIN_CELL = 10
    assert min_cell() == 10
    settings.OTAGAI_REPORT_MIN_CELL = 3
    with pytest.raises(ImproperlyConfigured):
        min_cell()


# --- Periods -------------------------------------------------------------------------------


def test_fiscal_year_boundary_in_tokyo() -> None:
    assert fiscal_year_of(at(2026, 3, 31, 23)) == 2025
    assert fiscal_year_of(at(2026, 4, 1, 0)) == 2026
    # 2026-03-31 15:30 UTC is already 1 April in Tokyo.
    assert fiscal_year_of(dt.datetime(2026, 3, 31, 15, 30, tzinfo=dt.UTC)) == 2026
    assert fiscal_year_of(dt.datetime(2026, 3, 31, 14, 59, tzinfo=dt.UTC)) == 2025


@pytest.mark.django_db
def test_counts_against_hand_computed_fixture(cast) -> None:
    isolation = NeedCategory.objects.get_or_create(code="iso-t", defaults={"name": "孤立T"})[0]
    other_area = AreaFactory(name="大塚")
    # Area 富坂: 6 isolation cases not covered (opened in FY2025) ; 大塚: 2 partly covered.
    for i in range(6):
        c = CaseFactory(
            life_area=cast.area,
            coverage=Case.Coverage.NOT_COVERED,
            opened_at=at(2025, 4 + i, 10),
            lead_coordinator=cast.coordinator,
        )
        c.need_categories.add(isolation)
    for m in (3, 4):  # 31 March counts in FY2024, 1 April in FY2025
        c = CaseFactory(
            life_area=other_area,
            coverage=Case.Coverage.PARTLY,
            opened_at=at(2026, m, 31 if m == 3 else 1, 9),
            lead_coordinator=cast.coordinator,
        )
        c.need_categories.add(isolation)
    report = unmet_needs_report(Filters(fy=FY, period="quarter"))
    by_area = report.table("need_area")
    r = by_area.rows.index("孤立T")
    assert by_area.cells[r][by_area.cols.index("富坂")] == 6
    assert by_area.cells[r][by_area.cols.index("大塚")] == 1  # only 31 March (FY2025)
    assert by_area.shown(r, by_area.cols.index("大塚")) == "<5"
    # The 6 is hidden too: with the row total of 7 it would give the 1 away.
    assert by_area.shown(r, by_area.cols.index("富坂")) == "x"
    assert by_area.shown(r, len(by_area.cols)) == "7"
    by_period = report.table("need_period")
    assert by_period.cells[r] == [3, 3, 0, 1]
    flow = report.table("flow")
    assert sum(flow.cells[0]) == 7
    next_year = unmet_needs_report(Filters(fy=FY + 1)).table("need_area")
    assert next_year.cells[r][next_year.cols.index("大塚")] == 1


@pytest.mark.django_db
def test_community_issue_and_conference_counts(cast) -> None:
    from tests.factories import UserFactory

    conf = Conference.objects.create(
        kind=Conference.Kind.SUPPORT_MEETING,
        title="x",
        starts_at=at(2025, 6, 1),
        chair=cast.coordinator,
        created_by=cast.coordinator,
        state=Conference.State.CLOSED,
        schedule_token="t1",
    )
    CommunityIssue.objects.create(
        conference=conf, topic="transport", area=cast.area, tagged_by=UserFactory()
    )
    report = unmet_needs_report(Filters(fy=FY, period="year"))
    conf_t = report.table("conferences")
    assert conf_t.cells[conf_t.rows.index(str(Conference.Kind.SUPPORT_MEETING.label))] == [1]
    com = report.table("community")
    assert com.cells[com.rows.index(str(CommunityIssue.Topic.TRANSPORT.label))][0] == 1


# --- Access and exports --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "status"),
    [("coordinator", 200), ("professional", 403), ("resident", 403), ("outsider", 403)],
)
def test_access(cast, who: str, status: int) -> None:
    client = cast.client_for(who)
    for method, url in (
        ("get", reverse("casework:report")),
        ("post", reverse("casework:report-download", args=["csv"])),
        ("post", reverse("casework:report-download", args=["pdf"])),
    ):
        response = getattr(client, method)(url, {"fy": FY})
        assert response.status_code == status, url
        if status != 200:
            assert b"<5" not in response.content
    nav = client.get(reverse("dashboard")).content.decode()
    assert (reverse("casework:report") in nav) == (who == "coordinator")


@pytest.mark.django_db
def test_download_by_get_writes_nothing(cast) -> None:
    client = cast.client_for("coordinator")
    for fmt in ("csv", "pdf"):
        response = client.get(reverse("casework:report-download", args=[fmt]) + f"?fy={FY}")
        assert response.status_code == 405
    assert not DisclosureRecord.objects.exists()


@pytest.mark.django_db
def test_download_needs_csrf_token(cast) -> None:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.coordinator)
    page = client.get(reverse("casework:report")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page
    response = client.post(reverse("casework:report-download", args=["csv"]), {"fy": FY})
    assert response.status_code == 403
    assert not DisclosureRecord.objects.exists()


@pytest.mark.django_db
def test_anonymous_redirected(cast) -> None:
    response = cast.client_for("anonymous").get(reverse("casework:report"))
    assert response.status_code == 302


@pytest.mark.django_db
def test_page_has_no_names_or_free_text(cast) -> None:
    html = cast.client_for("coordinator").get(reverse("casework:report")).content.decode()
    assert "山﨑" not in html
    assert cast.case.summary not in html
    assert "<svg" in html and "<title" in html


@pytest.mark.django_db
def test_csv_has_bom_and_is_recorded(cast) -> None:
    response = cast.client_for("coordinator").post(
        reverse("casework:report-download", args=["csv"]), {"fy": FY}
    )
    assert response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8-sig")
    assert "山﨑" not in text
    record = DisclosureRecord.objects.get(kind="unmet_needs_csv")
    assert record.basis == DisclosureRecord.Basis.STATISTICS and record.case_ids == []
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.EXPORT, detail__what="unmet_needs_csv"
    ).exists()


@pytest.mark.django_db
def test_pdf_text(cast) -> None:
    response = cast.client_for("coordinator").post(
        reverse("casework:report-download", args=["pdf"]), {"fy": FY}
    )
    assert response["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert str(FY) in text
    assert "山﨑" not in text
    assert DisclosureRecord.objects.filter(kind="unmet_needs_pdf").count() == 1


@pytest.mark.django_db
def test_tag_community_issue_on_conference(cast) -> None:
    conf = Conference.objects.create(
        kind=Conference.Kind.SUPPORT_MEETING,
        title="x",
        starts_at=at(2025, 6, 1),
        chair=cast.coordinator,
        created_by=cast.coordinator,
        schedule_token="t2",
    )
    url = reverse("conferences:community-issues", args=[conf.pk])
    outsider = cast.client_for("outsider").post(url, {"topic": "housing", "area": cast.area.pk})
    assert outsider.status_code in (403, 404)
    assert not CommunityIssue.objects.exists()
    response = cast.client_for("coordinator").post(url, {"topic": "housing", "area": cast.area.pk})
    assert response.status_code == 302
    assert CommunityIssue.objects.get().topic == "housing"
    page = cast.client_for("coordinator").get(
        reverse("conferences:conference-detail", args=[conf.pk])
    )
    assert "地域課題" in page.content.decode()


def _action(cast, conf, status: str, reason: str = "") -> None:
    from conferences.models import ActionItem

    ActionItem.objects.create(
        conference=conf,
        author=cast.coordinator,
        owner_user=cast.coordinator,
        title="秘密のタイトル",
        due_on=dt.date(2025, 7, 1),
        status=status,
        status_reason=reason,
        created_at=at(2025, 6, 1),
    )


@pytest.fixture
def english():
    """The row labels asserted below are the English ones."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.mark.django_db
def test_action_items_done_not_done_and_why(cast, monkeypatch, english) -> None:
    from casework import reporting

    conf = Conference.objects.create(
        kind=Conference.Kind.SUPPORT_MEETING,
        title="x",
        starts_at=at(2025, 6, 1),
        chair=cast.coordinator,
        created_by=cast.coordinator,
        schedule_token="t3",
    )
    for _i in range(6):
        _action(cast, conf, "done")
    for _i in range(5):
        _action(cast, conf, "not_done", "free text here")
    _action(cast, conf, "open")
    table = unmet_needs_report(Filters(fy=FY)).table("actions")
    counts = dict(zip(table.rows, (r[0] for r in table.cells), strict=True))
    assert counts["Done"] == 6
    # A reason without choices may be free text: never shown, counted as "no reason".
    assert counts["Not done: no reason recorded"] == 5
    assert "free text here" not in str(table.rows)
    # Once a coded reason field exists (issue 5), its labels are used.
    monkeypatch.setattr(
        reporting, "_reason_field", lambda: ("status_reason", {"free text here": "No capacity"})
    )
    table = unmet_needs_report(Filters(fy=FY)).table("actions")
    counts = dict(zip(table.rows, (r[0] for r in table.cells), strict=True))
    assert counts["Not done: No capacity"] == 5
    assert table.shown(len(table.rows) - 1, 0) == "<5"  # the single open item
