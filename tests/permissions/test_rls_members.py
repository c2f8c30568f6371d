"""The conference member test of row-level security (permissions/0014_rls_live_member_check).

`otagai_rls_conference_ids()` gives, once per statement, the conferences the reader is a
member of; `otagai_rls_case_visible(case)` asks the case table's own policy as the caller.
They must let through exactly what `conferences_visible_to` and `cases_visible_to` do, for
every way in and out: chair, minute-taker, creator, personal and agency invitations, a
coordinating share (active, expired, not coordinating), an ex-member, an inactive agency, no
reader.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.utils import ProgrammingError
from django.utils import timezone

from conferences.models import Conference, ConferenceCase, Invitation, Note
from permissions import policy, rls
from permissions.conferences import conferences_visible_to
from permissions.models import Agency, Membership, Share, Tier
from tests.factories import AgencyFactory, CaseFactory, MembershipFactory, ShareFactory, UserFactory
from tests.permissions.test_rls import as_app_role

pytestmark = [pytest.mark.postgres]


def _conference(title: str, chair: Any, **fields: Any) -> Conference:
    return Conference.objects.create(
        kind=Conference.Kind.SUPPORT_MEETING,
        title=title,
        starts_at=timezone.now() + dt.timedelta(days=1),
        chair=chair,
        created_by=fields.pop("created_by", chair),
        confidentiality_statement="守秘義務",
        schedule_token=uuid.uuid4().hex,
        **fields,
    )


def _member_ids(user: Any) -> set[int]:
    """What the database says, as the application role with `user` as the reader."""
    with as_app_role(), rls.reader_context(user), connection.cursor() as cursor:
        cursor.execute("SELECT otagai_rls_conference_ids()")
        return set(cursor.fetchone()[0])


def _by_policy(user: Any) -> set[int]:
    user._otagai_memberships = None  # memberships changed during the test
    return set(conferences_visible_to(user).values_list("pk", flat=True))


def _case_visible(user: Any, case_id: int) -> bool:
    with as_app_role(), rls.reader_context(user), connection.cursor() as cursor:
        cursor.execute("SELECT otagai_rls_case_visible(%s)", [case_id])
        return cursor.fetchone()[0]


def _notes(user: Any) -> set[int]:
    with as_app_role(), rls.reader_context(user):
        return set(Note.objects.values_list("pk", flat=True))


def test_conference_ids_mirror_conferences_visible_to_for_every_path(cast, app_role):
    coordinator, professional, resident, outsider = (
        cast.coordinator,
        cast.professional,
        cast.resident,
        cast.outsider,
    )
    taker, creator, named = UserFactory(), UserFactory(), UserFactory()
    MembershipFactory(user=named, agency=cast.outsider_agency, role=Membership.Role.PROFESSIONAL)
    chaired = _conference("議長", outsider)
    minuted = _conference("記録", outsider, minute_taker=taker)
    created = _conference("作成", outsider, created_by=creator)
    by_name = _conference("個人招待", outsider)
    Invitation.objects.create(conference=by_name, agency=cast.outsider_agency, user=named)
    by_agency = _conference("機関招待", outsider)
    Invitation.objects.create(conference=by_agency, agency=cast.professional_agency)
    # The council coordinates a case on the agenda: its coordinators are members.
    coordinated_case = CaseFactory(label="調整", life_area=cast.area)
    ShareFactory(case=coordinated_case, agency=cast.council, tier=Tier.SENSITIVE, coordinates=True)
    coordinated = _conference("調整機関", outsider)
    ConferenceCase.objects.create(conference=coordinated, case=coordinated_case)
    # Not through an expired coordinating share, nor a share that does not coordinate.
    expired_case = CaseFactory(label="期限切れ", life_area=cast.area)
    ShareFactory(case=expired_case, agency=cast.council, tier=Tier.SENSITIVE, coordinates=True)
    Share.objects.filter(case=expired_case).update(expires_at=timezone.now())
    expired = _conference("期限切れ調整", outsider)
    ConferenceCase.objects.create(conference=expired, case=expired_case)
    plain_case = CaseFactory(label="参加のみ", life_area=cast.area)
    ShareFactory(case=plain_case, agency=cast.council, tier=Tier.SUPPORT, coordinates=False)
    plain = _conference("調整なし", outsider)
    ConferenceCase.objects.create(conference=plain, case=plain_case)

    users = [coordinator, professional, resident, outsider, taker, creator, named]
    for user in users:
        assert _member_ids(user) == _by_policy(user), user.username
    assert _member_ids(taker) == {minuted.pk}
    assert _member_ids(creator) == {created.pk}
    assert _member_ids(named) == {by_name.pk}
    assert {chaired.pk, minuted.pk, created.pk, by_name.pk} <= _member_ids(outsider)
    assert by_agency.pk in _member_ids(professional)
    assert coordinated.pk in _member_ids(coordinator)
    assert not {expired.pk, plain.pk, by_agency.pk} & _member_ids(coordinator)
    assert not {by_name.pk, by_agency.pk, coordinated.pk} & _member_ids(resident)

    # Ex-members: the invitation withdrawn, the membership ended, the agency deactivated.
    Invitation.objects.filter(conference=by_name).delete()
    Membership.objects.filter(user=coordinator, agency=cast.council).update(
        role=Membership.Role.PROFESSIONAL
    )
    Agency.objects.filter(pk=cast.professional_agency.pk).update(is_active=False)
    for user in users:
        assert _member_ids(user) == _by_policy(user), user.username
    assert by_name.pk not in _member_ids(named)
    assert coordinated.pk not in _member_ids(coordinator)
    assert by_agency.pk not in _member_ids(professional)


def test_no_reader_is_a_member_of_nothing_and_reads_no_case(cast, app_role):
    _conference("議長", cast.coordinator)
    with as_app_role(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('otagai.user_id', '', true)")
        cursor.execute(
            "SELECT otagai_rls_conference_ids(), otagai_rls_case_visible(%s)", [cast.case.pk]
        )
        assert cursor.fetchone() == ([], False)


def test_case_visible_follows_the_case_policy(cast, app_role):
    other = AgencyFactory(name="東部包括", kind=Agency.Kind.PROFESSIONAL)
    reader = UserFactory()
    MembershipFactory(user=reader, agency=other, role=Membership.Role.PROFESSIONAL)
    for user in (cast.coordinator, cast.professional, cast.resident, cast.outsider, reader):
        user._otagai_memberships = None
        expected = policy.cases_visible_to(user).filter(pk=cast.case.pk).exists()
        assert _case_visible(user, cast.case.pk) is expected, user.username
    assert _case_visible(cast.coordinator, cast.case.pk)
    assert not _case_visible(cast.outsider, cast.case.pk)
    assert not _case_visible(cast.coordinator, 0)  # no such case


def test_live_records_follow_membership_and_the_case(cast, app_role):
    """A note is readable by the conference's members, and by readers of its case who are
    not members; an ex-member with no share of the case loses it; a non-member cannot write
    one."""
    meeting = _conference("会議", cast.coordinator)
    Invitation.objects.create(conference=meeting, agency=cast.outsider_agency)
    note = Note.objects.create(
        conference=meeting, case=cast.case, text="支援メモ", author=cast.coordinator
    )
    loose = Note.objects.create(conference=meeting, text="その他", author=cast.coordinator)
    assert _notes(cast.outsider) == {note.pk, loose.pk}  # invited: a member
    # The professional's agency reads the case (a share) but is not invited.
    assert _notes(cast.professional) == {note.pk}
    Invitation.objects.filter(conference=meeting).delete()
    assert _notes(cast.outsider) == set()  # an ex-member who does not read the case
    Share.objects.filter(case=cast.case, agency=cast.professional_agency).update(
        expires_at=timezone.now()
    )
    assert _notes(cast.professional) == set()
    with (
        as_app_role(),
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction.atomic(),
        rls.reader_context(cast.outsider),
    ):
        Note.objects.create(conference=meeting, text="書けない", author=cast.outsider)
