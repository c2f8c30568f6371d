"""Case list and search: scoped, kana-aware, never revealing hidden cases or their count."""

from __future__ import annotations

import pytest
from django.urls import reverse

from casework.services import case_refresh_search
from permissions.models import AuditEvent, Tier
from tests.factories import CaseFactory, MemberFactory, ShareFactory

pytestmark = pytest.mark.django_db


def list_html(cast, who, **params):
    return cast.client_for(who).get(reverse("casework:case-list"), params).content.decode()


def hidden_case(cast):
    case = CaseFactory(label="秘密さん世帯", life_area=cast.area, lead_coordinator=cast.coordinator)
    MemberFactory(case=case, name="秘密 花子", kana="ひみつ はなこ")
    case_refresh_search(case)
    ShareFactory(case=case, agency=cast.outsider_agency, tier=Tier.SUPPORT)
    return case


def test_no_filter_is_still_scoped(cast):
    hidden_case(cast)
    html = list_html(cast, "professional")
    assert "山﨑さん世帯" in html
    assert "秘密さん世帯" not in html
    assert "1 件" in html or "1 case" in html


@pytest.mark.parametrize("query", ["やまさき", "ヤマサキ", "ﾔﾏｻｷ", "山﨑", "いちろう"])
def test_search_by_kana_finds_kanji_name(cast, query):
    html = list_html(cast, "resident", q=query)
    assert "山﨑さん世帯" in html


def test_search_never_returns_or_counts_hidden_cases(cast):
    hidden_case(cast)
    html = list_html(cast, "professional", q="ひみつ")
    assert "秘密" not in html
    assert "0 件" in html or "0 cases" in html


def test_category_filter_does_not_reveal_support_tier_to_watch_readers(cast):
    from casework.models import NeedCategory

    category = NeedCategory.objects.get(code="8050")
    cast.case.need_categories.add(category)
    assert "山﨑さん世帯" in list_html(cast, "professional", category=category.pk)
    # The resident reads the watch tier only: filtering by a need must not tell them it.
    assert "山﨑さん世帯" not in list_html(cast, "resident", category=category.pk)
    # The taxonomy is in the filter's options; the case row itself must not show the need.
    assert "8050</td>" not in list_html(cast, "resident")
    assert "8050</td>" in list_html(cast, "professional")


def test_outsider_sees_an_empty_list(cast):
    html = list_html(cast, "outsider")
    assert "山﨑" not in html


def test_search_is_audited(cast):
    list_html(cast, "professional", q="やまさき")
    event = AuditEvent.objects.get(action="case_search")
    assert event.actor == cast.professional
    assert event.detail["q"] == "やまさき"


def test_count_stops_past_the_limit_and_says_so(cast, monkeypatch):
    from casework import selectors

    monkeypatch.setattr(selectors, "LIST_COUNT_LIMIT", 3)
    for i in range(4):
        case = CaseFactory(
            label=f"追加{i}さん世帯", life_area=cast.area, lead_coordinator=cast.coordinator
        )
        ShareFactory(case=case, agency=cast.professional_agency, tier=Tier.SUPPORT)
    html = list_html(cast, "professional")
    assert "3 件以上" in html or "More than 3 cases" in html
    html = list_html(cast, "professional", life_area=cast.area.pk)  # filtered: counted per case
    assert "3 件以上" in html or "More than 3 cases" in html
    assert "1 件" in list_html(cast, "professional", q="やまさき")
