"""factory_boy factories for the shared cast and their cases."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from casework.models import Case, ChronologyEntry, HouseholdMember
from permissions.models import Agency, Area, Membership, Share, Tier

PASSWORD = "test-pass-Otagai-1"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    last_name = "試験"
    first_name = factory.Sequence(lambda n: f"太郎{n}")
    password = factory.django.Password(PASSWORD)


class AreaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Area
        django_get_or_create = ("name", "parent")

    name = factory.Sequence(lambda n: f"圏域{n}")
    parent = None


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"機関{n}")
    kind = Agency.Kind.PROFESSIONAL


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    agency = factory.SubFactory(AgencyFactory)
    role = Membership.Role.PROFESSIONAL


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case

    label = factory.Sequence(lambda n: f"テスト{n}さん世帯")
    life_area = factory.SubFactory(AreaFactory)
    lead_coordinator = factory.SubFactory(UserFactory)


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HouseholdMember

    case = factory.SubFactory(CaseFactory)
    name = "山田 花子"
    kana = "やまだ はなこ"
    relationship = "本人"
    is_subject = True


class ShareFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Share

    case = factory.SubFactory(CaseFactory)
    agency = factory.SubFactory(AgencyFactory)
    tier = Tier.SUPPORT
    basis = Share.Basis.SUPPORT_MEETING


class ChronologyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChronologyEntry

    case = factory.SubFactory(CaseFactory)
    occurred_on = factory.Faker("past_date")
    agency = factory.SubFactory(AgencyFactory)
    author = factory.SubFactory(UserFactory)
    tier = Tier.SUPPORT
    text = "記録"
