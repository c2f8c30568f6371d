"""The case list's filter form: its select lists are written in Python (PlainSelect) and must
give exactly the HTML Django's own templates give."""

from __future__ import annotations

import pytest
from django import forms

from casework.forms import CaseFilterForm, PlainSelect

pytestmark = pytest.mark.django_db


def _as_django_select(form: forms.Form) -> forms.Form:
    for field in form.fields.values():
        if isinstance(field.widget, PlainSelect):
            plain = field.widget
            field.widget = forms.Select(attrs=plain.attrs)
            field.widget.choices = plain.choices
    return form


@pytest.mark.parametrize("kind", ["unbound", "search", "selected", "invalid"])
def test_filter_selects_render_as_django_would(cast, kind):
    data = {
        "unbound": None,
        "search": {"q": "やまさき"},
        "selected": {"status": "active", "life_area": str(cast.area.pk), "category": ""},
        "invalid": {"status": "no-such-status", "life_area": "999999", "category": "x"},
    }[kind]
    ours, django = CaseFilterForm(data), _as_django_select(CaseFilterForm(data))
    assert ours.is_valid() == django.is_valid() == (kind in {"search", "selected"})
    for name in ("life_area", "category", "status"):
        assert isinstance(ours.fields[name].widget, PlainSelect)
        assert str(ours[name]) == str(django[name]), name
    if kind == "selected":
        assert "selected>" in str(ours["life_area"]) and "selected>" in str(ours["status"])
    if kind == "invalid":
        assert 'aria-invalid="true"' in str(ours["status"])


def test_plain_select_escapes_and_groups_like_django():
    choices = [
        ("", "<All & none>"),
        ('Group "A"', [("a<1>", "A & 1"), ("a2", "A 2")]),
        (3, "three"),
    ]
    attrs = {"id": "id_x", "class": "big", "disabled": True, "hidden": False}
    ours = PlainSelect(attrs=attrs, choices=choices).render("x", "a<1>")
    theirs = forms.Select(attrs=attrs, choices=choices).render("x", "a<1>")
    assert ours == theirs
    assert "&lt;All &amp; none&gt;" in ours
