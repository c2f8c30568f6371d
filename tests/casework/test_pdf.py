"""The shared PDF machinery: style sheets and font parsed once and reused, yet every export
carries its own reader's header; concurrent exports each have their own WeasyPrint font
configuration; WeasyPrint opens our static files and nothing else."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from pypdf import PdfReader

from casework import pdf


class Reader:
    def __init__(self, last: str, first: str) -> None:
        self.last_name, self.first_name = last, first

    def get_username(self) -> str:
        return self.last_name


class Agency:
    def __init__(self, name: str) -> None:
        self.name = name


def _export(last: str, first: str, agency: str) -> bytes:
    context = pdf.confidentiality(reader=Reader(last, first), agency=Agency(agency))
    return pdf.render_pdf("pdf/_base.html", context)


def _first_page(data: bytes) -> str:
    return "".join((PdfReader(io.BytesIO(data)).pages[0].extract_text() or "").split())


def _fonts(data: bytes) -> set[str]:
    page = PdfReader(io.BytesIO(data)).pages[0]
    return {str(f.get_object()["/BaseFont"]) for f in page["/Resources"]["/Font"].values()}


def test_each_export_names_its_own_reader_although_the_style_is_reused():
    first = _export("髙橋", "一郎", "民生委員協議会")
    second = _export("山﨑", "花子", "社協")
    assert "髙橋一郎（民生委員協議会）" in _first_page(first)
    assert "山﨑花子（社協）" in _first_page(second)
    assert "髙橋" not in _first_page(second)
    # The reused style sheet still brings the embedded font, page-margin boxes included.
    assert all("IPAexGothic" in f for f in _fonts(second)), _fonts(second)


def test_concurrent_exports_each_get_their_own_renderer():
    names = [("髙橋", "一郎"), ("山﨑", "花子"), ("佐藤", "美咲"), ("鈴木", "健")]
    with ThreadPoolExecutor(max_workers=4) as pool:
        pages = list(pool.map(lambda n: _first_page(_export(*n, "社協")), names))
    for (last, first), text in zip(names, pages, strict=True):
        others = [f"{o_last}{o_first}" for o_last, o_first in names if o_last != last]
        assert f"{last}{first}（社協）" in text
        assert not any(other in text for other in others), text
    assert len(pdf._idle) <= pdf._IDLE_KEPT  # the pool does not grow with the load


def test_fetcher_opens_the_font_and_nothing_outside_static():
    fetcher = pdf._static_fetcher()
    response = fetcher(pdf.font_url())
    try:
        assert response.read(4) == b"\x00\x01\x00\x00"  # a TrueType font
    finally:
        response.close()
    outside = Path(settings.BASE_DIR / "config" / "settings.py").resolve().as_uri()
    for url in (
        outside,
        "file:///etc/passwd",
        (Path(settings.BASE_DIR) / "static" / ".." / "config" / "settings.py").as_uri(),
        "http://127.0.0.1:9/x.css",
        "https://example.org/font.ttf",
    ):
        with pytest.raises(ValueError):
            fetcher(url)
