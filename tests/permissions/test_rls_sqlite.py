"""Row-level security is PostgreSQL-only: on the embedded default its helpers do nothing."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from permissions import rls
from tests.factories import UserFactory


@pytest.mark.django_db
def test_reader_helpers_do_nothing_off_postgresql(django_assert_num_queries):
    if connection.vendor == "postgresql":
        pytest.skip("the embedded default (SQLite) only; PostgreSQL: tests/permissions/test_rls.py")
    user = UserFactory()
    with django_assert_num_queries(0), rls.reader_context(user):
        rls.set_reader(user)
    assert not rls.enabled()
    assert rls.grant_app_role(connection, "otagai_app") is False
    assert Client().get(reverse("healthz")).status_code in {200, 503}
