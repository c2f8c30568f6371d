import pytest

from tests.permissions.test_rls import ensure_app_role
from tests.watchcast import wcast  # noqa: F401 - the fixture, for this directory's tests


@pytest.fixture
def app_role(db) -> None:  # type: ignore[no-untyped-def]
    """The application role exists (row-level security tests switch to it)."""
    ensure_app_role()
