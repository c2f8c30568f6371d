from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conferences.models import DEFAULT_STATEMENT, Conference, Feedback, PrepAsk, PrepSheet
from permissions.models import Agency, Tier
from permissions.people import display_name

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def person_label(obj: Any) -> str:
    """A person as a select names them: family name first, then their agencies (the queryset
    prefetches `memberships__agency`)."""
    agencies = "、".join(m.agency.name for m in obj.memberships.all())
    return f"{display_name(obj)}（{agencies}）"


class PersonChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return person_label(obj)


class PersonWithAgency(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return person_label(obj)


class PersonSingle(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return display_name(obj)


def _people() -> Any:
    return (
        get_user_model()
        .objects.filter(is_active=True, memberships__agency__is_active=True)
        .distinct()
        .prefetch_related("memberships__agency")
        .order_by("last_name", "first_name", "pk")
    )


class ScheduleForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput, max_length=64)
    kind = forms.ChoiceField(label=_("Type of meeting"), choices=Conference.Kind.choices)
    title = forms.CharField(label=_("Title"), max_length=200)
    starts_at = forms.DateTimeField(label=_("Date and time"), widget=DATETIME)
    duration_minutes = forms.IntegerField(
        label=_("Duration (minutes)"), min_value=15, max_value=480, initial=60
    )
    place = forms.CharField(label=_("Place"), max_length=200, required=False)
    online_url = forms.URLField(label=_("Online meeting link"), required=False)
    cases = forms.ModelMultipleChoiceField(
        label=_("Cases on the agenda"), queryset=None, widget=forms.CheckboxSelectMultiple
    )
    children_cases = forms.ModelMultipleChoiceField(
        label=_("Cases that concern children (discussed first)"),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    agencies = forms.ModelMultipleChoiceField(
        label=_("Invited agencies"),
        queryset=Agency.objects.filter(is_active=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    people = PersonChoice(
        label=_("Invited people (from agencies not invited as a whole)"),
        queryset=None,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    chair = PersonSingle(label=_("Chair"), queryset=None)
    minute_taker = PersonSingle(label=_("Minute-taker"), queryset=None, required=False)
    member_tier = forms.TypedChoiceField(
        label=_("Tier for appointed members (support meeting)"),
        choices=Tier.choices,
        coerce=int,
        initial=Tier.SUPPORT,
        help_text=_(
            "For a support meeting (支援会議) the invited agencies become its appointed "
            "members for these cases and may read up to this tier."
        ),
    )
    members_contribute = forms.BooleanField(
        label=_("Appointed members may write"), required=False, initial=True
    )
    confidentiality_statement = forms.CharField(
        label=_("Confidentiality statement"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=4000,
        initial=DEFAULT_STATEMENT,
    )

    def __init__(self, *args: Any, cases: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cases"].queryset = cases
        self.fields["children_cases"].queryset = cases
        people = _people()
        self.fields["people"].queryset = people
        self.fields["chair"].queryset = people
        self.fields["minute_taker"].queryset = people

    def clean_starts_at(self) -> Any:
        value = self.cleaned_data["starts_at"]
        if value <= timezone.now():
            raise forms.ValidationError(_("The meeting must start in the future."))
        return value


class PrepSheetForm(forms.ModelForm):
    class Meta:
        model = PrepSheet
        fields = ["household", "current_support", "agencies_to_involve"]
        widgets = {
            "household": forms.Textarea(attrs={"rows": 5}),
            "current_support": forms.Textarea(attrs={"rows": 4}),
            "agencies_to_involve": forms.Textarea(attrs={"rows": 3}),
        }


class PrepAskForm(forms.ModelForm):
    class Meta:
        model = PrepAsk
        fields = ["agency", "tier", "question"]
        widgets = {"question": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, agencies: Any, max_tier: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agency"].queryset = agencies
        self.fields["tier"].choices = [(v, lbl) for v, lbl in Tier.choices if v <= max_tier]


class AskAnswerForm(forms.Form):
    answer = forms.CharField(
        label=_("Answer"), widget=forms.Textarea(attrs={"rows": 5}), max_length=20_000
    )


class ApologyForm(forms.Form):
    note = forms.CharField(label=_("Note (optional)"), max_length=300, required=False)


ANSWERED = ("useful", "role_clear")  # the feedback's questions answered with radio buttons


class FeedbackForm(forms.ModelForm):
    class Meta:
        model = Feedback
        fields = ["useful", "role_clear", "comment"]
        widgets = {
            "useful": forms.RadioSelect,
            "role_clear": forms.RadioSelect,
            "comment": forms.Textarea(attrs={"rows": 3}),
        }
        error_messages = {name: {"required": _("Choose one of the answers.")} for name in ANSWERED}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The model fields have no default, so Django puts a blank choice first; as a radio
        # button it would be an answer of its own ("― 選んでください ―"). The questions stay
        # required: an unanswered one gets the error above.
        for name in ANSWERED:
            self.fields[name].choices = Feedback.Answer.choices


class CommunityIssueForm(forms.Form):
    """Tag a conference with a community issue (地域課題): fixed topic and life area only."""

    topic = forms.ChoiceField(label=_("Community issue"), choices=[])
    area = forms.ModelChoiceField(label=_("Life area"), queryset=None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from conferences.models import CommunityIssue
        from permissions.models import Area

        super().__init__(*args, **kwargs)
        self.fields["topic"].choices = CommunityIssue.Topic.choices
        self.fields["area"].queryset = Area.objects.filter(  # type: ignore[attr-defined]
            parent__isnull=True
        ).order_by("order", "pk")
