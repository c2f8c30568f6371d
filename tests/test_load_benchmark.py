"""benchmarks/load.py at a tiny scale, with a web process killed halfway: two real server
processes on PostgreSQL and Redis, real WebSocket and HTTP clients. Nothing acknowledged may
be lost and every participant's view must equal the database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fault_loses_nothing_acknowledged_and_views_equal_the_database():
    parts = urlsplit(os.environ["DATABASE_URL"])
    # A database of its own (load.py drops and recreates it), beside the test database.
    url = urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_loadcheck"))
    env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    # The killed process's presence is swept within 2.5 s, before the views are compared.
    env |= {"PRESENCE_HEARTBEAT_SECONDS": "0.5", "PRESENCE_STALE_SECONDS": "2"}
    args = [
        sys.executable, "benchmarks/load.py", "--conferences", "2", "--participants", "3",
        "--users", "4", "--background", "20", "--duration", "6", "--think", "0.8",
        "--page-think", "1", "--fault", "--dev-servers",
        "--ports", f"{_free_port()},{_free_port()}",
    ]  # fmt: skip
    run = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["acked"] > 10, run.stdout
    assert figures["reconnects"] > 0, "the killed process's clients must have reconnected"
    assert figures["lost"] == 0, run.stdout
    assert figures["overwrites"] == 0, run.stdout
    assert figures["unanswered"] == 0, run.stdout
    assert figures["mismatched_views"] == 0, run.stdout
    assert figures["errors"] == 0, run.stdout
    assert figures["presence_mismatched"] == 0, run.stdout
    assert figures["stale_presence_rows"] == 0, run.stdout
