"""Cost of live presence on one process, without a server: statements and CPU time of a socket
joining and leaving (as the consumer runs them: through `db._keep_connection` as the reader),
and of one presence heartbeat (beat, sweep, re-read). CPU is this process's (Python) and, on
PostgreSQL, the database backend's own (from /proc/<pid>/schedstat; the database runs on this
machine). Old code (before the `presence` branch) is measured by running this file from an
export of that tree:

    DEBUG=1 SECRET_KEY=x [DATABASE_URL=postgres://…] N=300 \
        .venv/bin/python benchmarks/presence_cost.py

The last line printed is one JSON object.
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import one_process

meeting = one_process.setup("bench_presence_cost")
conf, user, access, cookies = meeting.conference, meeting.user, meeting.access, meeting.cookies
pk, run = conf.pk, meeting.run

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from conferences.consumers import db  # noqa: E402

try:
    from conferences.consumers import presence

    process = f"bench:{run}"
    presence.beat(process)

    def join(channel: str) -> object:
        return db._keep_connection(user, presence.join)(access, channel, process)

    def leave(channel: str) -> object:
        return db._keep_connection(user, presence.leave)(access, channel)

    def heartbeat() -> object:
        presence.beat(process)
        presence.sweep()
        from conferences import selectors

        return selectors.presence_of([pk])

    code = "new"
except ImportError:

    def join(channel: str) -> object:
        return db._keep_connection(user, db.presence_join)(access, channel)

    def leave(channel: str) -> object:
        return db._keep_connection(user, db.presence_leave)(access, channel)

    heartbeat = None  # type: ignore[assignment]
    code = "old"


def backend_cpu_ns() -> int:
    """The PostgreSQL backend's CPU time so far (0 on SQLite)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def statements(fn, *args) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as q:
        fn(*args)
    return len(
        [x for x in q.captured_queries if not x["sql"].startswith(("BEGIN", "COMMIT", "SAVEP"))]
    )


join("warm")
leave("warm")
n_join, n_leave = statements(join, "count"), statements(leave, "count")
n_beat = statements(heartbeat) if heartbeat else 0
N = int(os.environ.get("N", "300"))
best: dict[str, float] = {}
for rnd in range(3):
    backend, t = backend_cpu_ns(), time.process_time()
    for i in range(N):
        join(f"c{rnd}-{i}")
        leave(f"c{rnd}-{i}")
    py = (time.process_time() - t) * 1000 / N
    pg = (backend_cpu_ns() - backend) / 1e6 / N
    best["pair_py"] = min(best.get("pair_py", 1e9), py)
    best["pair_db"] = min(best.get("pair_db", 1e9), pg)
    if heartbeat:
        backend, t = backend_cpu_ns(), time.process_time()
        for _ in range(N):
            heartbeat()
        best["beat_py"] = min(best.get("beat_py", 1e9), (time.process_time() - t) * 1000 / N)
        best["beat_db"] = min(best.get("beat_db", 1e9), (backend_cpu_ns() - backend) / 1e6 / N)
figures = {
    "code": code,
    "db": connection.vendor,
    "statements_join": n_join,
    "statements_leave": n_leave,
    "statements_heartbeat": n_beat,
    "cpu_ms_join_leave_python": round(best["pair_py"], 3),
    "cpu_ms_join_leave_database": round(best["pair_db"], 3),
    "cpu_ms_heartbeat_python": round(best.get("beat_py", 0), 3),
    "cpu_ms_heartbeat_database": round(best.get("beat_db", 0), 3),
    "n": N,
    "loadavg": os.getloadavg()[0],
}
print(
    f"{code} db={connection.vendor}: statements join={n_join} leave={n_leave} "
    f"heartbeat={n_beat}; CPU ms per join+leave (best of 3 × {N}): "
    f"python {best['pair_py']:.2f}, database {best['pair_db']:.2f}"
)
print(json.dumps(figures))
