"""Login throttling: what a locked-out person sees (django-axes calls `lockout`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout(
    request: HttpRequest, credentials: Any = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    """HTTP 429 with a plain explanation; nothing says whether the username exists."""
    minutes = round(float(settings.AXES_COOLOFF_TIME) * 60)
    return render(request, "accounts/lockout.html", {"minutes": minutes}, status=429)
