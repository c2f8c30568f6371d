"""The shared cast, extended for watch-over and disaster support.

The residents' group (民生委員協議会) is a designated supporter of the life area 富坂; the
cast's case has consented to the disaster-support list; two more cases in 富坂 have not
(or withdrew); one in 大塚 lies outside the residents' areas.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from casework.models import EvacuationPlan
from permissions.models import Share, Tier
from tests.conftest import Cast, make_cast
from tests.factories import AreaFactory, CaseFactory, MemberFactory, ShareFactory, UserFactory

CONSENTED_NEEDS = "同意済：階段の昇降に介助が必要"
UNCONSENTED_LABEL = "未同意さん世帯"
UNCONSENTED_NEEDS = "未同意：酸素吸入器を使用"
WITHDRAWN_LABEL = "撤回さん世帯"
OTHER_AREA_LABEL = "大塚さん世帯"
PLAN_DESTINATION = "第一避難所：礫川小学校"


@dataclass
class WatchCast:
    cast: Cast
    unconsented: Any
    withdrawn: Any
    other_area: Any
    other_life_area: Any
    other_small_area: Any
    admin: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cast, name)


def make_watch_cast() -> WatchCast:
    cast = make_cast()
    coordinator_membership = cast.coordinator.memberships.get()
    coordinator_membership.life_areas.add(cast.area)
    for user in (cast.coordinator, cast.professional, cast.resident, cast.outsider):
        user.email = f"{user.username}@example.jp"
        user.save(update_fields=["email"])
    admin = UserFactory(username="wardadmin", is_staff=True, email="admin@example.jp")
    cast.residents_agency.area = cast.area
    cast.residents_agency.save(update_fields=["area"])
    case = cast.case
    case.disaster_support = True
    case.disaster_needs = CONSENTED_NEEDS
    case.save()
    EvacuationPlan.objects.create(
        case=case,
        list_consent=EvacuationPlan.ListConsent.CONSENTED,
        consent_on=timezone.localdate() - dt.timedelta(days=30),
        supporters="民生委員 高橋",
        destination=PLAN_DESTINATION,
        updated_by=cast.coordinator,
    )

    def listed(label: str, needs: str, consent: str | None, life: Any, small: Any) -> Any:
        c = CaseFactory(
            label=label,
            life_area=life,
            small_area=small,
            lead_coordinator=cast.coordinator,
            disaster_support=True,
            disaster_needs=needs,
            address=f"{small.name} 1-2-3",
        )
        MemberFactory(case=c, name=f"{label[:2]} 花子")
        ShareFactory(
            case=c,
            agency=cast.council,
            tier=Tier.SENSITIVE,
            basis=Share.Basis.INTAKE,
            coordinates=True,
            may_contribute=True,
        )
        if consent:
            EvacuationPlan.objects.create(case=c, list_consent=consent, updated_by=cast.coordinator)
        return c

    unconsented = listed(UNCONSENTED_LABEL, UNCONSENTED_NEEDS, None, cast.area, cast.small_area)
    withdrawn = listed(
        WITHDRAWN_LABEL,
        "撤回：聴覚障害",
        EvacuationPlan.ListConsent.WITHDRAWN,
        cast.area,
        cast.small_area,
    )
    otsuka = AreaFactory(name="大塚")
    otowa = AreaFactory(name="音羽町会", parent=otsuka)
    other = listed(
        OTHER_AREA_LABEL, "大塚：車いす", EvacuationPlan.ListConsent.CONSENTED, otsuka, otowa
    )
    return WatchCast(
        cast=cast,
        unconsented=unconsented,
        withdrawn=withdrawn,
        other_area=other,
        other_life_area=otsuka,
        other_small_area=otowa,
        admin=admin,
    )


@pytest.fixture
def wcast(db) -> WatchCast:
    return make_watch_cast()


def declare(wcast: WatchCast, *areas: Any, reason: str = "震度6弱の地震") -> Any:
    from permissions.emergency import declaration_start

    return declaration_start(
        actor=wcast.coordinator, areas=list(areas) or [wcast.area], reason=reason
    )
