"""Load and faults: two web processes, PostgreSQL and Redis on this machine, many live
conferences and people loading pages at once; then a check that nothing acknowledged was lost
and that every participant's view equals the database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/otagai_load \
    REDIS_URL=redis://127.0.0.1:6379/3 .venv/bin/python benchmarks/load.py \
        [--conferences 50] [--participants 8] [--users 100] [--duration 300] [--fault]

It (re)creates the database named in DATABASE_URL (from a migrated template, `<name>_tpl`),
seeds it through the ORM (benchmarks/load_seed.py), starts two uvicorn processes
(`config.asgi:application`, `--ws websockets-sansio`, production settings unless --dev-servers)
sharing the Redis channel layer under a prefix of its own, and spreads the clients over them
(benchmarks/load_clients.py). With --fault it kills one process (SIGKILL) halfway: its
participants reconnect to the other with their last sequence number and re-send what was not
acknowledged; its page users go to the other process.

At the end: every acknowledged operation must be in the database (its ClientOp, its event in
the log, its effect on the record), and every participant's view — built only from the frames
it received — must equal `selectors.snapshot` for that reader. The last line printed is one
JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tests.server import ServerProcess, free_port, port_in_use  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/otagai_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/3"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--conferences", type=int, default=50)
    p.add_argument("--participants", type=int, default=8, help="per conference (2-8)")
    p.add_argument("--users", type=int, default=100, help="other users loading pages")
    p.add_argument("--duration", type=float, default=300, help="seconds of load")
    p.add_argument("--fault", action="store_true", help="SIGKILL one web process halfway")
    p.add_argument(
        "--think", type=float, default=15, help="mean seconds between a participant's ops"
    )
    p.add_argument("--page-think", type=float, default=10, help="mean seconds between page loads")
    p.add_argument("--background", type=int, default=2000, help="other cases in the lists")
    p.add_argument(
        "--ports", default="", help="the two web processes' ports (default: 8103 and a free one)"
    )
    p.add_argument(
        "--dev-servers", action="store_true", help="servers with DEBUG=1 (no collectstatic)"
    )
    p.add_argument("--seed", type=int, default=9)
    args = p.parse_args()
    if not 2 <= args.participants <= 8:
        p.error("--participants must be between 2 and 8")
    return args


def prepare_environment(args: argparse.Namespace) -> dict[str, str]:
    """Settings for this process and the servers: one database, one Redis prefix of our own."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_DB
    if not url.startswith("postgres"):
        sys.exit("benchmarks/load.py needs PostgreSQL: set DATABASE_URL=postgres://…/otagai_load")
    env = {
        "DATABASE_URL": url,
        "REDIS_URL": os.environ.get("REDIS_URL") or DEFAULT_REDIS,
        "CHANNEL_PREFIX": f"{os.environ.get('CHANNEL_PREFIX') or 'load'}-{secrets.token_hex(3)}",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback
        "SECURE_COOKIES": "0",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1" if args.dev_servers else "0",
    }
    os.environ.update(env)
    return env


def recreate_database(url: str) -> None:
    """A fresh database from a migrated template (`<name>_tpl`): a migrate takes ~30 s here."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    template = f"{name}_tpl"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{template}"')
    # Bring the template up to date (quick when it is), then copy it.
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": urlunsplit(parts._replace(path=f"/{template}"))},
        check=True,
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def collectstatic_if_stale() -> None:
    """Production settings serve the manifest of collected static files."""
    manifest = ROOT / "var" / "staticfiles" / "staticfiles.json"
    newest = max(p.stat().st_mtime for p in (ROOT / "static").rglob("*") if p.is_file())
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        print("collecting static files (production settings)…", flush=True)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True
        )


# --- the web processes -------------------------------------------------------------------------


def default_ports() -> list[int]:
    first = 8103 if not port_in_use(8103) else free_port()
    return [first, free_port()]


def start_server(port: int, env: dict[str, str]) -> ServerProcess:
    """One web process (tests/server.py), its output in var/load-server-<port>.log."""
    if port_in_use(port):
        sys.exit(f"port {port} is in use: choose others with --ports")
    log = ROOT / "var" / f"load-server-{port}.log"
    return ServerProcess(port=port, env=env, log=log, quiet=True, wait=False)


# --- the run -----------------------------------------------------------------------------------


async def drive(args: argparse.Namespace, plans: list, browsers: list, servers: list) -> Any:
    from django.conf import settings
    from load_clients import PageUser, Participant, Stats

    ports = [s.port for s in servers]
    stats = Stats()
    rng = random.Random(args.seed)
    cookie = settings.SESSION_COOKIE_NAME
    participants = []
    for c, plan in enumerate(plans):
        group = []
        for k, seat in enumerate(plan.seats):
            # Alternate by seat, so that every meeting spans both processes.
            home = ports[(c + k) % len(ports)]
            p = Participant(
                plan, seat, ports, home, stats, cookie, random.Random(rng.random()), args.think
            )
            group.append(p)
        for p in group:
            p.peers = group
        participants.extend(group)
    pool = ThreadPoolExecutor(max_workers=24, thread_name_prefix="page")
    pages = [
        PageUser(
            b,
            ports,
            ports[i % len(ports)],
            stats,
            cookie,
            random.Random(rng.random()),
            args.page_think,
            pool,
        )
        for i, b in enumerate(browsers)
    ]
    t0 = time.perf_counter()
    for i in range(0, len(participants), 25):
        await asyncio.gather(*(p.connect() for p in participants[i : i + 25]))
    print(
        f"{len(participants)} participants connected in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    start = time.perf_counter()
    until = start + args.duration
    load_before = os.getloadavg()
    cpu_before = [s.cpu_seconds() for s in servers] + [time.process_time()]
    pg_before = await asyncio.to_thread(pg_counters)
    fault_task = None
    if args.fault:

        async def fault() -> None:
            await asyncio.sleep(args.duration / 2)
            servers[1].cpu_seconds()
            print(
                f"t={time.perf_counter() - start:.0f} s: SIGKILL web process on port "
                f"{servers[1].port}",
                flush=True,
            )
            servers[1].kill()

        fault_task = asyncio.create_task(fault())
    await asyncio.gather(*(p.run(until) for p in participants), *(u.run(until) for u in pages))
    elapsed = time.perf_counter() - start
    stats.measuring = False
    load_after = os.getloadavg()
    cpu_after = [s.cpu_seconds() for s in servers] + [time.process_time()]
    stats.cpu = [round(b - a, 1) for a, b in zip(cpu_before, cpu_after, strict=True)]
    pg_after = await asyncio.to_thread(pg_counters)
    stats.pg = {k: round(pg_after[k] - pg_before[k], 1) for k in pg_before}
    if fault_task is not None:
        await fault_task
    # Everyone comes back and every outbox drains (acks, errors or conflicts).
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline and any(
        p.pending or not p.synced.is_set() for p in participants
    ):
        await asyncio.sleep(0.5)
    unanswered = sum(len(p.pending) for p in participants)
    pool.shutdown(wait=True)
    return stats, participants, elapsed, unanswered, (load_before, load_after)


async def settle_and_compare(participants: list) -> tuple[int, int, list[str]]:
    """Wait until the frames stop, then compare each view with the database; re-compare the
    ones that differ for a while (the consumers' periodic catch-up runs every 10 s)."""
    from load_verify import expected_views

    quiet_since = started = time.perf_counter()
    # At most a minute: a saturated server may keep frames trickling for much longer.
    while time.perf_counter() - quiet_since < 3 and time.perf_counter() - started < 60:
        newest = max(p.last_frame for p in participants)
        quiet_since = max(quiet_since, newest)
        await asyncio.sleep(0.5)
    deadline = time.perf_counter() + 25
    todo = list(participants)
    details: list[str] = []
    while True:
        expected = await asyncio.to_thread(
            expected_views, [(p.plan.pk, p.seat.user_id) for p in todo]
        )
        still = []
        presence_bad = 0
        presence_details: list[str] = []
        for p in todo:
            want, online = expected[(p.plan.pk, p.seat.user_id)]
            if json.loads(json.dumps(p.view.as_state())) != want:
                still.append(p)
            mine = {u for u, on in p.view.presence.items() if on}
            if mine != online:
                presence_bad += 1
                if len(presence_details) < 5:
                    presence_details.append(
                        f"presence, conference {p.plan.pk} user {p.seat.user_id}: view has "
                        f"{sorted(mine - online)} too many, {sorted(online - mine)} missing"
                    )
        if not still or time.perf_counter() > deadline:
            break
        todo = still
        await asyncio.sleep(2)
    for p in still[:5]:
        want, _online = expected[(p.plan.pk, p.seat.user_id)]
        details.append(describe_difference(p, want))
    return len(still), presence_bad, details + presence_details


def describe_difference(p: Any, want: dict[str, Any]) -> str:
    have = json.loads(json.dumps(p.view.as_state()))
    out = []
    for key in want:
        if have[key] != want[key]:
            if isinstance(want[key], dict) and key == "records":
                for kind in want[key]:
                    a, b = have[key][kind], want[key][kind]
                    missing = sorted(set(b) - set(a))[:3]
                    extra = sorted(set(a) - set(b))[:3]
                    differ = [i for i in set(a) & set(b) if a[i] != b[i]][:3]
                    if missing or extra or differ:
                        out.append(f"{kind}: missing {missing} extra {extra} differ {differ}")
            else:
                out.append(f"{key}: view {str(have[key])[:80]} db {str(want[key])[:80]}")
    return f"conference {p.plan.pk} user {p.seat.user_id} (tier {p.seat.tier}): " + "; ".join(out)


def pg_counters() -> dict[str, float]:
    """This database's PostgreSQL counters: sessions opened, time spent running statements."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT sessions, active_time, xact_commit FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        sessions, active_ms, commits = cur.fetchone()
    connection.close()
    return {"sessions": sessions, "active_s": active_ms / 1000, "commits": commits}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 1)


def main() -> None:
    args = parse_args()
    env = prepare_environment(args)
    print(
        f"database {urlsplit(env['DATABASE_URL']).path.lstrip('/')}, redis {env['REDIS_URL']} "
        f"prefix {env['CHANNEL_PREFIX']}, {os.cpu_count()} CPUs",
        flush=True,
    )
    recreate_database(env["DATABASE_URL"])
    if not args.dev_servers:
        collectstatic_if_stale()
    import django

    django.setup()
    from load_seed import seed
    from load_verify import check_acknowledged

    t0 = time.perf_counter()
    plans, browsers = seed(
        conferences=args.conferences,
        participants=args.participants,
        browsers=args.users,
        background=args.background,
        seed=args.seed,
    )
    print(
        f"seeded {len(plans)} live conferences × {args.participants}, {len(browsers)} page "
        f"users, {args.background} other cases in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    from django.db import connections

    connections.close_all()
    ports = [int(p) for p in args.ports.split(",")][:2] if args.ports else default_ports()
    servers: list[ServerProcess] = []

    def abort(signum: int, _frame: Any) -> None:
        # Ctrl-C or SIGTERM: no server outlives the benchmark, whatever it was waiting for.
        for s in servers:
            s.kill()
        os._exit(128 + signum)

    signal.signal(signal.SIGINT, abort)
    signal.signal(signal.SIGTERM, abort)
    try:
        for port in ports:
            servers.append(start_server(port, env))
        for s in servers:
            s.wait_ready(timeout=60)
        stats, elapsed, unanswered, loads, (mismatched, presence_bad, stale, details) = asyncio.run(
            run_all(args, plans, browsers, servers)
        )
    finally:
        for s in servers:
            s.stop()
    lost, overwrites, lost_details = check_acknowledged(stats.acked)
    n_ops = sum(stats.ops.values())
    n_pages = sum(stats.pages.values())
    errors = sum(stats.errors.values())
    figures = {
        "conferences": args.conferences,
        "participants": args.participants,
        "users": args.users,
        "duration_s": round(elapsed, 1),
        "fault": args.fault,
        "ops": n_ops,
        "acked": len(stats.acked),
        "ops_per_s": round(len(stats.acked) / elapsed, 1),
        "pages": n_pages,
        "pages_per_s": round(n_pages / elapsed, 1),
        "ack_p50_ms": pct(stats.ack_ms, 50),
        "ack_p95_ms": pct(stats.ack_ms, 95),
        "ack_p99_ms": pct(stats.ack_ms, 99),
        "fanout_p50_ms": pct(stats.fanout_ms, 50),
        "fanout_p95_ms": pct(stats.fanout_ms, 95),
        "fanout_p99_ms": pct(stats.fanout_ms, 99),
        "fanout_deliveries": len(stats.fanout_ms),
        "page_p50_ms": pct(stats.page_ms, 50),
        "page_p95_ms": pct(stats.page_ms, 95),
        "page_p99_ms": pct(stats.page_ms, 99),
        "conflicts": stats.conflicts,
        "reconnects": stats.reconnects,
        "resent": stats.resent,
        "page_failovers": stats.page_failovers,
        "socket_closes": dict(stats.closes),
        "errors": errors,
        "error_kinds": dict(stats.errors),
        "unanswered": unanswered,
        "lost": lost,
        "overwrites": overwrites,
        "mismatched_views": mismatched,
        "presence_mismatched": presence_bad,
        "stale_presence_rows": stale,
        "cpu_s_web": stats.cpu[:-1],
        "cpu_s_generator": stats.cpu[-1],
        "web_cpu_ms_per_op_or_page": round(
            1000 * sum(stats.cpu[:-1]) / max(len(stats.acked) + n_pages, 1), 1
        ),
        "pg_sessions_per_s": round(stats.pg["sessions"] / elapsed, 1),
        "pg_active_s": stats.pg["active_s"],
        "pg_commits_per_s": round(stats.pg["commits"] / elapsed, 1),
        "cpus": os.cpu_count(),
        "loadavg_start": round(loads[0][0], 2),
        "loadavg_end": round(loads[1][0], 2),
    }
    print()
    print(
        f"operations: {len(stats.acked)} acknowledged of {n_ops} sent in {elapsed:.0f} s "
        f"({figures['ops_per_s']}/s); mix {dict(stats.ops)}"
    )
    print(
        f"ack latency      p50 {figures['ack_p50_ms']} ms  p95 {figures['ack_p95_ms']} ms  "
        f"p99 {figures['ack_p99_ms']} ms"
    )
    print(
        f"fan-out latency  p50 {figures['fanout_p50_ms']} ms  p95 {figures['fanout_p95_ms']} ms  "
        f"p99 {figures['fanout_p99_ms']} ms  ({len(stats.fanout_ms)} deliveries)"
    )
    print(
        f"pages: {n_pages} ({figures['pages_per_s']}/s) {dict(stats.pages)}; "
        f"p50 {figures['page_p50_ms']} ms  p95 {figures['page_p95_ms']} ms  "
        f"p99 {figures['page_p99_ms']} ms"
    )
    print(
        f"conflicts {stats.conflicts}, reconnects {stats.reconnects}, re-sent {stats.resent}, "
        f"page failovers {stats.page_failovers}, errors {errors} {dict(stats.errors)}; "
        f"unplanned socket closes {dict(stats.closes)}"
    )
    print(
        f"lost acknowledged operations: {lost}; silent overwrites: {overwrites}; "
        f"unanswered: {unanswered}; views differing from the database: {mismatched}; "
        f"presence differing: {presence_bad}; stale presence rows: {stale}"
    )
    for line in lost_details + details:
        print("  " + line)
    print(
        f"CPU seconds in the window: web processes {stats.cpu[:-1]}, load generator "
        f"{stats.cpu[-1]} (of {elapsed:.0f} s × {os.cpu_count()} CPUs)"
    )
    print(
        f"PostgreSQL in the window: {stats.pg['sessions']:.0f} sessions opened "
        f"({figures['pg_sessions_per_s']}/s), {stats.pg['active_s']} s running statements, "
        f"{figures['pg_commits_per_s']} commits/s"
    )
    print(f"load average {loads[0][0]:.2f} → {loads[1][0]:.2f} on {os.cpu_count()} CPUs")
    print(json.dumps(figures, ensure_ascii=False))


async def run_all(args: argparse.Namespace, plans: list, browsers: list, servers: list) -> Any:
    from conferences.models import Presence

    stats, participants, elapsed, unanswered, loads = await drive(args, plans, browsers, servers)
    mismatched, presence_bad, details = await settle_and_compare(participants)
    # Presence rows with no socket behind them (a killed process cannot remove its own: the
    # survivor sweeps them within PRESENCE_STALE_SECONDS + PRESENCE_HEARTBEAT_SECONDS).
    # Participants away for a while (closed the page, coming back) have no socket.
    here = sum(1 for p in participants if not p.leaving)
    stale = await asyncio.to_thread(Presence.objects.count) - here
    for p in participants:
        p.leaving = True
        await p.ws.close()
    return stats, elapsed, unanswered, loads, (mismatched, presence_bad, stale, details)


if __name__ == "__main__":
    main()
