"""Demo conferences: one scheduled, one live, one closed, on the demo cases, with notes of
every tier, decisions and action items. Idempotent (fixed scheduling tokens)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from casework.models import Case
from conferences import live, services
from conferences.models import Conference, Feedback, Note, PrepAsk
from permissions.conferences import conference_access
from permissions.models import Agency, Tier

AGENCIES = [
    "文京区社会福祉協議会",
    "ケアプランセンターこいしかわ",
    "富坂地域包括支援センター",
    "富坂地区民生委員・児童委員協議会",
]

NOTES = [
    (Tier.WATCH, "見守り：新聞受けと夜の灯りを民生委員が週2回確認する。"),
    (Tier.SUPPORT, "支援：長男は日中ほぼ外出せず、母の年金で生活している。"),
    (Tier.SENSITIVE, "要配慮：母に軽度の認知症の診断。長男に通院歴あり（詳細は保健師）。"),
]


def _access(user: Any, conference: Conference):  # type: ignore[no-untyped-def]
    access = conference_access(user, conference)
    assert access is not None  # noqa: S101 - demo users are invited
    return access


def _op(user: Any, conference: Conference, op_id: str, op: str, **args: Any) -> None:
    live.live_apply(
        actor=user, access=_access(user, conference), client_op_id=op_id, op=op, args=args
    )


@transaction.atomic
def seed_conferences() -> dict[str, int]:
    users = {u.username: u for u in get_user_model().objects.all()}
    coordinator = users.get("coordinator")
    if coordinator is None:
        return {"conferences": 0}
    agencies = list(Agency.objects.filter(name__in=AGENCIES))
    cases = list(Case.objects.filter(lead_coordinator=coordinator).order_by("pk")[:3])
    if len(cases) < 3:
        return {"conferences": 0}
    now = timezone.now()
    plans = [
        ("demo-scheduled", cases[0], now + dt.timedelta(days=3), "scheduled"),
        ("demo-live", cases[1], now + dt.timedelta(minutes=5), "live"),
        ("demo-closed", cases[2], now + dt.timedelta(minutes=5), "closed"),
    ]
    for token, case, starts_at, target in plans:
        conference = Conference.objects.filter(schedule_token=token).first()
        if conference is None:
            conference = services.conference_schedule(
                actor=coordinator,
                token=token,
                kind=Conference.Kind.SUPPORT_MEETING,
                title=f"{case.label} 支援会議",
                starts_at=starts_at,
                place="文京区社会福祉協議会 会議室",
                chair=coordinator,
                minute_taker=users.get("caremanager"),
                cases=[services.CaseOnAgenda(case)],
                agencies=agencies,
                member_tier=Tier.SUPPORT,
            )
            _populate(conference, users, target)
    demo = Conference.objects.filter(schedule_token__startswith="demo-")  # noqa: S106
    return {"conferences": demo.count(), "follow_ups": _seed_followups(users, cases)}


# Follow-ups in every state, some overdue: (title, tier, owner username, due in days, status,
# reason). Past due dates are set after creation (creation refuses them, as it should).
FOLLOWUPS: list[tuple[str, int, str, int, str, str]] = [
    ("民生委員と一緒に自宅を訪問する", Tier.WATCH, "commissioner", -3, "open", ""),
    ("長男の就労相談の予約をとる", Tier.SUPPORT, "caremanager", -16, "in_progress", ""),
    ("地域包括に状況を共有する", Tier.SUPPORT, "coordinator", 2, "open", ""),
    ("配食サービスの申込を手伝う", Tier.SUPPORT, "caremanager", 10, "in_progress", ""),
    ("夜間の灯りを確認する", Tier.WATCH, "commissioner", 1, "done", ""),
    ("町会の見守りに加える", Tier.WATCH, "coordinator", 5, "cancelled", "circumstances_changed"),
    ("家計相談につなぐ", Tier.SUPPORT, "coordinator", 7, "not_done", "not_undertaken"),
    ("親族に連絡をとる", Tier.SUPPORT, "coordinator", 7, "not_done", "other"),
]


def _seed_followups(users: dict[str, Any], cases: list[Case]) -> int:
    from conferences import actions
    from conferences.models import ActionItem
    from permissions.followups import owner_problem
    from permissions.policy import case_access

    coordinator = users["coordinator"]
    titles = [f[0] for f in FOLLOWUPS]
    if ActionItem.objects.filter(title__in=titles).exists():
        return ActionItem.objects.filter(title__in=titles).count()
    for n, (title, tier, owner_name, due_in, status, reason) in enumerate(FOLLOWUPS):
        case = cases[n % len(cases)]
        access = case_access(coordinator, case)
        if access is None:
            continue
        owner = users.get(owner_name)
        if owner is None or owner_problem(case, tier, owner, None) is not None:
            owner = coordinator
        item = actions.action_create(
            actor=coordinator,
            access=access,
            title=title,
            tier=tier,
            owner_user=owner,
            due_on=timezone.localdate() + dt.timedelta(days=max(due_in, 0)),
        )
        if due_in < 0:
            ActionItem.objects.filter(pk=item.pk).update(
                due_on=timezone.localdate() + dt.timedelta(days=due_in)
            )
        if status != "open":
            actions.action_set_status(
                actor=owner,
                action=item,
                status=status,
                base_version=item.version,
                reason=reason,
                reason_text="本人が入院したため" if reason == "other" else "",
                note="訪問して確認した。" if status == "done" else "",
            )
    return ActionItem.objects.filter(title__in=titles).count()


def _populate(conference: Conference, users: dict[str, Any], target: str) -> None:
    coordinator = users["coordinator"]
    link = conference.items.select_related("prep", "case").first()
    assert link is not None  # noqa: S101
    services.prep_sheet_update(
        actor=coordinator,
        access=_access(coordinator, conference),
        sheet=link.prep,
        household="80代の母と50代の長男の二人暮らし。近隣との交流は少ない。",
        current_support="ケアマネが月1回訪問。民生委員が週2回見守り。",
        agencies_to_involve="地域包括支援センター、保健サービスセンター",
    )
    houkatsu = Agency.objects.filter(name="富坂地域包括支援センター").first()
    if houkatsu is not None:
        PrepAsk.objects.create(
            sheet=link.prep,
            agency=houkatsu,
            question="最近の訪問で把握した母の様子を共有してください。",
            asked_by=coordinator,
        )
    if target == "scheduled":
        return
    people = [
        u for u in (users.get(n) for n in ("coordinator", "caremanager", "commissioner")) if u
    ]
    for user in people:
        services.conference_acknowledge(actor=user, access=_access(user, conference))
        services.participant_joined(access=_access(user, conference))
    _op(coordinator, conference, f"demo-{conference.pk}-start", "conference.start")
    conference.refresh_from_db()
    items = list(conference.agenda.filter(case__isnull=False))
    for n, (tier, text) in enumerate(NOTES):
        _op(
            coordinator,
            conference,
            f"demo-{conference.pk}-n{n}",
            "note.add",
            item=items[0].pk,
            text=text,
            tier=int(tier),
        )
    _op(
        coordinator,
        conference,
        f"demo-{conference.pk}-d",
        "decision.add",
        item=items[3].pk,
        text="地域包括が母の介護保険申請を支援し、長男には生活福祉課の相談を案内する。",
        tier=int(Tier.SUPPORT),
    )
    cm = users.get("caremanager")
    _op(
        coordinator,
        conference,
        f"demo-{conference.pk}-a1",
        "action.add",
        item=items[4].pk,
        title="介護保険の申請書類を準備する",
        owner_user=cm.pk if cm else None,
        owner_agency=houkatsu.pk if houkatsu else None,
        due_on=(timezone.localdate() + dt.timedelta(days=14)).isoformat(),
        tier=int(Tier.SUPPORT),
    )
    minsei = users.get("commissioner")
    if minsei is not None:
        _op(
            coordinator,
            conference,
            f"demo-{conference.pk}-a2",
            "action.add",
            item=items[4].pk,
            title="週2回の声かけを続ける",
            owner_user=minsei.pk,
            due_on=(timezone.localdate() + dt.timedelta(days=30)).isoformat(),
            tier=int(Tier.WATCH),
        )
    if target == "closed":
        _op(coordinator, conference, f"demo-{conference.pk}-close", "conference.close")
        past = timezone.now() - dt.timedelta(days=7)
        Conference.objects.filter(pk=conference.pk).update(
            starts_at=past, started_at=past, closed_at=past + dt.timedelta(hours=1)
        )
        for user, useful in ((coordinator, "yes"), (cm, "partly")):
            if user is not None:
                Feedback.objects.get_or_create(
                    conference=conference,
                    user=user,
                    defaults={
                        "useful": useful,
                        "role_clear": "yes",
                        "comment": "役割が明確になった。",
                    },
                )
    else:
        Conference.objects.filter(pk=conference.pk).update(starts_at=timezone.now())
    assert Note.objects.filter(conference=conference).count() == len(NOTES)  # noqa: S101
