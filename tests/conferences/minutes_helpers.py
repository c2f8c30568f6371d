"""A closed conference with a record on every tier, for the minutes tests."""

from __future__ import annotations

import datetime as dt

from conferences import services
from conferences.minutes import services as minutes_services
from conferences.models import ActionItem, Conference, Decision, Note
from permissions.conferences import conference_access
from permissions.models import Tier
from tests.conferences.conftest import make_live

WATCH_NOTE = "見守り：火曜と金曜に民生委員が声かけする"
SUPPORT_NOTE = "支援：長男の就労について髙橋さんと相談する"
SENSITIVE_NOTE = "要配慮：服薬の中断が続いている"
SUPPORT_DECISION = "決定：地域包括支援センターが訪問を継続する"
WATCH_ACTION = "山﨑さん宅の郵便受けを確認する"
SUPPORT_ACTION = "長男の就労相談の予約を取る"


def record(conference: Conference, cast, model, text: str, tier: int, **kw):  # type: ignore[no-untyped-def]
    return model.objects.create(
        conference=conference,
        case=kw.pop("case", cast.case),
        tier=tier,
        author=cast.coordinator,
        agency=cast.council,
        text=text,
        **kw,
    )


def closed_conference(cast) -> Conference:  # type: ignore[no-untyped-def]
    conference = make_live(cast)
    record(conference, cast, Note, WATCH_NOTE, Tier.WATCH)
    record(conference, cast, Note, SUPPORT_NOTE, Tier.SUPPORT)
    record(conference, cast, Note, SENSITIVE_NOTE, Tier.SENSITIVE)
    record(conference, cast, Decision, SUPPORT_DECISION, Tier.SUPPORT)
    for title, tier, agency in (
        (WATCH_ACTION, Tier.WATCH, cast.residents_agency),
        (SUPPORT_ACTION, Tier.SUPPORT, cast.professional_agency),
    ):
        ActionItem.objects.create(
            conference=conference,
            case=cast.case,
            tier=tier,
            author=cast.coordinator,
            agency=cast.council,
            title=title,
            owner_agency=agency,
            due_on=dt.date(2025, 12, 5),
        )
    services.conference_close(
        actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
    )
    conference.refresh_from_db()
    return conference


def approve(cast, conference: Conference, reason: str = ""):  # type: ignore[no-untyped-def]
    access = conference_access(cast.coordinator, conference)
    return minutes_services.minutes_approve(actor=cast.coordinator, access=access, reason=reason)
