"""Static files through the ASGI application, as `make run` serves them (DEBUG)."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_run_app(settings):  # type: ignore[no-untyped-def]
    """The ASGI application as `make run` builds it (DEBUG=1 when config.asgi is imported;
    pytest-django turns DEBUG off before the tests)."""
    import config.asgi

    settings.DEBUG = True
    return importlib.reload(config.asgi).application


async def get(application: Any, path: str) -> dict[str, Any]:
    """One GET through an ASGI application (an ASGI body message may omit `body`, which
    channels' HttpCommunicator does not allow)."""
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    app = ApplicationCommunicator(application, scope)
    await app.send_input({"type": "http.request", "body": b""})
    start = await app.receive_output(5)
    body = b""
    while True:
        chunk = await app.receive_output(5)
        body += chunk.get("body", b"")
        if not chunk.get("more_body", False):
            break
    await app.wait(5)
    headers = {name.lower(): value for name, value in start["headers"]}
    return {"status": start["status"], "headers": headers, "body": body}


async def test_make_runs_static_files_are_served_without_a_warning(make_run_app):
    """Through Django's ASGI handler for static files: whitenoise's sync file response made
    Django warn, on every file, that it reads it through a worker thread."""
    expected = (Path(settings.BASE_DIR) / "static" / "css" / "otagai.css").read_bytes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = await get(make_run_app, "/static/css/otagai.css")
    assert response["status"] == 200
    assert response["body"] == expected
    assert response["headers"][b"content-type"].startswith(b"text/css")
    assert [str(w.message) for w in caught if "iterator" in str(w.message)] == []


async def test_a_missing_static_file_is_not_found(make_run_app):
    response = await get(make_run_app, "/static/css/nope.css")
    assert response["status"] == 404
