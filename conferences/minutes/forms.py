"""The chair's draft form: one text per record-form field of each case the chair reads."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from conferences.minutes.content import FIELD_LABELS
from permissions.conferences import ConferenceAccess


class MinutesDraftForm(forms.Form):
    person_attended = forms.CharField(
        label=_("Did the person or family attend? (本人・家族の出席)"),
        required=False,
        max_length=500,
    )
    next_date = forms.DateField(label=_("Next meeting"), required=False)
    reason = forms.CharField(
        label=_("Reason for the correction (needed from the second version on)"),
        required=False,
        max_length=500,
    )

    def __init__(self, *args: Any, access: ConferenceAccess, content: dict[str, Any], **kw: Any):
        initial = {
            "person_attended": content.get("person_attended", ""),
            "next_date": content["meeting"].get("next_date") or None,
        }
        self.case_fields: list[dict[str, Any]] = []
        kw["initial"] = initial
        super().__init__(*args, **kw)
        for case in content["cases"]:
            tier = access.tier_for(case["case_id"])
            names = []
            for key, field in case["fields"].items():
                if field["tier"] > tier:
                    continue  # the chair edits only what they read
                name = f"c{case['case_id']}_{key}"
                self.fields[name] = forms.CharField(
                    label=FIELD_LABELS[key],
                    required=False,
                    max_length=settings.OTAGAI_MAX_TEXT,
                    initial=field["text"],
                    widget=forms.Textarea(attrs={"rows": 3}),
                )
                names.append(name)
            self.case_fields.append({"label": case["label"], "names": names})

    def case_groups(self) -> list[dict[str, Any]]:
        return [
            {"label": g["label"], "fields": [self[n] for n in g["names"]]} for g in self.case_fields
        ]

    def field_texts(self) -> dict[tuple[int, str], str]:
        out = {}
        for name, value in self.cleaned_data.items():
            if name.startswith("c") and "_" in name and name[1].isdigit():
                case_id, key = name[1:].split("_", 1)
                out[(int(case_id), key)] = value
        return out
