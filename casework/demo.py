"""Demo data for trying Otagai: Bunkyo's four life areas, agencies of every kind, one user
per role and ~40 cases following published patterns. Idempotent: every row is looked up by
a natural key before it is created, so running it twice changes no count."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from casework.models import (
    Case,
    ChronologyEntry,
    Concern,
    EvacuationPlan,
    HouseholdMember,
    NeedCategory,
    SafetyMark,
    VisitLog,
    WatchAssignment,
    normalize_kana,
)
from permissions.models import Agency, Area, Consent, Declaration, Membership, Share, Tier

DEMO_PASSWORD = "otagai-demo-2026"  # noqa: S105 - printed by the command, listed in README

AREAS = {
    "富坂": ("とみさか", ["小石川一丁目町会", "春日町会", "白山東町会"]),
    "大塚": ("おおつか", ["大塚三丁目町会", "音羽町会", "関口町会"]),
    "本富士": ("もとふじ", ["本郷二丁目町会", "湯島三丁目町会", "弥生町会"]),
    "駒込": ("こまごめ", ["千駄木町会", "本駒込二丁目町会", "向丘町会"]),
}

COUNCIL = "文京区社会福祉協議会"
AGENCIES: list[tuple[str, str, str | None, bool]] = [
    (COUNCIL, Agency.Kind.COUNCIL, None, True),
    ("文京区 高齢福祉課", Agency.Kind.WARD_SECTION, None, False),
    ("文京区 障害福祉課", Agency.Kind.WARD_SECTION, None, False),
    ("文京区 生活福祉課", Agency.Kind.WARD_SECTION, None, False),
    ("文京区 保健サービスセンター", Agency.Kind.WARD_SECTION, None, False),
    ("文京区 子ども家庭支援センター", Agency.Kind.WARD_SECTION, None, False),
    ("富坂地域包括支援センター", Agency.Kind.PROFESSIONAL, "富坂", False),
    ("ケアプランセンターこいしかわ", Agency.Kind.PROFESSIONAL, None, False),
    ("大塚警察署 生活安全課", Agency.Kind.PROFESSIONAL, None, True),
    ("富坂地区民生委員・児童委員協議会", Agency.Kind.RESIDENTS, "富坂", True),
    ("小石川一丁目町会", Agency.Kind.RESIDENTS, "小石川一丁目町会", True),
    ("こいしかわ見守り隊", Agency.Kind.RESIDENTS, "富坂", False),
]


@dataclass(frozen=True)
class DemoUser:
    username: str
    last: str
    first: str
    agency: str | None
    role: str | None
    title: str = ""
    life_areas: tuple[str, ...] = ()
    staff: bool = False


USERS = [
    DemoUser(
        "coordinator",
        "佐藤",
        "美咲",
        COUNCIL,
        Membership.Role.COORDINATOR,
        "地域福祉コーディネーター",
        ("富坂", "大塚"),
    ),
    DemoUser(
        "coordinator2",
        "田村",
        "翔",
        COUNCIL,
        Membership.Role.COORDINATOR,
        "生活支援コーディネーター",
        ("本富士", "駒込"),
    ),
    DemoUser(
        "caremanager",
        "鈴木",
        "健",
        "ケアプランセンターこいしかわ",
        Membership.Role.PROFESSIONAL,
        "介護支援専門員",
    ),
    DemoUser(
        "houkatsu",
        "小野",
        "恵",
        "富坂地域包括支援センター",
        Membership.Role.PROFESSIONAL,
        "社会福祉士",
    ),
    DemoUser(
        "nurse",
        "中川",
        "由美",
        "文京区 保健サービスセンター",
        Membership.Role.PROFESSIONAL,
        "保健師",
    ),
    DemoUser(
        "commissioner",
        "高橋",
        "和子",
        "富坂地区民生委員・児童委員協議会",
        Membership.Role.RESIDENT,
        "民生委員・児童委員",
    ),
    DemoUser(
        "volunteer",
        "森",
        "さくら",
        "こいしかわ見守り隊",
        Membership.Role.RESIDENT,
        "見守りボランティア",
    ),
    DemoUser(
        "outsider",
        "石田",
        "聡",
        "文京区 障害福祉課",
        Membership.Role.PROFESSIONAL,
        "ケースワーカー",
    ),
    DemoUser("admin", "管理", "者", None, None, "システム管理者", staff=True),
]

SURNAMES = [
    ("山田", "やまだ"),
    ("髙橋", "たかはし"),
    ("山﨑", "やまさき"),
    ("佐々木", "ささき"),
    ("田中", "たなか"),
    ("伊藤", "いとう"),
    ("渡辺", "わたなべ"),
    ("中村", "なかむら"),
    ("小林", "こばやし"),
    ("加藤", "かとう"),
    ("吉田", "よしだ"),
    ("松本", "まつもと"),
    ("井上", "いのうえ"),
    ("木村", "きむら"),
    ("林", "はやし"),
    ("清水", "しみず"),
    ("森田", "もりた"),
    ("池田", "いけだ"),
    ("橋本", "はしもと"),
    ("阿部", "あべ"),
    ("石川", "いしかわ"),
    ("前田", "まえだ"),
    ("藤田", "ふじた"),
    ("小川", "おがわ"),
    ("岡田", "おかだ"),
    ("後藤", "ごとう"),
    ("長谷川", "はせがわ"),
    ("村上", "むらかみ"),
    ("近藤", "こんどう"),
    ("石井", "いしい"),
    ("斎藤", "さいとう"),
    ("坂本", "さかもと"),
    ("遠藤", "えんどう"),
    ("青木", "あおき"),
    ("藤井", "ふじい"),
    ("西村", "にしむら"),
    ("福田", "ふくだ"),
    ("太田", "おおた"),
    ("三浦", "みうら"),
    ("藤原", "ふじわら"),
]

# (pattern, categories, coverage, members [(given, kana, relation, age, subject)],
#  watch, support, sensitive, flags)
PATTERNS = [
    {
        "key": "8050",
        "categories": ["8050", "hikikomori"],
        "coverage": Case.Coverage.NOT_COVERED,
        "members": [("トメ", "とめ", "本人", 84, True), ("一郎", "いちろう", "長男", 53, False)],
        "watch_notes": "週1回、民生委員が声かけ。新聞受けに新聞がたまっていないか確認。",
        "disaster_needs": "母は歩行器使用。2階から降りるのに介助が必要。",
        "summary": "介護サービス訪問時に、同居の長男が長年ひきこもっていることが分かった8050世帯。",
        "situation": "母の年金で二人が生活。長男は20年以上就労しておらず、外出はコンビニ程度。",
        "issues": "母の介護と長男の社会参加の両方に支援が必要。長男は支援を拒否しがち。",
        "support_plan": "ケアマネジャーと社協CSWが同行訪問し、長男との関係づくりから始める。",
        "health": "母：アルツハイマー型認知症（要介護2）。長男：未治療のうつ状態の疑い。",
        "disability": "",
        "abuse": "長男による母への暴言が時々あるとの情報（身体的虐待の兆候なし）。",
        "finances": "母の年金月額約9万円のみ。家賃滞納3か月、電気料金の督促あり。",
        "watch_over": True,
        "disaster": True,
    },
    {
        "key": "hoarding",
        "categories": ["hoarding", "isolation"],
        "coverage": Case.Coverage.NOT_COVERED,
        "members": [("茂", "しげる", "本人", 76, False)],
        "watch_notes": "町会役員が月2回ごみ出し日に様子を見る。",
        "disaster_needs": "室内に物が多く避難経路がふさがっている。",
        "summary": "町会から「家の周りにごみがあふれ、においがする」と相談のあった独居高齢男性。",
        "situation": "妻と死別後、地域とのつながりが途絶えた。玄関先までごみが積まれている。",
        "issues": "本人は片付けを拒否。近隣との関係が悪化している。",
        "support_plan": "町会長と社協で訪問し、本人が気にしている庭の手入れから一緒に始める。",
        "health": "糖尿病の通院を中断している可能性。",
        "disability": "",
        "abuse": "",
        "finances": "年金月額14万円。公共料金の滞納はない。",
        "watch_over": True,
        "disaster": False,
    },
    {
        "key": "dementia",
        "categories": ["dementia-alone"],
        "coverage": Case.Coverage.PARTLY,
        "members": [("ハル", "はる", "本人", 88, True)],
        "watch_notes": "毎朝、見守りボランティアが郵便受けを確認。不審な訪問者に注意。",
        "disaster_needs": "避難所の場所を覚えていない。誘導が必要。",
        "summary": "認知症のある独居女性。訪問販売による高額契約が続き、特殊詐欺の被害が心配。",
        "situation": "遠方に住む姪が年数回訪問するのみ。日中は一人。",
        "issues": "金銭管理が難しくなっている。成年後見制度の利用を検討。",
        "support_plan": "地域包括と日常生活自立支援事業の利用を調整。警察と防犯の声かけ。",
        "health": "中等度の認知症（MMSE 16点）。服薬管理ができていない。",
        "disability": "",
        "abuse": "",
        "finances": "預金約800万円。この半年で約120万円の不明な引き出し。",
        "watch_over": True,
        "disaster": True,
    },
    {
        "key": "young-carer",
        "categories": ["young-carer"],
        "coverage": Case.Coverage.NOT_COVERED,
        "members": [
            ("陽菜", "ひな", "本人", 14, True),
            ("真由美", "まゆみ", "母", 45, False),
            ("蓮", "れん", "弟", 6, False),
        ],
        "watch_notes": "学校と連携。登校状況を担任が確認。",
        "disaster_needs": "母が体調不良の時は、子ども二人だけになる。",
        "summary": "中学校から、遅刻と欠席が増えた生徒が家族の世話をしていると相談があった。",
        "situation": "母が体調を崩し、本人が弟の送り迎えや家事を担っている。",
        "issues": "本人の学習と休息の時間が足りない。母は支援を受けることに抵抗がある。",
        "support_plan": "子ども家庭支援センターと学校で本人の話を聴き、家事支援の導入を検討。",
        "health": "母：精神疾患で通院中（詳細は保健師のみ）。",
        "disability": "",
        "abuse": "ネグレクトの疑いは現時点でなし。継続して確認。",
        "finances": "児童扶養手当受給。母は休職中で収入が減少。",
        "watch_over": False,
        "disaster": False,
    },
    {
        "key": "mental",
        "categories": ["mental-health"],
        "coverage": Case.Coverage.PARTLY,
        "members": [("大輔", "だいすけ", "本人", 38, True), ("和夫", "かずお", "父", 70, False)],
        "watch_notes": "夜間の大声に近隣が不安を感じている。訪問は二人以上で。",
        "disaster_needs": "",
        "summary": "未治療の精神的な不調があり、同居の父と口論が絶えない世帯。",
        "situation": "近隣から夜間の大声の通報が複数回。父は疲れ切っている。",
        "issues": "本人の受診と、父の負担軽減。",
        "support_plan": "保健師が訪問し、受診につなぐ。父には家族会を紹介。",
        "health": "統合失調症の疑い。過去に1回入院歴あり、以後通院中断。",
        "disability": "精神障害者保健福祉手帳は未申請。",
        "abuse": "父への暴力が1回あったと父が話している。",
        "finances": "父の年金で生活。",
        "watch_over": False,
        "disaster": False,
    },
    {
        "key": "housing",
        "categories": ["housing-loss", "debt"],
        "coverage": Case.Coverage.PARTLY,
        "members": [("誠", "まこと", "本人", 61, True)],
        "watch_notes": "",
        "disaster_needs": "",
        "summary": "失業後に家賃を滞納し、アパートの退去を求められている単身男性。",
        "situation": "派遣の仕事を失い、貯金が尽きた。消費者金融からの借入れがある。",
        "issues": "住まいの確保と債務整理、就労。",
        "support_plan": "生活福祉課で生活保護の相談。法テラスにつなぎ債務整理を進める。",
        "health": "腰痛のため立ち仕事が難しい。",
        "disability": "",
        "abuse": "",
        "finances": "消費者金融3社から計約180万円。家賃滞納4か月（約28万円）。",
        "watch_over": False,
        "disaster": False,
    },
    {
        "key": "ibasho",
        "categories": ["hikikomori", "isolation"],
        "coverage": Case.Coverage.NOT_COVERED,
        "members": [("翼", "つばさ", "本人", 29, True), ("恵子", "けいこ", "母", 58, False)],
        "watch_notes": "",
        "disaster_needs": "",
        "summary": "10年以上ひきこもっていた青年が、居場所（こまじいのうち）に通い始めた。",
        "situation": "週1回、午後に居場所へ。スタッフとゲームの話ができるようになった。",
        "issues": "居場所以外の社会参加、将来の就労。",
        "support_plan": "居場所での関係を続け、本人のペースで就労準備支援を紹介。",
        "health": "不眠。通院歴なし。",
        "disability": "",
        "abuse": "",
        "finances": "母のパート収入と父の仕送り。",
        "watch_over": False,
        "disaster": False,
    },
    {
        "key": "elderly-couple",
        "categories": ["elderly-carers"],
        "coverage": Case.Coverage.COVERED,
        "members": [("正", "ただし", "本人", 90, True), ("キヨ", "きよ", "妻", 87, False)],
        "watch_notes": "民生委員が月2回訪問。町会の防災訓練に声をかける。",
        "disaster_needs": "夫は車いす。妻は難聴。避難には2人の支援者が必要。福祉避難所を希望。",
        "summary": "老老介護の高齢夫婦。避難行動要支援者名簿に登録済み。",
        "situation": "妻が夫の介護をしているが、妻自身も体力が落ちている。",
        "issues": "妻の介護負担。災害時の避難。",
        "support_plan": "ショートステイの利用を提案。個別避難計画を町会と作成。",
        "health": "夫：脳梗塞後遺症で右半身まひ。妻：高血圧、難聴。",
        "disability": "夫：身体障害者手帳2級。",
        "abuse": "",
        "finances": "夫婦の年金で生活。",
        "watch_over": True,
        "disaster": True,
    },
]


def _area(name: str, parent: Area | None, kana: str = "", order: int = 0) -> Area:
    area, _ = Area.objects.get_or_create(
        name=name, parent=parent, defaults={"kana": kana, "order": order}
    )
    return area


@transaction.atomic
def seed_demo() -> dict[str, int]:
    today = timezone.localdate()
    now = timezone.now()
    life: dict[str, Area] = {}
    small: dict[str, Area] = {}
    for order, (name, (kana, smalls)) in enumerate(AREAS.items()):
        life[name] = _area(name, None, kana, order)
        for i, s in enumerate(smalls):
            small[s] = _area(s, life[name], "", i)

    agencies: dict[str, Agency] = {}
    for name, kind, area_name, supporter in AGENCIES:
        area = life.get(area_name or "") or small.get(area_name or "")
        agencies[name], _ = Agency.objects.get_or_create(
            name=name, defaults={"kind": kind, "area": area, "disaster_supporter": supporter}
        )

    User = get_user_model()
    users = {}
    for du in USERS:
        user = User.objects.filter(username=du.username).first()
        if user is None:
            user = User(
                username=du.username,
                last_name=du.last,
                first_name=du.first,
                email=f"{du.username}@example.jp",
                is_staff=du.staff,
                is_superuser=du.staff,
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
        users[du.username] = user
        if du.agency and du.role:
            m, _ = Membership.objects.get_or_create(
                user=user,
                agency=agencies[du.agency],
                defaults={"role": du.role, "title": du.title},
            )
            m.life_areas.set([life[a] for a in du.life_areas])

    categories = {c.code: c for c in NeedCategory.objects.all()}
    council = agencies[COUNCIL]
    life_names = list(AREAS)
    for index, (surname, surname_kana) in enumerate(SURNAMES):
        pattern = PATTERNS[index % len(PATTERNS)]
        area_name = life_names[index % 4] if index % 3 else "富坂"
        area = life[area_name]
        small_area = small[AREAS[area_name][1][index % 3]]
        lead = users["coordinator"] if area_name in ("富坂", "大塚") else users["coordinator2"]
        label = f"{surname}さん世帯"
        case = Case.objects.filter(label=label, life_area=area).first()
        if case is None:
            case = Case.objects.create(
                label=label,
                life_area=area,
                small_area=small_area,
                address=f"{small_area.name}内 {index + 1}番地付近",
                watch_notes=pattern["watch_notes"],
                disaster_needs=pattern["disaster_needs"],
                watch_over=pattern["watch_over"],
                disaster_support=pattern["disaster"],
                status=[
                    Case.Status.ACTIVE,
                    Case.Status.OPEN,
                    Case.Status.MONITORING,
                    Case.Status.ACTIVE,
                    Case.Status.CLOSED,
                ][index % 5],
                summary=pattern["summary"],
                situation=pattern["situation"],
                issues=pattern["issues"],
                support_plan=pattern["support_plan"],
                coverage=pattern["coverage"],
                health=pattern["health"],
                disability=pattern["disability"],
                abuse=pattern["abuse"],
                finances=pattern["finances"],
                lead_coordinator=lead,
                opened_at=now - dt.timedelta(days=30 + index * 9),
            )
            if case.status == Case.Status.CLOSED:
                case.closed_at = now - dt.timedelta(days=index)
                case.save(update_fields=["closed_at"])
        case.need_categories.set([categories[c] for c in pattern["categories"]])
        for given, kana, relation, age, subject in pattern["members"]:
            HouseholdMember.objects.get_or_create(
                case=case,
                name=f"{surname} {given}",
                defaults={
                    "kana": f"{surname_kana} {kana}",
                    "relationship": relation,
                    "age": age,
                    "is_subject": subject,
                },
            )
        parts = [label] + [f"{m.name} {m.kana}" for m in case.members.all()]
        Case.objects.filter(pk=case.pk).update(
            search_text=" ".join(normalize_kana(p) for p in parts)[:1000]
        )
        _share(
            case,
            council,
            Tier.SENSITIVE,
            Share.Basis.INTAKE,
            lead,
            contribute=True,
            coordinates=True,
        )
        _demo_shares(case, index, pattern["key"], agencies, lead, today, now)
        _demo_chronology(case, index, agencies, users, lead, today)
    _demo_watch(agencies, users, small, today)
    _demo_disaster(agencies, users, life, now)
    _demo_concerns(agencies, users, life, small, now)
    return counts()


def _share(
    case,
    agency,
    tier,
    basis,
    by,
    *,
    contribute=False,
    coordinates=False,
    consent=None,
    expires_at=None,
):  # type: ignore[no-untyped-def]
    Share.objects.get_or_create(
        case=case,
        agency=agency,
        defaults={
            "tier": tier,
            "basis": basis,
            "may_contribute": contribute,
            "coordinates": coordinates,
            "consent": consent,
            "granted_by": by,
            "expires_at": expires_at,
        },
    )


def _consent(case, agencies, tier, given_on, by, *, note, expires_on=None, withdrawn=False):  # type: ignore[no-untyped-def]
    consent = Consent.objects.filter(case=case, scope_note=note).first()
    if consent is None:
        consent = Consent.objects.create(
            case=case,
            tier=tier,
            given_on=given_on,
            method=Consent.Method.WRITTEN,
            expires_on=expires_on,
            scope_note=note,
            recorded_by=by,
            withdrawn_at=timezone.now() if withdrawn else None,
            withdrawn_by=by if withdrawn else None,
        )
        consent.agencies.set(agencies)
    return consent


def _demo_shares(case, index, key, agencies, lead, today, now):  # type: ignore[no-untyped-def]
    cm = agencies["ケアプランセンターこいしかわ"]
    houkatsu = agencies["富坂地域包括支援センター"]
    nurse = agencies["文京区 保健サービスセンター"]
    minsei = agencies["富坂地区民生委員・児童委員協議会"]
    volunteers = agencies["こいしかわ見守り隊"]
    chonai = agencies["小石川一丁目町会"]
    kodomo = agencies["文京区 子ども家庭支援センター"]
    seikatsu = agencies["文京区 生活福祉課"]
    police = agencies["大塚警察署 生活安全課"]
    consent = _consent(
        case,
        [cm, houkatsu, minsei, volunteers, chonai],
        Tier.SUPPORT,
        today - dt.timedelta(days=60),
        lead,
        note="支援に必要な範囲で、ケアマネジャー・地域包括・民生委員・見守りに情報を共有することに同意。",
        expires_on=today + dt.timedelta(days=300),
    )
    _share(case, cm, Tier.SUPPORT, Share.Basis.CONSENT, lead, contribute=True, consent=consent)
    _share(case, minsei, Tier.WATCH, Share.Basis.CONSENT, lead, contribute=True, consent=consent)
    if index % 2 == 0:
        _share(case, volunteers, Tier.WATCH, Share.Basis.CONSENT, lead, consent=consent)
    if key in ("8050", "dementia", "mental", "elderly-couple"):
        _share(case, houkatsu, Tier.SENSITIVE, Share.Basis.SUPPORT_MEETING, lead, contribute=True)
        _share(case, nurse, Tier.SENSITIVE, Share.Basis.SUPPORT_MEETING, lead, contribute=True)
    if key == "young-carer":
        _share(case, kodomo, Tier.SENSITIVE, Share.Basis.CHILD_COUNCIL, lead, contribute=True)
    if key in ("housing", "hoarding"):
        _share(case, seikatsu, Tier.SUPPORT, Share.Basis.SUPPORT_MEETING, lead, contribute=True)
        _share(case, chonai, Tier.WATCH, Share.Basis.CONSENT, lead, consent=consent)
    if key == "dementia" and index < 8:
        _share(
            case,
            police,
            Tier.SUPPORT,
            Share.Basis.EMERGENCY,
            lead,
            expires_at=now + dt.timedelta(hours=72),
        )
    if index == 1:  # a consent that has expired: its share grants nothing any more
        old = _consent(
            case,
            [kodomo],
            Tier.SUPPORT,
            today - dt.timedelta(days=400),
            lead,
            note="子ども家庭支援センターとの共有に同意（期限切れ）。",
            expires_on=today - dt.timedelta(days=35),
        )
        _share(case, kodomo, Tier.SUPPORT, Share.Basis.CONSENT, lead, consent=old)
    if index == 2:  # a consent that was withdrawn
        _consent(
            case,
            [seikatsu],
            Tier.SUPPORT,
            today - dt.timedelta(days=200),
            lead,
            note="生活福祉課との共有に同意（撤回済み）。",
            withdrawn=True,
        )


def _demo_chronology(case, index, agencies, users, lead, today):  # type: ignore[no-untyped-def]
    council = agencies[COUNCIL]
    entries = [
        (
            today - dt.timedelta(days=40 + index),
            council,
            lead,
            Tier.WATCH,
            "民生委員から社協に相談。本人宅を初回訪問。",
        ),
        (
            today - dt.timedelta(days=30 + index),
            agencies["ケアプランセンターこいしかわ"],
            users["caremanager"],
            Tier.SUPPORT,
            "ケアマネジャーが訪問。家族の状況を確認し、支援会議の開催を提案。",
        ),
        (
            today - dt.timedelta(days=20 + index),
            agencies["文京区 保健サービスセンター"],
            users["nurse"],
            Tier.SENSITIVE,
            "保健師訪問。服薬状況と受診歴を確認（詳細は保健師記録）。",
        ),
        (
            today - dt.timedelta(days=10 + index),
            agencies["富坂地区民生委員・児童委員協議会"],
            users["commissioner"],
            Tier.WATCH,
            "見守り訪問。元気そうに応対あり。",
        ),
    ]
    for occurred, agency, author, tier, text in entries:
        ChronologyEntry.objects.get_or_create(
            case=case,
            agency=agency,
            text=text,
            defaults={"occurred_on": occurred, "author": author, "tier": tier},
        )


def _demo_watch(agencies, users, small, today):  # type: ignore[no-untyped-def]
    """Who watches over whom, and a visit each (the visit also wrote a timeline line)."""
    minsei = agencies["富坂地区民生委員・児童委員協議会"]
    volunteers = agencies["こいしかわ見守り隊"]
    for i, case in enumerate(Case.objects.filter(watch_over=True).order_by("pk")):
        shared = set(case.shares.values_list("agency_id", flat=True))
        for agency, frequency, note in (
            (minsei, WatchAssignment.Frequency.WEEKLY, "民生委員が訪問して声かけ"),
            (volunteers, WatchAssignment.Frequency.DAILY, "朝、郵便受けと雨戸を確認"),
        ):
            if agency.pk in shared:
                WatchAssignment.objects.get_or_create(
                    case=case, agency=agency, defaults={"frequency": frequency, "note": note}
                )
        if minsei.pk in shared and not VisitLog.objects.filter(case=case).exists():
            outcome = [VisitLog.Outcome.WELL, VisitLog.Outcome.CONCERN, VisitLog.Outcome.NOT_MET][
                i % 3
            ]
            text = {
                VisitLog.Outcome.WELL: "見守り訪問：会えた。元気そうだった。",
                VisitLog.Outcome.CONCERN: "見守り訪問：会えたが、咳が続いている様子。",
                VisitLog.Outcome.NOT_MET: "見守り訪問：会えなかった。新聞が2日分たまっている。",
            }[outcome]
            visited = today - dt.timedelta(days=1 + i % 6)
            entry = ChronologyEntry.objects.create(
                case=case,
                occurred_on=visited,
                agency=minsei,
                author=users["commissioner"],
                tier=Tier.WATCH,
                text=text,
            )
            VisitLog.objects.create(
                case=case,
                visited_on=visited,
                outcome=outcome,
                visitor=users["commissioner"],
                agency=minsei,
                chronology=entry,
            )


def _demo_disaster(agencies, users, life, now):  # type: ignore[no-untyped-def]
    """Evacuation plans with every consent state, and one past (training) declaration."""
    states = [
        EvacuationPlan.ListConsent.CONSENTED,
        EvacuationPlan.ListConsent.CONSENTED,
        EvacuationPlan.ListConsent.NOT_CONSENTED,
        EvacuationPlan.ListConsent.WITHDRAWN,
    ]
    listed = list(Case.objects.filter(disaster_support=True).order_by("pk"))
    for i, case in enumerate(listed):
        state = states[i % 4]
        EvacuationPlan.objects.get_or_create(
            case=case,
            defaults={
                "list_consent": state,
                "consent_on": (now - dt.timedelta(days=90)).date()
                if state != EvacuationPlan.ListConsent.NOT_CONSENTED
                else None,
                "supporters": "民生委員、町会防災部（2名）",
                "destination": ["礫川小学校（避難所）", "福祉避難所 くすのきの郷"][i % 2],
                "route_notes": "春日通りを避け、裏道で避難所へ。段差の少ない経路。",
                "needs": "車いすの介助、薬の持ち出し",
                "updated_by": users["coordinator"],
            },
        )
    reason = "防災訓練：震度6弱を想定した安否確認訓練"
    declaration = Declaration.objects.filter(reason=reason).first()
    if declaration is None:
        started = now - dt.timedelta(days=40)
        declaration = Declaration.objects.create(
            reason=reason,
            declared_by=users["coordinator"],
            started_at=started,
            ended_at=started + dt.timedelta(hours=3),
            ended_by=users["coordinator"],
            end_note="訓練終了",
        )
        declaration.areas.set([life["富坂"]])
    minsei = agencies["富坂地区民生委員・児童委員協議会"]
    statuses = list(SafetyMark.Status)
    in_area = [c for c in listed if c.life_area_id == life["富坂"].pk]
    for i, case in enumerate(in_area[:6]):
        status = statuses[i % len(statuses)]
        SafetyMark.objects.get_or_create(
            client_id=uuid.uuid5(uuid.NAMESPACE_URL, f"otagai-demo-safety-{case.pk}"),
            defaults={
                "declaration": declaration,
                "case": case,
                "status": status,
                "evacuated_to": "礫川小学校" if status == SafetyMark.Status.EVACUATED else "",
                "marked_by": users["commissioner"],
                "agency": minsei,
                "marked_at": declaration.started_at + dt.timedelta(minutes=20 + i * 7),
            },
        )


def _demo_concerns(agencies, users, life, small, now):  # type: ignore[no-untyped-def]
    """One concern in every state, reported by residents of 富坂."""
    minsei = agencies["富坂地区民生委員・児童委員協議会"]
    volunteers = agencies["こいしかわ見守り隊"]
    linked = Case.objects.filter(life_area=life["富坂"]).order_by("pk").first()
    rows = [
        (
            Concern.Status.RECEIVED,
            "角の家の高齢の男性",
            ["mail", "not_seen"],
            "新聞が3日分たまっている。",
            Concern.Urgency.URGENT,
        ),
        (
            Concern.Status.LOOKING,
            "",
            ["child_alone"],
            "夜遅くまで小学生くらいの子が一人で公園にいる。",
            Concern.Urgency.SOON,
        ),
        (
            Concern.Status.LINKED,
            "山田さんのお宅",
            ["smell"],
            "ごみのにおいが強くなってきた。",
            Concern.Urgency.SOON,
        ),
        (
            Concern.Status.OPENED,
            "アパート2階の女性",
            ["confused"],
            "道に迷っている様子で何度も声をかけられた。",
            Concern.Urgency.SOON,
        ),
        (Concern.Status.CLOSED, "", ["shouting"], "夜に大きな声が聞こえた。", Concern.Urgency.LOW),
    ]
    for i, (status, who, signs, details, urgency) in enumerate(rows):
        if Concern.objects.filter(details=details).exists():
            continue
        reporter, agency = (
            (users["commissioner"], minsei) if i % 2 == 0 else (users["volunteer"], volunteers)
        )
        triaged = status != Concern.Status.RECEIVED
        Concern.objects.create(
            reporter=reporter,
            reporter_agency=agency,
            who=who,
            who_unknown=not who,
            life_area=life["富坂"],
            small_area=small["小石川一丁目町会"] if i % 2 == 0 else small["春日町会"],
            place="公園の北側" if i % 2 else "",
            signs=signs,
            details=details,
            urgency=urgency,
            status=status,
            case=linked if status in (Concern.Status.LINKED, Concern.Status.OPENED) else None,
            close_reason="既に地域包括支援センターが対応中。"
            if status == Concern.Status.CLOSED
            else "",
            triaged_by=users["coordinator"] if triaged else None,
            triaged_at=now - dt.timedelta(days=1) if triaged else None,
            created_at=now - dt.timedelta(days=2 + i),
        )


def counts() -> dict[str, int]:
    return {
        "areas": Area.objects.count(),
        "agencies": Agency.objects.count(),
        "users": get_user_model().objects.count(),
        "memberships": Membership.objects.count(),
        "cases": Case.objects.count(),
        "members": HouseholdMember.objects.count(),
        "shares": Share.objects.count(),
        "consents": Consent.objects.count(),
        "chronology": ChronologyEntry.objects.count(),
        "watch_assignments": WatchAssignment.objects.count(),
        "visits": VisitLog.objects.count(),
        "evacuation_plans": EvacuationPlan.objects.count(),
        "concerns": Concern.objects.count(),
        "declarations": Declaration.objects.count(),
        "safety_marks": SafetyMark.objects.count(),
    }
