"""Minutes PDF export of a long conference: WeasyPrint (our export) against the same HTML
printed by headless chromium (`--print-to-pdf`).

A conference with about 300 notes, 40 action items and decisions, on three cases, closed and
approved; then the sensitive-tier copy (everything) is exported several times. Prints time
(median of the runs: wall time, and CPU time of this process, which depends less on what
else the machine runs), size and page count for both, their ratio, peak memory of this process (RSS)
and of the render alone (tracemalloc, Python allocations), the load average; the last line is
one JSON object.

    DEBUG=1 SECRET_KEY=x .venv/bin/python benchmarks/minutes_pdf.py [--runs 3] [--notes 300]
        [--actions 40] [--profile]

Uses a fresh SQLite file under var/ (the database is not what is measured).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
bench_db = ROOT / "var" / "bench_minutes.sqlite3"
for suffix in ("", "-wal", "-shm"):
    Path(f"{bench_db}{suffix}").unlink(missing_ok=True)
os.environ["DATABASE_URL"] = f"sqlite:///{bench_db}"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(notes: int, actions: int):  # type: ignore[no-untyped-def]
    import datetime as dt

    from conferences import services
    from conferences.minutes import services as minutes_services
    from conferences.models import ActionItem, Decision, Note
    from permissions.conferences import conference_access
    from permissions.models import Tier
    from tests.conferences.conftest import make_live
    from tests.conftest import make_cast
    from tests.factories import CaseFactory, ShareFactory

    cast = make_cast()
    conference = make_live(cast)
    extra = []
    for label in ("髙橋さん世帯", "山﨑さん世帯（二）"):
        case = CaseFactory(label=label, life_area=cast.area, lead_coordinator=cast.coordinator)
        ShareFactory(
            case=case,
            agency=cast.council,
            tier=Tier.SENSITIVE,
            coordinates=True,
            may_contribute=True,
        )
        extra.append(case)
    from conferences.models import ConferenceCase

    for i, case in enumerate(extra, start=1):
        ConferenceCase.objects.create(conference=conference, case=case, order=i)
    cases = [cast.case, *extra]
    tiers = [Tier.WATCH, Tier.SUPPORT, Tier.SUPPORT, Tier.SENSITIVE]
    body = (
        "本人は日中ほとんど外出せず、近所の方が声をかけても応答がないことが多い。"
        "長男は夜間の仕事をしており、昼間の見守りが難しい。ケアマネジャーと民生委員が連携し、"
        "週二回の訪問と電話での安否確認を続ける方向で話し合った。"
    )
    Note.objects.bulk_create(
        Note(
            conference=conference,
            case=cases[i % 3],
            tier=tiers[i % 4],
            author=cast.coordinator,
            agency=cast.council,
            text=f"{i + 1}. {body}",
        )
        for i in range(notes)
    )
    Decision.objects.bulk_create(
        Decision(
            conference=conference,
            case=cases[i % 3],
            tier=Tier.SUPPORT,
            author=cast.coordinator,
            agency=cast.council,
            text=f"決定{i + 1}：地域包括支援センターが月一回訪問し、状況を次回会議で報告する。",
        )
        for i in range(20)
    )
    agencies = [cast.council, cast.professional_agency, cast.residents_agency]
    ActionItem.objects.bulk_create(
        ActionItem(
            conference=conference,
            case=cases[i % 3],
            tier=tiers[i % 4],
            author=cast.coordinator,
            agency=cast.council,
            title=f"役割{i + 1}：訪問して生活状況を確認し、必要な支援につなぐ",
            owner_agency=agencies[i % 3],
            due_on=dt.date(2026, 1, 1) + dt.timedelta(days=i),
        )
        for i in range(actions)
    )
    services.conference_close(
        actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
    )
    conference.refresh_from_db()
    access = conference_access(cast.coordinator, conference)
    version = minutes_services.minutes_approve(actor=cast.coordinator, access=access)
    return cast, access, version


MINUTES_CSS = "conferences/minutes/minutes.pdf.css"

# Where an export's time goes: cumulative time of WeasyPrint's phases under cProfile (which
# slows pure Python more than C code such as Pango, so the shares are indicative).
PHASES = {
    "style cascade (computed styles)": ("css/__init__.py", "get_all_computed_styles"),
    "box tree": ("formatting_structure/build.py", "build_formatting_structure"),
    "layout (lines, pages, tables, margin boxes)": ("layout/__init__.py", "layout_document"),
    "drawing (glyph runs, borders)": ("weasyprint/document.py", "paint"),
    "fonts: HarfBuzz subsets and font objects": ("pdf/fonts.py", "build_fonts_dictionary"),
    "PDF file: everything of writing it": ("pdf/__init__.py", "generate_pdf"),
}


def profile_phases(cast, access, version, variant) -> dict[str, float]:  # type: ignore[no-untyped-def]
    import cProfile
    import pstats

    from conferences.minutes.pdf import render_minutes_pdf

    profiler = cProfile.Profile(time.process_time)  # CPU time: the load matters less
    profiler.enable()
    render_minutes_pdf(actor=cast.coordinator, access=access, version=version, variant=variant)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def cumulative(suffix: str, name: str, caller: tuple[str, str] | None = None) -> float:
        total = 0.0
        for (filename, _line, function), (_cc, _nc, _tt, ct, callers) in stats.items():
            if not (filename.endswith(suffix) and function == name):
                continue
            if caller is None:
                total += ct
            else:
                total += sum(
                    c[3]
                    for k, c in callers.items()
                    if k[0].endswith(caller[0]) and k[2] == caller[1]
                )
        return total

    total = cumulative("conferences/minutes/pdf.py", "render_minutes_pdf")
    ours_calls = ("casework/pdf.py", "render_pdf")
    parse = cumulative("weasyprint/__init__.py", "__init__", ours_calls)
    weasy = cumulative("weasyprint/__init__.py", "write_pdf", ours_calls)
    phases = {
        "redaction, template, style sheet look-up (ours)": total - parse - weasy,
        "HTML parsing": parse,
    }
    phases.update({label: cumulative(*key) for label, key in PHASES.items()})
    phases["total (profiled)"] = total
    return {k: round(v, 3) for k, v in phases.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--notes", type=int, default=300)
    parser.add_argument("--actions", type=int, default=40)
    parser.add_argument(
        "--profile", action="store_true", help="also print where one export's time goes"
    )
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    # WeasyPrint's per-page progress messages are not part of an export.
    import logging

    for name in ("weasyprint", "weasyprint.progress"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from django.template.loader import render_to_string
    from pypdf import PdfReader

    from casework import pdf
    from conferences.minutes import content as minutes_content
    from conferences.minutes.pdf import minutes_context, render_minutes_pdf
    from permissions.minutes import minutes_variant

    cast, access, version = build(args.notes, args.actions)
    variant = minutes_variant(access, [c["case_id"] for c in version.content["cases"]], "sensitive")
    assert variant is not None
    rss_before = rss_mb()

    load_start = os.getloadavg()
    # Warm-up: fonts loaded and parsed once per process, as in a long-running server.
    start, cpu = time.perf_counter(), time.process_time()
    render_minutes_pdf(actor=cast.coordinator, access=access, version=version, variant=variant)
    first_s, first_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    times, cpu_times = [], []
    data = b""
    for _ in range(args.runs):
        start, cpu = time.perf_counter(), time.process_time()
        data, _redacted = render_minutes_pdf(
            actor=cast.coordinator, access=access, version=version, variant=variant
        )
        times.append(time.perf_counter() - start)
        # CPU time of this process: what the export costs, whatever else the machine runs.
        cpu_times.append(time.process_time() - cpu)
    tracemalloc.start()
    render_minutes_pdf(actor=cast.coordinator, access=access, version=version, variant=variant)
    _current, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    weasy_s = statistics.median(times)
    weasy_cpu_s = statistics.median(cpu_times)
    pages = len(PdfReader(io.BytesIO(data)).pages)

    # The assembly alone (redaction and template), without layout.
    start = time.perf_counter()
    redacted = minutes_content.redact(version.content, variant.tiers)
    html = render_to_string(
        "conferences/minutes/minutes.pdf.html",
        {
            **pdf.confidentiality(reader=cast.coordinator, agency=cast.council, basis="bench"),
            **minutes_context(redacted),
            "version": version,
            "variant": variant,
            "list_mark": "・",
        },
    )
    template_s = time.perf_counter() - start
    # The same document with its style sheets written into it (the export passes them parsed,
    # from its cache): what chromium prints, and the calibration's head.
    sheets = "\n".join(pdf.stylesheet_text(n) for n in ("pdf/base.css", MINUTES_CSS))
    html = html.replace("</head>", f"<style>{sheets}</style></head>", 1)

    phases = profile_phases(cast, access, version, variant) if args.profile else {}

    # Calibration: plain Japanese paragraphs with the same font and page header, about as
    # many pages, so that figures from a busy machine can be compared with a quiet one. Drawn
    # as WeasyPrint does by default (style parsed and font loaded for each document).
    from weasyprint import HTML

    para = "本人は日中ほとんど外出せず、近所の方が声をかけても応答がないことが多い。" * 4
    plain = (
        html.split("<body>")[0]
        + "<body>"
        + "".join(f"<p>{i}. {para}</p>" for i in range(260))
        + "</body></html>"
    )
    HTML(string=plain, base_url=str(ROOT)).write_pdf()
    start, cpu = time.perf_counter(), time.process_time()
    plain_data = HTML(string=plain, base_url=str(ROOT)).write_pdf()
    plain_s, plain_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    plain_pages = len(PdfReader(io.BytesIO(plain_data)).pages)

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chrome_s = chrome_size = chrome_pages = None
    if chromium:
        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp) / "minutes.html", Path(tmp) / "minutes.pdf"
            src.write_text(html, encoding="utf-8")
            chrome_times = []
            for _ in range(args.runs):
                out.unlink(missing_ok=True)
                start = time.perf_counter()
                subprocess.run(
                    [
                        chromium,
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--no-pdf-header-footer",
                        f"--user-data-dir={tmp}/profile",
                        f"--print-to-pdf={out}",
                        src.as_uri(),
                    ],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                chrome_times.append(time.perf_counter() - start)
            chrome_s = statistics.median(chrome_times)
            chrome_bytes = out.read_bytes()
            chrome_size = len(chrome_bytes)
            chrome_pages = len(PdfReader(io.BytesIO(chrome_bytes)).pages)

    result = {
        "notes": args.notes,
        "actions": args.actions,
        "runs": args.runs,
        "weasyprint_s": round(weasy_s, 3),
        "weasyprint_cpu_s": round(weasy_cpu_s, 3),
        "weasyprint_cpu_min_s": round(min(cpu_times), 3),
        "first_export_s": round(first_s, 3),
        "first_export_cpu_s": round(first_cpu_s, 3),
        "weasyprint_bytes": len(data),
        "weasyprint_pages": pages,
        "template_s": round(template_s, 4),
        "plain_text_s": round(plain_s, 3),
        "plain_text_cpu_s": round(plain_cpu_s, 3),
        "plain_text_pages": plain_pages,
        "weasyprint_over_plain_text": round(weasy_s / plain_s, 2),
        # Per page and in CPU time: what compares across machines and loads.
        "cpu_per_page_s": round(weasy_cpu_s / pages, 4),
        "plain_text_cpu_per_page_s": round(plain_cpu_s / plain_pages, 4),
        "cpu_per_page_over_plain_text": round(
            (weasy_cpu_s / pages) / (plain_cpu_s / plain_pages), 2
        ),
        "profile_s": phases,
        "chromium_s": round(chrome_s, 3) if chrome_s else None,
        "chromium_bytes": chrome_size,
        "chromium_pages": chrome_pages,
        "time_ratio_weasy_over_chromium": round(weasy_s / chrome_s, 2) if chrome_s else None,
        "size_ratio_weasy_over_chromium": round(len(data) / chrome_size, 2)
        if chrome_size
        else None,
        "peak_rss_mb": round(rss_mb(), 1),
        "rss_before_export_mb": round(rss_before, 1),
        "render_python_peak_mb": round(traced_peak / 2**20, 1),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    print(
        f"WeasyPrint: {weasy_s:.2f} s wall, {weasy_cpu_s:.2f} s CPU (median of {args.runs}), "
        f"{len(data) / 1024:.0f} KiB, {pages} pages; first export in the process "
        f"{first_s:.2f} s wall, {first_cpu_s:.2f} s CPU"
    )
    print(f"  of which redaction + template: {template_s * 1000:.0f} ms")
    print(
        f"plain Japanese text, same font: {plain_s:.2f} s wall, {plain_cpu_s:.2f} s CPU "
        f"for {plain_pages} pages (calibration)"
    )
    print(f"load average {load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    if chrome_s:
        print(
            f"chromium --print-to-pdf: {chrome_s:.2f} s (process start included), "
            f"{chrome_size / 1024:.0f} KiB, {chrome_pages} pages"
        )
        print(
            f"ratio WeasyPrint/chromium: time {weasy_s / chrome_s:.2f}, "
            f"size {len(data) / chrome_size:.2f}"
        )
    print(
        f"CPU per page: {result['cpu_per_page_s'] * 1000:.0f} ms, plain text "
        f"{result['plain_text_cpu_per_page_s'] * 1000:.0f} ms "
        f"({result['cpu_per_page_over_plain_text']}x)"
    )
    print(f"peak RSS of this process: {rss_mb():.0f} MB (before exports {rss_before:.0f} MB)")
    if phases:
        total = phases["total (profiled)"]
        print("one export under cProfile (seconds, share of the profiled total):")
        for label, seconds in phases.items():
            print(f"  {label:48s} {seconds:6.3f}  {seconds / total:4.0%}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
