"""Fixtures: real audio in every vendor format (espeak-ng + ffmpeg), the vendor servers, moto
(and a paced Polly server for streaming)."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.media.tts.vendors import (
    Audio,
    AzureVendor,
    ElevenVendor,
    GoogleVendor,
    GttsVendor,
    PollyVendor,
    make_audio,
    serve,
)
from wirexa import config

SECRET = "sk-TEST-0123456789abcdef"  # every fake vendor's credential; must never be printed or logged


@pytest.fixture(scope="session")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Audio:
    return make_audio(tmp_path_factory.mktemp("tts-audio"))


@pytest.fixture
def google(audio: Audio) -> Iterator[GoogleVendor]:
    with serve(GoogleVendor(audio, SECRET)) as v:
        yield v


@pytest.fixture
def eleven(audio: Audio) -> Iterator[ElevenVendor]:
    with serve(ElevenVendor(audio, SECRET)) as v:
        yield v


@pytest.fixture
def azure(audio: Audio) -> Iterator[AzureVendor]:
    with serve(AzureVendor(audio, SECRET)) as v:
        yield v


@pytest.fixture
def gtts(audio: Audio) -> Iterator[GttsVendor]:
    with serve(GttsVendor(audio, SECRET)) as v:
        yield v


@pytest.fixture
def polly_vendor(audio: Audio) -> Iterator[PollyVendor]:
    """A paced Polly (moto answers at once); for streaming tests."""
    with serve(PollyVendor(audio, SECRET)) as v:
        yield v


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto in server mode on 127.0.0.1: the standard local AWS. Its recorder (over HTTP, in a
    temp file) lets tests read the exact request Polly received."""
    import moto.moto_api
    from moto.server import ThreadedMotoServer

    moto.moto_api.recorder._location = str(tmp_path_factory.mktemp("moto") / "recording")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_requests(moto_url: str) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Start moto's recorder; the fixture's value reads the Polly requests recorded since."""

    def post(path: str) -> None:
        urllib.request.urlopen(urllib.request.Request(moto_url + path, method="POST"), timeout=10).close()

    def read() -> list[dict[str, Any]]:
        with urllib.request.urlopen(moto_url + "/moto-api/recorder/download-recording", timeout=10) as r:
            rows = [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]
        for row in rows:
            body = row.get("body") or ""
            row["json"] = json.loads(base64.b64decode(body) if row.get("body_encoded") else body or "{}")
        return [row for row in rows if row["url"].endswith("/v1/speech")]

    post("/moto-api/recorder/reset-recording")
    post("/moto-api/recorder/start-recording")
    yield read
    post("/moto-api/recorder/stop-recording")


def make_settings(tmp_path: Path, **values: Any) -> Any:
    """Settings with defaults, the data dir in tmp_path, and `values` (setting name -> value)."""
    return config.load(env={}, overrides={"data_dir": str(tmp_path), **values})
