"""Per-operation cost of the live page on one process, without a server: queries and CPU time
of `note.add` and `note.edit` (with their access check), of a session check (one socket's,
and per socket in a sweep of 30: `sessions_still_valid`) and of the periodic access re-read.
Old code (before the `live` branch) is measured by running this file from an export of that
tree:

    DEBUG=1 SECRET_KEY=x [DATABASE_URL=…] N=200 .venv/bin/python benchmarks/live_op_cost.py
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import one_process

meeting = one_process.setup("bench_op_cost")
conf, user, access, cookies = meeting.conference, meeting.user, meeting.access, meeting.cookies
pk, run = conf.pk, meeting.run

from django.contrib.auth import SESSION_KEY  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from conferences.models import AgendaItem  # noqa: E402
from config.session_guard import session_still_valid  # noqa: E402

try:  # a process's sweep of all its sockets' sessions (since the fourteenth round)
    from config.session_guard import sessions_still_valid
except ImportError:
    sessions_still_valid = None

item = AgendaItem.objects.filter(conference=conf, case__isnull=False).first().pk
try:
    from conferences.consumers import db

    cache = {}

    def apply(op, args, opid):
        _access, res, _outbox = db.apply_op(
            access, {"type": "op", "id": opid, "op": op, "args": args}, "ja", cache, False
        )
        return res

    def reread():
        return db.refresh([access], access.conference.last_seq)

    code = "new"
except ImportError:
    from conferences.consumers import ConferenceConsumer

    c = ConferenceConsumer()
    c.user = user
    c.access = access
    c.lang = "ja"
    c.conference_id = pk

    def apply(op, args, opid):
        return c._apply({"type": "op", "id": opid, "op": op, "args": args})[0]

    def reread():
        return c._refresh(access.conference.last_seq)

    code = "old"

res = apply("note.add", {"item": item, "text": "warm", "tier": 2}, "w")
nid = res.data["note"]["id"]
ver = res.data["note"]["version"]
with CaptureQueriesContext(connection) as q:
    apply("note.add", {"item": item, "text": "hello", "tier": 2}, "a1")
nq_add = len([x for x in q.captured_queries if not x["sql"].startswith(("BEGIN", "COMMIT"))])
with CaptureQueriesContext(connection) as q:
    res = apply("note.edit", {"note": nid, "text": "e", "base_version": ver}, "a2")
ver = res.data["note"]["version"]
nq_edit = len([x for x in q.captured_queries if not x["sql"].startswith(("BEGIN", "COMMIT"))])
with CaptureQueriesContext(connection) as q:
    reread()
nq_reread = len(q.captured_queries)
N = int(os.environ.get("N", "300"))
best = {}
for rnd in range(3):
    t = time.process_time()
    for i in range(N):
        apply("note.add", {"item": item, "text": f"t{rnd}-{i}", "tier": 2}, f"b{rnd}-{i}")
    add = (time.process_time() - t) * 1000 / N
    t = time.process_time()
    for i in range(N):
        res = apply(
            "note.edit", {"note": nid, "text": f"e{rnd}-{i}", "base_version": ver}, f"c{rnd}-{i}"
        )
        ver = res.data["note"]["version"]
    edit = (time.process_time() - t) * 1000 / N
    t = time.process_time()
    for _ in range(N):
        session_still_valid(cookies[1], user.pk, touch=True)
    sess = (time.process_time() - t) * 1000 / N
    sweep = float("nan")
    if sessions_still_valid is not None:
        # The participants' sessions, as many times over as make 30 sockets (per socket).
        sockets = [(c, SessionStore(session_key=c).load()[SESSION_KEY]) for c in cookies]
        checks = [(c, u, False) for c, u in (sockets * 30)[:30]]
        t = time.process_time()
        for _ in range(max(N // 30, 10)):
            sessions_still_valid(checks)
        sweep = (time.process_time() - t) * 1000 / (max(N // 30, 10) * 30)
    t = time.process_time()
    for _ in range(N):
        reread()
    rr = (time.process_time() - t) * 1000 / N
    for k, v in (("add", add), ("edit", edit), ("session", sess), ("sweep", sweep), ("reread", rr)):
        best[k] = min(best.get(k, 1e9), v)
print(
    f"{code} db={connection.vendor} queries: note.add={nq_add} note.edit={nq_edit} "
    f"access re-read={nq_reread}  CPU ms (best of 3 x {N}): note.add={best['add']:.2f} "
    f"note.edit={best['edit']:.2f} session check={best['session']:.2f} "
    f"session sweep per socket (30 sockets)={best['sweep']:.3f} "
    f"access re-read={best['reread']:.2f}  load={os.getloadavg()[0]:.2f}"
)
print(
    json.dumps(
        {
            "code": code,
            "db": connection.vendor,
            "queries_note_add": nq_add,
            "queries_note_edit": nq_edit,
            "queries_access_reread": nq_reread,
            **{f"cpu_ms_{k}": round(v, 3) for k, v in best.items()},
            "n": N,
            "loadavg": round(os.getloadavg()[0], 2),
        }
    )
)
