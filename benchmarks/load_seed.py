"""The data benchmarks/load.py drives, made through the ORM and the services.

Five agencies of one life area — the council (coordinators, who chair), a community general
support centre and a health centre (sensitive tier), a care-management office (support tier)
and the welfare commissioners (watch tier) — share the cases. Every conference has one case,
two open action items carried forward from an earlier meeting (for its "review of actions"),
a coordinator in the chair and otherwise non-coordinators, all of whom have acknowledged the
confidentiality statement; it is live. The other users browse: most are professionals or
commissioners, a tenth coordinators (who log in with a second factor, as in production).
Sessions are created in the database as a log-in would leave them (tests/twofactor.py).
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY

from casework.models import Case
from conferences import actions, services
from conferences.models import ActionItem, AgendaItem
from config.twofactor import REQUIRED_KEY, TOUCH_KEY
from permissions.access import access_case
from permissions.conferences import conference_access
from permissions.models import Agency, Area, Membership, Share, Tier
from permissions.policy import requires_two_factor
from tests.twofactor import confirmed_device

User = get_user_model()

# (key, name, kind, role, share tier); the order participants are taken in, so that even a
# three-person meeting has a sensitive, a support... and a watch-tier reader.
AGENCIES = {
    "council": ("社会福祉協議会", Agency.Kind.COUNCIL, Membership.Role.COORDINATOR, Tier.SENSITIVE),
    "houkatsu": ("地域包括支援センター", Agency.Kind.PROFESSIONAL, Membership.Role.PROFESSIONAL,
                 Tier.SENSITIVE),
    "minsei": ("民生委員協議会", Agency.Kind.RESIDENTS, Membership.Role.RESIDENT, Tier.WATCH),
    "caremgr": ("居宅介護支援事業所", Agency.Kind.PROFESSIONAL, Membership.Role.PROFESSIONAL,
                Tier.SUPPORT),
    "hoken": ("保健センター", Agency.Kind.PROFESSIONAL, Membership.Role.PROFESSIONAL,
              Tier.SENSITIVE),
}  # fmt: skip
SEATS = ["council", "houkatsu", "minsei", "caremgr", "hoken", "houkatsu", "caremgr", "minsei"]
SURNAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
GIVEN = ["一郎", "和子", "健", "美咲", "洋子", "正", "幸子", "博", "節子", "茂"]


@dataclass
class Seat:
    user_id: int
    cookie: str
    agency: str
    tier: int  # for the conference's case
    chair: bool = False


@dataclass
class ConferencePlan:
    pk: int
    case_id: int
    seats: list[Seat]
    items: list[int]  # agenda item ids (the chair sees all)
    case_item: int  # the discussion item of the case


@dataclass
class Browser:
    user_id: int
    cookie: str
    agency: str
    case_ids: list[int] = field(default_factory=list)


def session_cookie(user: Any) -> str:
    """A session as log-in (and, for coordinators, the second factor) leaves it."""
    s = SessionStore()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s[TOUCH_KEY] = int(time.time())
    required = requires_two_factor(user)
    s[REQUIRED_KEY] = required
    if required:
        s[DEVICE_ID_SESSION_KEY] = confirmed_device(user).persistent_id
    s.create()
    return s.session_key or ""


def _people(key: str, n: int, prefix: str, password: str) -> list[Any]:
    users = User.objects.bulk_create(
        [
            User(
                username=f"{prefix}-{key}-{i}",
                last_name=SURNAMES[i % len(SURNAMES)],
                first_name=GIVEN[(i // len(SURNAMES)) % len(GIVEN)],
                password=password,
            )
            for i in range(n)
        ]
    )
    return list(User.objects.filter(username__startswith=f"{prefix}-{key}-").order_by("pk"))[
        : len(users)
    ]


def seed(
    *, conferences: int, participants: int, browsers: int, background: int, seed: int = 9
) -> tuple[list[ConferencePlan], list[Browser]]:
    rng = random.Random(seed)
    password = make_password(uuid.uuid4().hex)
    area = Area.objects.create(name="富坂", order=0)
    agencies = {
        key: Agency.objects.create(name=name, kind=kind, area=area)
        for key, (name, kind, _role, _tier) in AGENCIES.items()
    }
    # Seats per agency across all conferences, then the browsers (a tenth coordinators).
    seats_needed = dict.fromkeys(AGENCIES, 0)
    for seat in SEATS[:participants]:
        seats_needed[seat] += conferences
    browser_keys = ["council" if i % 10 == 0 else SEATS[1 + i % 7] for i in range(browsers)]
    users: dict[str, list[Any]] = {}
    for key in AGENCIES:
        users[key] = _people(key, seats_needed[key] + browser_keys.count(key), "load", password)
        Membership.objects.bulk_create(
            [Membership(user=u, agency=agencies[key], role=AGENCIES[key][2]) for u in users[key]]
        )
    pools = {key: list(people) for key, people in users.items()}
    chairs = pools["council"][:conferences]

    # Cases: one per conference, and a background the browsers' lists are made of.
    n_cases = conferences + background
    cases = Case.objects.bulk_create(
        [
            Case(
                label=f"{SURNAMES[i % 10]}さん世帯 {i}",
                life_area=area,
                lead_coordinator=chairs[i % len(chairs)] if chairs else pools["council"][0],
                summary="長男が長年ひきこもっており、母の年金で生活している。",
                watch_notes="民生委員が月に一度訪問している。",
                health="通院を中断している。",
                watch_over=i % 3 == 0,
            )
            for i in range(n_cases)
        ]
    )
    shares = []
    for i, case in enumerate(cases):
        for key, (_name, _kind, _role, tier) in AGENCIES.items():
            # Every conference case is shared with every agency; the background with some.
            if key == "council" or i < conferences or rng.random() < 0.3:
                shares.append(
                    Share(
                        case=case,
                        agency=agencies[key],
                        tier=tier,
                        may_contribute=True,
                        coordinates=key == "council",
                        basis=Share.Basis.INTAKE
                        if key == "council"
                        else Share.Basis.SUPPORT_MEETING,
                    )
                )
    Share.objects.bulk_create(shares)
    shared_with: dict[str, list[int]] = {key: [] for key in AGENCIES}
    for s in shares:
        shared_with[next(k for k, a in agencies.items() if a.pk == s.agency_id)].append(s.case_id)

    today = timezone.localdate()
    plans = []
    for c in range(conferences):
        case = cases[c]
        people = [pools[key].pop() for key in SEATS[1:participants]]
        chair = chairs[c]
        access = access_case(chair, case.pk, "contribute")
        owners = [
            p
            for p, key in zip(people, SEATS[1:participants], strict=True)
            if AGENCIES[key][3] >= Tier.SUPPORT
        ] or [chair]
        for k in range(2):  # open items from an earlier meeting, reviewed in this one
            actions.action_create(
                actor=chair,
                access=access,
                title=f"前回の役割分担 {k + 1}",
                tier=Tier.SUPPORT,
                owner_user=owners[k % len(owners)],
                due_on=today + dt.timedelta(days=3 + k),
            )
        conference = services.conference_schedule(
            actor=chair,
            token=uuid.uuid4().hex,
            kind="support_meeting",
            title=f"支援会議 {c + 1}",
            starts_at=timezone.now() + dt.timedelta(hours=1),
            chair=chair,
            minute_taker=None,
            cases=[services.CaseOnAgenda(case)],
            agencies=[agencies["council"]],
            people=people,
            member_tier=Tier.SUPPORT,
        )
        everyone = [chair, *people]
        seats = []
        for user, key in zip(everyone, SEATS[:participants], strict=True):
            a = conference_access(user, conference)
            assert a is not None, "seeded participant has no access"
            services.conference_acknowledge(actor=user, access=a)
            seats.append(
                Seat(
                    user_id=user.pk,
                    cookie=session_cookie(user),
                    agency=key,
                    tier=a.tier_for(case.pk),
                    chair=user.pk == chair.pk,
                )
            )
        services.conference_start(actor=chair, access=conference_access(chair, conference))
        items = list(AgendaItem.objects.filter(conference=conference).values_list("pk", "kind"))
        plans.append(
            ConferencePlan(
                pk=conference.pk,
                case_id=case.pk,
                seats=seats,
                items=[pk for pk, _k in items],
                case_item=next(pk for pk, k in items if k == AgendaItem.Kind.DISCUSSION),
            )
        )

    browsers_out = []
    follow_ups = []
    for key in browser_keys:
        user = pools[key].pop()
        visible = shared_with[key]
        browsers_out.append(
            Browser(
                user_id=user.pk,
                cookie=session_cookie(user),
                agency=key,
                case_ids=rng.sample(visible, min(20, len(visible))),
            )
        )
        tier = min(AGENCIES[key][3], Tier.SUPPORT)
        for k in range(3):  # something on "my follow-ups"
            now = timezone.now()
            follow_ups.append(
                ActionItem(
                    conference=None,
                    case_id=rng.choice(visible),
                    tier=tier,
                    title=f"見守り訪問 {k + 1}",
                    owner_user=user,
                    due_on=today + dt.timedelta(days=rng.randint(-3, 20)),
                    author=chairs[0] if chairs else user,
                    agency=agencies["council"],
                    created_at=now,
                    updated_at=now,
                    updated_by=user,
                )
            )
    ActionItem.objects.bulk_create(follow_ups)
    return plans, browsers_out
