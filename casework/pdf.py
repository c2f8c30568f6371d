"""PDF exports rendered from templates by WeasyPrint, with IPAex Gothic embedded so that
Japanese prints on any machine, and a confidentiality header naming the reader.

Shared: minutes and list packs use `render_pdf` with a template extending
`pdf/_base.html` and `confidentiality(...)` for the header.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

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
    # Family name first, as on every Japanese form.
    name = f"{reader.last_name} {reader.first_name}".strip() or reader.get_username()
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


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    from weasyprint import HTML  # imported late: Pango is loaded only when exporting

    html = render_to_string(template, {**context, "font_url": font_url()})
    # No base URL for the network: the only resource is the local font (file URI).
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
