"""The access matrix over every case URL and the shared cast."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.conftest import (
    SENSITIVE_CHRONO,
    SENSITIVE_FINANCE,
    SENSITIVE_TEXT,
    SUPPORT_CHRONO,
    SUPPORT_TEXT,
    WATCH_CHRONO,
    WATCH_TEXT,
)

pytestmark = pytest.mark.django_db

SENSITIVE = [SENSITIVE_TEXT, SENSITIVE_FINANCE, SENSITIVE_CHRONO]
SUPPORT = [SUPPORT_TEXT, SUPPORT_CHRONO]
WATCH = [WATCH_TEXT, WATCH_CHRONO, "山﨑さん世帯"]


def case_urls(cast) -> dict[str, str]:
    pk = cast.case.pk
    share = cast.case.shares.first()
    return {
        "detail": reverse("casework:case-detail", args=[pk]),
        "edit": reverse("casework:case-edit", args=[pk]),
        "member-add": reverse("casework:member-add", args=[pk]),
        "member-edit": reverse("casework:member-edit", args=[pk, cast.case.members.first().pk]),
        "chronology-add": reverse("casework:chronology-add", args=[pk]),
        "shares": reverse("casework:share-list", args=[pk]),
        "share-edit": reverse("casework:share-edit", args=[pk, share.pk]),
        "consents": reverse("casework:consent-list", args=[pk]),
        "access-log": reverse("casework:case-access-log", args=[pk]),
    }


# who -> url name -> expected status (GET)
EXPECTED = {
    "coordinator": dict.fromkeys(
        [
            "detail",
            "edit",
            "member-add",
            "member-edit",
            "chronology-add",
            "shares",
            "share-edit",
            "consents",
            "access-log",
        ],
        200,
    ),
    "professional": {
        "detail": 200,
        "edit": 200,
        "member-add": 200,
        "member-edit": 200,
        "chronology-add": 200,
        "shares": 403,
        "share-edit": 403,
        "consents": 403,
        "access-log": 403,
    },
    "resident": {
        "detail": 200,
        "edit": 403,
        "member-add": 403,
        "member-edit": 403,
        "chronology-add": 403,
        "shares": 403,
        "share-edit": 403,
        "consents": 403,
        "access-log": 403,
    },
    "outsider": dict.fromkeys(
        [
            "detail",
            "edit",
            "member-add",
            "member-edit",
            "chronology-add",
            "shares",
            "share-edit",
            "consents",
            "access-log",
        ],
        404,
    ),
}


@pytest.mark.parametrize("who", ["coordinator", "professional", "resident", "outsider"])
def test_access_matrix_statuses(cast, who):
    client = cast.client_for(who)
    for name, url in case_urls(cast).items():
        response = client.get(url)
        assert response.status_code == EXPECTED[who][name], (who, name)
        body = response.content.decode()
        if response.status_code == 404:
            for text in WATCH + SUPPORT + SENSITIVE:
                assert text not in body, (who, name, text)


def test_anonymous_is_sent_to_log_in(cast):
    client = cast.client_for("anonymous")
    for url in case_urls(cast).values():
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("who", "visible", "hidden"),
    [
        ("coordinator", WATCH + SUPPORT + SENSITIVE, []),
        ("professional", WATCH + SUPPORT, SENSITIVE),
        ("resident", WATCH, SUPPORT + SENSITIVE),
    ],
)
def test_detail_shows_only_tiers_held(cast, who, visible, hidden):
    body = cast.client_for(who).get(reverse("casework:case-detail", args=[cast.case.pk]))
    html = body.content.decode()
    for text in visible:
        assert text in html, (who, text)
    for text in hidden:
        assert text not in html, (who, text)


def test_resident_does_not_see_age_or_health_labels(cast):
    html = (
        cast.client_for("resident")
        .get(reverse("casework:case-detail", args=[cast.case.pk]))
        .content.decode()
    )
    # Not hidden by CSS: the labels of higher tiers are absent too.
    for label in ["健康", "Health", "年齢", "生年月日"]:
        assert label not in html
    # The age as a cell's content (a bare "53" can occur in a random token or nonce).
    assert not re.search(r">\s*53\s*<", html)


def test_professional_edit_form_has_no_sensitive_fields(cast):
    html = (
        cast.client_for("professional")
        .get(reverse("casework:case-edit", args=[cast.case.pk]))
        .content.decode()
    )
    assert 'name="summary"' in html
    assert 'name="health"' not in html
    assert SENSITIVE_TEXT not in html


def test_professional_edit_cannot_touch_sensitive(cast):
    url = reverse("casework:case-edit", args=[cast.case.pk])
    cast.client_for("professional").post(
        url,
        {
            "label": "山﨑さん世帯",
            "life_area": cast.area.pk,
            "status": "active",
            "coverage": "partly",
            "health": "上書き",
            "summary": "新しい要約",
        },
    )
    cast.case.refresh_from_db()
    assert cast.case.summary == "新しい要約"
    assert cast.case.health == SENSITIVE_TEXT


def test_resident_may_add_to_timeline_but_not_edit_the_case(cast):
    from permissions.models import Share

    Share.objects.filter(case=cast.case, agency=cast.residents_agency).update(may_contribute=True)
    client = cast.client_for("resident")
    assert client.get(reverse("casework:case-edit", args=[cast.case.pk])).status_code == 403
    add = reverse("casework:chronology-add", args=[cast.case.pk])
    html = client.get(add).content.decode()
    assert 'value="2"' not in html  # only the watch tier is offered
    response = client.post(add, {"occurred_on": "2026-01-05", "tier": "1", "text": "訪問、元気"})
    assert response.status_code == 302
    assert cast.case.chronology.filter(text="訪問、元気", tier=1).exists()


@pytest.mark.parametrize(
    ("who", "shown", "hidden"),
    [
        ("coordinator", [WATCH_CHRONO, SUPPORT_CHRONO, SENSITIVE_CHRONO], []),
        ("professional", [WATCH_CHRONO, SUPPORT_CHRONO], [SENSITIVE_CHRONO]),
        ("resident", [WATCH_CHRONO], [SUPPORT_CHRONO, SENSITIVE_CHRONO]),
    ],
)
def test_timeline_entries_show_their_source_agency_and_tier(cast, who, shown, hidden):
    from casework.models import ChronologyEntry

    body = cast.client_for(who).get(case_urls(cast)["detail"]).content.decode()
    timeline = body.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    items = timeline.split("<li>")[1:]
    assert len(items) == len(shown)
    for text in shown:
        entry = ChronologyEntry.objects.select_related("agency").get(text=text)
        [item] = [i for i in items if text in i]
        assert entry.agency.name in item
        assert entry.tier_label in item
        assert entry.occurred_on.isoformat() in item
    for text in hidden:
        assert text not in body
