"""PDF exports rendered from templates by WeasyPrint, with IPAex Gothic embedded so that
Japanese prints on any machine, and a confidentiality header naming the reader.

Shared: minutes and list packs use `render_pdf` with a template extending
`pdf/_base.html` and `confidentiality(...)` for the header.
"""

from __future__ import annotations

import atexit
import hashlib
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from permissions.people import display_name

FONT = "fonts/ipaexg.ttf"


def font_url() -> str:
    found = finders.find(FONT)
    path = Path(found if isinstance(found, str) else settings.BASE_DIR / "static" / FONT)
    return path.resolve().as_uri()


def confidentiality(*, reader: Any, agency: Any, basis: str = "") -> dict[str, Any]:
    """Who the copy is for and when it was made; printed on every page.

    The header is a plain string in the `@top-center` page-margin box (`header_css`), not a
    running element: WeasyPrint then lays out one line box per page instead of a positioned
    block with its min/max-content widths (see docs/performance.md, minutes PDF).
    """
    name = display_name(reader)  # family name first, as on every Japanese form
    agency_name = getattr(agency, "name", "") or ""
    exported_at = timezone.localtime()
    lines = [
        _("Confidential")
        + " — "
        + _("Copy for %(name)s (%(agency)s), exported %(at)s.")
        % {"name": name, "agency": agency_name, "at": date_format(exported_at, "Y-m-d H:i")},
        _("Do not copy or pass on. Return or shred after use."),
    ]
    if basis:
        lines.append(basis)
    return {
        "reader_name": name,
        "reader_agency": agency_name,
        "exported_at": exported_at,
        "basis": basis,
        "header_css": css_string("\n".join(lines)),
    }


def css_string(text: str) -> SafeString:
    """`text` as a double-quoted CSS string that nothing inside can end or break out of:
    letters, digits (any script) and spaces stay, every other character becomes a hex
    escape (`"` is `\\22 `, a newline `\\a `, shown as a line break under `white-space:
    pre-wrap`)."""
    out = [c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text]
    return mark_safe(f'"{"".join(out)}"')  # noqa: S308 - everything else is escaped above


def render_pdf(
    template: str, context: dict[str, Any], *, stylesheets: tuple[str, ...] = ()
) -> bytes:
    """The PDF of `template` (extending `pdf/_base.html`), styled by `pdf/base.css` and then
    `stylesheets` (template names), which are parsed once per process (`_Renderer`)."""
    from weasyprint import HTML  # imported late: Pango is loaded only when exporting

    html = render_to_string(template, context)
    sheets = [stylesheet_text(name) for name in ("pdf/base.css", *stylesheets)]
    with _renderer() as renderer:
        # No base URL for the network, and a fetcher that serves our static files only.
        document = HTML(string=html, base_url=str(settings.BASE_DIR), url_fetcher=renderer.fetcher)
        return document.write_pdf(
            font_config=renderer.font_config, stylesheets=renderer.parsed(sheets)
        )


def stylesheet_text(name: str) -> str:
    """A PDF style sheet (a template: `pdf/base.css` names the font file) as text."""
    return render_to_string(name, {"font_url": font_url()})


class _Renderer:
    """What WeasyPrint would otherwise build again for every export: the Fontconfig
    configuration with IPAex registered from `@font-face` (reading and copying the 6 MB
    font), the parsed style sheets, which are bound to that configuration, and a URL fetcher
    (WeasyPrint's default one loads the system's CA certificates each time): about 0.1 s of
    CPU per export (docs/performance.md, minutes PDF).

    Pango's font map is not safe to share between threads, and under ASGI every request runs
    its sync code in a thread of its own: renderers are pooled, each used by one export at a
    time, instead of being kept per thread.
    """

    def __init__(self) -> None:
        from weasyprint.text.fonts import FontConfiguration

        self.font_config = FontConfiguration()
        self.fetcher = _static_fetcher()
        self._sheets: dict[str, Any] = {}

    def parsed(self, texts: list[str]) -> list[Any]:
        """Style sheets parsed once each, keyed by their text: an edited sheet (in
        development) is parsed anew, never served stale."""
        from weasyprint import CSS

        if len(self._sheets) > _MAX_SHEETS:
            self._sheets.clear()
        for text in texts:
            if text not in self._sheets:
                self._sheets[text] = CSS(
                    string=text,
                    base_url=str(settings.BASE_DIR),
                    url_fetcher=self.fetcher,
                    font_config=self.font_config,
                )
        return [self._sheets[text] for text in texts]


_MAX_SHEETS = 16  # a handful of sheets exist; more means edits in development
_IDLE_KEPT = 2  # renderers kept between exports (memory: a font map and parsed sheets each)
_idle: list[_Renderer] = []
_idle_lock = threading.Lock()
# Dropped before the interpreter tears modules down: a font configuration removes its
# temporary folder when deleted, which needs `shutil` still there.
atexit.register(_idle.clear)


@contextmanager
def _renderer() -> Iterator[_Renderer]:
    with _idle_lock:
        renderer = _idle.pop() if _idle else None
    if renderer is None:
        renderer = _Renderer()
    try:
        yield renderer
    finally:
        with _idle_lock:
            if len(_idle) < _IDLE_KEPT:
                _idle.append(renderer)


def _static_fetcher() -> Any:
    """A WeasyPrint URL fetcher that opens files under the static folders and nothing else:
    no network, no other file, whatever a document might reference."""
    from weasyprint.urls import URLFetcher

    roots = [Path(p).resolve() for p in _static_roots()]

    class StaticFetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            path = Path(url2pathname(urlsplit(url).path)).resolve()
            if not url.startswith("file:") or not any(path.is_relative_to(r) for r in roots):
                raise ValueError(f"not a static file: {url[:80]}")
            return super().fetch(url, headers)

    # An empty TLS context: nothing is fetched over HTTPS, so the system's CA certificates,
    # which the default context loads (0.03-0.3 s), are never needed.
    return StaticFetcher(
        allowed_protocols=("file",), ssl_context=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    )


def _static_roots() -> list[str]:
    found = finders.find(FONT)
    roots = [str(Path(found).parent)] if isinstance(found, str) else []
    return [*roots, str(settings.BASE_DIR / "static")]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
