"""Dates with the Japanese era and the Western year, as on Japanese record forms."""

from __future__ import annotations

import datetime as dt

# (first day, name); newest first. 令和 began on 2019-05-01, 平成 on 1989-01-08.
ERAS: list[tuple[dt.date, str]] = [
    (dt.date(2019, 5, 1), "令和"),
    (dt.date(1989, 1, 8), "平成"),
    (dt.date(1926, 12, 25), "昭和"),
]


def era_year(day: dt.date) -> str:
    """'令和7年' for 2025; the first year of an era is 元年 ('令和元年')."""
    for start, name in ERAS:
        if day >= start:
            n = day.year - start.year + 1
            return f"{name}{'元' if n == 1 else n}年"
    raise ValueError(f"no era for {day.isoformat()}")


def wareki(day: dt.date | dt.datetime | None) -> str:
    """'令和7年（2025年）11月26日'; empty for no date."""
    if day is None:
        return ""
    if isinstance(day, dt.datetime):
        day = day.date()
    return f"{era_year(day)}（{day.year}年）{day.month}月{day.day}日"
