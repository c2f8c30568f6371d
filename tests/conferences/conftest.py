"""A conference on the shared cast's case: the coordinator chairs; the professional's agency
(support tier, may contribute) and the residents' group (watch tier, read-only) attend."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from conferences import services
from conferences.models import Conference
from permissions.conferences import conference_access
from permissions.models import Tier


def schedule(cast, **overrides) -> Conference:  # type: ignore[no-untyped-def]
    kwargs = {
        "actor": cast.coordinator,
        "token": uuid.uuid4().hex,
        "kind": Conference.Kind.SUPPORT_MEETING,
        "title": "山﨑さん世帯 支援会議",
        "starts_at": timezone.now() + dt.timedelta(days=1),
        "place": "社協 会議室A",
        "chair": cast.coordinator,
        "minute_taker": cast.professional,
        "cases": [services.CaseOnAgenda(case=cast.case)],
        "agencies": [cast.council, cast.professional_agency, cast.residents_agency],
        "member_tier": Tier.WATCH,
    }
    kwargs.update(overrides)
    return services.conference_schedule(**kwargs)


def acknowledge(conference: Conference, *users) -> None:  # type: ignore[no-untyped-def]
    for user in users:
        services.conference_acknowledge(actor=user, access=conference_access(user, conference))


def make_live(cast) -> Conference:  # type: ignore[no-untyped-def]
    conference = schedule(cast)
    acknowledge(conference, cast.coordinator, cast.professional, cast.resident)
    services.conference_start(
        actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
    )
    conference.refresh_from_db()
    return conference


@pytest.fixture(autouse=True)
def _fresh_channel_layer():  # type: ignore[no-untyped-def]
    """A channel layer per test: channels-redis binds its locks and pools to the event loop
    that first used them, and every async test has its own loop."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def conference(cast) -> Conference:
    return make_live(cast)
