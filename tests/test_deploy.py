"""Deployment: the channel layer through Redis Sentinel, the database roles' init script, the
launchers' flags."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.test_foundation import settings_value


def test_redis_sentinels_configure_the_channel_layer_through_sentinel():
    layers = settings_value(
        {
            "DEBUG": "1",
            "REDIS_URL": "redis://ignored:6379/0",
            "REDIS_SENTINELS": "s1.example.jp:26380, s2.example.jp",
            "REDIS_SENTINEL_MASTER": "otagai",
            "REDIS_PASSWORD": "pw",
            "REDIS_SENTINEL_PASSWORD": "spw",
            "REDIS_DB": "2",
        },
        "settings.CHANNEL_LAYERS",
    )
    assert layers["default"]["BACKEND"] == "config.layers.RedisChannelLayer"
    (host,) = layers["default"]["CONFIG"]["hosts"]
    assert host == {
        "sentinels": [["s1.example.jp", 26380], ["s2.example.jp", 26379]],
        "master_name": "otagai",
        "password": "pw",
        "db": 2,
        "sentinel_kwargs": {"password": "spw"},
        "socket_timeout": 15,
        "max_connections": 2000,
    }


def test_without_sentinels_redis_url_is_the_one_server():
    layers = settings_value(
        {"DEBUG": "1", "REDIS_URL": "redis://:pw@redis:6379/0", "REDIS_SENTINELS": ""},
        "settings.CHANNEL_LAYERS",
    )
    assert layers["default"]["CONFIG"]["hosts"] == [
        {"address": "redis://:pw@redis:6379/0", "socket_timeout": 15, "max_connections": 2000}
    ]
    assert layers["default"]["CONFIG"]["capacity"] == 1000


@pytest.fixture
def sentinel(tmp_path) -> Iterator[tuple[str, int]]:  # type: ignore[no-untyped-def]
    """A real Redis Sentinel watching the test Redis (REDIS_URL) as master "otagai"."""
    redis_url = urlsplit(os.environ["REDIS_URL"])
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is needed to start a Sentinel")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor otagai {redis_url.hostname} {redis_url.port or 6379} 1\n"
    )
    process = subprocess.Popen(
        [server, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield ("127.0.0.1", port)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.redis
async def test_a_message_crosses_the_channel_layer_found_through_sentinel(sentinel):
    from config.layers import RedisChannelLayer

    db = int(urlsplit(os.environ["REDIS_URL"]).path.strip("/") or 0)
    host = {"sentinels": [sentinel], "master_name": "otagai", "db": db, "sentinel_kwargs": None}
    layer = RedisChannelLayer(hosts=[host], prefix=f"sentinel-test-{uuid.uuid4().hex[:8]}")
    try:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "hello", "text": "through sentinel"})
        message = await asyncio.wait_for(layer.receive(channel), 10)
        assert message == {"type": "hello", "text": "through sentinel"}
        # The live page's way: the group's members read, then the delivery.
        await layer.group_add("meeting", channel)
        members = await layer.group_members("meeting")
        await layer.deliver("meeting", members, {"type": "event", "text": "to the group"})
        message = await asyncio.wait_for(layer.receive(channel), 10)
        assert message == {"type": "event", "text": "to the group"}
    finally:
        await layer.flush()
        await layer.close_pools()


# --- the database roles (deploy/postgres/initdb/10-app-role.sh) ------------------------------

INIT_SCRIPT = Path(__file__).resolve().parents[1] / "deploy/postgres/initdb/10-app-role.sh"


def _psql(
    env: dict[str, str], sql: str, *, user: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", user, "-c", sql],
        env={**env, "PGUSER": user},
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


@pytest.mark.postgres
def test_init_script_makes_an_app_role_that_reads_and_writes_but_owns_nothing(db):
    from django.db import connection

    if shutil.which("psql") is None:
        pytest.fail("psql is needed to run the database init script")
    params = connection.settings_dict
    owner = params["USER"]
    role = f"otagai_test_app_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PGHOST": params["HOST"] or "127.0.0.1",
        "PGPORT": str(params["PORT"] or 5432),
        "PGDATABASE": params["NAME"],
        "PGPASSWORD": params["PASSWORD"] or "",
        "POSTGRES_USER": owner,
        "POSTGRES_DB": params["NAME"],
        "DATABASE_APP_ROLE": role,
        "APP_DB_PASSWORD": "it's a p@ss; word",
    }
    scratch = f"otagai_test_new_{uuid.uuid4().hex[:8]}"
    try:
        for _ in range(2):  # a second run (e.g. a new password) changes nothing else
            subprocess.run(["sh", str(INIT_SCRIPT)], env=env, check=True, capture_output=True)
        columns = "rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolcanlogin"
        query = f"SELECT {columns} FROM pg_roles WHERE rolname = '{role}'"  # noqa: S608
        flags = _psql(env, query, user=owner)
        assert flags.stdout.strip() == "f|f|f|f|t"
        app_env = {**env, "PGPASSWORD": env["APP_DB_PASSWORD"]}
        # Tables that exist (a re-run grants on them) and tables a later migration creates.
        _psql(env, f"CREATE TABLE {scratch} (id bigserial PRIMARY KEY, x int)", user=owner)
        _psql(app_env, "SELECT count(*) FROM casework_case", user=role)
        insert = f"INSERT INTO {scratch} (x) VALUES (1) RETURNING id"  # noqa: S608 - made above
        inserted = _psql(app_env, insert, user=role)
        assert inserted.stdout.strip().splitlines()[0] == "1"
        refused = _psql(app_env, "CREATE TABLE otagai_not_allowed (x int)", user=role, check=False)
        assert refused.returncode != 0
        assert "permission denied for schema public" in refused.stderr
    finally:
        _psql(env, f"DROP TABLE IF EXISTS {scratch}", user=owner, check=False)
        _psql(env, f'DROP OWNED BY "{role}"', user=owner, check=False)
        _psql(env, f'DROP ROLE IF EXISTS "{role}"', user=owner, check=False)


# --- the sockets are not compressed (docs/deploy.md, "WebSockets") ----------------------------

ROOT = Path(__file__).resolve().parents[1]


def _uvicorn_commands() -> dict[str, str]:
    """Each launcher's uvicorn command, as one string: the image's CMD, docker-compose's web
    command, `make run`'s recipe and the tests' and benchmarks' server (tests/server.py)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    compose = (ROOT / "docker-compose.yml").read_text().splitlines()
    makefile = (ROOT / "Makefile").read_text()
    server = (ROOT / "tests/server.py").read_text()

    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD"))
    start = next(i for i, line in enumerate(compose) if line.strip() == "- uvicorn")
    block = []
    for line in compose[start:]:
        if not line.strip().startswith(("-", "#")):
            break
        block.append(line)
    recipe = makefile[makefile.index("-m uvicorn") :]
    recipe = recipe[: recipe.index("\n", recipe.index("--ws "))]
    launch = server[server.index('"uvicorn",') :]
    return {
        "Dockerfile": cmd,
        "docker-compose.yml": "\n".join(block),
        "Makefile": recipe,
        "tests/server.py": launch[: launch.index("]")],
    }


def _without_compression(command: str) -> bool:
    words = re.findall(r"[^\s\"',\[\]\\]+", command)
    return "--ws-per-message-deflate=false" in words or any(
        a == "--ws-per-message-deflate" and b == "false" for a, b in itertools.pairwise(words)
    )


def test_every_launcher_serves_the_sockets_without_compression():
    commands = _uvicorn_commands()
    for name, command in commands.items():
        assert "config.asgi:application" in command, name
        assert _without_compression(command), (
            f"{name} starts uvicorn with permessage-deflate (its default): {command}"
        )
    assert not _without_compression("uvicorn config.asgi:application --ws websockets-sansio")
    # No other launcher of the application in the repository.
    launchers = subprocess.run(
        [
            "git",
            "grep",
            "-l",
            "config.asgi:application",
            "--",
            ":!*.md",
            ":!benchmarks/load.py",
            ":!tests/test_deploy.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(launchers) == sorted(commands)


def _uvicorn_without_the_flag(debug: str) -> subprocess.Popen[str]:
    from tests.server import free_port

    return subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"),
            *("--port", str(free_port()), "--ws", "websockets-sansio", "--lifespan", "off"),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DEBUG": debug,
            "SECRET_KEY": "deploy-test-" + "x" * 50,
            "ALLOWED_HOSTS": "127.0.0.1",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_uvicorn_left_compressing_the_sockets_does_not_start_in_production():
    from config.sockets import COMPRESSION_REFUSED

    proc = _uvicorn_without_the_flag("0")
    try:
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert COMPRESSION_REFUSED in output
    assert "Uvicorn running" not in output


def test_uvicorn_left_compressing_the_sockets_is_warned_about_in_development():
    from config.sockets import COMPRESSION_REFUSED

    proc = _uvicorn_without_the_flag("1")
    lines = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Uvicorn running" in line:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    output = "".join(lines)
    assert COMPRESSION_REFUSED in output
    assert "Uvicorn running" in output
