"""Database time of the live page's statements, as the owner and as the application role.

Row-level security is evaluated inside PostgreSQL, where the web process's CPU figures do not
see it. This runs the statements of a live operation (lock and update of a note, a new note,
the sequence number and log row) and two reads (a conference's notes, a replay of its log)
against a database that `benchmarks/live_fanout.py` has filled, each in its own transaction
that is rolled back, as the owner and as the application role with the note's author as
reader. It prints, per statement, the median planning + execution time from `EXPLAIN
(ANALYZE, TIMING OFF)` and the PostgreSQL backend's CPU time per statement (from /proc, so the
server must run on this machine; transaction and settings overhead included, the same for
both roles).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db filled by live_fanout.py> \\
        .venv/bin/python benchmarks/live_rls.py [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any

import psycopg

ROLE = os.environ.get("DATABASE_APP_ROLE", "otagai_app")

STATEMENTS = {
    "lock note (SELECT … FOR UPDATE)": (
        "SELECT id, version FROM conferences_note WHERE id = %(note)s FOR UPDATE"
    ),
    "update note": (
        "UPDATE conferences_note SET text = text || '.', version = version + 1, "
        "updated_at = now(), updated_by_id = %(author)s WHERE id = %(note)s"
    ),
    "insert note": (
        "INSERT INTO conferences_note (tier, version, created_at, updated_at, text, "
        "agenda_item_id, author_id, case_id, conference_id, agency_id) "
        "VALUES (2, 1, now(), now(), 'x', %(item)s, %(author)s, %(case)s, %(conf)s, %(agency)s)"
    ),
    "number + log row": (
        "WITH s AS (UPDATE conferences_conference SET last_seq = last_seq + 1 "
        "WHERE id = %(conf)s RETURNING last_seq) "
        "INSERT INTO conferences_conferenceevent (type, tier, payload, at, case_id, "
        "conference_id, seq) SELECT 'note.edited', 2, '{}', now(), %(case)s, %(conf)s, "
        "s.last_seq FROM s"
    ),
    "read the conference's notes": (
        "SELECT count(*) FROM conferences_note WHERE conference_id = %(conf)s"
    ),
    "replay the last 50 events": (
        "SELECT * FROM conferences_conferenceevent WHERE conference_id = %(conf)s "
        "AND seq > (SELECT max(seq) - 50 FROM conferences_conferenceevent "
        "WHERE conference_id = %(conf)s) ORDER BY seq"
    ),
}


def backend_cpu(pid: int) -> float:
    """User + system CPU seconds of a PostgreSQL backend (same machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def sample(conn: psycopg.Connection, params: dict[str, Any]) -> dict[str, Any]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, conference_id, case_id, author_id, agenda_item_id, agency_id "
            "FROM conferences_note ORDER BY id DESC LIMIT 1"
        )
        row = cur.fetchone()
    if row is None:
        raise SystemExit("no note: run benchmarks/live_fanout.py on this database first")
    keys = ("note", "conf", "case", "author", "item", "agency")
    return dict(zip(keys, row, strict=True)) | params


def run(conn: psycopg.Connection, sql: str, params: dict[str, Any], role: str | None, n: int):
    times: list[float] = []
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        for warm in (True, False):
            cpu = backend_cpu(pid)
            for _ in range(5 if warm else n):
                cur.execute("BEGIN")
                cur.execute("SET LOCAL jit = off")
                if role:
                    cur.execute(f"SET LOCAL ROLE {role}")
                cur.execute(
                    "SELECT set_config('otagai.user_id', %s, true)", [str(params["author"])]
                )
                cur.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}", params)
                plan = cur.fetchone()[0]
                plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
                if not warm:
                    times.append(plan["Planning Time"] + plan["Execution Time"])
                cur.execute("ROLLBACK")
        cpu = backend_cpu(pid) - cpu
    return statistics.median(times), cpu / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        params = sample(conn, {})
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_proc WHERE proname = 'otagai_rls_conference_ids'")
            member = "array, PL/pgSQL" if cur.fetchone() else "set-returning SQL function"
        print(
            f"member test: {member}; runs={args.runs}; reader = note author {params['author']}, "
            f"conference {params['conf']}; load average={load_average()}"
        )
        print(f"{'statement':32} {'owner ms':>10} {'app ms':>10} {'owner CPU':>10} {'app CPU':>10}")
        figures: dict[str, object] = {"member_test": member, "runs": args.runs}
        for name, sql in STATEMENTS.items():
            owner = run(conn, sql, params, None, args.runs)
            app = run(conn, sql, params, ROLE, args.runs)
            print(f"{name:32} {owner[0]:10.3f} {app[0]:10.3f} {owner[1]:10.3f} {app[1]:10.3f}")
            figures[f"{name}_owner_ms"] = round(owner[0], 3)
            figures[f"{name}_app_ms"] = round(app[0], 3)
            figures[f"{name}_owner_cpu_ms"] = round(owner[1], 3)
            figures[f"{name}_app_cpu_ms"] = round(app[1], 3)
        print(f"load average={load_average()}")
        figures["loadavg"] = load_average()
        print(json.dumps(figures))  # the last line: all the figures, one JSON object


if __name__ == "__main__":
    main()
