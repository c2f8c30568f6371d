"""The access matrix over every conference URL and the shared cast, and what pages show."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from conferences import live
from conferences.models import Conference, PrepAsk
from permissions.conferences import conference_access
from permissions.models import Tier
from tests.conferences.conftest import acknowledge, make_live, schedule

pytestmark = pytest.mark.django_db

SENSITIVE_NOTE = "要配慮ページ：服薬中断について"
SUPPORT_NOTE = "支援ページ：就労支援の相談"
WATCH_NOTE = "見守りページ：夜の灯り"


def _urls(conference: Conference) -> dict[str, str]:
    pk = conference.pk
    link = conference.items.get()
    ask = PrepAsk.objects.filter(sheet__conference_case=link).first()
    urls = {
        "detail": reverse("conferences:conference-detail", args=[pk]),
        "live": reverse("conferences:conference-live", args=[pk]),
        "prep": reverse("conferences:prep-edit", args=[pk, link.pk]),
        "feedback-results": reverse("conferences:feedback-results", args=[pk]),
    }
    if ask:
        urls["ask"] = reverse("conferences:ask-answer", args=[pk, ask.pk])
    return urls


@pytest.fixture
def live_conference(cast):  # type: ignore[no-untyped-def]
    conference = make_live(cast)
    access = conference_access(cast.coordinator, conference)
    item = conference.agenda.filter(case__isnull=False).first()
    for n, (text, tier) in enumerate([(SENSITIVE_NOTE, 3), (SUPPORT_NOTE, 2), (WATCH_NOTE, 1)]):
        live.live_apply(
            actor=cast.coordinator,
            access=access,
            client_op_id=f"v{n}",
            op="note.add",
            args={"item": item.pk, "text": text, "tier": tier},
        )
    PrepAsk.objects.create(
        sheet=conference.items.get().prep,
        agency=cast.professional_agency,
        question="最近の様子",
        asked_by=cast.coordinator,
        tier=Tier.SUPPORT,
    )
    return conference


EXPECTED = {
    "coordinator": {"detail": 200, "live": 200, "prep": 200, "feedback-results": 200, "ask": 403},
    "professional": {"detail": 200, "live": 200, "prep": 403, "feedback-results": 403, "ask": 200},
    "resident": {"detail": 200, "live": 200, "prep": 403, "feedback-results": 403, "ask": 404},
    "outsider": dict.fromkeys(["detail", "live", "prep", "feedback-results", "ask"], 404),
}


@pytest.mark.parametrize("who", ["coordinator", "professional", "resident", "outsider"])
def test_access_matrix(cast, live_conference, who):
    client = cast.client_for(who)
    for name, url in _urls(live_conference).items():
        assert client.get(url).status_code == EXPECTED[who][name], (who, name)


def test_anonymous_is_sent_to_login(cast, live_conference):
    client = cast.client_for("anonymous")
    for url in _urls(live_conference).values():
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_missing_conference_is_404(cast):
    client = cast.client_for("coordinator")
    assert client.get(reverse("conferences:conference-detail", args=[9999])).status_code == 404


def test_live_page_shows_each_reader_only_their_tier(cast, live_conference):
    pages = {
        who: cast.client_for(who)
        .get(reverse("conferences:conference-live", args=[live_conference.pk]))
        .content.decode()
        for who in ("coordinator", "professional", "resident")
    }
    assert all(t in pages["coordinator"] for t in (SENSITIVE_NOTE, SUPPORT_NOTE, WATCH_NOTE))
    assert SUPPORT_NOTE in pages["professional"] and SENSITIVE_NOTE not in pages["professional"]
    assert WATCH_NOTE in pages["resident"]
    assert SUPPORT_NOTE not in pages["resident"] and SENSITIVE_NOTE not in pages["resident"]
    # Read-only agency: no compose form.
    assert 'id="compose"' not in pages["resident"]
    assert 'id="compose"' in pages["professional"]


def test_no_case_content_before_acknowledgement(cast):
    conference = schedule(cast)
    client = cast.client_for("professional")
    live_url = reverse("conferences:conference-live", args=[conference.pk])
    response = client.get(live_url)
    assert response.status_code == 302
    detail = client.get(reverse("conferences:conference-detail", args=[conference.pk]))
    html = detail.content.decode()
    assert "山﨑さん世帯: " not in html  # agenda titles appear only after acknowledging
    assert conference.confidentiality_statement[:10] in html
    client.post(
        reverse("conferences:conference-acknowledge", args=[conference.pk]), {"agree": "yes"}
    )
    assert client.get(live_url).status_code == 200


def test_generated_agenda_headings_follow_the_readers_language(cast, live_conference):
    """Scheduling names each case's items by the case and the item's kind; the reader's
    language decides how the kind reads, whoever scheduled the meeting."""
    client = cast.client_for("professional")
    pages = {
        name: reverse(f"conferences:conference-{name}", args=[live_conference.pk])
        for name in ("detail", "live")
    }
    for name, url in pages.items():
        ja = client.get(url, headers={"accept-language": "ja"}).content.decode()
        assert "山﨑さん世帯: 役割分担" in ja and "山﨑さん世帯: 状況の共有" in ja, name
        assert ">その他<" in ja and "Role allocation" not in ja, name
        en = client.get(url, headers={"accept-language": "en"}).content.decode()
        assert "山﨑さん世帯: Role allocation" in en and "山﨑さん世帯: Situation" in en, name
        assert ">Other business<" in en, name
        assert "役割分担" not in en and "状況の共有" not in en, name


def test_titles_stored_by_earlier_scheduling_become_generated_headings(cast, live_conference):
    """The data migration: what scheduling wrote in either language (or the retention purge
    wrote) is emptied; a chair's own title stays."""
    import importlib

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from conferences.models import AgendaItem

    migration = importlib.import_module("conferences.migrations.0007_agenda_generated_headings")
    # The models as the migration sees them (no properties such as Case.reference).
    state = MigrationLoader(connection).project_state(
        ("conferences", "0006_presence_versions_processes")
    )
    items = {i.kind: i for i in live_conference.agenda.filter(case__isnull=False)}
    other = live_conference.agenda.get(case__isnull=True)
    stored = {
        items["roles"].pk: "山﨑さん世帯: 役割分担",
        items["situation"].pk: "山﨑さん世帯: Situation",
        items["review"].pk: cast.case.reference,
        items["discussion"].pk: "山﨑さん世帯: 困りごとの整理",
        other.pk: "その他",
    }
    for pk, title in stored.items():
        AgendaItem.objects.filter(pk=pk).update(title=title)
    own = AgendaItem.objects.create(
        conference=live_conference, kind=AgendaItem.Kind.OTHER, title="地域の見守り", order=9
    )
    migration.forwards(state.apps, None)
    titles = dict(AgendaItem.objects.filter(conference=live_conference).values_list("pk", "title"))
    assert titles[items["roles"].pk] == titles[items["situation"].pk] == ""
    assert titles[items["review"].pk] == titles[other.pk] == ""
    assert titles[items["discussion"].pk] == "山﨑さん世帯: 困りごとの整理"
    assert titles[own.pk] == "地域の見守り"


def test_an_added_agenda_item_keeps_the_chairs_title(cast, live_conference):
    access = conference_access(cast.coordinator, live_conference)
    live.live_apply(
        actor=cast.coordinator,
        access=access,
        client_op_id="added",
        op="agenda.add",
        args={"title": "地域の見守り体制について"},
    )
    client = cast.client_for("resident")
    url = reverse("conferences:conference-live", args=[live_conference.pk])
    for lang in ("ja", "en"):
        html = client.get(url, headers={"accept-language": lang}).content.decode()
        assert ">地域の見守り体制について<" in html, lang


def test_script_in_a_note_is_rendered_inert(cast, live_conference):
    access = conference_access(cast.coordinator, live_conference)
    item = live_conference.agenda.filter(case__isnull=False).first()
    live.live_apply(
        actor=cast.coordinator,
        access=access,
        client_op_id="xss",
        op="note.add",
        args={"item": item.pk, "text": "<script>alert('x')</script>", "tier": 2},
    )
    html = (
        cast.client_for("coordinator")
        .get(reverse("conferences:conference-live", args=[live_conference.pk]))
        .content.decode()
    )
    assert "<script>alert('x')</script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_schedule_form_and_double_submit(cast):
    client = cast.client_for("coordinator")
    url = reverse("conferences:conference-create")
    assert client.get(url).status_code == 200
    assert cast.client_for("professional").get(url).status_code == 403
    data = {
        "token": "tok-123",
        "kind": Conference.Kind.SUPPORT_MEETING,
        "title": "支援会議",
        "starts_at": "2099-01-10T10:00",
        "duration_minutes": 60,
        "cases": [cast.case.pk],
        "agencies": [cast.council.pk, cast.professional_agency.pk],
        "chair": cast.coordinator.pk,
        "member_tier": 2,
        "members_contribute": "on",
        "confidentiality_statement": "秘密を守ります。",
    }
    first = client.post(url, data)
    second = client.post(url, data)
    assert first.status_code == 302 and first["Location"] == second["Location"]
    assert Conference.objects.count() == 1


def test_multilayer_without_consent_says_what_is_missing(cast):
    client = cast.client_for("coordinator")
    response = client.post(
        reverse("conferences:conference-create"),
        {
            "token": "tok-ml",
            "kind": Conference.Kind.MULTILAYER,
            "title": "重層的支援会議",
            "starts_at": "2099-01-10T10:00",
            "duration_minutes": 60,
            "cases": [cast.case.pk],
            "agencies": [cast.professional_agency.pk],
            "chair": cast.coordinator.pk,
            "member_tier": 2,
            "confidentiality_statement": "秘密を守ります。",
        },
    )
    assert response.status_code == 200
    assert "山﨑さん世帯" in response.content.decode()
    assert not Conference.objects.exists()


def test_dashboard_lists_upcoming_conferences(cast):
    conference = schedule(cast)
    html = cast.client_for("resident").get(reverse("dashboard")).content.decode()
    assert conference.title in html
    assert (
        conference.title
        not in cast.client_for("outsider").get(reverse("dashboard")).content.decode()
    )


def test_dashboard_says_which_meetings_wait_for_the_agencys_answer(cast, live_conference):
    """An ask to another department waits on the asked agency's dashboard, on its meeting's
    card, until someone of that agency answers it; nobody else is told of it."""
    from django.utils import translation

    ask = PrepAsk.objects.get(sheet__conference_case__conference=live_conference)
    dashboard = reverse("dashboard")
    waiting = "1件の照会が、所属機関の回答を待っています"

    def page(who: str) -> str:
        with translation.override("ja"):
            return (
                cast.client_for(who)
                .get(dashboard, headers={"accept-language": "ja"})
                .content.decode()
            )

    assert waiting in page("professional")
    for other in ("coordinator", "resident", "outsider"):
        assert "照会が、所属機関の回答を待っています" not in page(other)
    cast.client_for("professional").post(
        reverse("conferences:ask-answer", args=[live_conference.pk, ask.pk]),
        {"answer": "先週の訪問では元気でした"},
    )
    assert "照会が、所属機関の回答を待っています" not in page("professional")
    assert live_conference.title in page("professional")


def test_feedback_after_closing(cast, live_conference):
    from conferences.models import Feedback

    client = cast.client_for("professional")
    url = reverse("conferences:feedback", args=[live_conference.pk])
    # Not closed yet: the page says when feedback opens, and offers no form.
    page = client.get(url, headers={"accept-language": "en"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Feedback opens when the meeting is closed." in html
    assert 'name="useful"' not in html and "<form" not in html.split("<main", 1)[-1]
    answers = {"useful": "yes", "role_clear": "no", "comment": "次回は早めに"}
    response = client.post(url, answers, headers={"accept-language": "en"})
    assert response.status_code == 200  # and the server still refuses it
    assert "Feedback opens when the meeting is closed." in response.content.decode()
    assert not Feedback.objects.exists()
    cast.client_for("coordinator").post(
        reverse("conferences:conference-close", args=[live_conference.pk])
    )
    assert (
        client.post(
            url, {"useful": "yes", "role_clear": "no", "comment": "次回は早めに"}
        ).status_code
        == 302
    )
    results = (
        cast.client_for("coordinator")
        .get(reverse("conferences:feedback-results", args=[live_conference.pk]))
        .content.decode()
    )
    assert "次回は早めに" in results and "鈴木" in results
    assert cast.client_for("outsider").get(url).status_code == 404


def test_reading_the_live_page_is_audited_per_case(cast, live_conference):
    from permissions.models import AuditEvent

    cast.client_for("resident").get(
        reverse("conferences:conference-live", args=[live_conference.pk])
    )
    row = AuditEvent.objects.filter(actor=cast.resident, action="case_view").get()
    assert row.case == cast.case and row.tier == Tier.WATCH
    assert row.reason == f"conference {live_conference.pk}"


def test_move_to_multilayer_from_the_conference_page(cast):
    from django.utils import timezone

    from permissions.models import Share
    from permissions.services import consent_record

    conference = schedule(cast)
    client = cast.client_for("coordinator")
    client.post(
        reverse("conferences:conference-acknowledge", args=[conference.pk]), {"agree": "yes"}
    )
    detail = reverse("conferences:conference-detail", args=[conference.pk])
    assert "先に本人の同意を記録してください" in client.get(detail).content.decode()
    consent_record(
        actor=cast.coordinator,
        case=cast.case,
        agencies=[cast.professional_agency, cast.residents_agency],
        tier=Tier.SUPPORT,
        given_on=timezone.localdate(),
        method="written",
    )
    assert "重層的支援会議" in client.get(detail).content.decode()
    link = conference.items.get()
    move = reverse("conferences:move-to-multilayer", args=[conference.pk, link.pk])
    assert cast.client_for("professional").post(move).status_code == 403
    response = client.post(move)
    assert response.status_code == 302 and "kind=multilayer" in response["Location"]
    assert Share.objects.get(case=cast.case, agency=cast.professional_agency).basis == "consent"
    form = client.get(response["Location"]).content.decode()
    assert 'value="multilayer" selected' in form


def test_people_are_named_family_name_first(cast, live_conference):
    """Chair, minute-taker, attendees and the action owner list: 佐藤 美咲, never 美咲 佐藤."""
    client = cast.client_for("coordinator")
    pages = [
        client.get(reverse(name, args=[live_conference.pk])).content.decode()
        for name in ("conferences:conference-detail", "conferences:conference-live")
    ]
    detail, live_page = pages
    assert "佐藤 美咲" in detail and "鈴木 健" in detail
    assert "美咲 佐藤" not in detail and "健 鈴木" not in detail
    assert "佐藤 美咲" in live_page and "美咲 佐藤" not in live_page


def test_answer_link_only_for_the_asked_agency(cast, live_conference):
    """The lead coordinator reads an ask to another agency but may not answer it (403): the
    detail page offers the answer link only to the asked agency's writers."""
    ask = PrepAsk.objects.get(sheet__conference_case__conference=live_conference)
    answer_url = reverse("conferences:ask-answer", args=[live_conference.pk, ask.pk])
    detail = reverse("conferences:conference-detail", args=[live_conference.pk])
    coordinator = cast.client_for("coordinator").get(detail).content.decode()
    professional = cast.client_for("professional").get(detail).content.decode()
    assert ask.question in coordinator and ask.question in professional
    assert answer_url not in coordinator
    assert f'href="{answer_url}"' in professional


def test_the_prep_page_lists_the_asks_sent_and_their_answers(cast, live_conference):
    """After sending an ask the coordinator is back on the preparation sheet: it lists what
    was asked of whom, and the answer once the agency has given it."""
    link = live_conference.items.get()
    url = reverse("conferences:prep-edit", args=[live_conference.pk, link.pk])
    add = reverse("conferences:prep-ask-add", args=[live_conference.pk, link.pk])
    client = cast.client_for("coordinator")
    sent = client.post(
        add,
        {"agency": cast.professional_agency.pk, "tier": Tier.SUPPORT, "question": "通院の予定は？"},
        headers={"accept-language": "ja"},
    )
    assert sent.status_code == 302 and sent.url == url
    page = client.get(url, headers={"accept-language": "ja"}).content.decode()
    assert "通院の予定は？" in page and "最近の様子" in page
    assert page.count("未回答") == 2
    ask = PrepAsk.objects.get(question="通院の予定は？")
    ask_url = reverse("conferences:ask-answer", args=[live_conference.pk, ask.pk])
    cast.client_for("professional").post(ask_url, {"answer": "来週火曜に受診"})
    page = client.get(url, headers={"accept-language": "ja"}).content.decode()
    assert "来週火曜に受診" in page


def test_prep_ask_form_labels_are_translated(cast, live_conference):
    """The ask form's agency field had no verbose name: Django made its label from the field's
    name ("Agency"), which no translation catalogue holds."""
    link = live_conference.items.get()
    url = reverse("conferences:prep-edit", args=[live_conference.pk, link.pk])
    client = cast.client_for("coordinator")
    ja = client.get(url, headers={"accept-language": "ja"}).content.decode()
    assert '<label for="id_agency">機関 <span class="required"' in ja
    assert ">Agency <" not in ja
    en = client.get(url, headers={"accept-language": "en"}).content.decode()
    assert '<label for="id_agency">Agency <span class="required"' in en


def test_move_to_multilayer_says_who_is_not_covered_and_prefills_only_covered_invitees(cast):
    """The detail page says the consent is recorded and which of this meeting's agencies it
    does not cover; after the move the new meeting's form invites this meeting's agencies the
    consent covers (and the coordinating council), never others the consent happens to name."""
    from urllib.parse import parse_qs, urlsplit

    from django.utils import timezone

    from permissions.services import consent_record

    conference = schedule(cast)  # council, professional agency, residents' group
    consent_record(
        actor=cast.coordinator,
        case=cast.case,
        agencies=[cast.professional_agency, cast.outsider_agency],
        tier=Tier.SUPPORT,
        given_on=timezone.localdate(),
        method="written",
    )
    client = cast.client_for("coordinator")
    client.post(
        reverse("conferences:conference-acknowledge", args=[conference.pk]), {"agree": "yes"}
    )
    detail = reverse("conferences:conference-detail", args=[conference.pk])
    html = client.get(detail, headers={"accept-language": "en"}).content.decode()
    assert "A valid consent is recorded for this case" in html
    said = "The consent does not cover these agencies invited to this support meeting"
    assert said in html
    not_covered = html.split(said, 1)[1].split("</ul>", 1)[0]
    assert "<li>民生委員協議会</li>" in not_covered
    assert "社協" not in not_covered  # coordinates the case: needs no consent
    link = conference.items.get()
    response = client.post(reverse("conferences:move-to-multilayer", args=[conference.pk, link.pk]))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["kind"] == ["multilayer"] and query["cases"] == [str(cast.case.pk)]
    assert sorted(query["agencies"]) == sorted(
        [str(cast.council.pk), str(cast.professional_agency.pk)]
    )
    form = client.get(response["Location"]).content.decode()
    assert f'value="{cast.professional_agency.pk}" id="id_agencies_' in form
    assert f'value="{cast.outsider_agency.pk}" checked' not in form


def test_feedback_radios_offer_only_the_answers_and_require_one(cast, live_conference):
    """No blank radio button ("― 選んでください ―"); an unanswered question gets a clear error."""
    from conferences.models import Feedback

    cast.client_for("coordinator").post(
        reverse("conferences:conference-close", args=[live_conference.pk])
    )
    client = cast.client_for("professional")
    url = reverse("conferences:feedback", args=[live_conference.pk])
    html = client.get(url, headers={"accept-language": "ja"}).content.decode()
    for name in ("useful", "role_clear"):
        values = re.findall(rf'name="{name}" value="([^"]*)"', html)
        assert values == ["yes", "partly", "no"], name
    assert "選んでください" not in html
    response = client.post(
        url, {"useful": "yes", "comment": "x"}, headers={"accept-language": "en"}
    )
    assert response.status_code == 200 and not Feedback.objects.exists()
    errors = response.context["form"].errors
    assert errors["role_clear"] == ["Choose one of the answers."] and "useful" not in errors
    assert "Choose one of the answers." in response.content.decode()


def test_closed_meeting_says_what_to_do_instead_of_asking_for_an_acknowledgement(cast):
    """Acknowledging is possible before or during a meeting, not after it: a member who never
    acknowledged is told so, and where to turn, instead of being asked for an acknowledgement
    the page cannot take; the server refuses one too."""
    from conferences import services
    from conferences.models import Participant

    conference = schedule(cast)
    acknowledge(conference, cast.coordinator)
    chair = conference_access(cast.coordinator, conference)
    services.conference_start(actor=cast.coordinator, access=chair)
    services.conference_close(actor=cast.coordinator, access=chair)
    client = cast.client_for("professional")
    detail = reverse("conferences:conference-detail", args=[conference.pk])
    html = client.get(detail, headers={"accept-language": "en"}).content.decode()
    assert "This meeting is closed and you did not acknowledge" in html
    assert "ask the chair (佐藤 美咲) for your agency's copy" in html
    assert f'href="{reverse("dashboard")}"' in html
    assert "conference-acknowledge" not in html and 'name="agree"' not in html
    assert "Before any case content is shown" not in html
    response = client.post(
        reverse("conferences:conference-acknowledge", args=[conference.pk]),
        {"agree": "yes"},
        headers={"accept-language": "en"},
        follow=True,
    )
    assert response.redirect_chain == [(detail, 302)]
    assert "can no longer be acknowledged" in response.content.decode()
    assert not Participant.objects.filter(
        conference=conference, user=cast.professional, acknowledged_at__isnull=False
    ).exists()
    assert client.get(reverse("conferences:conference-live", args=[conference.pk]))["Location"] == (
        detail
    )


def test_live_page_says_a_closed_meeting_is_closed_not_that_the_agency_may_not_write(
    cast, live_conference
):
    """The read-only notice's reason: the meeting's state comes first (closed, not started),
    for the chair too; a read-only agency in a live one is told it reads only; a writer gets
    none. (conference_live.html may show `read_only_notice` as its reason.)"""

    def notice(who: str, conference: Conference = live_conference) -> str:
        url = reverse("conferences:conference-live", args=[conference.pk])
        response = cast.client_for(who).get(url, headers={"accept-language": "en"})
        return response.context["read_only_notice"]

    scheduled = schedule(cast)
    acknowledge(scheduled, cast.coordinator)
    assert notice("coordinator", scheduled) == "The meeting has not started yet."
    assert notice("resident") == "Your agency may read this meeting but not write in it."
    assert notice("professional") == notice("coordinator") == ""
    cast.client_for("coordinator").post(
        reverse("conferences:conference-close", args=[live_conference.pk])
    )
    for who in ("coordinator", "professional", "resident"):
        assert notice(who) == "The meeting is closed: no more changes.", who
