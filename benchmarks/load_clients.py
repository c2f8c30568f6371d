"""The clients of benchmarks/load.py: live-conference participants over WebSockets (the
protocol of docs/live-protocol.md, as static/js/conference-live.js speaks it: an outbox
re-sent with the same ids after every reconnect, `hello` with the last sequence seen) and
people loading pages over HTTP with their session cookies.

Every participant keeps its own view of the meeting, built only from the frames it received
(snapshot, replayed and live events), so that the end of the run can compare it with what
the database says that reader may read.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import http.client
import json
import random
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import websockets
from load_seed import Browser, ConferencePlan, Seat
from websockets.exceptions import ConnectionClosed

SENTENCES = [
    "近隣から新聞が溜まっていると連絡があった。",
    "長男の就労支援について次回までに情報を集める。",
    "室内にごみが堆積し、悪臭について町会から相談があった。",
    "認知症の進行により金銭管理が難しくなっている。",
    "民生委員が月に一度訪問している。",
    "本人は支援を望んでいないが、見守りは受け入れている。",
]
MARKER = re.compile(r"^\[([^\]]+)\]")
RECORD_KINDS = ("note", "decision", "action")
TOKYO = ZoneInfo("Asia/Tokyo")
KEEP_ALIVE = 4.0  # seconds; uvicorn closes an idle keep-alive connection after 5


@dataclass
class Stats:
    ack_ms: list[float] = field(default_factory=list)
    fanout_ms: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    sent_at: dict[str, tuple[float, int]] = field(default_factory=dict)  # op id -> (t, user)
    acked: list[dict[str, Any]] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    conflicts: int = 0
    ops: Counter = field(default_factory=Counter)
    pages: Counter = field(default_factory=Counter)
    reconnects: int = 0
    resent: int = 0
    page_failovers: int = 0
    closes: Counter = field(default_factory=Counter)  # close code of unplanned disconnects
    measuring: bool = True
    cpu: list[float] = field(default_factory=list)  # CPU seconds: each web process, generator
    pg: dict[str, float] = field(default_factory=dict)  # PostgreSQL counters' growth


def today() -> dt.date:
    """The council's date (due dates are checked against Tokyo's)."""
    return dt.datetime.now(TOKYO).date()


def think(rng: random.Random, mean: float) -> float:
    return min(max(rng.expovariate(1 / mean), 0.5), mean * 4)


class View:
    """What one reader's page shows, from the frames alone."""

    def __init__(self) -> None:
        self.records: dict[str, dict[int, dict[str, Any]]] = {k: {} for k in RECORD_KINDS}
        self.reviews: dict[int, dict[str, Any]] = {}
        self.agenda: list[int] = []
        self.current_item: int | None = None
        self.state = ""
        self.presence: dict[int, bool] = {}
        self.presence_versions: dict[int, int] = {}

    def load(self, snap: dict[str, Any]) -> None:
        for kind in RECORD_KINDS:
            self.records[kind] = {r["id"]: r for r in snap[f"{kind}s"]}
        self.reviews = {r["id"]: r for r in snap["reviews"]}
        self.agenda = [i["id"] for i in snap["agenda"]]
        self.current_item = snap["current_item"]
        self.state = snap["state"]
        self.presence_state(snap)

    def presence_state(self, state: dict[str, Any]) -> None:
        """A snapshot's or resume's presence, merged by version as the page does."""
        for p in state.get("presence", []):
            self.set_presence({**p, "online": True})
        for p in state.get("presence_gone", []):
            self.set_presence({**p, "online": False})

    def set_presence(self, p: dict[str, Any]) -> None:
        """One person's presence, applied only when newer (docs/live-protocol.md)."""
        if p["version"] <= self.presence_versions.get(p["user"], 0):
            return
        self.presence_versions[p["user"]] = p["version"]
        if p["online"]:
            self.presence[p["user"]] = True
        else:
            self.presence.pop(p["user"], None)

    def apply(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        """Apply an event; return the record it carries (for the fan-out timing)."""
        kind, _dot, verb = frame["event"].partition(".")
        if kind in RECORD_KINDS:
            record = frame[kind]
            if verb == "deleted":
                self.records[kind].pop(record["id"], None)
                return None
            self.records[kind][record["id"]] = record  # an unknown update is an insert
            return record
        if kind == "action_review":
            self.reviews[frame["review"]["id"]] = frame["review"]
        elif kind == "agenda":
            if verb == "current":
                self.current_item = frame["item"]
            elif verb == "order":
                self.agenda = list(frame["order"])
            elif verb == "added":
                self.agenda.append(frame["agenda_item"]["id"])
        elif kind == "conference":
            self.state = frame["state"]
        return None

    def as_state(self) -> dict[str, Any]:
        return {
            "records": {k: {str(i): r for i, r in v.items()} for k, v in self.records.items()},
            "reviews": {str(i): r for i, r in self.reviews.items()},
            "agenda": self.agenda,
            "current_item": self.current_item,
            "state": self.state,
        }


class Participant:
    def __init__(
        self,
        plan: ConferencePlan,
        seat: Seat,
        ports: list[int],
        home: int,
        stats: Stats,
        cookie_name: str,
        rng: random.Random,
        think_s: float,
    ) -> None:
        self.plan, self.seat, self.ports, self.port = plan, seat, ports, home
        self.stats, self.cookie_name, self.rng, self.think_s = stats, cookie_name, rng, think_s
        self.view = View()
        self.last_seq = 0
        self.ws: Any = None
        self.reader: asyncio.Future | None = None
        self.synced = asyncio.Event()
        self.pending: dict[str, dict[str, Any]] = {}  # op id -> op, futures, first send time
        self.n = 0
        self.me = f"u{seat.user_id}"
        self.dead: set[int] = set()  # ports known to be down
        self.peers: list[Participant] = []
        self.leaving = False
        self.last_frame = time.perf_counter()

    # --- connection ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect (to the home process, else the other) and sync; re-send the outbox."""
        delay = 0.5
        while True:
            order = [self.port] + [p for p in self.ports if p != self.port]
            for port in order:
                try:
                    self.ws = await websockets.connect(
                        f"ws://127.0.0.1:{port}/ws/conferences/{self.plan.pk}/",
                        additional_headers={
                            "Cookie": f"{self.cookie_name}={self.seat.cookie}",
                            "Origin": f"http://127.0.0.1:{port}",
                            "Accept-Language": "ja",
                        },
                        max_size=2**22,
                        open_timeout=20,
                        ping_interval=None,
                    )
                except (
                    OSError,
                    TimeoutError,
                    websockets.InvalidStatus,
                    websockets.InvalidHandshake,
                ):
                    continue
                self.port = port
                self.synced.clear()
                try:
                    await self.ws.send(json.dumps({"type": "hello", "last_seq": self.last_seq}))
                except ConnectionClosed:
                    continue
                self.reader = asyncio.ensure_future(self._read(self.ws))
                try:
                    await asyncio.wait_for(self.synced.wait(), 60)
                except TimeoutError:
                    await self.ws.close()
                    continue
                for op_id, entry in list(self.pending.items()):
                    self.stats.resent += 1
                    await self._send_op(op_id, entry)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 8)

    async def _read(self, ws: Any) -> None:
        try:
            async for raw in ws:
                self.last_frame = time.perf_counter()
                self._frame(json.loads(raw))
        except ConnectionClosed:
            pass
        if ws is self.ws and not self.leaving:
            # The server went away (or closed us): reconnect, as the page does.
            code = ws.close_code if ws.close_code is not None else "none"
            self.stats.closes[f"{code} {ws.close_reason or ''}".strip()] += 1
            self.synced.clear()
            self.stats.reconnects += 1
            await self.connect()

    async def leave_and_return(self, away: float) -> None:
        """Presence: close the page for a while, then come back resuming from last_seq."""
        self.leaving = True
        await self.ws.close()
        await asyncio.sleep(away)
        self.leaving = False
        await self.connect()

    # --- frames -------------------------------------------------------------------------------

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "snapshot":
            self.view.load(frame)
            self.last_seq = max(self.last_seq, frame["seq"]) if self.last_seq else frame["seq"]
        elif kind == "event":
            self.last_seq = max(self.last_seq, frame["seq"])
            record = self.view.apply(frame)
            if record is not None and self.synced.is_set():
                self._fanout(record)
        elif kind == "synced":
            self.last_seq = max(self.last_seq, frame["seq"])
            self.view.presence_state(frame)  # resumed: who is here now, who left
            self.synced.set()
        elif kind == "presence":
            self.view.set_presence(frame)
        elif kind in ("ack", "error", "conflict"):
            self._answer(frame)
        elif kind == "ack_required":
            self.stats.errors["ack_required"] += 1

    def _fanout(self, record: dict[str, Any]) -> None:
        m = MARKER.match(record.get("text") or record.get("title") or "")
        if m is None:
            return
        sent = self.stats.sent_at.get(m.group(1))
        if sent is not None and sent[1] != self.seat.user_id and self.stats.measuring:
            self.stats.fanout_ms.append((time.perf_counter() - sent[0]) * 1000)

    def _answer(self, frame: dict[str, Any]) -> None:
        entry = self.pending.pop(frame.get("id") or "", None)
        if entry is None:
            if frame["type"] == "error":
                self.stats.errors[frame.get("code", "?")] += 1
            return
        if frame["type"] == "ack":
            if self.stats.measuring:
                self.stats.ack_ms.append((time.perf_counter() - entry["t0"]) * 1000)
            self.stats.acked.append(
                {
                    "conference": self.plan.pk,
                    "user": self.seat.user_id,
                    "id": frame["id"],
                    "op": entry["op"],
                    "args": entry["args"],
                    "seq": frame["seq"],
                    "result": frame["result"],
                }
            )
        elif frame["type"] == "conflict":
            self.stats.conflicts += 1
        else:
            self.stats.errors[frame.get("code", "?")] += 1
        if not entry["future"].done():
            entry["future"].set_result(frame)

    # --- operations ---------------------------------------------------------------------------

    async def _send_op(self, op_id: str, entry: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):  # re-sent after the reconnect
            await self.ws.send(
                json.dumps(
                    {"type": "op", "id": op_id, "op": entry["op"], "args": entry["args"]},
                    ensure_ascii=False,
                )
            )

    async def submit(self, op: str, args: dict[str, Any], timeout: float = 120) -> dict | None:
        self.n += 1
        op_id = f"{self.me}-{self.n}"
        for key in ("text", "title"):
            if key in args:
                args[key] = f"[{op_id}] {args[key]}"
        entry = {
            "op": op,
            "args": args,
            "t0": time.perf_counter(),
            "future": asyncio.get_running_loop().create_future(),
        }
        self.pending[op_id] = entry
        self.stats.sent_at[op_id] = (entry["t0"], self.seat.user_id)
        self.stats.ops[op] += 1
        if self.synced.is_set():
            await self._send_op(op_id, entry)
        try:
            return await asyncio.wait_for(asyncio.shield(entry["future"]), timeout)
        except TimeoutError:
            self.stats.errors["ack_timeout"] += 1
            return None

    def _text(self) -> str:
        return self.rng.choice(SENTENCES)

    def _tier(self) -> int:
        mine = self.seat.tier
        return self.rng.choice([t for t in (1, 2, 2, 2, 3) if t <= mine])

    async def act(self) -> None:
        """One thing a participant does, with the mix of a real meeting."""
        rng, v = self.rng, self.view
        r = rng.random()
        mine = [n for n in v.records["note"].values() if n["tier"] <= self.seat.tier]
        if self.seat.chair and r < 0.12:
            pending_reviews = [x for x in v.reviews.values() if not x["outcome"]]
            if pending_reviews:
                review = rng.choice(pending_reviews)
                if rng.random() < 0.5:
                    await self.submit("action.review", {"review": review["id"], "outcome": "done"})
                else:
                    due = (today() + dt.timedelta(days=14)).isoformat()
                    await self.submit(
                        "action.review",
                        {"review": review["id"], "outcome": "continued", "new_due_on": due},
                    )
                return
            if rng.random() < 0.85:
                await self.submit("agenda.current", {"item": rng.choice(v.agenda)})
            elif rng.random() < 0.9:
                order = list(v.agenda)
                rng.shuffle(order)
                await self.submit("agenda.reorder", {"order": order})
            else:
                await self.submit("agenda.add", {"title": "その他"})
            return
        if r < 0.45 or not mine:
            await self.submit(
                "note.add",
                {"item": self.plan.case_item, "text": self._text(), "tier": self._tier()},
            )
        elif r < 0.70:
            note = rng.choice(mine)
            if rng.random() < 0.15:
                await self._concurrent_edit(note)
            else:
                await self._edit(note)
        elif r < 0.80 and self.seat.tier >= 2:
            decisions = [d for d in v.records["decision"].values() if d["author"] and self._mine(d)]
            if decisions and rng.random() < 0.4:
                d = rng.choice(decisions)
                if rng.random() < 0.3:
                    await self.submit("decision.delete", {"decision": d["id"]})
                else:
                    await self.submit(
                        "decision.edit",
                        {"decision": d["id"], "text": self._text(), "base_version": d["version"]},
                    )
            else:
                await self.submit(
                    "decision.add",
                    {"item": self.plan.case_item, "text": self._text(), "tier": 2},
                )
        elif r < 0.90 and self.seat.tier >= 2:
            owners = [s.user_id for s in self.plan.seats if s.tier >= 2]
            due = (today() + dt.timedelta(days=rng.randint(3, 30))).isoformat()
            await self.submit(
                "action.add",
                {
                    "item": self.plan.case_item,
                    "title": "訪問して状況を確認する",
                    "details": self._text(),
                    "owner_user": rng.choice(owners),
                    "due_on": due,
                    "tier": 2,
                },
            )
        else:
            await self.submit(
                "note.add",
                {"item": self.plan.case_item, "text": self._text(), "tier": self._tier()},
            )

    def _mine(self, record: dict[str, Any]) -> bool:
        m = MARKER.match(record.get("text", ""))
        return m is not None and m.group(1).startswith(f"{self.me}-")

    async def _edit(self, note: dict[str, Any]) -> None:
        answer = await self.submit(
            "note.edit", {"note": note["id"], "text": self._text(), "base_version": note["version"]}
        )
        if answer is not None and answer["type"] == "conflict":
            # As the page's conflict panel: keep both texts, based on the saved version.
            current = answer["current"]
            await self.submit(
                "note.edit",
                {
                    "note": note["id"],
                    "text": f"{self._text()}／{MARKER.sub('', current['text']).strip()}"[:2000],
                    "base_version": current["version"],
                },
            )

    async def _concurrent_edit(self, note: dict[str, Any]) -> None:
        """Two people edit the same note at the same moment: one saves, one gets a conflict."""
        others = [
            p
            for p in self.peers
            if p is not self and p.synced.is_set() and p.seat.tier >= note["tier"]
        ]
        if not others:
            await self._edit(note)
            return
        other = self.rng.choice(others)
        await asyncio.gather(self._edit(note), other._edit(note))

    async def run(self, until: float) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.think_s))
        while time.perf_counter() < until:
            if not self.synced.is_set():
                await self.synced.wait()
            if self.rng.random() < 0.03:
                away = self.rng.uniform(3, 15)
                await self.leave_and_return(min(away, max(until - time.perf_counter(), 0.5)))
            else:
                await self.act()
            await asyncio.sleep(min(think(self.rng, self.think_s), until - time.perf_counter()))


# --- pages ----------------------------------------------------------------------------------


class PageUser:
    def __init__(
        self,
        browser: Browser,
        ports: list[int],
        home: int,
        stats: Stats,
        cookie_name: str,
        rng: random.Random,
        think_s: float,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.b, self.ports, self.port = browser, ports, home
        self.stats, self.cookie_name, self.rng, self.think_s = stats, cookie_name, rng, think_s
        self.pool = pool
        self.conn: http.client.HTTPConnection | None = None
        self.used = 0.0

    def _get(self, path: str) -> tuple[int, float]:
        """GET over a kept-alive connection, in a worker thread; (status, seconds)."""
        t0 = time.perf_counter()
        if self.conn is not None and t0 - self.used > KEEP_ALIVE:
            self.conn.close()  # the server has closed it by now, as a browser knows
            self.conn = None
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.conn.request(
            "GET",
            path,
            headers={"Cookie": f"{self.cookie_name}={self.b.cookie}", "Accept-Language": "ja"},
        )
        response = self.conn.getresponse()
        response.read()
        self.used = time.perf_counter()
        return response.status, self.used - t0

    async def load(self, name: str, path: str) -> None:
        loop = asyncio.get_running_loop()
        for attempt in range(3):
            try:
                status, seconds = await loop.run_in_executor(self.pool, self._get, path)
            except (OSError, http.client.HTTPException) as exc:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt or isinstance(exc, ConnectionRefusedError):
                    # The process went away: the load balancer would send us to another.
                    self.stats.page_failovers += 1
                    others = [p for p in self.ports if p != self.port]
                    self.port = others[0] if others else self.port
                continue
            self.stats.pages[name] += 1
            if status != 200:
                self.stats.errors[f"http_{status}_{name}"] += 1
            elif self.stats.measuring:
                self.stats.page_ms.append(seconds * 1000)
            return
        self.stats.errors[f"http_unreachable_{name}"] += 1

    async def run(self, until: float) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.think_s))
        while time.perf_counter() < until:
            r = self.rng.random()
            if r < 0.35:
                await self.load("case_list", "/cases/")
            elif r < 0.65 and self.b.case_ids:
                await self.load("case_detail", f"/cases/{self.rng.choice(self.b.case_ids)}/")
            elif r < 0.85:
                await self.load("dashboard", "/dashboard/")
            else:
                await self.load("followups", "/followups/")
            await asyncio.sleep(min(think(self.rng, self.think_s), until - time.perf_counter()))
        if self.conn is not None:
            self.conn.close()
