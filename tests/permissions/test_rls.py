"""Row-level security on PostgreSQL: the database alone hides what a reader may not see.

These tests act as the application role (settings.DATABASE_APP_ROLE: no superuser, no
BYPASSRLS, not the owner) with `SET ROLE` on the test's connection: a superuser or the owner
would bypass the policies and prove nothing. Fixtures are written as the superuser first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import re
import uuid
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.utils import ProgrammingError
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from casework.models import (
    Case,
    ChronologyEntry,
    Concern,
    EvacuationPlan,
    NeedCategory,
    SafetyMark,
    VisitLog,
    WatchAssignment,
)
from casework.services import case_open
from conferences.minutes import services as minutes_services
from conferences.models import (
    ActionChange,
    ActionItem,
    ActionReview,
    ConferenceCase,
    FollowupNotification,
    PrepAsk,
    PrepSheet,
)
from permissions import policy, rls
from permissions.conferences import conference_access
from permissions.minutes import minutes_variant
from permissions.models import Agency, BreakGlass, Consent, Declaration, Membership, Share, Tier
from tests.conferences.minutes_helpers import SENSITIVE_NOTE, approve, closed_conference
from tests.factories import (
    AgencyFactory,
    CaseFactory,
    ChronologyFactory,
    MembershipFactory,
    ShareFactory,
    UserFactory,
)

pytestmark = [pytest.mark.postgres]

ROLE = settings.DATABASE_APP_ROLE
# Up to this many shares, the search functions check the reader's shares first (0012).
SMALL_READER = importlib.import_module(
    "permissions.migrations.0012_rls_search_by_reader_size"
).SMALL_READER


def ensure_app_role() -> None:
    """The application role as a deployment creates it (docs/deploy.md), with the grants the
    migration gives it when it exists."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [ROLE])
        assert cursor.fetchone() == (False, False)
    assert rls.grant_app_role(connection, ROLE)


@contextlib.contextmanager
def as_app_role() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {ROLE}")
        cursor.execute("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user")
        assert cursor.fetchone() == (ROLE, False)
    # The role changed on an open connection: permissions.rls reads it again when asked.
    rls.forget_role(connection)
    try:
        yield
    finally:
        rls.forget_role(connection)
        if not connection.needs_rollback:  # else the rollback resets it, and the error shows
            with connection.cursor() as cursor:
                cursor.execute("RESET ROLE")


def count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (a constant)
        return cursor.fetchone()[0]


def ids(table: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table}")  # noqa: S608 (a constant)
        return {row[0] for row in cursor.fetchall()}


def watch_rows(cast: Any, case: Any, declaration: Any) -> None:
    """One row of `case` in each watch-over table (need categories, watch assignment, visit,
    evacuation plan, a safety mark in `declaration`, a concern), written as the owner."""
    case.need_categories.add(NeedCategory.objects.first())
    WatchAssignment.objects.create(
        case=case, agency=cast.residents_agency, frequency=WatchAssignment.Frequency.WEEKLY
    )
    VisitLog.objects.create(
        case=case,
        visited_on=timezone.localdate(),
        outcome=VisitLog.Outcome.WELL,
        visitor=cast.resident,
        agency=cast.residents_agency,
    )
    EvacuationPlan.objects.create(case=case, updated_by=cast.coordinator)
    SafetyMark.objects.create(
        declaration=declaration,
        case=case,
        status=SafetyMark.Status.SAFE,
        marked_by=cast.resident,
        agency=cast.residents_agency,
        client_id=uuid.uuid4(),
    )
    Concern.objects.create(reporter=cast.resident, life_area=cast.area, case=case)


def _outsider_break_glass(
    cast: Any,
    case: Any,
    *,
    expires_at: Any,
    tier: int = Tier.SUPPORT,
    started_at: Any = None,
) -> None:
    """The outsider's break-glass on `case` (started an hour ago unless told)."""
    BreakGlass.objects.create(
        user=cast.outsider,
        agency=cast.outsider_agency,
        case=case,
        reason="安否不明",
        tier=tier,
        started_at=started_at or timezone.now() - dt.timedelta(hours=1),
        expires_at=expires_at,
    )


def populate(cast) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A row in every protected table (the cast's case, a closed conference with approved and
    exported minutes, watch-over, a declaration, consent, break-glass, follow-ups)."""
    case = cast.case
    today = timezone.localdate()
    declaration = Declaration.objects.create(reason="地震", declared_by=cast.coordinator)
    watch_rows(cast, case, declaration)
    declaration.ended_at = timezone.now()
    declaration.save()
    consent = Consent.objects.create(
        case=case, given_on=today, method=Consent.Method.WRITTEN, recorded_by=cast.coordinator
    )
    consent.agencies.add(cast.professional_agency)
    _outsider_break_glass(
        cast,
        case,
        tier=Tier.WATCH,
        started_at=timezone.now() - dt.timedelta(hours=5),
        expires_at=timezone.now() - dt.timedelta(hours=1),
    )
    conference = closed_conference(cast)
    link = ConferenceCase.objects.get(conference=conference)
    sheet, _ = PrepSheet.objects.get_or_create(conference_case=link)
    PrepAsk.objects.create(
        sheet=sheet, agency=cast.professional_agency, question="?", asked_by=cast.coordinator
    )
    action = ActionItem.objects.filter(conference=conference).first()
    ActionChange.objects.create(action=action, kind=ActionChange.Kind.CREATED, by=cast.coordinator)
    ActionReview.objects.create(conference=conference, action=action, due_on_before=today)
    FollowupNotification.objects.create(
        user=cast.professional, action=action, kind=FollowupNotification.Kind.ASSIGNED
    )
    version = approve(cast, conference)
    access = conference_access(cast.coordinator, conference)
    variant = minutes_variant(access, [case.pk], "sensitive")
    minutes_services.minutes_export(
        actor=cast.coordinator, access=access, version=version, variant=variant
    )
    return {"conference": conference, "version": version}


def test_protected_tables_are_the_documented_ones(app_role):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relforcerowsecurity FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relrowsecurity AND n.nspname = current_schema()"
        )
        rows = dict(cursor.fetchall())
    assert set(rows) == set(rls.PROTECTED_TABLES)
    assert not any(rows.values())  # never FORCE: the owner runs migrations and commands


def test_app_role_with_no_reader_gets_no_rows_from_any_protected_table(cast, app_role):
    populate(cast)
    for table in rls.PROTECTED_TABLES:
        assert count(table) > 0, f"no fixture row in {table}: the test would prove nothing"
    with as_app_role():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('otagai.user_id', '', true)")
        for table in rls.PROTECTED_TABLES:
            assert count(table) == 0, table
        # Unprotected reference data stays readable (the log-in needs users and sessions).
        assert count("permissions_agency") > 0


def test_app_role_with_no_reader_cannot_write_a_case(cast, app_role):
    with (
        as_app_role(),
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO casework_case (label, life_area_id, address, watch_notes, "
            "disaster_needs, watch_over, disaster_support, status, summary, situation, "
            "issues, support_plan, coverage, health, disability, abuse, finances, "
            "lead_coordinator_id, opened_at, updated_at, search_text) VALUES "
            "('x', %s, '', '', '', false, false, 'open', '', '', '', '', 'covered', "
            "'', '', '', '', %s, now(), now(), '')",
            [cast.area.pk, cast.coordinator.pk],
        )


def _agency_with_case(name: str, area: Any, label: str) -> dict[str, Any]:
    agency = AgencyFactory(name=name, kind=Agency.Kind.PROFESSIONAL)
    worker = UserFactory(username=f"worker-{label}")
    MembershipFactory(user=worker, agency=agency, role=Membership.Role.PROFESSIONAL)
    case = CaseFactory(label=label, life_area=area, lead_coordinator=worker)
    ShareFactory(case=case, agency=agency, tier=Tier.SENSITIVE, may_contribute=True)
    entry = ChronologyFactory(case=case, agency=agency, author=worker, text=f"{label} の記録")
    return {"agency": agency, "user": worker, "case": case, "entry": entry}


def test_database_alone_hides_each_agencys_cases_from_the_other(cast, app_role):
    a = _agency_with_case("東部包括", cast.area, "甲さん世帯")
    b = _agency_with_case("西部包括", cast.area, "乙さん世帯")
    for mine, theirs in ((a, b), (b, a)):
        with as_app_role(), rls.reader_context(mine["user"]):
            # Raw SQL, no application filter: only the database decides.
            assert ids("casework_case") == {mine["case"].pk}
            assert ids("casework_chronologyentry") == {mine["entry"].pk}
            assert ids("casework_householdmember") == set()
            with connection.cursor() as cursor:
                cursor.execute("SELECT DISTINCT agency_id FROM permissions_share")
                assert {r[0] for r in cursor.fetchall()} == {mine["agency"].pk}
            # Through the ORM, even a query that forgets the filter.
            assert list(Case.objects.values_list("label", flat=True)) == [mine["case"].label]
            assert not ChronologyEntry.objects.filter(case=theirs["case"]).exists()
            assert not Case.objects.filter(pk=theirs["case"].pk).exists()


def _visible_by_database(user: Any) -> set[int]:
    with as_app_role(), rls.reader_context(user):
        return ids("casework_case")


def _visible_by_policy(user: Any) -> set[int]:
    return set(policy.cases_visible_to(user).values_list("pk", flat=True))


def _lapsed_and_consent_shares(cast: Any, agency: Any, *, expired_consent: bool = False) -> Any:
    """Cases shared with `agency` at the support tier in ways that must stop granting, and
    one that must not: an expired share (期限切れ), a share on withdrawn consent (同意撤回),
    optionally one on expired consent (同意期限切れ), and one on valid consent (同意有効).
    Returns the case of the expired share."""
    now = timezone.now()
    today = timezone.localdate()
    area = cast.area
    expired = CaseFactory(label="期限切れ", life_area=area, lead_coordinator=cast.coordinator)
    ShareFactory(case=expired, agency=agency, tier=Tier.SUPPORT)
    Share.objects.filter(case=expired).update(expires_at=now - dt.timedelta(minutes=1))
    consents: list[tuple[str, Any, Any]] = [("同意撤回", now, None), ("同意有効", None, today)]
    if expired_consent:
        consents.insert(1, ("同意期限切れ", None, today - dt.timedelta(days=1)))
    for label, withdrawn, expires in consents:
        c = CaseFactory(label=label, life_area=area, lead_coordinator=cast.coordinator)
        consent = Consent.objects.create(
            case=c,
            given_on=today - dt.timedelta(days=30),
            method=Consent.Method.WRITTEN,
            recorded_by=cast.coordinator,
            withdrawn_at=withdrawn,
            expires_on=expires,
        )
        ShareFactory(
            case=c, agency=agency, tier=Tier.SUPPORT, basis=Share.Basis.CONSENT, consent=consent
        )
    return expired


def test_database_mirrors_the_policy_for_every_path(cast, app_role):
    """Expired shares, withdrawn and expired consent, break-glass, a declared disaster and
    the disaster-support list: the database lets through exactly what policy.py does."""
    now = timezone.now()
    area = cast.area
    a = _agency_with_case("東部包括", area, "甲さん世帯")
    # An expired share, and shares resting on withdrawn and on expired consent.
    _lapsed_and_consent_shares(cast, a["agency"], expired_consent=True)
    # Break-glass: the outsider's active one opens a case; an expired one does not.
    glass_case = CaseFactory(label="緊急", life_area=area, lead_coordinator=cast.coordinator)
    ShareFactory(case=glass_case, agency=cast.council, tier=Tier.SENSITIVE, coordinates=True)
    old_case = CaseFactory(label="緊急済", life_area=area, lead_coordinator=cast.coordinator)
    ShareFactory(case=old_case, agency=cast.council, tier=Tier.SENSITIVE, coordinates=True)
    for c, until in ((glass_case, now + dt.timedelta(hours=1)), (old_case, now)):
        _outsider_break_glass(cast, c, expires_at=until)
    # The disaster-support list: the residents' group supports the small area.
    Agency.objects.filter(pk=cast.residents_agency.pk).update(area=cast.small_area)
    listed = CaseFactory(
        label="要支援", life_area=area, small_area=cast.small_area, disaster_support=True
    )
    users = [cast.coordinator, cast.professional, cast.resident, cast.outsider, a["user"]]
    for user in users:
        assert _visible_by_database(user) == _visible_by_policy(user), user.username
    assert glass_case.pk in _visible_by_database(cast.outsider)
    assert listed.pk not in _visible_by_database(cast.resident)
    # In a declared disaster the supporters see the whole list in the declared area.
    declaration = Declaration.objects.create(reason="地震", declared_by=cast.coordinator)
    declaration.areas.add(cast.small_area)
    for user in users:
        user._otagai_memberships = None
        assert _visible_by_database(user) == _visible_by_policy(user), user.username
    assert listed.pk in _visible_by_database(cast.resident)
    assert listed.pk not in _visible_by_database(cast.outsider)
    # Normal times again: consent to the list opens the entry to the supporters, as the
    # disaster-support list page shows it.
    declaration.ended_at = timezone.now()
    declaration.save()
    EvacuationPlan.objects.create(
        case=listed,
        updated_by=cast.coordinator,
        list_consent=EvacuationPlan.ListConsent.CONSENTED,
    )
    listed_for_resident = set(
        policy.disaster_list_visible_to(cast.resident).values_list("pk", flat=True)
    )
    assert listed_for_resident == {listed.pk}
    assert listed_for_resident <= _visible_by_database(cast.resident)


def test_opening_a_case_works_under_the_app_role(cast, app_role):
    with as_app_role(), rls.reader_context(cast.coordinator):
        case = case_open(
            actor=cast.coordinator,
            data={"label": "新規世帯", "life_area": cast.area},
            members=[{"name": "新規 太郎"}],
        )
        assert Case.objects.filter(pk=case.pk).exists()
        assert case.members.count() == 1
    with as_app_role(), rls.reader_context(cast.outsider):
        assert not Case.objects.filter(pk=case.pk).exists()


def test_break_glass_opens_the_named_case_under_the_app_role(cast, app_role):
    hidden = CaseFactory(label="緊急", life_area=cast.area, lead_coordinator=cast.coordinator)
    ShareFactory(case=hidden, agency=cast.council, tier=Tier.SENSITIVE, coordinates=True)
    client = cast.client_for("outsider")
    with as_app_role():
        assert client.get(reverse("casework:case-detail", args=[hidden.pk])).status_code == 404
        response = client.post(
            reverse("watch:break-glass"),
            {
                "reference": hidden.reference,
                "reason": "三日間安否確認が取れず室内で倒れている恐れ",
                "hours": 2,
            },
        )
        assert response.status_code == 302, response.context["form"].errors
        assert client.get(reverse("casework:case-detail", args=[hidden.pk])).status_code == 200


# --- The application under the application role returns what it returns as the owner -------

_VOLATILE = re.compile(
    r'(csrfmiddlewaretoken" value="|name="csrf-token" content="|nonce="|data-csrf="'
    r'|"csrfToken": ")[^"]*'
)


def _page(client: Client, url: str, method: str = "get") -> tuple[int, str]:
    response = getattr(client, method)(url)
    body = response.content
    if response.get("Content-Type") == "application/pdf":
        from pypdf import PdfReader

        text = "".join(page.extract_text() for page in PdfReader(BytesIO(body)).pages)
        return response.status_code, re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d出力", "出力", text)
    return response.status_code, _VOLATILE.sub(r"\1", body.decode())


def test_every_role_sees_the_same_pages_under_the_app_role(cast, app_role):
    made = populate(cast)
    # Cases only another agency reads, enough to pass small-cell suppression: the council's
    # report still counts them (permissions.rls.council_report_context).
    other = _agency_with_case("東部包括", cast.area, "甲さん世帯")
    need = NeedCategory.objects.first()
    for i in range(12):
        hidden = CaseFactory(
            label=f"他機関{i}", life_area=cast.area, lead_coordinator=other["user"]
        )
        hidden.need_categories.add(need)
        ShareFactory(case=hidden, agency=other["agency"], tier=Tier.SENSITIVE)
    conference, version = made["conference"], made["version"]
    case = cast.case
    urls = {
        "case list": reverse("casework:case-list"),
        "case detail": reverse("casework:case-detail", args=[case.pk]),
        "shares": reverse("casework:share-list", args=[case.pk]),
        "conference": reverse("conferences:conference-detail", args=[conference.pk]),
        "minutes": reverse("conferences:minutes-version", args=[conference.pk, version.number]),
        "minutes pdf": reverse(
            "conferences:minutes-pdf", args=[conference.pk, version.number, "mine"]
        ),
        "report": reverse("casework:report"),
        "dashboard": reverse("dashboard"),
    }
    seen: dict[str, dict[str, tuple[int, str]]] = {}
    for who in ("coordinator", "professional", "resident", "outsider"):
        client = cast.client_for(who)
        # The log-in named a reader in the test's transaction: each request must name its own
        # (ReaderMiddleware), so start it with none, or with someone else.
        wrong = None if who == "coordinator" else cast.coordinator
        for name, url in urls.items():
            method = "post" if name == "minutes pdf" else "get"  # an export is a POST
            as_owner = _page(client, url, method)
            with as_app_role():
                rls.set_reader(wrong)
                as_app = _page(client, url, method)
            assert as_app == as_owner, f"{who}: {name}"
            seen.setdefault(who, {})[name] = as_app
    # And the pages say what each may see: not vacuous.
    assert seen["coordinator"]["case detail"][0] == 200
    assert SENSITIVE_NOTE in seen["coordinator"]["minutes pdf"][1]
    assert seen["coordinator"]["report"][0] == 200
    assert seen["resident"]["case detail"][0] == 200
    assert SENSITIVE_NOTE not in seen["resident"]["minutes pdf"][1]
    assert seen["outsider"]["case detail"][0] == 404
    assert seen["outsider"]["conference"][0] == 404
    assert case.label not in seen["outsider"]["case list"][1]


def _reader() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('otagai.user_id', true)")
        return cursor.fetchone()[0] or ""


def test_nested_reader_context_puts_the_outer_reader_back(cast, app_role):
    with rls.reader_context(cast.coordinator):
        with rls.reader_context(cast.outsider):
            assert _reader() == str(cast.outsider.pk)
        assert _reader() == str(cast.coordinator.pk)
        # An error leaving a nested context rolls back to the enclosing savepoint, reader too.
        with (
            pytest.raises(ZeroDivisionError),
            transaction.atomic(),
            rls.reader_context(cast.outsider),
        ):
            assert _reader() == str(cast.outsider.pk)
            _ = 1 / 0
        assert _reader() == str(cast.coordinator.pk)
    cast.outsider.is_active = False
    with rls.reader_context(cast.outsider):
        assert _reader() == ""  # an inactive user names no reader


def test_helper_views_cannot_be_written_through(cast, app_role):
    # As if the deployment's grants were re-run (they cover every table, views included).
    with connection.cursor() as cursor:
        cursor.execute(f"GRANT INSERT, UPDATE, DELETE ON otagai_rls_reader_share TO {ROLE}")
    before = sorted(Share.objects.values_list("pk", "tier"))
    with as_app_role(), rls.reader_context(cast.coordinator), connection.cursor() as cursor:
        cursor.execute("UPDATE otagai_rls_reader_share SET coordinates = false")
        cursor.execute("DELETE FROM otagai_rls_reader_share")
    assert sorted(Share.objects.values_list("pk", "tier")) == before
    assert Share.objects.filter(case=cast.case, coordinates=True).exists()


def _search(folded: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT otagai_rls_case_search(%s)", [folded])
        return [row[0] for row in cursor.fetchall()]


def test_restricted_is_read_once_per_connection_when_first_needed(app_role):
    from django.test.utils import CaptureQueriesContext

    connection.ensure_connection()
    rls.set_role_on_connect(sender=None, connection=connection)  # as on connecting
    assert "restricted" not in rls._PHYSICAL[connection.connection]  # nothing read on connecting
    with CaptureQueriesContext(connection) as ctx:
        assert rls.restricted() is False  # the tests connect as a superuser
        assert rls.restricted() is False
    assert ctx.captured_queries == []  # context, not a query of the page
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {ROLE}")
    try:
        assert rls.restricted() is False  # cached for this physical connection
        rls.forget_role(connection)
        assert rls.restricted() is True
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
        rls.forget_role(connection)
    assert rls.restricted() is False


def test_set_role_on_connect_sets_the_configured_role(app_role):
    try:
        with override_settings(DATABASE_SET_ROLE=ROLE):
            rls.set_role_on_connect(sender=None, connection=connection)  # as on connecting
        assert rls.restricted() is True
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone() == (ROLE,)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
        rls.set_role_on_connect(sender=None, connection=connection)
    assert rls.restricted() is False


def test_a_new_physical_connection_reads_the_role_again(app_role):
    connection.ensure_connection()
    first = connection.connection
    assert rls.restricted() is False
    assert rls._PHYSICAL[first]["restricted"] is False
    # What is known is kept with the physical connection, not with Django's wrapper: another
    # physical connection (the pool's next checkout: tests/permissions/test_pool.py) has
    # nothing known yet.
    other = connection.copy()
    other.ensure_connection()
    try:
        assert other.connection is not first
        assert "restricted" not in rls._PHYSICAL.get(other.connection, {})
    finally:
        other.close()


def test_name_search_under_the_app_role_finds_only_what_the_reader_may_see(cast, app_role):
    from casework import selectors

    with as_app_role(), rls.reader_context(cast.coordinator):
        assert [c.pk for c in selectors.case_list(cast.coordinator, q="ヤマサキ")] == [cast.case.pk]
        assert _search("やまさき") == [cast.case.pk]
        assert _search("%") == [] and _search("_") == []  # LIKE's wildcards are literal
        # One and two characters go through the gram index (permissions 0010).
        for short in ("山﨑", "やま", "山"):
            assert [c.pk for c in selectors.case_list(cast.coordinator, q=short)] == [
                cast.case.pk
            ], short
        assert _search("ずれ") == []
    with as_app_role(), rls.reader_context(cast.outsider):
        assert list(selectors.case_list(cast.outsider, q="ヤマサキ")) == []
        assert list(selectors.case_list(cast.outsider, q="やま")) == []
        assert _search("やま") == []
        assert _search("やまさき") == []  # the index is searched for the reader only
    with as_app_role():
        rls.set_reader(None)
        assert _search("やまさき") == []
    assert _search("やまさき") == [cast.case.pk]  # the owner, who bypasses RLS anyway


def _searched_by_policy(user: Any, folded: str, **context: Any) -> set[int]:
    """The matches the case policy alone lets through (raw SQL: no index, no function)."""
    with as_app_role(), rls.reader_context(user, **context), connection.cursor() as cursor:
        cursor.execute("SELECT id FROM casework_case WHERE strpos(search_text, %s) > 0", [folded])
        return {row[0] for row in cursor.fetchall()}


def _searched_by_function(user: Any, folded: str, **context: Any) -> set[int]:
    with as_app_role(), rls.reader_context(user, **context):
        return set(_search(folded))


def _assert_search_mirrors_policy(users: list[Any], **context: Any) -> None:
    for user in users:
        user._otagai_memberships = None
        for folded in ("いのうえ", "井上", "井"):  # trigram index, then the gram index
            expected = _searched_by_policy(user, folded, **context)
            assert _searched_by_function(user, folded, **context) == expected, (
                user.username,
                folded,
            )


def test_search_page_under_the_app_role_asks_the_function_once(cast, app_role):
    """The page's rows are read by id without the search conditions: the function (and the
    gram test, which the function already applied) are not run again for each row."""
    from django.test.utils import CaptureQueriesContext

    from casework import selectors

    for q in ("ヤマサキ", "山﨑"):
        with as_app_role(), rls.reader_context(cast.coordinator):
            with CaptureQueriesContext(connection) as ctx:
                page = selectors.case_list_page(cast.coordinator, page=1, per_page=25, q=q)
            assert [c.pk for c in page.object_list] == [cast.case.pk], q
            assert page.paginator.count == 1
            searches = [
                x["sql"] for x in ctx.captured_queries if "otagai_rls_case_search" in x["sql"]
            ]
            assert len(searches) == 1, q
            assert "otagai_grams" not in searches[0]
        with as_app_role(), rls.reader_context(cast.outsider):
            page = selectors.case_list_page(cast.outsider, page=1, per_page=25, q=q)
            assert list(page.object_list) == [] and page.paginator.count == 0


def _reader_with_many_shares(
    cast: Any, shared: Any, count: int, *, also: Any = None
) -> tuple[Any, list[Any]]:
    """A professional of an agency with `count` watch-tier shares (the search's index-first
    way), five of them expired, and one on `shared`; also a member of `also` if given."""
    big = AgencyFactory(name="大規模機関", kind=Agency.Kind.PROFESSIONAL)
    big_user = UserFactory(username="worker-big")
    MembershipFactory(user=big_user, agency=big, role=Membership.Role.PROFESSIONAL)
    if also is not None:
        MembershipFactory(user=big_user, agency=also, role=Membership.Role.PROFESSIONAL)
    many = Case.objects.bulk_create(
        Case(label=f"多数{i}", life_area=cast.area, lead_coordinator=cast.coordinator)
        for i in range(count)
    )
    Share.objects.bulk_create(
        Share(case=c, agency=big, tier=Tier.WATCH, basis=Share.Basis.SUPPORT_MEETING) for c in many
    )
    expired_at = timezone.now() - dt.timedelta(minutes=1)
    Share.objects.filter(case__in=many[:5]).update(expires_at=expired_at)
    ShareFactory(case=shared, agency=big, tier=Tier.WATCH)
    return big_user, many


def test_search_function_mirrors_the_policy_for_every_path(cast, app_role):
    """`otagai_rls_case_search` returns exactly the matches the case policy lets the reader
    see, on each of its ways: few shares (shares first), many shares (index first), and the
    other paths — break-glass, the disaster-support list in normal times and in a declared
    disaster, the lead coordinator of an unshared case, the break-glass lookup, a council
    report."""
    now = timezone.now()
    area = cast.area
    a = _agency_with_case("東部包括", area, "甲さん世帯")
    expired = _lapsed_and_consent_shares(cast, a["agency"])
    glass_case = CaseFactory(label="緊急", life_area=area, lead_coordinator=cast.coordinator)
    ShareFactory(case=glass_case, agency=cast.council, tier=Tier.SENSITIVE, coordinates=True)
    _outsider_break_glass(cast, glass_case, expires_at=now + dt.timedelta(hours=1))
    unshared = CaseFactory(label="共有前", life_area=area, lead_coordinator=cast.coordinator)
    Agency.objects.filter(pk=cast.residents_agency.pk).update(area=cast.small_area)
    listed = CaseFactory(
        label="要支援", life_area=area, small_area=cast.small_area, disaster_support=True
    )
    # A reader with many share rows (the index-first way), some of them matching.
    big_user, many = _reader_with_many_shares(cast, a["case"], SMALL_READER)
    # Every other case matches the searches.
    Case.objects.update(search_text="ほか")
    matching = [a["case"], expired, glass_case, unshared, listed, cast.case, *many[::2]]
    Case.objects.filter(pk__in=[c.pk for c in matching]).update(search_text="井上 いのうえ")
    Case.objects.filter(label="同意撤回").update(search_text="いのうえ 井上")
    Case.objects.filter(label="同意有効").update(search_text="井上いのうえ")

    users = [cast.coordinator, cast.professional, cast.resident, cast.outsider, a["user"], big_user]
    _assert_search_mirrors_policy(users)
    assert glass_case.pk in _searched_by_function(cast.outsider, "いのうえ")
    assert unshared.pk in _searched_by_function(cast.coordinator, "井上")
    assert many[6].pk in _searched_by_function(big_user, "井上")
    assert many[2].pk not in _searched_by_function(big_user, "井上")  # expired share
    assert listed.pk not in _searched_by_function(cast.resident, "いのうえ")
    # The break-glass lookup lets the named case through; a council report, every case.
    _assert_search_mirrors_policy([cast.professional], lookup_case=unshared.pk)
    assert unshared.pk in _searched_by_function(cast.professional, "井", lookup_case=unshared.pk)
    _assert_search_mirrors_policy([cast.coordinator, cast.outsider], purpose=rls.COUNCIL_REPORT)
    # A declared disaster, then consent to the list in normal times.
    declaration = Declaration.objects.create(reason="地震", declared_by=cast.coordinator)
    declaration.areas.add(cast.small_area)
    _assert_search_mirrors_policy(users)
    assert listed.pk in _searched_by_function(cast.resident, "いのうえ")
    declaration.ended_at = timezone.now()
    declaration.save()
    _assert_search_mirrors_policy([cast.resident])
    EvacuationPlan.objects.create(
        case=listed, updated_by=cast.coordinator, list_consent=EvacuationPlan.ListConsent.CONSENTED
    )
    _assert_search_mirrors_policy(users)
    assert listed.pk in _searched_by_function(cast.resident, "井上")


def _list_search(user: Any, q: str, **filters: Any) -> tuple[list[int], int, list[str]]:
    """The matches' ids (all pages), the count and the SQL a search of the list ran, under the
    application role: what the page shows and counts."""
    from django.test.utils import CaptureQueriesContext

    from casework import selectors

    user._otagai_memberships = None
    with as_app_role(), rls.reader_context(user), CaptureQueriesContext(connection) as ctx:
        first = selectors.case_list_page(user, page=1, per_page=100, q=q, **filters)
        found = [c.pk for c in first.object_list]
        for number in first.paginator.page_range[1:]:
            page = selectors.case_list_page(user, page=number, per_page=100, q=q, **filters)
            found += [c.pk for c in page.object_list]
    return found, first.paginator.count, [x["sql"] for x in ctx.captured_queries]


def _listed_by_the_application(user: Any, q: str, **filters: Any) -> list[int]:
    """The same list as the owner, without row-level security: the application's rule alone
    (`cases_visible_to`), the search indexes read directly."""
    from casework import selectors

    user._otagai_memberships = None
    return list(selectors.case_list(user, q=q, **filters).values_list("pk", flat=True))


def test_list_search_under_the_app_role_lists_and_counts_what_the_application_would(cast, app_role):
    """A name search alone under RLS takes its ids, in list order, from
    `otagai_rls_case_search_list` (permissions 0016): the same cases, order and count as the
    application's own filter, for a reader with few shares and one with many, two agencies,
    expired shares, withdrawn or valid consent; never a case open only through another path
    of the policy (the unshared case its coordinator leads, the disaster-support list)."""
    from casework import selectors
    from casework.search import rls_list_matches

    now = timezone.now()
    area = cast.area
    a = _agency_with_case("東部包括", area, "甲さん世帯")
    ShareFactory(case=a["case"], agency=cast.professional_agency, tier=Tier.SUPPORT)
    expired = _lapsed_and_consent_shares(cast, cast.professional_agency)
    unshared = CaseFactory(label="共有前", life_area=area, lead_coordinator=cast.coordinator)
    listed = CaseFactory(label="要支援", life_area=area, small_area=cast.small_area)
    Case.objects.filter(pk=listed.pk).update(disaster_support=True, status="open")
    EvacuationPlan.objects.create(
        case=listed, updated_by=cast.coordinator, list_consent=EvacuationPlan.ListConsent.CONSENTED
    )
    # A reader with many share rows (the index-first way) and a second agency.
    big_user, many = _reader_with_many_shares(
        cast, a["case"], SMALL_READER, also=cast.professional_agency
    )
    # Every other case matches; the list's order: updated_at (ties included), then id.
    Case.objects.update(search_text="ほか")
    matching = [a["case"], expired, unshared, listed, cast.case, *many[::3]]
    Case.objects.filter(pk__in=[c.pk for c in matching]).update(search_text="井上 いのうえ")
    Case.objects.filter(label__startswith="同意").update(search_text="いのうえ 井上")
    for i, c in enumerate(Case.objects.order_by("pk")):
        Case.objects.filter(pk=c.pk).update(updated_at=now - dt.timedelta(minutes=(i * 7) % 50))

    readers = [cast.coordinator, cast.professional, cast.resident, cast.outsider, a["user"]]
    for user in [*readers, big_user]:
        for q in ("イノウエ", "井上", "井"):
            expected = _listed_by_the_application(user, q)
            found, counted, queries = _list_search(user, q)
            assert found == expected[: selectors.LIST_COUNT_LIMIT], (user.username, q)
            assert counted == min(len(expected), selectors.LIST_COUNT_LIMIT), (user.username, q)
            assert any("otagai_rls_case_search_list" in sql for sql in queries), user.username
    assert unshared.pk not in _list_search(cast.coordinator, "井上")[0]
    assert listed.pk not in _list_search(cast.resident, "井上")[0]
    assert len(_list_search(big_user, "井上")[0]) > SMALL_READER // 3 - 5  # two agencies' shares
    # At most `limit` ids, the first ones in list order.
    expected = _listed_by_the_application(big_user, "いのうえ")
    scope = policy.case_scope(big_user)
    with as_app_role(), rls.reader_context(big_user):
        assert rls_list_matches(big_user, scope, {"q": "いのうえ"}, limit=7) == expected[:7]
        # Another filter too: the cases are filtered as before (not this way).
        filtered = {"q": "いのうえ", "status": "open"}
        assert rls_list_matches(big_user, scope, filtered, limit=7) is None
    assert _list_search(big_user, "イノウエ", status="open")[0] == _listed_by_the_application(
        big_user, "いのうえ", status="open"
    )
    # There the function is read from the FROM clause: a Function Scan keeps its rows across
    # the rescans of a nested loop, where a call in the target list ran again for each row.
    queries = _list_search(big_user, "イノウエ", status="open")[2]
    sql = next(sql for sql in queries if "otagai_rls_case_search(" in sql)
    with as_app_role(), rls.reader_context(big_user), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Function Scan on otagai_rls_case_search m" in plan, plan


def test_list_search_under_the_app_role_still_finds_a_break_glass_case(cast, app_role):
    """A reader with an active break-glass is not in the shares-only scope: the list is
    filtered as before, and the case opened by break-glass is found and counted."""
    now = timezone.now()
    glass_case = CaseFactory(label="緊急", life_area=cast.area, lead_coordinator=cast.coordinator)
    ShareFactory(case=glass_case, agency=cast.council, tier=Tier.SENSITIVE, coordinates=True)
    Case.objects.filter(pk=glass_case.pk).update(search_text="やまさき 緊急")
    _outsider_break_glass(cast, glass_case, expires_at=now + dt.timedelta(hours=1))
    found, counted, queries = _list_search(cast.outsider, "ヤマサキ")
    assert (found, counted) == ([glass_case.pk], 1)
    assert not any("otagai_rls_case_search_list" in sql for sql in queries)


def test_declaration_tally_and_report_count_every_case_under_the_app_role(cast, app_role):
    """A council manager's safety tally and declaration report cover cases nobody in the
    council reads (permissions.rls.council_report_context)."""
    # The council is no designated supporter here: only the report purpose shows the case.
    Agency.objects.filter(pk=cast.council.pk).update(disaster_supporter=False)
    other = _agency_with_case("東部包括", cast.area, "甲さん世帯")
    hidden = other["case"]
    Case.objects.filter(pk=hidden.pk).update(
        disaster_support=True, small_area=cast.small_area, label="要支援・他機関"
    )
    declaration = Declaration.objects.create(reason="地震", declared_by=cast.coordinator)
    declaration.areas.add(cast.small_area)
    SafetyMark.objects.create(
        declaration=declaration,
        case=hidden,
        status=SafetyMark.Status.NEEDS_HELP,
        marked_by=cast.resident,
        agency=cast.residents_agency,
        client_id=uuid.uuid4(),
    )
    client = cast.client_for("coordinator")
    for name in ("watch:safety-tally", "watch:declaration-detail"):
        url = reverse(name, args=[declaration.pk])
        as_owner = _page(client, url)
        with as_app_role():
            rls.set_reader(None)
            as_app = _page(client, url)
        assert as_app == as_owner, name
        assert as_app[0] == 200
    from casework.watch_selectors import safety_tally

    with as_app_role():
        with rls.council_report_context(cast.coordinator):
            tally = safety_tally(declaration)
        # The professional's agency neither reads the case nor supports in disasters, and
        # is no council manager: the same purpose shows them nothing.
        with rls.reader_context(cast.professional):
            professional = safety_tally(declaration)
        with rls.council_report_context(cast.professional):
            professional_report = safety_tally(declaration)
    assert [(a["total"], a["needs_help"]) for a in tally] == [(1, 1)]
    assert professional == professional_report == []


def _may_read_sessions() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_table_privilege(%s, 'django_session', 'SELECT')", [ROLE])
        return cursor.fetchone()[0]


def test_migrate_grants_the_app_role_on_tables_created_after_the_rls_migration(app_role):
    """A database migrated from empty got the grants of migration 0009 on the tables that
    existed then; the sessions' table came later, and the web processes were refused it.
    After a `migrate` that applied migrations, every table is granted again; after a `flush`
    (no plan: between transactional tests) nothing is sent."""
    from django.apps import apps

    permissions_app = apps.get_app_config("permissions")
    with connection.cursor() as cursor:
        cursor.execute(f"REVOKE ALL ON django_session FROM {ROLE}")
    assert not _may_read_sessions()
    rls.grant_after_migrate(sender=permissions_app, using="default", plan=None)
    rls.grant_after_migrate(sender=apps.get_app_config("sessions"), plan=[("x", False)])
    assert not _may_read_sessions()
    rls.grant_after_migrate(sender=permissions_app, using="default", plan=[("x", False)])
    assert _may_read_sessions()
