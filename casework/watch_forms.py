"""Forms of watch-over, concerns, disaster support and emergencies. Few fields, plain words:
the people who fill most of them in are often over 65, on a phone."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from casework.forms import DATE
from casework.models import Concern, EvacuationPlan, SafetyMark, VisitLog, WatchAssignment
from permissions.emergency import BREAK_GLASS_HOURS
from permissions.models import Agency, Area, BreakGlass


def area_choices() -> list[Any]:
    """Small areas grouped by life area; each group starts with “not sure of the 町会”."""
    groups: list[Any] = [("", _("Choose…"))]
    areas = list(Area.objects.select_related("parent").order_by("order", "pk"))
    for life in (a for a in areas if a.parent_id is None):
        options = [
            (str(life.pk), _("%(area)s (not sure of the neighbourhood)") % {"area": life.name})
        ]
        options += [(str(a.pk), a.name) for a in areas if a.parent_id == life.pk]
        groups.append((life.name, options))
    return groups


class ConcernForm(forms.Form):
    # Required-ness is checked by the service, so that every way in gives the same errors.
    area = forms.ChoiceField(label=_("Where (neighbourhood)"), required=False)
    who = forms.CharField(
        label=_("Who or which household"),
        required=False,
        max_length=100,
        help_text=_("For example: the older man living alone at the corner house."),
    )
    who_unknown = forms.BooleanField(label=_("I do not know who"), required=False)
    place = forms.CharField(
        label=_("Address or landmark"),
        required=False,
        max_length=200,
        help_text=_("For example: next to the park, blue roof."),
    )
    signs = forms.MultipleChoiceField(
        label=_("What did you notice?"),
        choices=Concern.Sign.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    details = forms.CharField(
        label=_("Anything else (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    urgency = forms.ChoiceField(
        label=_("How urgent is it?"),
        choices=Concern.Urgency.choices,
        initial=Concern.Urgency.SOON,
        required=False,
        widget=forms.RadioSelect,
    )

    def clean_urgency(self) -> str:
        return self.cleaned_data.get("urgency") or Concern.Urgency.SOON

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["area"].choices = area_choices()

    def clean_area(self) -> Area | None:
        value = self.cleaned_data.get("area")
        return Area.objects.filter(pk=value).first() if value else None


class TriageLinkForm(forms.Form):
    case = forms.TypedChoiceField(label=_("Case"), coerce=int, choices=())

    def __init__(self, *args: Any, cases: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["case"].choices = [("", _("Choose…"))] + [
            (c.pk, f"{c.reference} {c.label}") for c in cases
        ]


class TriageOpenForm(forms.Form):
    label = forms.CharField(label=_("Name of the new case (household)"), max_length=100)


class TriageCloseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for closing"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


class VisitForm(forms.Form):
    visited_on = forms.DateField(label=_("Date"), widget=DATE)
    outcome = forms.ChoiceField(
        label=_("How did it go?"), choices=VisitLog.Outcome.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label=_("Note (optional)"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["visited_on"].initial = timezone.localdate()


class WatchAssignForm(forms.ModelForm):
    class Meta:
        model = WatchAssignment
        fields = ["agency", "frequency", "note"]

    def __init__(self, *args: Any, agencies: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agency"].queryset = agencies


class EvacuationPlanForm(forms.ModelForm):
    class Meta:
        model = EvacuationPlan
        fields = ["list_consent", "consent_on", "supporters", "destination", "route_notes", "needs"]
        widgets = {
            "consent_on": DATE,
            "route_notes": forms.Textarea(attrs={"rows": 3}),
            "needs": forms.Textarea(attrs={"rows": 3}),
        }


class DeclarationForm(forms.Form):
    areas = forms.ModelMultipleChoiceField(
        label=_("Areas"),
        queryset=Area.objects.select_related("parent").order_by("order", "pk"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("A life area covers all its small areas."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What happened, for example: earthquake, intensity 6-lower in the ward."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["areas"].label_from_instance = lambda a: (
            f"{a.parent.name} / {a.name}" if a.parent_id else f"{a.name}（{_('whole life area')}）"
        )


class DeclarationEndForm(forms.Form):
    note = forms.CharField(label=_("Note (optional)"), required=False, max_length=500)


REFERENCE = re.compile(r"^\s*(?:C-?)?0*(\d{1,9})\s*$", re.IGNORECASE)


class BreakGlassForm(forms.Form):
    reference = forms.CharField(
        label=_("Case number"),
        max_length=20,
        help_text=_("The number the council gave you, for example C-00012."),
    )
    reason = forms.CharField(
        label=_("Why is this an emergency?"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    hours = forms.TypedChoiceField(
        label=_("For how long"),
        coerce=int,
        choices=[(h, _("%(n)d hours") % {"n": h}) for h in BREAK_GLASS_HOURS],
        initial=2,
    )

    def clean_reference(self) -> int:
        match = REFERENCE.match(self.cleaned_data["reference"])
        if not match:
            raise forms.ValidationError(_("Write the case number, for example C-00012."))
        return int(match.group(1))


class BreakGlassReviewForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Your review"),
        choices=[
            (BreakGlass.Review.ACCEPTED, _("Accepted: the emergency justified it")),
            (BreakGlass.Review.QUESTIONED, _("Questioned: needs follow-up")),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("Note"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )


class SafetyMarkForm(forms.Form):
    """Used both by the plain form (no JavaScript) and the JSON endpoint."""

    case = forms.CharField(max_length=20)
    status = forms.ChoiceField(choices=SafetyMark.Status.choices)
    evacuated_to = forms.CharField(label=_("Evacuated to"), required=False, max_length=200)
    note = forms.CharField(required=False, max_length=500)
    client_id = forms.CharField(max_length=64)
    marked_at = forms.DateTimeField(required=False)


def supporter_agencies_for(case: Any) -> Any:
    return Agency.objects.filter(is_active=True, shares__case=case).distinct()
