"""permissions.conferences: the tier each participant reads, and the cheap per-operation
re-check agreeing with the full one."""

from __future__ import annotations

import pytest

from permissions.conferences import conference_access, conferences_visible_to, refresh_access
from permissions.models import Share, Tier
from tests.conferences.conftest import make_live

pytestmark = pytest.mark.django_db


def test_tiers_per_participant(cast):
    conference = make_live(cast)
    expected = {"coordinator": 3, "professional": 2, "resident": 1}
    for who, tier in expected.items():
        access = conference_access(getattr(cast, who), conference)
        assert access.tier_for(cast.case.pk) == tier
    assert conference_access(cast.outsider, conference) is None
    assert not conference_access(cast.resident, conference).may_write(cast.case.pk)
    assert conference_access(cast.professional, conference).may_write(cast.case.pk)


@pytest.mark.parametrize("who", ["coordinator", "professional", "resident"])
def test_refresh_agrees_with_the_full_check(cast, who):
    conference = make_live(cast)
    user = getattr(cast, who)
    full = conference_access(user, conference)
    fresh = refresh_access(conference_access(user, conference))
    for attr in ("tiers", "contributes", "is_chair", "acknowledged", "is_invited", "is_manager"):
        assert getattr(full, attr) == getattr(fresh, attr), attr


def test_refresh_sees_a_revoked_share_and_invitation(cast):
    conference = make_live(cast)
    access = conference_access(cast.professional, conference)
    Share.objects.filter(case=cast.case, agency=cast.professional_agency).update(tier=Tier.WATCH)
    assert refresh_access(access).tier_for(cast.case.pk) == Tier.WATCH
    resident = conference_access(cast.resident, conference)
    conference.invitations.filter(agency=cast.residents_agency).delete()
    assert refresh_access(resident) is None


def test_visible_conferences_are_filtered_in_the_database(cast, django_assert_max_num_queries):
    conference = make_live(cast)
    with django_assert_max_num_queries(2):
        assert list(conferences_visible_to(cast.resident)) == [conference]
    assert list(conferences_visible_to(cast.outsider)) == []
