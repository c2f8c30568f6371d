from tests.watchcast import wcast  # noqa: F401 - the fixture, for this directory's tests
