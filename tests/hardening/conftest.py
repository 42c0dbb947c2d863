"""The hardening tests use the fast call-flow harness of tests/calls (real dispatcher, sessions,
interpreter and fetchers over FakeSip)."""

from tests.calls.conftest import flow  # noqa: F401 - the fixture, for this package's tests
