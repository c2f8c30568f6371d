"""Server-side SVG charts for the unmet-needs report: black and white (hatching, markers and
value labels, never colour alone), with <title>/<desc>; the table beside each is the text
alternative. Values come from suppressed tables only: a hidden value is drawn as a label."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from casework.reporting import Table

PATTERNS = """<defs>
<pattern id="{id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse"
 patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>
<line x1="0" y1="0" x2="0" y2="6" stroke="#000" stroke-width="2"/></pattern>
</defs>"""


def _desc() -> str:
    return _("The table beside this chart gives the same figures.")


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def bar_chart(*, chart_id: str, title: str, labels: list[str], values: list[str]) -> SafeString:
    """Horizontal bars with the value written at the end of each bar."""
    numbers = [_number(v) for v in values]
    top = max([n for n in numbers if n is not None] + [1])
    row_h, label_w, bar_w = 26, 150, 170
    height = row_h * len(labels) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {label_w + bar_w + 50} {height}" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(_desc())}</desc>',
        PATTERNS.format(id=chart_id),
    ]
    for i, (label, shown, n) in enumerate(zip(labels, values, numbers, strict=True)):
        y = 5 + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" font-size="12">'
            f"{escape(label[:14])}</text>"
        )
        width = 0 if n is None else round(bar_w * n / top)
        if width:
            parts.append(
                f'<rect x="{label_w}" y="{y + 3}" width="{width}" height="{row_h - 8}" '
                f'fill="url(#{chart_id}-hatch)" stroke="#000"/>'
            )
        parts.append(
            f'<text x="{label_w + width + 4}" y="{y + 16}" font-size="12">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def line_chart(*, chart_id: str, title: str, table: Table) -> SafeString:
    """One line per row of `table` over its columns: solid with circles, dashed with squares.
    Hidden values break the line and are labelled where they fall."""
    width, height, left, bottom = 420, 200, 30, 40
    cols = len(table.cols)
    rows = [[_number(table.shown(r, c)) for c in range(cols)] for r in range(len(table.rows))]
    top = max([v for row in rows for v in row if v is not None] + [1])
    step = (width - left - 10) / max(cols - 1, 1)

    def xy(c: int, v: int) -> tuple[float, float]:
        return left + c * step, height - bottom - (height - bottom - 20) * v / top

    styles = [("", "circle"), ("6 4", "square")]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(_desc())}</desc>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 5}" y2="{height - bottom}" '
        'stroke="#000"/>',
    ]
    for c, label in enumerate(table.cols):
        x = left + c * step
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 14}" font-size="9" text-anchor="middle">'
            f"{escape(label[-2:])}</text>"
        )
    for r, values in enumerate(rows):
        dash, marker = styles[r % 2]
        segment: list[str] = []
        for c, v in enumerate([*values, None]):
            if v is None:
                if len(segment) > 1:
                    parts.append(
                        f'<polyline fill="none" stroke="#000" stroke-width="2" '
                        f'stroke-dasharray="{dash}" points="{" ".join(segment)}"/>'
                    )
                segment = []
                if c < cols:
                    parts.append(
                        f'<text x="{left + c * step:.1f}" y="{height - bottom - 4 - 10 * r}" '
                        f'font-size="8" text-anchor="middle">{escape(table.shown(r, c))}</text>'
                    )
                continue
            x, y = xy(c, v)
            segment.append(f"{x:.1f},{y:.1f}")
            if marker == "circle":
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#000"/>')
            else:
                parts.append(
                    f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" '
                    'fill="#fff" stroke="#000"/>'
                )
        lx = left + 10 + r * 140
        sample = (
            f'<circle cx="{lx + 12}" cy="{height - 12}" r="3.5" fill="#000"/>'
            if marker == "circle"
            else f'<rect x="{lx + 8.5}" y="{height - 15.5}" width="7" height="7" fill="#fff" '
            'stroke="#000"/>'
        )
        parts.append(
            f'<line x1="{lx}" y1="{height - 12}" x2="{lx + 24}" y2="{height - 12}" stroke="#000" '
            f'stroke-width="2" stroke-dasharray="{dash}"/>{sample}'
            f'<text x="{lx + 30}" y="{height - 8}" font-size="11">'
            f"{escape(table.rows[r])}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def report_charts(report) -> dict[str, SafeString]:  # type: ignore[no-untyped-def]
    """The three charts: needs by category, cases by area, the monthly trend."""
    by_area = report.table("need_area")
    n_rows, n_cols = len(by_area.rows), len(by_area.cols)
    return {
        "categories": bar_chart(
            chart_id="chart-categories",
            title=_("Needs by category"),
            labels=by_area.rows,
            values=[by_area.shown(r, n_cols) for r in range(n_rows)],
        ),
        "areas": bar_chart(
            chart_id="chart-areas",
            title=_("Needs by life area"),
            labels=by_area.cols,
            values=[by_area.shown(n_rows, c) for c in range(n_cols)],
        ),
        "trend": line_chart(
            chart_id="chart-trend",
            title=_("New and closed cases by month"),
            table=report.table("flow"),
        ),
    }
