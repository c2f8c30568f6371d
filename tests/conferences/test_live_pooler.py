"""The live operations behind a real PgBouncer in transaction mode (docs/deploy.md: a way to
share PostgreSQL's connections between many web nodes). Each transaction then gets whichever
server session is free, so a statement prepared in one (`rls.execute(..., prepare=True)`) is
not there for the next: the operations must still go through, unprepared."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from conferences.models import Note
from permissions.conferences import conference_access
from tests.conferences.conftest import make_live
from tests.conferences.test_live_db import _add_to, _item
from tests.conftest import pgbouncer_path
from tests.server import free_port, port_in_use

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.pgbouncer,
    pytest.mark.django_db(transaction=True),
]


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {log.read_text(errors='replace')[-2000:]}")
        if port_in_use(port):
            return
        time.sleep(0.1)
    raise RuntimeError("pgbouncer did not start")


@pytest.fixture
def pooler() -> Iterator[str]:
    """The test's database connection through PgBouncer (transaction mode, two server
    sessions used in turn); yields a conninfo for other clients of the same pooler."""
    settings_dict = connection.settings_dict
    user = settings_dict["USER"] or "postgres"
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="otagai-pgbouncer-"))
    work.chmod(0o755)  # PgBouncer refuses to run as root: it runs as postgres (-u)
    (work / "users.txt").write_text(f'"{user}" ""\n')
    (work / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={settings_dict['HOST'] or '127.0.0.1'} port={settings_dict['PORT'] or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {work / 'users.txt'}\n"
        "pool_mode = transaction\nserver_round_robin = 1\ndefault_pool_size = 2\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
    )
    for path in work.iterdir():
        path.chmod(0o644)
    log = work / "out.log"
    exe = pgbouncer_path()
    assert exe is not None  # the pgbouncer marker skips (or, in CI, fails) without it
    as_postgres = ["-u", "postgres"] if os.geteuid() == 0 else []
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [exe, *as_postgres, str(work / "pgbouncer.ini")], stdout=out, stderr=out
        )
    saved = settings_dict["HOST"], settings_dict["PORT"]
    try:
        _wait_for_port(port, proc, log)
        connection.close()
        connection.close_pool()
        settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", str(port)
        yield f"host=127.0.0.1 port={port} dbname={settings_dict['NAME']} user={user}"
    finally:
        connection.close()
        connection.close_pool()
        settings_dict["HOST"], settings_dict["PORT"] = saved
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def test_behind_a_pooler_in_transaction_mode_every_operation_goes_through(cast, pooler):
    conference = make_live(cast)
    access = conference_access(cast.professional, conference)
    item = _item(conference)
    # Two server sessions behind the pooler: two transactions open at once.
    first, second = psycopg.connect(pooler), psycopg.connect(pooler)
    with first, second:
        first.execute("BEGIN")
        second.execute("BEGIN")
        first.execute("SELECT 1")
        second.execute("SELECT 1")
        first.rollback()
        second.rollback()
    answers = [_add_to(access, f"op-{n}", item, f"メモ{n}", cast.case.pk) for n in range(6)]
    seqs = [result.seq for _access, result, _outbox in answers]
    assert seqs == list(range(seqs[0], seqs[0] + 6))
    assert all(not result.duplicate for _a, result, _o in answers)
    assert sorted(Note.objects.filter(conference=conference).values_list("text", flat=True)) == [
        f"メモ{n}" for n in range(6)
    ]
