"""The cluster tests: the store tests' fixtures (`store`, on SQLite and PostgreSQL) for the
membership's unit tests."""

from tests.store.conftest import module_pg_url, store  # noqa: F401 - fixtures
