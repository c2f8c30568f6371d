"""The rules of case conferences: who may see, join, write in and chair one, and which tier
each participant reads for each case on its agenda.

A participant's tier for a case is exactly their case tier (`policy.case_access`: their
agency's active share, capped by their role). Everything sent to a participant — page, frame,
replay — is filtered with `ConferenceAccess.reads`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from permissions.models import Membership, Share, Tier
from permissions.policy import (
    WRITER_ROLES,
    _memberships,
    agency_caps,
    agency_ids,
    case_access,
    is_coordinator,
)
from permissions.rls import reader_context

if TYPE_CHECKING:
    from casework.models import Case
    from conferences.models import Conference, PrepAsk

# Actions on a conference, for access_conference.
CONFERENCE_ACTIONS = {
    "view",  # see that it exists, its time, place, agenda titles of cases one may see
    "join",  # acknowledge confidentiality and open the live page
    "write",  # any live write (notes, decisions, action items) on at least one item
    "chair",  # start, close, set the current item, reorder the agenda
    "manage",  # change scheduling, prepare, move to 重層的支援会議, see feedback results
    "feedback",  # leave feedback (those who attended, once the meeting is closed)
}


@dataclass
class ConferenceAccess:
    conference: Conference
    user: Any
    agency_id: int | None = None
    is_invited: bool = False
    is_chair: bool = False
    is_minute_taker: bool = False
    is_manager: bool = False
    acknowledged: bool = False
    attended: bool = False
    # case id -> tier read (0: the case does not exist for this reader) / may contribute
    tiers: dict[int, int] = field(default_factory=dict)
    contributes: dict[int, bool] = field(default_factory=dict)
    lead_of: set[int] = field(default_factory=set)

    def tier_for(self, case_id: int | None) -> int:
        """Tier read for a case; other business (no case) is read at the watch tier."""
        if case_id is None:
            return Tier.WATCH
        return self.tiers.get(case_id, 0)

    def reads(self, case_id: int | None, tier: int, below_tier: int | None = None) -> bool:
        """May this reader receive something of `tier` about `case_id`?

        `below_tier` marks a removal notice for readers who held the old tier but not the new
        one; those who still read the record get the update instead, others get nothing."""
        mine = self.tier_for(case_id)
        if below_tier is not None:
            return tier <= mine < below_tier
        return mine >= max(tier, Tier.WATCH)

    def may_write(self, case_id: int | None) -> bool:
        if not self.conference.is_open_for_edits:
            return False
        if case_id is None:
            return self.is_chair or self.is_minute_taker or any(self.contributes.values())
        return self.contributes.get(case_id, False)

    @property
    def readable_case_ids(self) -> list[int]:
        return [cid for cid, t in self.tiers.items() if t >= Tier.WATCH]

    def allows(self, action: str) -> bool:
        if action in {"view", "join"}:
            return True
        if action == "write":
            return self.acknowledged and (
                self.may_write(None) or any(self.may_write(c) for c in self.tiers)
            )
        if action == "chair":
            return self.is_chair
        if action == "manage":
            return self.is_manager
        if action == "feedback":
            return self.attended
        raise ValueError(f"unknown action {action!r}")

    def read_only_reason(self) -> str | None:
        """Why this reader may write nothing on the live page now. The meeting's state comes
        first, whatever their agency's share allows: "closed", "not_started" (live writes wait
        for the start, `conferences.live.checks.live`); then "read_only" (their agency reads
        the meeting but does not write). None when they may write."""
        if self.conference.is_closed:
            return "closed"
        if not self.conference.is_live:
            return "not_started"
        if self.allows("write"):
            return None
        return "read_only"

    @property
    def may_acknowledge(self) -> bool:
        """The confidentiality statement is acknowledged before or during the meeting, never
        after it: an acknowledgement counts as attendance, and would open the record of a
        meeting the reader took no part in."""
        return self.conference.is_open_for_edits

    def may_edit_prep(self, case_id: int) -> bool:
        # 準備シート: the case's lead coordinator, before the meeting is closed.
        return case_id in self.lead_of and self.conference.is_open_for_edits

    def may_read_ask(self, ask: PrepAsk, case_id: int) -> bool:
        if self.tier_for(case_id) < ask.tier:
            return False
        return case_id in self.lead_of or self.is_manager or ask.agency_id in agency_ids(self.user)

    def may_answer_ask(self, ask: PrepAsk, case_id: int) -> bool:
        if not self.conference.is_open_for_edits or self.tier_for(case_id) < ask.tier:
            return False
        return any(
            m.agency_id == ask.agency_id and m.role in WRITER_ROLES for m in _memberships(self.user)
        )


def conferences_visible_to(user: Any) -> QuerySet[Conference]:
    """Conferences the user is a member of, filtered in the database."""
    from conferences.models import Conference, ConferenceCase

    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Conference.objects.none()
    agencies = agency_ids(user)
    coordinator_agencies = [
        m.agency_id for m in _memberships(user) if m.role == Membership.Role.COORDINATOR
    ]
    coordinated = ConferenceCase.objects.filter(
        conference=OuterRef("pk"),
        case__shares__in=Share.objects.filter(
            Share.active_q(), coordinates=True, agency_id__in=coordinator_agencies
        ),
    )
    invited = Q(invitations__user=user) | Q(
        invitations__user__isnull=True, invitations__agency_id__in=agencies
    )
    member = (
        Q(chair=user) | Q(minute_taker=user) | Q(created_by=user) | invited | Exists(coordinated)
    )
    ids = Conference.objects.filter(member).values("pk")
    return Conference.objects.filter(pk__in=ids)


def conference_access(user: Any, conference: Conference) -> ConferenceAccess | None:
    """The user's access to `conference`, or None when it must not exist for them."""
    from conferences.models import Participant

    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    memberships = _memberships(user)
    my_agencies = {m.agency_id for m in memberships}
    invitations = list(conference.invitations.all())
    personal = next((i for i in invitations if i.user_id == user.pk), None)
    invited_agencies = [
        i.agency_id for i in invitations if i.user_id is None and i.agency_id in my_agencies
    ]
    access = ConferenceAccess(
        conference=conference,
        user=user,
        is_invited=bool(personal or invited_agencies),
        is_chair=conference.chair_id == user.pk,
        is_minute_taker=conference.minute_taker_id == user.pk,
    )
    if personal:
        access.agency_id = personal.agency_id
    elif invited_agencies:
        access.agency_id = invited_agencies[0]
    elif memberships:
        access.agency_id = memberships[0].agency_id
    for link in conference.items.select_related("case"):
        case = link.case
        ca = case_access(user, case)
        access.tiers[case.pk] = ca.tier if ca else 0
        access.contributes[case.pk] = bool(ca and ca.allows("contribute"))
        if ca and ca.coordinates and is_coordinator(user):
            access.is_manager = True
        if case.lead_coordinator_id == user.pk and ca is not None:
            access.lead_of.add(case.pk)
    if conference.created_by_id == user.pk:
        access.is_manager = True
    member = access.is_invited or access.is_chair or access.is_minute_taker or access.is_manager
    if not member:
        return None
    p = Participant.objects.filter(conference=conference, user=user).first()
    if p is not None:
        access.acknowledged = p.acknowledged_at is not None
        access.attended = p.joined_at is not None or p.acknowledged_at is not None
    return access


def refresh_access(access: ConferenceAccess) -> ConferenceAccess | None:
    """`access` read again (see `refresh_accesses`); None when the meeting no longer exists
    for its reader."""
    return refresh_accesses([access])[0]


def refresh_accesses(accesses: Sequence[ConferenceAccess]) -> list[ConferenceAccess | None]:
    """Re-check live participants of one conference, in five queries however many they are:
    the conference, their memberships (read afresh: a role may have changed), its invitations,
    its acknowledgements, and the active shares of its cases for their agencies.

    Same rules as `conference_access` (tier = share tier capped by role; contribute = the share
    allows it and the role writes); a person-level guardian right only matters for export,
    which no live operation does. Returns new objects (the given ones are left as they are),
    None for a reader the meeting no longer exists for. The agenda's cases do not change while
    the meeting is live, so the cases are those of the given accesses."""
    from conferences.models import Conference, Invitation, Participant

    if not accesses:
        return []
    conference_id = accesses[0].conference.pk
    if any(a.conference.pk != conference_id for a in accesses):
        raise ValueError("refresh_accesses takes the readers of one conference")
    conference = Conference.objects.filter(pk=conference_id).first()
    if conference is None:
        return [None for _ in accesses]
    users = {a.user.pk: a.user for a in accesses if getattr(a.user, "is_active", False)}
    memberships: dict[int, list[Membership]] = {pk: [] for pk in users}
    for m in Membership.objects.filter(
        user_id__in=list(users), agency__is_active=True
    ).select_related("agency"):
        memberships[m.user_id].append(m)
    for pk, user in users.items():
        user._otagai_memberships = memberships[pk]  # the cache `_memberships` reads
    invitations = list(
        Invitation.objects.filter(conference_id=conference_id).values_list("user_id", "agency_id")
    )
    acknowledged = set(
        Participant.objects.filter(
            conference_id=conference_id, user_id__in=list(users), acknowledged_at__isnull=False
        ).values_list("user_id", flat=True)
    )
    cases = {case_id for a in accesses for case_id in a.tiers}
    shares = _active_shares(cases, users, memberships)
    return [
        _refreshed(a, conference, memberships.get(a.user.pk), invitations, acknowledged, shares)
        for a in accesses
    ]


def _active_shares(
    cases: set[int], users: dict[int, Any], memberships: dict[int, list[Membership]]
) -> list[tuple[int, int, int, bool, bool]]:
    """The active shares of `cases` held by the readers' agencies: one query per distinct set
    of agencies among the readers (one per agency, usually), each run as one of that set's
    readers. On PostgreSQL a share row is visible only to a reader of its agency (row-level
    security, permissions/rls.py), so no single reader could read them all. On SQLite
    `reader_context` does nothing."""
    groups: dict[frozenset[int], Any] = {}
    for pk, user in users.items():
        agencies = frozenset(m.agency_id for m in memberships[pk])
        if agencies:
            groups.setdefault(agencies, user)
    shares: list[tuple[int, int, int, bool, bool]] = []
    with transaction.atomic(savepoint=False):
        for agencies, reader in groups.items():
            with reader_context(reader):  # the caller's reader is put back after
                shares += Share.objects.filter(
                    Share.active_q(), case_id__in=list(cases), agency_id__in=list(agencies)
                ).values_list("case_id", "agency_id", "tier", "may_contribute", "coordinates")
    return shares


def _refreshed(
    access: ConferenceAccess,
    conference: Conference,
    memberships: list[Membership] | None,
    invitations: Sequence[tuple[int | None, int]],
    acknowledged: set[int],
    shares: Sequence[tuple[int, int, int, bool, bool]],
) -> ConferenceAccess | None:
    user = access.user
    if memberships is None:
        return None  # deactivated
    caps = agency_caps(user)
    role_by_agency = {m.agency_id: m.role for m in memberships}
    fresh = replace(
        access,
        conference=conference,
        is_chair=conference.chair_id == user.pk,
        is_minute_taker=conference.minute_taker_id == user.pk,
        is_invited=any(
            uid == user.pk or (uid is None and agency_id in caps) for uid, agency_id in invitations
        ),
        acknowledged=user.pk in acknowledged,
    )
    tiers = dict.fromkeys(access.tiers, 0)
    contributes = dict.fromkeys(access.tiers, False)
    coordinates = False
    for case_id, agency_id, tier, may_contribute, coord in shares:
        if agency_id not in caps or case_id not in tiers:
            continue
        role = role_by_agency[agency_id]
        tiers[case_id] = max(tiers[case_id], min(tier, caps[agency_id]))
        writes = (may_contribute and role in WRITER_ROLES) or (
            coord and role == Membership.Role.COORDINATOR
        )
        contributes[case_id] = contributes[case_id] or writes
        coordinates = coordinates or (coord and role == Membership.Role.COORDINATOR)
    fresh.tiers, fresh.contributes = tiers, contributes
    fresh.is_manager = coordinates or conference.created_by_id == user.pk
    if not (fresh.is_invited or fresh.is_chair or fresh.is_minute_taker or fresh.is_manager):
        return None
    return fresh


def may_schedule_for(user: Any, case: Case) -> bool:
    """Coordinators who coordinate a case may put it on a conference's agenda."""
    ca = case_access(user, case)
    return bool(ca and ca.coordinates and is_coordinator(user))


def may_schedule(user: Any) -> bool:
    return is_coordinator(user)


def schedulable_cases(user: Any) -> QuerySet[Case]:
    from casework.models import Case

    coordinator_agencies = [
        m.agency_id for m in _memberships(user) if m.role == Membership.Role.COORDINATOR
    ]
    if not coordinator_agencies:
        return Case.objects.none()
    coordinating = Share.objects.filter(
        Share.active_q(), case=OuterRef("pk"), coordinates=True, agency_id__in=coordinator_agencies
    )
    return Case.objects.filter(Exists(coordinating))
