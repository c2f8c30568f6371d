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

FONT = "fonts/ipaexg.ttf"


def font_url() -> str:
    found = finders.find(FONT)
    path = Path(found if isinstance(found, str) else settings.BASE_DIR / "static" / FONT)
    return path.resolve().as_uri()


def confidentiality(*, reader: Any, agency: Any, basis: str = "") -> dict[str, Any]:
    """Who the copy is for and when it was made; printed on every page."""
    return {
        # Family name first, as on every Japanese form.
        "reader_name": f"{reader.last_name} {reader.first_name}".strip() or reader.get_username(),
        "reader_agency": getattr(agency, "name", "") or "",
        "exported_at": timezone.localtime(),
        "basis": basis,
    }


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    from weasyprint import HTML  # imported late: Pango is loaded only when exporting

    html = render_to_string(template, {**context, "font_url": font_url()})
    # No base URL for the network: the only resource is the local font (file URI).
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
