from __future__ import annotations

from typing import Any

from django import forms
from django.forms.models import ModelChoiceIterator
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from casework.models import Case, ChronologyEntry, HouseholdMember, NeedCategory
from casework.tiers import CASE_EDITABLE, CASE_FIELD_TIERS, MEMBER_FIELD_TIERS, fields_at
from permissions.models import Agency, Area, Consent, Share, Tier

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class _ListedChoices(ModelChoiceIterator):
    """A short choice list read with one plain query. Django's own iterator reads through
    `QuerySet.iterator()`, which on PostgreSQL is a server-side cursor: DECLARE, FETCH and
    CLOSE, three round trips per list on every page that shows it (docs/performance.md)."""

    def __iter__(self) -> Any:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class ListedModelChoiceField(forms.ModelChoiceField):
    iterator = _ListedChoices


def _flat_attrs(attrs: dict[str, Any]) -> SafeString:
    """As Django's `django/forms/widgets/attrs.html`: False left out, True a bare name."""
    return mark_safe(  # noqa: S308 - every part is escaped by format_html
        "".join(
            format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value)
            for name, value in attrs.items()
            if value is not False
        )
    )


class PlainSelect(forms.Select):
    """A `<select>` written in Python, the same HTML as Django's `select.html`.

    Django's template includes one template per `<option>` and the attributes' template in
    each: the case list's three filter lists cost ~4 ms of CPU per request that way, ~0.3 ms
    here (docs/performance.md). `tests/casework/test_forms.py` compares the two outputs."""

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [format_html('<select name="{}"{}>', widget["name"], _flat_attrs(widget["attrs"]))]
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                parts.append(format_html('\n  <optgroup label="{}">', group_name))
            for option in options:
                parts.append(
                    format_html(
                        '\n  <option value="{}"{}>{}</option>\n',  # the template's own newline
                        str(option["value"]),
                        _flat_attrs(option["attrs"]),
                        option["label"],
                    )
                )
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # noqa: S308 - built from format_html parts


class CaseFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Name or reading"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    life_area = ListedModelChoiceField(
        label=_("Life area"),
        queryset=Area.objects.filter(parent__isnull=True),
        required=False,
        empty_label=_("All"),
        widget=PlainSelect,
    )
    category = ListedModelChoiceField(
        label=_("Need category"),
        queryset=NeedCategory.objects.all(),
        required=False,
        empty_label=_("All"),
        widget=PlainSelect,
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("All")), *Case.Status.choices],
        required=False,
        widget=PlainSelect,
    )


class CaseForm(forms.ModelForm):
    """Only the fields at or below the writer's tier exist in the form."""

    class Meta:
        model = Case
        fields = CASE_EDITABLE
        widgets = {
            "need_categories": forms.CheckboxSelectMultiple,
            "watch_notes": forms.Textarea(attrs={"rows": 3}),
            "disaster_needs": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, tier: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = set(fields_at(CASE_FIELD_TIERS, tier))
        for name in list(self.fields):
            if name not in allowed:
                del self.fields[name]
        if "life_area" in self.fields:
            self.fields["life_area"].queryset = Area.objects.filter(parent__isnull=True)
        if "small_area" in self.fields:
            self.fields["small_area"].queryset = Area.objects.filter(parent__isnull=False)
        for name in (
            "summary",
            "situation",
            "issues",
            "support_plan",
            "health",
            "disability",
            "abuse",
            "finances",
        ):
            if name in self.fields:
                self.fields[name].widget.attrs.update({"rows": 4})

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        life, small = data.get("life_area"), data.get("small_area")
        if life and small and small.parent_id != life.pk:
            self.add_error("small_area", _("This small area is not in the chosen life area."))
        return data


class MemberForm(forms.ModelForm):
    class Meta:
        model = HouseholdMember
        fields = list(MEMBER_FIELD_TIERS)
        widgets = {"birth_date": DATE}

    def __init__(self, *args: Any, tier: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = set(fields_at(MEMBER_FIELD_TIERS, tier))
        for name in list(self.fields):
            if name not in allowed:
                del self.fields[name]


class ChronologyForm(forms.ModelForm):
    class Meta:
        model = ChronologyEntry
        fields = ["occurred_on", "tier", "text"]
        widgets = {"occurred_on": DATE, "text": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args: Any, tier: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tier"] = forms.TypedChoiceField(
            label=_("Tier"),
            coerce=int,
            choices=[(t.value, t.label) for t in Tier if t <= tier],
            initial=min(Tier.SUPPORT, tier),
        )
        self.fields["occurred_on"].initial = timezone.localdate()


class ShareForm(forms.Form):
    agency = forms.ModelChoiceField(label=_("Agency"), queryset=Agency.objects.none())
    tier = forms.TypedChoiceField(label=_("Highest tier"), choices=Tier.choices, coerce=int)
    basis = forms.ChoiceField(label=_("Legal basis"), choices=Share.Basis.choices)
    consent = forms.ModelChoiceField(
        label=_("Consent"),
        queryset=Consent.objects.none(),
        required=False,
        help_text=_("Needed when the basis is consent."),
    )
    may_contribute = forms.BooleanField(label=_("May contribute"), required=False)
    coordinates = forms.BooleanField(label=_("Coordinates the case"), required=False)
    expires_at = forms.DateTimeField(
        label=_("Expires at"),
        required=False,
        widget=DATETIME,
        help_text=_("Leave empty for no expiry."),
    )

    def __init__(self, *args: Any, case: Case, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agency"].queryset = Agency.objects.filter(is_active=True)
        self.fields["consent"].queryset = Consent.objects.filter(case=case)
        self.fields["consent"].label_from_instance = lambda c: (
            f"{c.given_on:%Y-%m-%d} ({c.get_state_display()})"
        )
        if editing:
            del self.fields["agency"]


class ConsentForm(forms.Form):
    agencies = forms.ModelMultipleChoiceField(
        label=_("Agencies the person agreed to share with"),
        queryset=Agency.objects.filter(is_active=True),
        widget=forms.CheckboxSelectMultiple,
    )
    tier = forms.TypedChoiceField(
        label=_("Highest tier covered"), choices=Tier.choices, coerce=int, initial=Tier.SUPPORT
    )
    given_on = forms.DateField(label=_("Date given"), widget=DATE)
    method = forms.ChoiceField(label=_("Method"), choices=Consent.Method.choices)
    expires_on = forms.DateField(label=_("Valid until"), required=False, widget=DATE)
    scope_note = forms.CharField(
        label=_("What was agreed"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
