from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from conferences.forms import PersonWithAgency
from conferences.models import ActionItem
from permissions.models import Agency, Tier


class ActionForm(forms.Form):
    title = forms.CharField(label=_("What"), max_length=300)
    details = forms.CharField(label=_("Details"), widget=forms.Textarea, required=False)
    tier = forms.TypedChoiceField(label=_("Tier"), choices=Tier.choices, coerce=int)
    # "—", as on the live page: an owner is a person, an agency, or both.
    owner_user = PersonWithAgency(
        label=_("Owner (person)"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="—",
    )
    owner_agency = forms.ModelChoiceField(
        label=_("Owner (agency)"), queryset=Agency.objects.none(), required=False, empty_label="—"
    )
    due_on = forms.DateField(label=_("Due"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, people: Any, agencies: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner_user"].queryset = people  # type: ignore[attr-defined]
        self.fields["owner_agency"].queryset = agencies  # type: ignore[attr-defined]


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=ActionItem.Status.choices)
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[("", "—"), *ActionItem.NotDoneReason.choices],
        required=False,
    )
    reason_text = forms.CharField(label=_("Other reason"), max_length=500, required=False)
    note = forms.CharField(
        label=_("Completion note or evidence"), widget=forms.Textarea, required=False
    )


class ReassignForm(forms.Form):
    actions = forms.ModelMultipleChoiceField(queryset=ActionItem.objects.none())
    owner_user = PersonWithAgency(
        label=_("New owner (person)"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="—",
    )
    owner_agency = forms.ModelChoiceField(
        label=_("New owner (agency)"),
        queryset=Agency.objects.none(),
        required=False,
        empty_label="—",
    )
    note = forms.CharField(label=_("Note to the new owner"), max_length=500, required=False)

    def __init__(self, *args: Any, actions: Any, people: Any, agencies: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["actions"].queryset = actions  # type: ignore[attr-defined]
        self.fields["owner_user"].queryset = people  # type: ignore[attr-defined]
        self.fields["owner_agency"].queryset = agencies  # type: ignore[attr-defined]
