"""A real Otagai server process (uvicorn, WebSockets included) for the browser and
multi-process tests and the benchmarks (`benchmarks/load.py`, `benchmarks/live_fanout.py`):
start it on a port, wait until `/healthz` answers, read its CPU time, stop or kill it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class ServerProcess:
    """One uvicorn process serving `config.asgi:application` on 127.0.0.1.

    `env` is added to this process's environment; `log` is a file for its output (else it
    shares this process's); `quiet` drops the access log and info lines (benchmarks);
    `profile` runs it under cProfile, written to that file when it stops. `wait=False`
    returns at once: call `wait_ready` (to start several side by side)."""

    def __init__(
        self,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        quiet: bool = False,
        profile: str | None = None,
        wait: bool = True,
        ready_timeout: float = 30,
    ) -> None:
        self.port = port or free_port()
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is in use")
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log: IO[bytes] | None = None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            self._log = log.open("wb")
        self.last_cpu = 0.0
        self.profile = profile
        command = [
            sys.executable,
            *(["-m", "cProfile", "-o", profile] if profile else []),
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ws",
            "websockets-sansio",
            "--ws-per-message-deflate",
            "false",  # as every launcher (docs/deploy.md, "WebSockets")
            "--lifespan",
            "off",
            *(["--no-access-log", "--log-level", "warning"] if quiet else []),
        ]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
        )
        if wait:
            self.wait_ready(ready_timeout)

    def _tail(self) -> str:
        if self.log_path is None:
            return "(its output is above)"
        if self._log is not None:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-2000:]

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server on {self.port} exited: {self._tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as r:  # noqa: S310
                    if json.load(r)["status"] == "ok":
                        return
            except (OSError, ValueError, KeyError):
                time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"server on {self.port} did not start: {self._tail()}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (all threads) so far (Linux): unlike wall
        time, hardly changed by other jobs on a shared machine. After it died: the last
        reading."""
        try:
            fields = (Path("/proc") / str(self.proc.pid) / "stat").read_text().rsplit(")", 1)[1]
        except OSError:
            return self.last_cpu
        utime, stime = (int(x) for x in fields.split()[11:13])
        self.last_cpu = (utime + stime) / os.sysconf("SC_CLK_TCK")
        return self.last_cpu

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (SIGINT under cProfile: uvicorn re-raises the signal it caught once it has
        shut down, and only an interrupt lets cProfile write its file)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT if self.profile else signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
