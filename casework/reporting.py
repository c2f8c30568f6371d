"""The unmet-needs report (政策提言): anonymised counts with small-cell suppression.

Only counts leave this module: no names, no free text, no case ids. Every table goes through
`suppress` before it is shown or exported. The rule is documented in docs/reporting.md.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext as _

TOKYO = ZoneInfo("Asia/Tokyo")
FLOOR = 5  # the threshold may be raised by settings, never lowered below this


def min_cell() -> int:
    """Counts below this are suppressed. Configurable upward only."""
    value = int(getattr(settings, "OTAGAI_REPORT_MIN_CELL", FLOOR))
    if value < FLOOR:
        raise ImproperlyConfigured(
            f"OTAGAI_REPORT_MIN_CELL={value} is below {FLOOR}; it may only be raised."
        )
    return value


# --- Periods (fiscal year April–March, Asia/Tokyo) -----------------------------------------


def fiscal_year_of(moment: dt.datetime | dt.date) -> int:
    """The fiscal year (年度) a moment falls in, named by the calendar year of its April."""
    day = moment.astimezone(TOKYO).date() if isinstance(moment, dt.datetime) else moment
    return day.year if day.month >= 4 else day.year - 1


def fiscal_year_bounds(fy: int) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of fiscal year `fy` as aware datetimes in Tokyo."""
    return (dt.datetime(fy, 4, 1, tzinfo=TOKYO), dt.datetime(fy + 1, 4, 1, tzinfo=TOKYO))


PERIODS = ("month", "quarter", "year")


def period_key(moment: dt.datetime, fy: int, period: str) -> int:
    """Index of the period within fiscal year `fy` (0-based): month 0 = April."""
    local = moment.astimezone(TOKYO)
    month_index = (local.month - 4) % 12
    if period == "month":
        return month_index
    if period == "quarter":
        return month_index // 3
    return 0


def period_labels(fy: int, period: str) -> list[str]:
    """The periods of fiscal year `fy` that have begun (periods to come are not zeros)."""
    if period == "month":
        labels = [f"{fy + (m + 3) // 12}-{(m + 3) % 12 + 1:02d}" for m in range(12)]
    elif period == "quarter":
        labels = [_("Q%(n)d") % {"n": q + 1} for q in range(4)]
    else:
        labels = [_("FY%(fy)d") % {"fy": fy}]
    start, end = fiscal_year_bounds(fy)
    now = timezone.now()
    if start <= now < end:
        labels = labels[: period_key(now, fy, period) + 1]
    return labels


# --- Tables and suppression ----------------------------------------------------------------

PRIMARY = "primary"  # below the threshold: shown as "<5"
COMPLEMENT = "complement"  # hidden so that a primary cell cannot be worked out: shown as "x"


@dataclass
class Table:
    """A count table. Totals are the sums of the cells and are published unless suppressed."""

    key: str
    title: str
    row_header: str
    rows: list[str]
    cols: list[str]
    cells: list[list[int]]
    row_totals: bool = True
    col_totals: bool = True
    # (r, c) -> PRIMARY/COMPLEMENT; r == len(rows) is the totals row, c == len(cols) the
    # totals column.
    hidden: dict[tuple[int, int], str] = field(default_factory=dict)
    threshold: int = FLOOR

    @property
    def row_sums(self) -> list[int]:
        return [sum(r) for r in self.cells]

    @property
    def col_sums(self) -> list[int]:
        return [sum(self.cells[r][c] for r in range(len(self.rows))) for c in range(len(self.cols))]

    def value(self, r: int, c: int) -> int:
        """Any cell of the grid including margins."""
        nr, nc = len(self.rows), len(self.cols)
        if r < nr and c < nc:
            return self.cells[r][c]
        if r < nr:
            return self.row_sums[r]
        if c < nc:
            return self.col_sums[c]
        return sum(self.row_sums)

    def shown(self, r: int, c: int) -> str:
        state = self.hidden.get((r, c))
        if state == PRIMARY:
            return f"<{self.threshold}"
        if state == COMPLEMENT:
            return "x"
        return str(self.value(r, c))

    def display_rows(self) -> list[dict[str, Any]]:
        """Rows for templates and CSV, totals included, values already suppressed."""
        nr, nc = len(self.rows), len(self.cols)
        ncols = nc + (1 if self.row_totals else 0)
        out = [
            {"label": label, "values": [self.shown(r, c) for c in range(ncols)], "total": False}
            for r, label in enumerate(self.rows)
        ]
        if self.col_totals:
            out.append(
                {
                    "label": _("Total"),
                    "values": [self.shown(nr, c) for c in range(ncols)],
                    "total": True,
                }
            )
        return out

    def header(self) -> list[str]:
        return [*self.cols, _("Total")] if self.row_totals else list(self.cols)

    def published(self, r: int, c: int) -> int | None:
        """The value as a reader knows it, or None if hidden."""
        return None if (r, c) in self.hidden else self.value(r, c)


def _lines(table: Table) -> list[list[tuple[int, int]]]:
    """Each published equation as the grid cells it links: cells then their total (last)."""
    nr, nc = len(table.rows), len(table.cols)
    lines: list[list[tuple[int, int]]] = []
    if table.row_totals:
        rows = range(nr + 1) if table.col_totals else range(nr)
        lines += [[(r, c) for c in range(nc + 1)] for r in rows]
    if table.col_totals:
        cols = range(nc + 1) if table.row_totals else range(nc)
        lines += [[(r, c) for r in range(nr + 1)] for c in cols]
    return lines


def determined_cells(table: Table) -> set[tuple[int, int]]:
    """Hidden cells whose exact value follows from the published equations (linear algebra
    over the rationals: a cell is determined iff its unit vector lies in the row space of the
    equations restricted to the hidden cells)."""
    hidden = sorted(table.hidden)
    if not hidden:
        return set()
    index = {cell: i for i, cell in enumerate(hidden)}
    matrix: list[list[Fraction]] = []
    for line in _lines(table):
        row = [Fraction(0)] * len(hidden)
        for pos, cell in enumerate(line):
            if cell in index:
                row[index[cell]] = Fraction(-1 if pos == len(line) - 1 else 1)
        if any(row):
            matrix.append(row)
    reduced = _rref(matrix, len(hidden))
    found = set()
    for row in reduced:
        nonzero = [i for i, v in enumerate(row) if v]
        if len(nonzero) == 1:
            found.add(hidden[nonzero[0]])
    return found


def _rref(matrix: list[list[Fraction]], width: int) -> list[list[Fraction]]:
    rows = [r[:] for r in matrix]
    pivot_row = 0
    for col in range(width):
        pick = next((i for i in range(pivot_row, len(rows)) if rows[i][col]), None)
        if pick is None:
            continue
        rows[pivot_row], rows[pick] = rows[pick], rows[pivot_row]
        lead = rows[pivot_row][col]
        rows[pivot_row] = [v / lead for v in rows[pivot_row]]
        for i in range(len(rows)):
            if i != pivot_row and rows[i][col]:
                factor = rows[i][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[pivot_row], strict=True)]
        pivot_row += 1
    return rows[:pivot_row]


def _complement_candidate(table: Table, line: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The cheapest cell of a line to hide next: the smallest non-zero inner cell, then an
    inner zero, then the line's total."""
    open_cells = [cell for cell in line if cell not in table.hidden]
    inner = [cell for cell in open_cells if cell != line[-1]]
    nonzero = sorted((table.value(*c), c) for c in inner if table.value(*c) > 0)
    if nonzero:
        return nonzero[0][1]
    if inner:
        return inner[0]
    return open_cells[0] if open_cells else None


def suppress(table: Table, threshold: int | None = None) -> Table:
    """Primary suppression of every count 1..threshold-1 (zeros are shown), then complementary
    suppression until no hidden cell can be worked out from the published totals:

    1. while a line (a row or column with its total) has exactly one hidden cell, hide the
       smallest other cell of that line (non-zero inner cells first, its total last);
    2. if a hidden cell is still determined by combining several lines (a "bridge"), hide the
       smallest open cell in its row or column and go back to 1.

    Cells are only ever added, so this ends (at worst with everything hidden)."""
    table.threshold = threshold or min_cell()
    nr, nc = len(table.rows), len(table.cols)
    table.hidden = {}
    for r in range(nr):
        for c in range(nc):
            if 0 < table.cells[r][c] < table.threshold:
                table.hidden[(r, c)] = PRIMARY
    # Margins are counts too: a small total is itself a small cell.
    grid_r = nr + (1 if table.col_totals else 0)
    grid_c = nc + (1 if table.row_totals else 0)
    for r in range(grid_r):
        for c in range(grid_c):
            if (r >= nr or c >= nc) and 0 < table.value(r, c) < table.threshold:
                table.hidden[(r, c)] = PRIMARY
    lines = _lines(table)
    while True:
        changed = False
        for line in lines:
            if sum(1 for cell in line if cell in table.hidden) == 1:
                pick = _complement_candidate(table, line)
                if pick is not None:
                    table.hidden[pick] = COMPLEMENT
                    changed = True
        if changed:
            continue
        stuck = determined_cells(table)
        if not stuck:
            return table
        r, c = min(stuck)
        line = next(ln for ln in lines if (r, c) in ln)
        pick = _complement_candidate(table, line)
        if pick is None:  # every cell of that line is hidden already; try the others
            others = [ln for ln in lines if (r, c) in ln]
            pick = next(
                (p for ln in others if (p := _complement_candidate(table, ln)) is not None), None
            )
        if pick is None:
            return table
        table.hidden[pick] = COMPLEMENT


# --- Aggregation ---------------------------------------------------------------------------


@dataclass
class Filters:
    fy: int
    period: str = "month"
    coverage: str = ""  # "" = all


def _cases_opened(filters: Filters) -> Any:
    from casework.models import Case

    start, end = fiscal_year_bounds(filters.fy)
    qs = Case.objects.filter(opened_at__gte=start, opened_at__lt=end)
    if filters.coverage:
        qs = qs.filter(coverage=filters.coverage)
    return qs


def _need_pairs(filters: Filters) -> list[tuple[int, int, int | None, str, dt.datetime]]:
    """(category id, life area id, small area id, coverage, opened_at) per case and need."""
    from casework.models import Case

    through = Case.need_categories.through
    return list(
        through.objects.filter(case__in=_cases_opened(filters)).values_list(
            "needcategory_id",
            "case__life_area_id",
            "case__small_area_id",
            "case__coverage",
            "case__opened_at",
        )
    )


def needs_tables(filters: Filters) -> list[Table]:
    from casework.models import Case, NeedCategory
    from permissions.models import Area

    categories = list(NeedCategory.objects.all())
    areas = list(Area.objects.filter(parent__isnull=True).order_by("order", "pk"))
    pairs = _need_pairs(filters)
    cat_index = {c.pk: i for i, c in enumerate(categories)}
    area_index = {a.pk: i for i, a in enumerate(areas)}
    coverages = list(Case.Coverage)
    cov_index = {c.value: i for i, c in enumerate(coverages)}
    labels = period_labels(filters.fy, filters.period)

    by_area = [[0] * len(areas) for _c in categories]
    by_cov = [[0] * len(coverages) for _c in categories]
    by_period = [[0] * len(labels) for _c in categories]
    for cat, area, _small, coverage, opened in pairs:
        i = cat_index[cat]
        if area in area_index:
            by_area[i][area_index[area]] += 1
        by_cov[i][cov_index[coverage]] += 1
        k = period_key(opened, filters.fy, filters.period)
        if k < len(labels):  # never a period still to come
            by_period[i][k] += 1
    need = _("Need")
    return [
        Table(
            "need_coverage",
            _("Needs by whether existing services cover them"),
            need,
            [c.name for c in categories],
            [str(c.label) for c in coverages],
            by_cov,
        ),
        Table(
            "need_area",
            _("Needs by life area"),
            need,
            [c.name for c in categories],
            [a.name for a in areas],
            by_area,
        ),
        Table(
            "need_period",
            _("Needs by period"),
            need,
            [c.name for c in categories],
            labels,
            by_period,
        ),
    ]


def small_area_table(filters: Filters) -> Table:
    """Cases by small area × coverage; small areas with fewer cases than the threshold are
    merged into "other small areas" of their life area (shown only where counts allow)."""
    from casework.models import Case
    from permissions.models import Area

    rows = list(_cases_opened(filters).values_list("life_area_id", "small_area_id", "coverage"))
    names = dict(Area.objects.values_list("pk", "name"))
    coverages = list(Case.Coverage)
    per_small = Counter((life, small) for life, small, _cov in rows)
    threshold = min_cell()
    counts: dict[str, list[int]] = {}
    order: list[str] = []
    for life, small, cov in sorted(rows, key=lambda r: (r[0], r[1] or 0)):
        if small is not None and per_small[(life, small)] >= threshold:
            label = f"{names.get(life, '')} / {names.get(small, '')}"
        else:
            label = _("%(area)s / other small areas") % {"area": names.get(life, "")}
        if label not in counts:
            counts[label] = [0] * len(coverages)
            order.append(label)
        counts[label][[c.value for c in coverages].index(cov)] += 1
    return Table(
        "small_area",
        _("Cases by small area"),
        _("Area"),
        order,
        [str(c.label) for c in coverages],
        [counts[label] for label in order],
    )


def flow_table(filters: Filters) -> Table:
    """New and closed cases per month of the fiscal year (the trend line)."""
    from casework.models import Case

    start, end = fiscal_year_bounds(filters.fy)
    labels = period_labels(filters.fy, "month")
    months = len(labels)
    new = [0] * 12
    closed = [0] * 12
    for opened in Case.objects.filter(opened_at__gte=start, opened_at__lt=end).values_list(
        "opened_at", flat=True
    ):
        new[period_key(opened, filters.fy, "month")] += 1
    for shut in Case.objects.filter(closed_at__gte=start, closed_at__lt=end).values_list(
        "closed_at", flat=True
    ):
        if shut is not None:
            closed[period_key(shut, filters.fy, "month")] += 1
    return Table(
        "flow",
        _("New and closed cases"),
        _("Cases"),
        [_("New"), _("Closed")],
        labels,
        [new[:months], closed[:months]],
        col_totals=False,
    )


HELD_STATES = ("closed", "minutes_approved")


def conference_table(filters: Filters) -> Table:
    from conferences.models import Conference

    start, end = fiscal_year_bounds(filters.fy)
    labels = period_labels(filters.fy, filters.period)
    kinds = list(Conference.Kind)
    cells = [[0] * len(labels) for _k in kinds]
    kind_index = {k.value: i for i, k in enumerate(kinds)}
    for kind, starts in Conference.objects.filter(
        state__in=HELD_STATES, starts_at__gte=start, starts_at__lt=end
    ).values_list("kind", "starts_at"):
        k = period_key(starts, filters.fy, filters.period)
        if k < len(labels):
            cells[kind_index[kind]][k] += 1
    return Table(
        "conferences",
        _("Conferences held by type"),
        _("Type of meeting"),
        [str(k.label) for k in kinds],
        labels,
        cells,
    )


# Which ActionItem statuses count as done / not done. Anything else is still open. Statuses
# missing from the model are ignored, so the report keeps working while the model grows.
DONE_STATUSES = ("done", "completed")
NOT_DONE_STATUSES = ("not_done", "cancelled", "dropped")
REASON_FIELDS = ("not_done_reason", "reason", "status_reason")


def _reason_field() -> tuple[str, dict[str, str]] | None:
    """The first ActionItem field holding a coded "not done" reason (with choices). A field
    without choices may hold free text and is never shown."""
    from conferences.models import ActionItem

    for name in REASON_FIELDS:
        try:
            f = ActionItem._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        choices = getattr(f, "choices", None)
        if choices:
            return name, {str(k): str(v) for k, v in choices}
    return None


def action_table(filters: Filters) -> Table:
    from conferences.models import ActionItem

    start, end = fiscal_year_bounds(filters.fy)
    statuses = {str(v) for v in ActionItem.Status.values}
    done = [s for s in DONE_STATUSES if s in statuses]
    not_done = [s for s in NOT_DONE_STATUSES if s in statuses]
    reason = _reason_field()
    fields = ["status"] + ([reason[0]] if reason else [])
    qs = ActionItem.objects.filter(
        created_at__gte=start, created_at__lt=end, deleted_at__isnull=True
    )
    rows: Counter[str] = Counter()
    labels = dict(ActionItem.Status.choices)
    for values in qs.values_list(*fields):
        status = values[0]
        if status in done:
            rows[_("Done")] += 1
        elif status in not_done:
            why = ""
            if reason:
                why = reason[1].get(str(values[1]), "")
            if not why:
                why = (
                    _("no reason recorded")
                    if status == "not_done"
                    else str(labels.get(status, status))
                )
            rows[_("Not done: %(why)s") % {"why": why}] += 1
        else:
            rows[_("Not yet done")] += 1
    order = [_("Done")]
    if reason:
        order += [_("Not done: %(why)s") % {"why": w} for w in reason[1].values()]
    order += [
        _("Not done: %(why)s") % {"why": _("no reason recorded") if s == "not_done" else labels[s]}
        for s in not_done
    ]
    order += [_("Not yet done")]
    order = list(dict.fromkeys(order))
    return Table(
        "actions",
        _("Action items: done, not done and why"),
        _("Outcome"),
        order,
        [_("Action items")],
        [[rows[label]] for label in order],
        row_totals=False,
    )


def community_table(filters: Filters) -> Table:
    from conferences.models import CommunityIssue
    from permissions.models import Area

    start, end = fiscal_year_bounds(filters.fy)
    topics = list(CommunityIssue.Topic)
    areas = list(Area.objects.filter(parent__isnull=True).order_by("order", "pk"))
    area_index = {a.pk: i for i, a in enumerate(areas)}
    topic_index = {t.value: i for i, t in enumerate(topics)}
    cells = [[0] * len(areas) for _t in topics]
    for topic, area in CommunityIssue.objects.filter(
        conference__starts_at__gte=start, conference__starts_at__lt=end
    ).values_list("topic", "area_id"):
        if area in area_index:
            cells[topic_index[topic]][area_index[area]] += 1
    return Table(
        "community",
        _("Community issues (地域課題) raised in conferences"),
        _("Community issue"),
        [str(t.label) for t in topics],
        [a.name for a in areas],
        cells,
    )


@dataclass
class Median:
    n: int
    days: float | None  # None when n is below the threshold
    threshold: int

    @property
    def shown(self) -> str:
        return f"<{self.threshold}" if self.days is None else f"{self.days:g}"


def concern_to_conference(filters: Filters) -> Median:
    """Median days from the first concern about a case to its first conference, for cases
    whose first conference was held in the fiscal year. Hidden when fewer than the threshold."""
    from casework.models import Concern
    from conferences.models import ConferenceCase

    first_concern: dict[int, dt.datetime] = {}
    for case_id, at in Concern.objects.filter(case__isnull=False).values_list(
        "case_id", "created_at"
    ):
        if case_id not in first_concern or at < first_concern[case_id]:
            first_concern[case_id] = at
    first_conf: dict[int, dt.datetime] = {}
    for case_id, at in ConferenceCase.objects.filter(
        conference__state__in=HELD_STATES, case_id__in=list(first_concern)
    ).values_list("case_id", "conference__starts_at"):
        if case_id not in first_conf or at < first_conf[case_id]:
            first_conf[case_id] = at
    start, end = fiscal_year_bounds(filters.fy)
    days = [
        (first_conf[c].astimezone(TOKYO).date() - first_concern[c].astimezone(TOKYO).date()).days
        for c in first_conf
        if start <= first_conf[c] < end and first_conf[c] >= first_concern[c]
    ]
    threshold = min_cell()
    if len(days) < threshold:
        return Median(len(days), None, threshold)
    return Median(len(days), float(statistics.median(days)), threshold)


@dataclass
class Report:
    filters: Filters
    tables: list[Table]
    median: Median
    threshold: int

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


def unmet_needs_report(filters: Filters) -> Report:
    threshold = min_cell()
    tables = [
        *needs_tables(filters),
        small_area_table(filters),
        flow_table(filters),
        conference_table(filters),
        action_table(filters),
        community_table(filters),
    ]
    for t in tables:
        suppress(t, threshold)
    return Report(filters, tables, concern_to_conference(filters), threshold)


def report_rows(report: Report) -> list[list[str]]:
    """The whole report as CSV rows (suppressed values only)."""
    out: list[list[str]] = [
        [_("Unmet-needs report"), _("FY%(fy)d") % {"fy": report.filters.fy}],
        [
            _("Counts below %(n)d are shown as <%(n)d; x marks a count hidden to protect them.")
            % {"n": report.threshold}
        ],
    ]
    for t in report.tables:
        out += [[], [t.title], [t.row_header, *t.header()]]
        out += [[row["label"], *row["values"]] for row in t.display_rows()]
    out += [
        [],
        [_("Median days from first concern to first conference"), report.median.shown],
    ]
    return out
