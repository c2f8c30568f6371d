"""Selectors and the case pages: query counts constant in page size, lists always scoped.

The figures at scale are in docs/performance.md (benchmarks/case_list.py); these tests keep
the shape that makes them possible: a fixed number of queries whatever the page holds.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from casework import selectors
from casework.models import Case, NeedCategory
from casework.search import name_search_q
from casework.services import case_refresh_search
from permissions.models import Consent, Membership, Share, Tier
from permissions.policy import cases_visible_to, tier_for, visible_case_count
from tests.factories import (
    AgencyFactory,
    CaseFactory,
    ChronologyFactory,
    MemberFactory,
    MembershipFactory,
    ShareFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PAGE = 25
# Per page, whatever it holds: memberships, count, rows (with areas), need categories, and
# one small check for emergency paths (break-glass, declared disaster) for the roles that can
# take them (policy.case_scope, taken once per request; a resident of a disaster-supporter
# group can take the declaration path). A resident reads no categories.
SELECTOR_QUERIES = {"coordinator": 5, "professional": 5, "resident": 4}
# Session, user, the five above, the audit row, the filter form's two choice lists, and for a
# coordinator the verified TOTP device (django-otp loads it on each request).
LIST_VIEW_MAX_QUERIES = 11
# Session, user, memberships, the reader's shares with the case (one query), audit row,
# members, timeline, need categories, and the coordinator's TOTP device.
DETAIL_VIEW_MAX_QUERIES = 9


def fresh(user):
    """The user as a new request sees them: nothing cached on the object."""
    return get_user_model().objects.get(pk=user.pk)


def add_cases(cast, n: int, *, label: str = "一覧テスト", kana: str = "いちらん") -> list:
    """n cases shared with the council (all tiers), the professionals (support) and the
    residents (watch), each with need categories and a household member."""
    categories = list(NeedCategory.objects.all()[:2])
    cases = []
    for i in range(n):
        case = CaseFactory(
            label=f"{label}{i}さん世帯",
            life_area=cast.area,
            small_area=cast.small_area,
            lead_coordinator=cast.coordinator,
        )
        case.need_categories.set(categories)
        MemberFactory(case=case, name=f"{label} {i}", kana=f"{kana} {i}")
        case_refresh_search(case)
        ShareFactory(
            case=case,
            agency=cast.council,
            tier=Tier.SENSITIVE,
            basis=Share.Basis.INTAKE,
            coordinates=True,
        )
        ShareFactory(case=case, agency=cast.professional_agency, tier=Tier.SUPPORT)
        ShareFactory(case=case, agency=cast.residents_agency, tier=Tier.WATCH)
        cases.append(case)
    return cases


def hidden_case(
    cast, *, label: str = "秘匿さん世帯", name: str = "山﨑 次郎", kana: str = "やまさき"
):
    """A case shared only with the outsider's agency: it must not exist for the cast."""
    case = CaseFactory(label=label, life_area=cast.area, lead_coordinator=cast.coordinator)
    MemberFactory(case=case, name=name, kana=kana)
    case_refresh_search(case)
    ShareFactory(case=case, agency=cast.outsider_agency, tier=Tier.SENSITIVE)
    return case


def read_page(user, **filters):
    """What the list view reads, attribute by attribute, as the template does."""
    page = selectors.case_list_page(user, page=1, per_page=PAGE, **filters)
    cases = list(page.object_list)
    selectors.case_page_extras(cases)
    for case in cases:
        _ = (case.label, case.life_area.name, case.small_area and case.small_area.name)
        _ = (case.get_status_display(), case.reader_tier, case.visible_categories)
    return page, cases


# -- query counts -------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["coordinator", "professional", "resident"])
@pytest.mark.parametrize("extra", [2, 29])  # 3 cases, then more than a page
def test_case_list_page_queries_constant_in_page_size(cast, who, extra, django_assert_num_queries):
    add_cases(cast, extra)
    user = fresh(getattr(cast, who))
    with django_assert_num_queries(SELECTOR_QUERIES[who]):
        page, cases = read_page(user)
    assert page.paginator.count == extra + 1
    assert len(cases) == min(extra + 1, PAGE)


@pytest.mark.parametrize("extra", [2, 29])
def test_search_queries_constant_in_page_size(cast, extra, django_assert_num_queries):
    add_cases(cast, extra, kana="やまさき")  # every case matches
    user = fresh(cast.professional)
    # Filtered: the ids of the matches in list order (count and page), then the page's rows.
    with django_assert_num_queries(SELECTOR_QUERIES["professional"]):
        page, cases = read_page(user, q="ヤマサキ")
    assert page.paginator.count == extra + 1
    assert len(cases) == min(extra + 1, PAGE)


def _view_queries(client, url, limit, django_assert_max_num_queries, **data) -> int:
    with django_assert_max_num_queries(limit) as ctx:
        response = client.get(url, data)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("who", ["coordinator", "professional", "resident"])
def test_case_list_view_queries_constant_in_page_size(cast, who, django_assert_max_num_queries):
    client = cast.client_for(who)
    url = reverse("casework:case-list")
    add_cases(cast, 2)
    few = _view_queries(client, url, LIST_VIEW_MAX_QUERIES, django_assert_max_num_queries)
    few_search = _view_queries(
        client, url, LIST_VIEW_MAX_QUERIES, django_assert_max_num_queries, q="いちらん"
    )
    add_cases(cast, 27)
    many = _view_queries(client, url, LIST_VIEW_MAX_QUERIES, django_assert_max_num_queries)
    many_search = _view_queries(
        client, url, LIST_VIEW_MAX_QUERIES, django_assert_max_num_queries, q="いちらん"
    )
    assert few == many
    assert few_search == many_search


@pytest.mark.parametrize("who", ["coordinator", "professional", "resident"])
def test_case_detail_view_queries_constant_in_household_and_timeline(
    cast, who, django_assert_max_num_queries
):
    client = cast.client_for(who)
    url = reverse("casework:case-detail", args=[cast.case.pk])
    before = _view_queries(client, url, DETAIL_VIEW_MAX_QUERIES, django_assert_max_num_queries)
    for i in range(15):
        MemberFactory(case=cast.case, name=f"家族 {i}", kana=f"かぞく {i}", is_subject=False)
        agency = [cast.council, cast.professional_agency, cast.residents_agency][i % 3]
        ChronologyFactory(case=cast.case, agency=agency, tier=[1, 2, 3][i % 3], text=f"記録{i}")
    cast.case.need_categories.set(NeedCategory.objects.all())
    after = _view_queries(client, url, DETAIL_VIEW_MAX_QUERIES, django_assert_max_num_queries)
    assert before == after


def test_chronology_for_is_one_query_with_what_the_page_shows(cast, django_assert_num_queries):
    for i in range(10):
        ChronologyFactory(case=cast.case, agency=cast.council, tier=Tier.WATCH, text=f"記録{i}")
    ChronologyFactory(case=cast.case, agency=cast.council, tier=Tier.SENSITIVE, text="要配慮")
    with django_assert_num_queries(1):
        entries = selectors.chronology_for(cast.case, Tier.SENSITIVE)
        shown = [(e["occurred_on"], e["agency_name"], e["tier_label"], e["text"]) for e in entries]
    assert len(shown) == 14
    assert ("社協", str(Tier.WATCH.label), "記録9") in {s[1:] for s in shown}
    assert [e["occurred_on"] for e in entries] == sorted(e["occurred_on"] for e in entries)
    # Only entries at or below the reader's tier.
    assert "要配慮" not in {e["text"] for e in selectors.chronology_for(cast.case, Tier.SUPPORT)}


def test_reading_a_case_does_not_look_up_the_export_right(cast, django_assert_num_queries):
    from permissions.policy import case_access

    user = fresh(cast.professional)
    # Memberships and shares; the person-level export right (django-guardian) waits.
    with django_assert_num_queries(2):
        access = case_access(user, cast.case)
    assert access is not None
    assert access.allows("view")
    assert not access.allows("export")


def test_access_case_reads_the_case_with_the_readers_shares(cast, django_assert_num_queries):
    from permissions.access import access_case

    second = AgencyFactory(name="第二の機関")
    MembershipFactory(user=cast.professional, agency=second, role=Membership.Role.PROFESSIONAL)
    ShareFactory(case=cast.case, agency=second, tier=Tier.SENSITIVE)
    user = fresh(cast.professional)
    with django_assert_num_queries(2):  # memberships; shares with their case
        access = access_case(user, cast.case.pk)
    assert access.case.pk == cast.case.pk
    assert {s.agency_id for s in access.shares} == {cast.professional_agency.pk, second.pk}
    assert all(s.case is access.case for s in access.shares)
    assert access.tier == Tier.SENSITIVE
    assert access.case.life_area.name == cast.area.name


@pytest.mark.parametrize("pk", [0, 10**12, 2**70, "x"])
def test_access_case_answers_404_for_missing_ids(cast, pk):
    from django.http import Http404

    from permissions.access import access_case

    with pytest.raises(Http404):
        access_case(fresh(cast.coordinator), pk)


# -- scoping ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["coordinator", "professional", "resident", "outsider"])
def test_list_without_any_filter_is_still_scoped(cast, who):
    add_cases(cast, 3)
    hidden = hidden_case(cast)
    unshared = CaseFactory(label="誰にも共有なしさん世帯", lead_coordinator=cast.coordinator)
    user = fresh(getattr(cast, who))
    page, cases = read_page(user)
    ids = {c.pk for c in cases}
    if who == "outsider":
        assert ids == {hidden.pk}
        assert page.paginator.count == 1
    else:
        assert hidden.pk not in ids
        assert unshared.pk not in ids
        assert page.paginator.count == 4
    assert unshared.pk not in ids


def test_a_user_without_an_agency_sees_no_case(cast):
    nobody = UserFactory(username="nobody")
    page, cases = read_page(nobody)
    assert cases == []
    assert page.paginator.count == 0
    response = cast.client_for("anonymous")
    response.force_login(nobody)
    body = response.get(reverse("casework:case-list")).content.decode()
    assert "山﨑さん世帯" not in body


def test_search_never_returns_nor_counts_hidden_cases(cast):
    hidden_case(cast, label="山﨑さん別世帯", name="山﨑 三郎", kana="やまさき さぶろう")
    hidden_case(cast, label="やまさき秘匿世帯", name="山崎 花", kana="やまさき はな")
    for who in ("coordinator", "professional", "resident"):
        response = cast.client_for(who).get(reverse("casework:case-list"), {"q": "ヤマサキ"})
        assert response.context["page"].paginator.count == 1, who
        body = response.content.decode()
        assert "山﨑さん世帯" in body
        assert "山﨑さん別世帯" not in body
        assert "やまさき秘匿世帯" not in body
    response = cast.client_for("outsider").get(reverse("casework:case-list"), {"q": "ヤマサキ"})
    assert response.context["page"].paginator.count == 2
    assert "山﨑さん世帯" not in response.content.decode()


def test_kana_search_finds_a_person_written_in_kanji(cast):
    for q in ("やまさき", "ヤマサキ", "ﾔﾏｻｷ", "山﨑"):
        _, cases = read_page(fresh(cast.professional), q=q)
        assert [c.pk for c in cases] == [cast.case.pk], q


@pytest.mark.parametrize("q", ["山崎", "崎", "山嵜"])
def test_a_variant_kanji_finds_the_name_as_written(cast, q):
    """The household writes 山﨑; whoever types the everyday 崎 (or another variant) finds it,
    and the name is still shown as written."""
    _, cases = read_page(fresh(cast.professional), q=q)
    assert [c.pk for c in cases] == [cast.case.pk]
    body = cast.client_for("professional").get(reverse("casework:case-list"), {"q": q})
    assert "山﨑さん世帯" in body.content.decode()


def test_the_migration_refolds_search_text_stored_before_variants(cast):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("casework.migrations.0008_search_text_variants")
    Case.objects.filter(pk=cast.case.pk).update(search_text="山﨑さん世帯 髙橋和子 たかはし")
    migration.refold(apps, None)
    assert Case.objects.get(pk=cast.case.pk).search_text == "山崎さん世帯 高橋和子 たかはし"


@pytest.mark.parametrize("q", ["山﨑", "﨑", "一郎", "イチ"])
def test_one_and_two_character_searches_find_the_person(cast, q):
    """Shorter than a trigram: served by the gram index on PostgreSQL, LIKE elsewhere."""
    page, cases = read_page(fresh(cast.professional), q=q)
    assert [c.pk for c in cases] == [cast.case.pk]
    assert page.paginator.count == 1


@pytest.mark.parametrize("q", ["山﨑", "﨑", "次郎"])
def test_short_searches_never_return_nor_count_hidden_cases(cast, q):
    hidden = hidden_case(cast, label="山﨑さん別世帯", name="山﨑 次郎", kana="やまさき じろう")
    for who in ("coordinator", "professional", "resident"):
        page, cases = read_page(fresh(getattr(cast, who)), q=q)
        assert hidden.pk not in {c.pk for c in cases}, who
        assert page.paginator.count == (0 if q == "次郎" else 1), who
    page, cases = read_page(fresh(cast.outsider), q=q)
    assert [c.pk for c in cases] == [hidden.pk]


def test_a_filtered_list_pages_in_list_order(cast):
    """Filtered lists take the ids of the matches first: pages must follow the list order."""
    add_cases(cast, 30, kana="ぺーじ")
    user = fresh(cast.professional)
    expected = list(
        selectors.case_list(user, q="ぺーじ")
        .order_by("-updated_at", "-pk")
        .values_list("pk", flat=True)
    )
    assert len(expected) == 30
    first = selectors.case_list_page(user, page=1, per_page=PAGE, q="ぺーじ")
    second = selectors.case_list_page(fresh(cast.professional), page=2, per_page=PAGE, q="ぺーじ")
    assert [c.pk for c in first.object_list] == expected[:PAGE]
    assert [c.pk for c in second.object_list] == expected[PAGE:]
    assert (first.paginator.count, first.paginator.num_pages) == (30, 2)
    assert all(c.reader_tier == Tier.SUPPORT for c in second.object_list)


def test_need_categories_on_the_list_follow_the_readers_tier(cast):
    cast.case.need_categories.set(NeedCategory.objects.all()[:1])
    # Even a support-tier share does not lift a resident above the watch tier (role cap).
    Share.objects.filter(case=cast.case, agency=cast.residents_agency).update(tier=Tier.SUPPORT)
    _, [as_resident] = read_page(fresh(cast.resident))
    _, [as_professional] = read_page(fresh(cast.professional))
    assert as_resident.reader_tier == Tier.WATCH
    assert as_resident.visible_categories == []
    assert as_professional.reader_tier == Tier.SUPPORT
    assert as_professional.visible_categories == [NeedCategory.objects.first().name]


@pytest.mark.parametrize("who", ["coordinator", "professional", "resident"])
@pytest.mark.parametrize("agencies", [1, 2])
def test_list_reader_tier_is_the_policys_tier(cast, who, agencies):
    """`reader_tier` on the list (one share per case and agency: a reader of one agency reads
    its share's tier, capped; one capped at the watch tier reads that, with no subquery) is
    the tier `case_access` gives, case by case, also for a reader of two agencies."""
    cases = add_cases(cast, 3)
    user = getattr(cast, who)
    if agencies == 2:
        second = AgencyFactory(name="第二の機関")
        MembershipFactory(user=user, agency=second, role=Membership.Role.RESIDENT)
        ShareFactory(case=cases[0], agency=second, tier=Tier.SENSITIVE)
        only_second = CaseFactory(label="第二のみさん世帯", lead_coordinator=cast.coordinator)
        ShareFactory(case=only_second, agency=second, tier=Tier.SENSITIVE)
    Share.objects.filter(case=cases[1]).update(tier=Tier.WATCH)
    reader = fresh(user)
    listed = {c.pk: c.reader_tier for c in cases_visible_to(reader)}
    assert len(listed) == 4 + (agencies == 2)
    for case in Case.objects.filter(pk__in=listed):
        assert listed[case.pk] == tier_for(fresh(user), case), (who, case.label)


def test_expired_share_leaves_the_list_and_its_count(cast):
    Share.objects.filter(case=cast.case, agency=cast.professional_agency).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    response = cast.client_for("professional").get(reverse("casework:case-list"))
    assert response.context["page"].paginator.count == 0
    assert "山﨑さん世帯" not in response.content.decode()


@pytest.mark.parametrize("how", ["withdrawn", "expired"])
def test_share_on_lapsed_consent_leaves_the_list_and_its_count(cast, how):
    consent = Consent.objects.create(
        case=cast.case,
        tier=Tier.SUPPORT,
        given_on=timezone.localdate() - dt.timedelta(days=30),
        method=Consent.Method.WRITTEN,
        recorded_by=cast.coordinator,
    )
    Share.objects.filter(case=cast.case, agency=cast.professional_agency).update(
        basis=Share.Basis.CONSENT, consent=consent
    )
    assert read_page(fresh(cast.professional))[0].paginator.count == 1
    if how == "withdrawn":
        Consent.objects.filter(pk=consent.pk).update(withdrawn_at=timezone.now())
    else:
        Consent.objects.filter(pk=consent.pk).update(
            expires_on=timezone.localdate() - dt.timedelta(days=1)
        )
    page, cases = read_page(fresh(cast.professional))
    assert (page.paginator.count, cases) == (0, [])
    page, cases = read_page(fresh(cast.professional), q="やまさき")
    assert (page.paginator.count, cases) == (0, [])


def test_unfiltered_count_is_the_count_of_visible_cases(cast):
    """The list's count is taken on the shares alone; it must equal the scoped queryset."""
    cases = add_cases(cast, 4)
    hidden_case(cast)
    # A second agency for the professional: a case shared with both is counted once.
    second = AgencyFactory(name="第二の機関")
    MembershipFactory(user=cast.professional, agency=second, role=Membership.Role.PROFESSIONAL)
    ShareFactory(case=cases[0], agency=second, tier=Tier.WATCH)
    only_second = CaseFactory(label="第二のみさん世帯", lead_coordinator=cast.coordinator)
    ShareFactory(case=only_second, agency=second, tier=Tier.WATCH)
    # An expired share and a share on withdrawn consent do not count.
    Share.objects.filter(case=cases[1], agency=cast.professional_agency).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    consent = Consent.objects.create(
        case=cases[2],
        given_on=timezone.localdate(),
        method=Consent.Method.VERBAL,
        recorded_by=cast.coordinator,
        withdrawn_at=timezone.now(),
    )
    Share.objects.filter(case=cases[2], agency=cast.professional_agency).update(
        basis=Share.Basis.CONSENT, consent=consent
    )
    for who in ("coordinator", "professional", "resident", "outsider"):
        user = fresh(getattr(cast, who))
        assert visible_case_count(user) == cases_visible_to(user).count(), who
    assert visible_case_count(fresh(cast.professional)) == 4  # cast case, 0, 3, only_second


BENCH_INDEXES = {
    "case_search_trgm",
    "case_search_grams",
    "case_updated_desc",
    "share_agency_case_active",
    "consent_validity",
}


@pytest.mark.postgres
def test_search_and_shares_have_their_indexes_on_postgresql(cast):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname = ANY(%s)", [list(BENCH_INDEXES)]
        )
        assert {row[0] for row in cur.fetchall()} == BENCH_INDEXES
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute(
            "EXPLAIN SELECT id FROM casework_case WHERE search_text::text LIKE %s", ["%やまさき%"]
        )
        plan = "\n".join(row[0] for row in cur.fetchall())
    assert "case_search_trgm" in plan


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("q", "index"),
    [("やまさき", "case_search_trgm"), ("山﨑", "case_search_grams"), ("﨑", "case_search_grams")],
)
def test_each_search_length_has_an_index_on_postgresql(cast, q, index):
    """Three characters or more: trigrams; one or two (no trigram): the gram index."""
    # The condition alone (with a handful of cases the planner rightly starts from shares):
    # the expression must be the index's own for PostgreSQL to use it.
    # (No ordering, and no plain index scans: a walk of another index in list order with a
    # filter is not what is being checked; a GIN index is read by a bitmap scan.)
    query = Case.objects.filter(name_search_q(q)).order_by().values("pk").query
    sql, params = query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("SET LOCAL enable_indexscan = off")
        cur.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cur.fetchall())
    assert index in plan


@pytest.mark.postgres
def test_grams_are_every_character_and_adjacent_pair(cast):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT otagai_grams(%s), otagai_query_grams(%s), otagai_query_grams(%s)",
            ["いのうえ", "井上", "林"],
        )
        grams, two, one = cur.fetchone()
    assert sorted(grams) == sorted(["い", "の", "う", "え", "いの", "のう", "うえ"])
    assert (two, one) == (["井上"], ["林"])
