"""Our SDK's space-URL rules and twilio-python wiring, without a server."""

from __future__ import annotations

import pytest

from wirexaapi import Client, RequestValidator, VoiceResponse, base_url_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ("127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("localhost:5000", "http://localhost:5000"),
        ("localhost", "http://localhost"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("engine.example.com", "https://engine.example.com"),
        ("engine.example.com:5000", "http://engine.example.com:5000"),  # the 1.x rule
        ("http://engine.example.com", "http://engine.example.com"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
        ("wirexaapi.com", "https://wirexaapi.com"),
    ],
)
def test_base_url_rules(space: str, expected: str) -> None:
    assert base_url_for(space) == expected


def test_path_is_dropped_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="ignoring the path"):
        assert base_url_for("http://127.0.0.1:5000/base") == "http://127.0.0.1:5000"


@pytest.mark.parametrize("bad", ["", "ftp://x"])
def test_bad_space_urls(bad: str) -> None:
    with pytest.raises(ValueError):
        base_url_for(bad)


def test_client_ignores_edge_and_region_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    client = Client("ACproject", "token", signalwire_space_url="127.0.0.1:5001")
    assert client.edge is None and client.region is None
    assert client.api.base_url == "http://127.0.0.1:5001"
    assert client.account_sid == "ACproject"


def test_space_url_from_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWIRE_SPACE_URL", "127.0.0.1:7000")
    assert Client("AC1", "t").api.base_url == "http://127.0.0.1:7000"
    monkeypatch.delenv("SIGNALWIRE_SPACE_URL")
    assert Client("AC1", "t").api.base_url == "http://localhost:5000"


def test_reexports() -> None:
    assert "<Say>Hi</Say>" in str(VoiceResponse().say("Hi"))
    sig = RequestValidator("tok").compute_signature("http://h/x", {"A": "1"})
    assert RequestValidator("tok").validate("http://h/x", {"A": "1"}, sig)
