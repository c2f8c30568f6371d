"""The language a person picks on screen is the language of their reminder mail."""

from __future__ import annotations

import pytest

from conferences.actions import user_language

pytestmark = pytest.mark.django_db


def test_switching_to_english_sets_the_reminder_language(cast):
    client = cast.client_for("professional")
    assert user_language(cast.professional) == "ja"
    client.post("/i18n/setlang/", {"language": "en", "next": "/dashboard/"})
    assert user_language(cast.professional) == "en"
    client.post("/i18n/setlang/", {"language": "xx", "next": "/dashboard/"})
    assert user_language(cast.professional) == "en"
