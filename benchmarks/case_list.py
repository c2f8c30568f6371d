"""Case list, kana search and case detail on PostgreSQL at council scale.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/otagai_bench .venv/bin/python \
        benchmarks/case_list.py [--quick] [--reps N] [--rebuild] [--rls]

Builds (once; reruns reuse it) 100,000 cases, 300 agencies, 3,000 users and ~500,000 shares
with a realistic skew, then measures through the real code path — Django's test Client GET of
the real views (session, middleware, audit write, template) and the selectors alone — for a
council coordinator (every case), a user of a large agency and one of a small agency, and a
hand-written SQL query returning the same rows. The last line printed is one JSON object.

--rls: the views as the owner and as the application role under row-level security, and
under RLS with production's connection handling: a new connection per request (`*_newconn`,
no pool) against Django's connection pool (`*_pooled`; settings.DATABASE_POOL_MAX_SIZE).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_COOKIES", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")  # plain HTTP on loopback
os.environ.setdefault("LOG_LEVEL", "WARNING")

import warnings  # noqa: E402

import django  # noqa: E402

# WhiteNoise warns that STATIC_ROOT does not exist; static files are not measured here.
warnings.filterwarnings("ignore", message="No directory at")

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Model  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from casework import selectors  # noqa: E402
from casework.models import (  # noqa: E402
    Case,
    ChronologyEntry,
    HouseholdMember,
    NeedCategory,
    normalize_kana,
)
from casework.search import TRIGRAM_MIN  # noqa: E402
from casework.views import PAGE_SIZE  # noqa: E402
from permissions import rls  # noqa: E402
from permissions.access import access_case  # noqa: E402
from permissions.models import Agency, Area, Consent, Membership, Share, Tier  # noqa: E402
from permissions.policy import (  # noqa: E402
    BREAK_GLASS_ROLES,
    ROLE_TIER_CAP,
    SUPPORTER_ROLES,
    visible_case_count,
)
from tests.twofactor import complete_second_factor  # noqa: E402

User = get_user_model()

FULL = {"cases": 100_000, "agencies": 300, "users": 3_000, "other_shares_per_case": 4.0}
QUICK = {"cases": 5_000, "agencies": 60, "users": 300, "other_shares_per_case": 4.0}
DATASET_VERSION = 1
SEED = 20261126
# Katakana on purpose (folded to いのうえ, as a person types it); and a two-character kanji
# surname, shorter than a trigram, which the trigram index cannot serve.
SEARCHES = {"search": "イノウエ", "search2": "井上"}

# (kanji, reading, weight): a rough Zipf of common surnames.
SURNAMES = [
    ("佐藤", "さとう"), ("鈴木", "すずき"), ("高橋", "たかはし"), ("田中", "たなか"),
    ("伊藤", "いとう"), ("渡辺", "わたなべ"), ("山本", "やまもと"), ("中村", "なかむら"),
    ("小林", "こばやし"), ("加藤", "かとう"), ("吉田", "よしだ"), ("山田", "やまだ"),
    ("佐々木", "ささき"), ("山口", "やまぐち"), ("松本", "まつもと"), ("井上", "いのうえ"),
    ("木村", "きむら"), ("林", "はやし"), ("斎藤", "さいとう"), ("清水", "しみず"),
    ("山﨑", "やまさき"), ("森", "もり"), ("池田", "いけだ"), ("橋本", "はしもと"),
    ("阿部", "あべ"), ("石川", "いしかわ"), ("山下", "やました"), ("中島", "なかじま"),
    ("石井", "いしい"), ("小川", "おがわ"), ("前田", "まえだ"), ("岡田", "おかだ"),
    ("長谷川", "はせがわ"), ("藤田", "ふじた"), ("後藤", "ごとう"), ("近藤", "こんどう"),
    ("村上", "むらかみ"), ("遠藤", "えんどう"), ("青木", "あおき"), ("坂本", "さかもと"),
    ("斉藤", "さいとう"), ("福田", "ふくだ"), ("太田", "おおた"), ("西村", "にしむら"),
    ("藤井", "ふじい"), ("金子", "かねこ"), ("岡本", "おかもと"), ("藤原", "ふじわら"),
    ("中野", "なかの"), ("三浦", "みうら"), ("原田", "はらだ"), ("中川", "なかがわ"),
    ("松田", "まつだ"), ("竹内", "たけうち"), ("小野", "おの"), ("田村", "たむら"),
    ("中山", "なかやま"), ("和田", "わだ"), ("石田", "いしだ"), ("森田", "もりた"),
]  # fmt: skip
GIVEN = [
    ("一郎", "いちろう"), ("和子", "かずこ"), ("健", "けん"), ("美咲", "みさき"),
    ("洋子", "ようこ"), ("正", "ただし"), ("幸子", "さちこ"), ("博", "ひろし"),
    ("節子", "せつこ"), ("茂", "しげる"), ("恵子", "けいこ"), ("誠", "まこと"),
    ("京子", "きょうこ"), ("隆", "たかし"), ("陽菜", "ひな"), ("翔", "しょう"),
    ("大輝", "だいき"), ("結衣", "ゆい"), ("悠真", "ゆうま"), ("さくら", "さくら"),
    ("勝", "まさる"), ("明美", "あけみ"), ("清", "きよし"), ("トメ", "とめ"),
]  # fmt: skip
RELATIONS = ["長男", "長女", "配偶者", "母", "父", "次男", "孫", "兄", "妹"]
LIFE_AREAS = {
    "富坂": ["小石川一丁目町会", "春日町会", "白山東町会", "水道町会", "後楽町会"],
    "大塚": ["大塚三丁目町会", "音羽町会", "関口町会", "目白台町会", "小日向町会"],
    "本富士": ["本郷二丁目町会", "湯島三丁目町会", "弥生町会", "西片町会", "根津町会"],
    "駒込": ["千駄木町会", "本駒込二丁目町会", "向丘町会", "白山五丁目町会", "動坂町会"],
}
SENTENCES = [
    "近隣から新聞が溜まっていると連絡があった。",
    "長男が長年ひきこもっており、母の年金で生活している。",
    "室内にごみが堆積し、悪臭について町会から相談があった。",
    "認知症の進行により金銭管理が難しくなっている。",
    "家賃の滞納が続き、退去を求められている。",
    "民生委員が月に一度訪問している。",
    "学校から、家族の介護で欠席が多いと連絡があった。",
    "地域包括支援センターが介護保険の申請を支援している。",
    "本人は支援を望んでいないが、見守りは受け入れている。",
    "災害時には避難の手助けが必要である。",
]


def zipf_weights(n: int, s: float) -> list[float]:
    return [1 / (i**s) for i in range(1, n + 1)]


def text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(SENTENCES) for _ in range(n))


# ----------------------------------------------------------------------------------------
# The dataset


def columns(model: type[Model]) -> list[str]:
    return [f.column for f in model._meta.concrete_fields]


def copy_rows(model: type[Model] | str, cols: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    table = model if isinstance(model, str) else model._meta.db_table
    n = 0
    with connection.cursor() as cur:
        raw = cur.cursor  # psycopg 3 cursor
        col_sql = ", ".join(f'"{c}"' for c in cols)
        with raw.copy(f'COPY "{table}" ({col_sql}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
    return n


def marker_name(spec: dict[str, Any]) -> str:
    return f"bench-dataset v{DATASET_VERSION} cases={spec['cases']} seed={SEED}"


def dataset_present(spec: dict[str, Any]) -> bool:
    return (
        Agency.objects.filter(name=marker_name(spec)).exists()
        and Case.objects.count() == spec["cases"]
    )


def build_dataset(spec: dict[str, Any]) -> None:
    rng = random.Random(SEED)
    now = timezone.now()
    today = timezone.localdate()
    t0 = time.perf_counter()
    tables = [
        Case._meta.db_table,
        HouseholdMember._meta.db_table,
        ChronologyEntry._meta.db_table,
        Case.need_categories.through._meta.db_table,
        Share._meta.db_table,
        Consent._meta.db_table,
        Consent.agencies.through._meta.db_table,
        Membership._meta.db_table,
        Membership.life_areas.through._meta.db_table,
        Agency._meta.db_table,
        Area._meta.db_table,
        User._meta.db_table,
        "django_session",
    ]
    with connection.cursor() as cur:
        # The audit trail is append-only (a trigger refuses TRUNCATE) and has no FK: kept.
        cur.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")

    # Areas: four life areas, five small areas (町会) each.
    area_rows, small_by_life = [], {}
    aid = 0
    for order, (life, smalls) in enumerate(LIFE_AREAS.items()):
        aid += 1
        life_id = aid
        area_rows.append((life_id, life, "", None, order))
        small_by_life[life_id] = []
        for j, small in enumerate(smalls):
            aid += 1
            area_rows.append((aid, small, "", life_id, j))
            small_by_life[life_id].append(aid)
    copy_rows(Area, ["id", "name", "kana", "parent_id", "order"], area_rows)
    life_ids = list(small_by_life)

    # Agencies: #1 is the council (holds every case); the rest are Zipf-sized.
    n_ag = spec["agencies"]
    agency_rows = [(1, marker_name(spec).replace("bench-dataset", "社協"), "council", None, True)]
    kinds = ["ward_section"] * 8 + ["professional"] * 50 + ["residents"] * 42
    for i in range(2, n_ag + 1):
        kind = "ward_section" if i <= 6 else kinds[rng.randrange(len(kinds))]
        area = rng.choice(life_ids) if kind == "residents" else None
        agency_rows.append((i, f"機関{i:03d}（{kind}）", kind, area, kind == "residents"))
    agency_rows.append((n_ag + 1, marker_name(spec), "professional", None, False))
    copy_rows(  # the marker agency is inactive: it exists only to recognise the dataset
        Agency,
        ["id", "name", "kind", "area_id", "disaster_supporter", "is_active"],
        [(*r, r[0] != n_ag + 1) for r in agency_rows],
    )
    kind_of = {r[0]: r[2] for r in agency_rows}
    other_agencies = list(range(2, n_ag + 1))
    share_weights = zipf_weights(len(other_agencies), 1.1)

    # Users: every agency has at least one; bigger agencies more. One password hash for all.
    n_users = spec["users"]
    password = make_password("bench-password-not-secret")
    user_agency = [1] * max(5, n_users // 50) + other_agencies[:]
    user_weights = [w**0.5 for w in share_weights]
    user_agency += rng.choices(other_agencies, user_weights, k=n_users - len(user_agency))
    user_rows, membership_rows = [], []
    role_for = {
        "council": "coordinator",
        "ward_section": "professional",
        "professional": "professional",
        "residents": "resident",
    }
    for uid, ag in enumerate(user_agency, start=1):
        sn, _ = rng.choice(SURNAMES)
        gn, _ = rng.choice(GIVEN)
        user_rows.append((uid, password, None, False, f"u{uid:05d}", gn, sn, "", False, True, now))
        membership_rows.append((uid, uid, ag, role_for[kind_of[ag]], ""))
    copy_rows(
        User,
        [
            "id",
            "password",
            "last_login",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
        ],
        user_rows,
    )
    copy_rows(Membership, ["id", "user_id", "agency_id", "role", "title"], membership_rows)
    coordinators = [uid for uid, ag in enumerate(user_agency, start=1) if ag == 1]

    # Cases, household members, categories, consents, shares, timeline.
    n_cases = spec["cases"]
    categories = list(NeedCategory.objects.values_list("pk", flat=True))
    surname_weights = zipf_weights(len(SURNAMES), 0.7)
    statuses = ["open", "active", "active", "active", "monitoring", "closed"]
    case_rows, member_rows, cat_rows, consent_rows, consent_ag_rows = [], [], [], [], []
    share_rows, chrono_rows = [], []
    mid = share_id = consent_id = chrono_id = cat_id = consent_ag_id = 0
    case_cols = columns(Case)
    for cid in range(1, n_cases + 1):
        life = rng.choice(life_ids)
        small = rng.choice(small_by_life[life]) if rng.random() < 0.9 else None
        (sn, sk) = rng.choices(SURNAMES, surname_weights)[0]
        names = []
        for k in range(rng.choices([1, 2, 3, 4], [35, 35, 20, 10])[0]):
            gn, gk = rng.choice(GIVEN)
            mid += 1
            age = rng.randint(70, 95) if k == 0 else rng.randint(8, 65)
            member_rows.append(
                (mid, cid, f"{sn} {gn}", f"{sk} {gk}", "本人" if k == 0 else rng.choice(RELATIONS),
                 k == 0, None, age)
            )  # fmt: skip
            names.append(f"{sn} {gn} {sk} {gk}")
        label = f"{sn}さん世帯"
        search = " ".join(normalize_kana(p) for p in [label, *names])[:1000]
        opened = now - dt.timedelta(days=rng.uniform(0, 5 * 365))
        updated = opened + (now - opened) * rng.random()
        values = {
            "id": cid,
            "label": label,
            "life_area_id": life,
            "small_area_id": small,
            "address": f"文京区{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}",
            "watch_notes": text(rng, 1),
            "disaster_needs": text(rng, 1) if rng.random() < 0.3 else "",
            "watch_over": rng.random() < 0.4,
            "disaster_support": rng.random() < 0.25,
            "status": rng.choice(statuses),
            "summary": text(rng, 3),
            "situation": text(rng, 4),
            "issues": text(rng, 2),
            "support_plan": text(rng, 2),
            "coverage": rng.choice(["covered", "partly", "not_covered"]),
            "health": text(rng, 2),
            "disability": text(rng, 1) if rng.random() < 0.3 else "",
            "abuse": text(rng, 1) if rng.random() < 0.05 else "",
            "finances": text(rng, 1),
            "lead_coordinator_id": rng.choice(coordinators),
            "opened_at": opened,
            "closed_at": None,
            "purged_at": None,
            "updated_at": updated,
            "search_text": search,
        }
        case_rows.append([values[c] for c in case_cols])
        for cat in rng.sample(categories, rng.choices([1, 2, 3], [50, 35, 15])[0]):
            cat_id += 1
            cat_rows.append((cat_id, cid, cat))

        # The council's intake share: every case, all tiers, coordinating.
        share_id += 1
        share_rows.append(
            (share_id, cid, 1, Tier.SENSITIVE, True, True, "intake", None, None, opened, None)
        )
        # Other agencies: ~4 per case on average, Zipf over agencies (a few large, many small).
        k = min(
            len(other_agencies), max(0, round(rng.expovariate(1 / spec["other_shares_per_case"])))
        )
        picked: set[int] = set()
        while len(picked) < k:
            picked.add(rng.choices(other_agencies, cum_weights=None, weights=share_weights)[0])
        consent_pk = None
        if picked and rng.random() < 0.4:
            consent_id += 1
            consent_pk = consent_id
            state = rng.random()
            given = today - dt.timedelta(days=rng.randint(30, 1500))
            expires = (
                (today - dt.timedelta(days=rng.randint(1, 300)))
                if state < 0.1
                else (today + dt.timedelta(days=rng.randint(30, 700)) if state < 0.6 else None)
            )
            withdrawn = (
                now - dt.timedelta(days=rng.randint(1, 200)) if 0.1 <= state < 0.17 else None
            )
            consent_rows.append(
                (consent_pk, cid, rng.choice([2, 2, 3]), given, "written", expires, "",
                 rng.choice(coordinators), opened, withdrawn, None if withdrawn is None else 1)
            )  # fmt: skip
        for ag in sorted(picked):
            share_id += 1
            basis = (
                "consent"
                if consent_pk and rng.random() < 0.7
                else rng.choices(["support_meeting", "child_council", "emergency"], [85, 5, 10])[0]
            )
            if basis == "consent":
                consent_ag_id += 1
                consent_ag_rows.append((consent_ag_id, consent_pk, ag))
            r = rng.random()
            if basis == "emergency" or r < 0.06:
                expires_at = now + dt.timedelta(days=rng.uniform(-400, 30))  # mostly expired
            elif r < 0.16:
                expires_at = now + dt.timedelta(days=rng.uniform(30, 700))
            else:
                expires_at = None
            tier = 1 if kind_of[ag] == "residents" else rng.choice([1, 2, 2, 2, 3])
            share_rows.append(
                (share_id, cid, ag, tier, rng.random() < 0.5, False, basis,
                 consent_pk if basis == "consent" else None, rng.choice(coordinators),
                 opened, expires_at)
            )  # fmt: skip
        for _ in range(rng.choices([0, 1, 2, 3, 4, 6], [15, 20, 25, 20, 10, 10])[0]):
            chrono_id += 1
            ag = rng.choice([1, *picked]) if picked else 1
            chrono_rows.append(
                (chrono_id, cid, (opened + (now - opened) * rng.random()).date(), ag,
                 rng.choice(coordinators), rng.choice([1, 2, 2, 3]), text(rng, 1), opened)
            )  # fmt: skip

    copy_rows(Case, case_cols, case_rows)
    copy_rows(
        HouseholdMember,
        ["id", "case_id", "name", "kana", "relationship", "is_subject", "birth_date", "age"],
        member_rows,
    )
    copy_rows(Case.need_categories.through, ["id", "case_id", "needcategory_id"], cat_rows)
    copy_rows(
        Consent,
        ["id", "case_id", "tier", "given_on", "method", "expires_on", "scope_note",
         "recorded_by_id", "recorded_at", "withdrawn_at", "withdrawn_by_id"],
        consent_rows,
    )  # fmt: skip
    copy_rows(Consent.agencies.through, ["id", "consent_id", "agency_id"], consent_ag_rows)
    copy_rows(
        Share,
        ["id", "case_id", "agency_id", "tier", "may_contribute", "coordinates", "basis",
         "consent_id", "granted_by_id", "granted_at", "expires_at"],
        share_rows,
    )  # fmt: skip
    copy_rows(
        ChronologyEntry,
        ["id", "case_id", "occurred_on", "agency_id", "author_id", "tier", "text", "created_at"],
        chrono_rows,
    )
    with connection.cursor() as cur:
        models: list[Any] = [Area, Agency, User, Membership, Case, HouseholdMember, Consent]
        models += [Share, ChronologyEntry, Case.need_categories.through, Consent.agencies.through]
        for model in models:
            table = model._meta.db_table
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'(SELECT COALESCE(MAX(id), 1) FROM "{table}"))'
            )
        cur.execute("VACUUM ANALYZE")
    print(
        f"built in {time.perf_counter() - t0:.0f} s: {len(case_rows):,} cases, "
        f"{len(member_rows):,} household members, {len(agency_rows) - 1} agencies, "
        f"{len(user_rows):,} users, {len(share_rows):,} shares, {len(consent_rows):,} consents, "
        f"{len(chrono_rows):,} timeline entries"
    )


# ----------------------------------------------------------------------------------------
# Measuring


def _ms(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:5.1f} ms"


def _line(name: str, r: dict[str, Any]) -> str:
    return (
        f"  {name:<16} p50 {r['p50_ms']:7.1f} ms   p95 {r['p95_ms']:7.1f} ms   "
        f"(CPU p50: Python {r['python_cpu_p50_ms']:5.1f} ms, database {_ms(r['db_cpu_p50_ms'])})"
        f"   {r['queries']:2d} queries"
    )


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def backend_cpu_ns() -> int | None:
    """CPU time of the PostgreSQL backend serving this connection so far (Linux schedstat,
    nanoseconds; the server is local here): database work per request, whatever the load."""
    try:
        connection.ensure_connection()
        pid = connection.connection.info.backend_pid
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, AttributeError):
        return None


def measure(scenarios: dict[str, Callable[[int], Any]], reps: int) -> dict[str, dict]:
    """Round-robin over the scenarios, so that all of them see the same machine load: the
    machine is shared, and a burst elsewhere must not land on one scenario only."""
    for fn in scenarios.values():
        for i in range(3):  # warm-up: caches, connections, template loading
            if isinstance(fn, PerRequest):
                fn.prepare()
            fn(i)
    wall: dict[str, list[float]] = {name: [] for name in scenarios}
    cpu: dict[str, list[float]] = {name: [] for name in scenarios}
    db_cpu: dict[str, list[float]] = {name: [] for name in scenarios}
    queries: dict[str, int] = dict.fromkeys(scenarios, 0)
    for i in range(reps):
        for name, fn in scenarios.items():
            if isinstance(fn, PerRequest):
                fn.prepare()  # outside the timer: no connection held, as between requests
                c, t = time.process_time(), time.perf_counter()
                fn(i)
                wall[name].append((time.perf_counter() - t) * 1000)
                cpu[name].append((time.process_time() - c) * 1000)
                if fn.db_cpu_ns is not None:
                    db_cpu[name].append(fn.db_cpu_ns / 1e6)
                queries[name] = max(queries[name], fn.queries)
                continue
            with CaptureQueriesContext(connection) as ctx:
                db = backend_cpu_ns()
                c, t = time.process_time(), time.perf_counter()
                fn(i)
                wall[name].append((time.perf_counter() - t) * 1000)
                cpu[name].append((time.process_time() - c) * 1000)
                db_after = backend_cpu_ns()
                if db is not None and db_after is not None and db_after >= db:
                    db_cpu[name].append((db_after - db) / 1e6)
            queries[name] = max(queries[name], len(ctx.captured_queries))
    return {
        name: {
            "p50_ms": round(statistics.median(wall[name]), 2),
            "p95_ms": round(pct(wall[name], 0.95), 2),
            "python_cpu_p50_ms": round(statistics.median(cpu[name]), 2),
            "db_cpu_p50_ms": round(statistics.median(db_cpu[name]), 2) if db_cpu[name] else None,
            "queries": queries[name],
        }
        for name in scenarios
    }


# The hand-written SQL: what a person would write for the same page, same rows. Like the
# ORM path it first reads the user's memberships (one query), then counts on the shares
# alone when nothing but visibility filters the list.
MEMBERSHIP_SQL = """
SELECT m.agency_id, m.role, a.disaster_supporter FROM permissions_membership m
JOIN permissions_agency a ON a.id = m.agency_id WHERE m.user_id = %(user)s AND a.is_active
"""
# Which cases a list holds also depends on the emergency paths open to the reader right now
# (permissions.policy.case_scope): an active break-glass of theirs, or, for a designated
# disaster supporter, a declared disaster. Asked, as the selector asks it, only of readers
# whose roles can take a path; the dataset has neither, so the share path then gives the rows.
EMERGENCY_SQL = """
SELECT EXISTS (SELECT 1 FROM permissions_breakglass g WHERE g.user_id = %(user)s
    AND g.agency_id = ANY(%(glass_agencies)s) AND g.started_at <= %(now)s
    AND g.expires_at > %(now)s),
    %(supporter)s AND EXISTS (SELECT 1 FROM permissions_declaration d WHERE d.ended_at IS NULL)
"""
ACTIVE_SHARES = """
    permissions_share s LEFT JOIN permissions_consent k ON k.id = s.consent_id
    WHERE s.agency_id = ANY(%(agencies)s)
    AND (s.expires_at IS NULL OR s.expires_at > %(now)s)
    AND (s.basis <> 'consent' OR (k.withdrawn_at IS NULL
        AND (k.expires_on IS NULL OR k.expires_on >= %(today)s)))
"""
# The list counts at most LIST_COUNT_LIMIT + 1 rows ("more than 1,000"); so does the SQL.
SHARE_COUNT_SQL = (
    f"SELECT count(*) FROM (SELECT DISTINCT s.case_id FROM {ACTIVE_SHARES} LIMIT %(cap)s) x"
)
SHARE_COUNT_ONE_AGENCY_SQL = f"SELECT count(*) FROM (SELECT 1 FROM {ACTIVE_SHARES} LIMIT %(cap)s) x"
LIST_COUNT_SQL = f"""
SELECT count(*) FROM (SELECT 1 FROM casework_case c
WHERE EXISTS (SELECT 1 FROM {ACTIVE_SHARES} AND s.case_id = c.id) {{search}} LIMIT %(cap)s) x
"""
READER_TIER = f"""(SELECT max(LEAST(s.tier,
        (%(caps)s::int[])[array_position(%(agencies)s, s.agency_id)]))
     FROM {ACTIVE_SHARES} AND s.case_id = c.id)"""
LIST_PAGE_SQL = f"""
WITH page AS (
    SELECT c.id, c.label, c.status, c.updated_at, c.life_area_id, c.small_area_id,
        {READER_TIER} AS reader_tier
    FROM casework_case c
    WHERE EXISTS (SELECT 1 FROM {ACTIVE_SHARES} AND s.case_id = c.id) {{search}}
    ORDER BY c.updated_at DESC, c.id DESC
    LIMIT %(limit)s
)
SELECT p.id, p.label, p.status, p.updated_at, la.name, sa.name, p.reader_tier,
    CASE WHEN p.reader_tier >= 2 THEN (
        SELECT array_agg(n.name ORDER BY n."order", n.id)
        FROM casework_case_need_categories cn
        JOIN casework_needcategory n ON n.id = cn.needcategory_id
        WHERE cn.case_id = p.id) END
FROM page p JOIN permissions_area la ON la.id = p.life_area_id
LEFT JOIN permissions_area sa ON sa.id = p.small_area_id
ORDER BY p.updated_at DESC, p.id DESC
"""
# The detail page: the case with what its "why can I see this" line shows of each of the
# reader's active shares (agency, tier, basis, expiry, the consent's expiry; one row per share,
# the reader's tier from them as the page computes it), the household, the timeline up to that
# tier and, from the support tier, the need categories.
DETAIL_SQL = [
    """SELECT c.*, la.name, sa.name, u.first_name, u.last_name,
        s.agency_id, s.tier, s.basis, s.may_contribute, s.coordinates, s.expires_at, a.name,
        k.expires_on
    FROM permissions_share s LEFT JOIN permissions_consent k ON k.id = s.consent_id
    JOIN permissions_agency a ON a.id = s.agency_id
    JOIN casework_case c ON c.id = s.case_id
    JOIN permissions_area la ON la.id = c.life_area_id
    LEFT JOIN permissions_area sa ON sa.id = c.small_area_id
    JOIN auth_user u ON u.id = c.lead_coordinator_id
    WHERE s.case_id = %(case)s AND s.agency_id = ANY(%(agencies)s)
    AND (s.expires_at IS NULL OR s.expires_at > %(now)s)
    AND (s.basis <> 'consent' OR (k.withdrawn_at IS NULL
        AND (k.expires_on IS NULL OR k.expires_on >= %(today)s)))""",
    "SELECT * FROM casework_householdmember WHERE case_id = %(case)s ORDER BY is_subject DESC, id",
    """SELECT e.*, a.name FROM casework_chronologyentry e JOIN permissions_agency a
    ON a.id = e.agency_id WHERE e.case_id = %(case)s AND e.tier <= %(tier)s
    ORDER BY e.occurred_on, e.id""",
]
DETAIL_CATEGORIES_SQL = """SELECT n.name FROM casework_case_need_categories cn
JOIN casework_needcategory n ON n.id = cn.needcategory_id WHERE cn.case_id = %(case)s
ORDER BY n."order", n.id"""


def sql_params(cur: Any, user: Any) -> dict[str, Any]:
    cur.execute(MEMBERSHIP_SQL, {"user": user.pk})
    caps: dict[int, int] = {}
    glass_agencies, supporter = [], False
    for agency, role, disaster_supporter in cur.fetchall():
        caps[agency] = max(caps.get(agency, 0), int(ROLE_TIER_CAP[role]))
        if role in BREAK_GLASS_ROLES:
            glass_agencies.append(agency)
        supporter = supporter or (disaster_supporter and role in SUPPORTER_ROLES)
    return {
        "user": user.pk,
        "agencies": list(caps),
        "caps": list(caps.values()),
        "glass_agencies": glass_agencies,
        "supporter": supporter,
        "now": timezone.now(),
        "today": timezone.localdate(),
        "limit": PAGE_SIZE,
    }


def sql_emergency_check(cur: Any, params: dict[str, Any]) -> None:
    if not params["glass_agencies"] and not params["supporter"]:
        return
    cur.execute(EMERGENCY_SQL, params)
    if any(cur.fetchone()):
        raise NotImplementedError("the hand SQL reads the share path only")


def sql_list(user: Any, q: str) -> Callable[[int], tuple[int, list[int]]]:
    folded = normalize_kana(q)
    pattern = f"%{folded}%"
    search = "AND c.search_text LIKE %(pattern)s" if q else ""
    if q and len(folded) < TRIGRAM_MIN:
        # Shorter than a trigram: the gram index (casework.search), as a person would use it.
        search += " AND otagai_grams(c.search_text) @> otagai_query_grams(%(folded)s)"

    def run(_: int) -> tuple[int, list[int]]:
        with connection.cursor() as cur:
            params = {
                **sql_params(cur, user),
                "pattern": pattern,
                "folded": folded,
                "cap": selectors.LIST_COUNT_LIMIT + 1,
            }
            sql_emergency_check(cur, params)
            if q:
                count_sql = LIST_COUNT_SQL.format(search=search)
            elif len(params["agencies"]) == 1:
                count_sql = SHARE_COUNT_ONE_AGENCY_SQL
            else:
                count_sql = SHARE_COUNT_SQL
            cur.execute(count_sql, params)
            count = min(cur.fetchone()[0], selectors.LIST_COUNT_LIMIT)
            cur.execute(LIST_PAGE_SQL.format(search=search), params)
            ids = [row[0] for row in cur.fetchall()]
        return count, ids

    return run


def selector_list(user: Any, q: str) -> Callable[[int], tuple[int, list[int]]]:
    def run(_: int) -> tuple[int, list[int]]:
        user.__dict__.pop("_otagai_memberships", None)  # a fresh request loads them again
        page = selectors.case_list_page(user, page=1, per_page=PAGE_SIZE, q=q)
        cases = list(page.object_list)
        selectors.case_page_extras(cases)
        for c in cases:  # what the template reads
            _ = (c.life_area.name, c.small_area and c.small_area.name)
        return page.paginator.count, [c.pk for c in cases]

    return run


def view_get(client: Client, url: Callable[[int], str], **data: str) -> Callable[[int], None]:
    def run(i: int) -> None:
        response = client.get(url(i), data)
        assert response.status_code == 200, response.status_code

    return run


def selector_detail(user: Any, case_ids: list[int]) -> Callable[[int], None]:
    def run(i: int) -> None:
        user.__dict__.pop("_otagai_memberships", None)
        access = access_case(user, case_ids[i % len(case_ids)])
        list(selectors.case_members(access.case))
        list(selectors.chronology_for(access.case, access.tier))
        if access.tier >= Tier.SUPPORT:  # as the page shows them (casework.views.case_detail)
            selectors.need_category_names(access.case)

    return run


def sql_detail(user: Any, case_ids: list[int]) -> Callable[[int], None]:
    def run(i: int) -> None:
        with connection.cursor() as cur:
            params = {**sql_params(cur, user), "case": case_ids[i % len(case_ids)]}
            cur.execute(DETAIL_SQL[0], params)
            rows = cur.fetchall()
            caps = dict(zip(params["agencies"], params["caps"], strict=True))
            # Each share's agency and tier: the 8th and 7th columns from the end.
            params["tier"] = max(min(r[-7], caps[r[-8]]) for r in rows)
            for sql in DETAIL_SQL[1:]:
                cur.execute(sql, params)
                cur.fetchall()
            if params["tier"] >= Tier.SUPPORT:  # the need categories are support tier
                cur.execute(DETAIL_CATEGORIES_SQL, params)
                cur.fetchall()

    return run


def as_role(role: str, fn: Callable[[int], Any]) -> Callable[[int], Any]:
    """`fn` with the connection acting as `role` (SET ROLE on the raw connection: not counted
    as a query). Both sides of the RLS A/B pay the same two statements, and read the role
    again (`permissions.rls.restricted`) as a new connection would once."""

    def run(i: int) -> Any:
        connection.ensure_connection()
        raw = connection.connection
        raw.execute(f"SET ROLE {role}")
        rls.forget_role(connection)  # as a connection opened as `role` would read it
        try:
            return fn(i)
        finally:
            raw.execute("RESET ROLE")
            rls.forget_role(connection)

    return run


# The pool's options when the settings have none (DATABASE_POOL_MAX_SIZE=0), so that both
# ways of connecting can be measured from one run.
DEFAULT_POOL = connection.settings_dict["OPTIONS"].get("pool")
BENCH_POOL = DEFAULT_POOL or {"min_size": 2, "max_size": 4, "timeout": 10.0, "name": "bench"}
_checkout_cpu: dict[int, int] = {}


def _schedstat(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError):
        return None


def _use_pool(options: dict[str, Any] | None) -> None:
    """Connect the next time with `options` as the pool (None: no pool). Only between
    requests of the request thread, which then holds no connection."""
    if options:
        connection.settings_dict["OPTIONS"]["pool"] = options
    else:
        connection.settings_dict["OPTIONS"].pop("pool", None)


class PerRequest:
    """`fn` as production runs a request: the connection is taken at the request's first
    query, as `role` (DATABASE_SET_ROLE, permissions.rls.set_role_on_connect), and closed at
    its end (`close_old_connections`, what Django runs on request_finished; conn_max_age=0):
    without a pool a new PostgreSQL connection every time — fork, authentication, SET ROLE,
    empty caches and PL/pgSQL plans —, with one (`pooled`) a checkout and a return.

    These requests run in a thread of their own (Django's connections are per thread), so
    that the other scenarios keep their one connection, and the pool's connections serve
    only these requests, always as `role`, as in production.

    Database CPU: a new backend's whole life (it serves this request only; the postmaster's
    fork is not counted), or a pooled backend's CPU from checkout to return."""

    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def __init__(self, fn: Callable[[int], Any], role: str, *, pooled: bool) -> None:
        self.fn, self.role, self.pooled = fn, role, pooled
        self.db_cpu_ns: int | None = None
        self.queries = 0

    def prepare(self) -> None:
        _use_pool(BENCH_POOL if self.pooled else None)

    def __call__(self, i: int) -> None:
        self.thread.submit(self._request, i).result()
        _use_pool(DEFAULT_POOL)

    def _request(self, i: int) -> None:
        from django.db import close_old_connections

        count = [0]

        def counter(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            count[0] += 1
            return execute(sql, params, many, context)

        with override_settings(DATABASE_SET_ROLE=self.role), connection.execute_wrapper(counter):
            self.fn(i)
            pid = connection.connection.info.backend_pid
            end = _schedstat(pid)
            start = _checkout_cpu.get(pid, 0) if self.pooled else 0
            self.db_cpu_ns = None if end is None else end - start
            close_old_connections()
        self.queries = count[0]


def _record_checkout(sender: Any, connection: Any, **kwargs: Any) -> None:
    pid = connection.connection.info.backend_pid
    _checkout_cpu[pid] = _schedstat(pid) or 0


def rls_scenarios(user: Any, q_pages: dict[str, str], detail_ids: list[int]) -> dict[str, Any]:
    """Row-level security on vs off (docs/performance.md, "Row-level security"): the same
    views through the same middleware, as the owner (RLS off) and as the application role
    (RLS on); and the views without permissions.rls.ReaderMiddleware (before RLS)."""
    from permissions.rls import grant_app_role

    app_role = settings.DATABASE_APP_ROLE
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app_role])
        if cur.fetchone() is None:
            cur.execute(f"CREATE ROLE {app_role} LOGIN NOSUPERUSER NOBYPASSRLS")
        cur.execute("SELECT session_user")
        owner = cur.fetchone()[0]
    grant_app_role(connection, app_role)
    clients = {}
    plain = [m for m in settings.MIDDLEWARE if m != "permissions.rls.ReaderMiddleware"]
    for key, middleware in (("mw", settings.MIDDLEWARE), ("nomw", plain)):
        with override_settings(MIDDLEWARE=middleware):
            client = Client()
            client.force_login(user)
            complete_second_factor(client, user)
            client.get(reverse("casework:case-list"))  # builds its middleware chain now
        clients[key] = client
    list_url = reverse("casework:case-list")
    scenarios: dict[str, Callable[[int], Any]] = {}
    for page, q in q_pages.items():
        data = {"q": q} if q else {}
        scenarios[f"{page}_nomw"] = as_role(
            owner, view_get(clients["nomw"], lambda i: list_url, **data)
        )
        scenarios[f"{page}_rlsoff"] = as_role(
            owner, view_get(clients["mw"], lambda i: list_url, **data)
        )
        scenarios[f"{page}_rlson"] = as_role(
            app_role, view_get(clients["mw"], lambda i: list_url, **data)
        )
    urls = [reverse("casework:case-detail", args=[pk]) for pk in detail_ids]
    detail = view_get(clients["mw"], lambda i: urls[i % len(urls)])
    scenarios["detail_nomw"] = as_role(
        owner, view_get(clients["nomw"], lambda i: urls[i % len(urls)])
    )
    scenarios["detail_rlsoff"] = as_role(owner, detail)
    scenarios["detail_rlson"] = as_role(app_role, detail)
    # Production's connection handling under RLS (the *_rlson lines keep one connection).
    pages = {
        **{p: view_get(clients["mw"], lambda i: list_url, **({"q": q} if q else {}))
           for p, q in q_pages.items()},
        "detail": detail,
    }  # fmt: skip
    for page, fn in pages.items():
        scenarios[f"{page}_newconn"] = PerRequest(fn, app_role, pooled=False)
        scenarios[f"{page}_pooled"] = PerRequest(fn, app_role, pooled=True)
    return scenarios


def pick_users() -> dict[str, Any]:
    """The council coordinator, a user of the largest other agency, one of a small agency."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT agency_id, count(*) FROM permissions_share GROUP BY agency_id ORDER BY 2 DESC"
        )
        by_size = cur.fetchall()
    council = by_size[0][0]
    large = by_size[1][0]
    small = by_size[int(len(by_size) * 0.8)][0]  # the 80th percentile of agencies by size
    picked = {}
    for who, agency in (("council", council), ("large", large), ("small", small)):
        m = (
            Membership.objects.filter(agency_id=agency)
            .exclude(role=Membership.Role.RESIDENT)
            .order_by("pk")
            .first()
        ) or Membership.objects.filter(agency_id=agency).order_by("pk").first()
        picked[who] = m.user
    return picked


def run(reps: int, rls_only: bool = False) -> dict[str, Any]:
    users = pick_users()
    results: dict[str, Any] = {}
    list_url = reverse("casework:case-list")
    for who, user in users.items():
        client = Client()
        client.force_login(user)
        # Coordinators log in with a second factor, as in production (tests/twofactor.py).
        complete_second_factor(client, user)
        agency = Membership.objects.get(user=user).agency
        scenarios: dict[str, Callable[[int], Any]] = {}
        for page, q in {"list": "", **SEARCHES}.items():
            count, ids = selector_list(user, q)(0)
            # The hand SQL must return the same rows, or the ratio means nothing.
            assert (count, ids) == sql_list(user, q)(0), (who, page, "SQL differs")
            if page == "list":
                detail_ids = ids[:10]
                visible = visible_case_count(user)  # exact: the page counts up to a limit
                print(
                    f"\n{who}: {user.username} of agency #{agency.pk} ({agency.kind}); "
                    f"{visible:,} visible cases"
                )
                results[f"{who}_visible_cases"] = visible
            else:
                capped = (
                    " or more (the page counts up to that)"
                    if count >= selectors.LIST_COUNT_LIMIT
                    else ""
                )
                print(f"  “{q}” matches {count:,}{capped} of them")
                results[f"{page}_{who}_matches"] = count
            scenarios[page] = view_get(client, lambda i: list_url, **({"q": q} if q else {}))
            scenarios[f"{page}_selector"] = selector_list(user, q)
            scenarios[f"{page}_sql"] = sql_list(user, q)
        if rls_only:
            scenarios = rls_scenarios(user, {"list": "", **SEARCHES}, detail_ids)
            for name, r in measure(scenarios, reps).items():
                for key, value in r.items():
                    results[f"{name}_{who}_{key}"] = value
                print(_line(name, r))
            for page in ("list", *SEARCHES, "detail"):
                new, pooled = (results[f"{page}_{m}_{who}_p50_ms"] for m in ("newconn", "pooled"))
                print(
                    f"  {page:<16} a new connection per request → the pool: p50 {new:.1f} → "
                    f"{pooled:.1f} ms (−{new - pooled:.1f} ms)"
                )
            continue
        detail_urls = [reverse("casework:case-detail", args=[pk]) for pk in detail_ids]
        scenarios["detail"] = view_get(client, lambda i, urls=detail_urls: urls[i % len(urls)])
        scenarios["detail_selector"] = selector_detail(user, detail_ids)
        scenarios["detail_sql"] = sql_detail(user, detail_ids)
        for name, r in measure(scenarios, reps).items():
            for key, value in r.items():
                results[f"{name}_{who}_{key}"] = value
            print(_line(name, r))
        for page in ("list", *SEARCHES, "detail"):
            sql = results[f"{page}_sql_{who}_p50_ms"]
            results[f"{page}_{who}_selector_vs_sql"] = round(
                results[f"{page}_selector_{who}_p50_ms"] / sql, 2
            )
            results[f"{page}_{who}_view_vs_sql"] = round(results[f"{page}_{who}_p50_ms"] / sql, 2)
            print(
                f"  {page:<16} selector/SQL {results[f'{page}_{who}_selector_vs_sql']:.2f}×   "
                f"view/SQL {results[f'{page}_{who}_view_vs_sql']:.2f}×  (p50)"
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 cases: a smoke run")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per measurement")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the dataset")
    parser.add_argument(
        "--rls",
        action="store_true",
        help="row-level security on vs off: the views as the owner and as the app role",
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    from django.db.backends.signals import connection_created

    connection_created.connect(_record_checkout, dispatch_uid="bench_checkout_cpu")
    spec = QUICK if args.quick else FULL
    reps = args.reps or (20 if args.quick else 60)
    call_command("migrate", verbosity=0, interactive=False)
    if args.rebuild or not dataset_present(spec):
        print(f"building the dataset ({spec['cases']:,} cases)…")
        build_dataset(spec)
    counts = {
        "cases": Case.objects.count(),
        "agencies": Agency.objects.filter(is_active=True).count(),
        "users": User.objects.count(),
        "shares": Share.objects.count(),
        "active_shares": Share.objects.filter(Share.active_q()).count(),
        "household_members": HouseholdMember.objects.count(),
    }
    print("dataset: " + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items()))
    print(f"{reps} repetitions after 3 warm-ups; server time = in-process, Client GET")
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f} on {os.cpu_count()} CPUs")
    # Production serves static files through the manifest storage; the benchmark does not
    # measure static files, so the plain storage avoids needing `collectstatic`.
    storages = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # fmt: skip
    with override_settings(STORAGES=storages, DEBUG=False):
        results = run(reps, rls_only=args.rls)
    load_end = os.getloadavg()
    print(f"\nload average at end: {load_end[0]:.2f} on {os.cpu_count()} CPUs")
    if args.rls:
        print(json.dumps({"dataset": counts, "reps": reps, **results}, ensure_ascii=False))
        return
    # search2 (shorter than a trigram) is reported, not a stated target.
    targets = {"list": 100, "search": 100, "detail": 50}
    print("targets: p95 < 100 ms list and kana search, < 50 ms detail, selector ≤ 3× SQL")
    misses = []
    for who in ("council", "large", "small"):
        for page, limit in targets.items():
            if results[f"{page}_{who}_p95_ms"] >= limit:
                misses.append(f"{page}/{who} p95 {results[f'{page}_{who}_p95_ms']} ms")
            if results[f"{page}_{who}_selector_vs_sql"] > 3:
                misses.append(f"{page}/{who} {results[f'{page}_{who}_selector_vs_sql']}× SQL")
    print("all targets met" if not misses else "MISSED: " + "; ".join(misses))
    machine = {
        "cpus": os.cpu_count(),
        "loadavg_start": round(load_start[0], 2),
        "loadavg_end": round(load_end[0], 2),
    }
    summary = {"dataset": counts, "reps": reps, "machine": machine, "misses": misses}
    print(json.dumps({**summary, **results}, ensure_ascii=False))


if __name__ == "__main__":
    main()
