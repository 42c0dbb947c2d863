"""One vocabulary across the layers: the MachineDetection* defaults are Twilio's, kept in
wirexa/media/amd.py, and every record and message that carries them (the API's NewCall, the SIP
port's AmdRequest, the worker protocol's MakeCall) has the same ones."""

from __future__ import annotations

import dataclasses

from wirexa.calls.ports import AmdRequest
from wirexa.calls.records import NewCall
from wirexa.media import amd
from wirexa.media.amd import AmdParams
from wirexa.sip.protocol import MakeCall

# Twilio's documented defaults: 30 s, 2400 ms, 1200 ms, 5000 ms.
TWILIO = (30, 2400, 1200, 5000)


def defaults(cls: type, *names: str) -> tuple[object, ...]:
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    return tuple(fields[name] for name in names)


def test_amd_defaults_have_one_home() -> None:
    home = (
        amd.DEFAULT_TIMEOUT_S,
        amd.DEFAULT_SPEECH_THRESHOLD_MS,
        amd.DEFAULT_SPEECH_END_THRESHOLD_MS,
        amd.DEFAULT_SILENCE_TIMEOUT_MS,
    )
    assert home == TWILIO
    p = AmdParams()
    assert (p.timeout_ms // 1000, p.speech_threshold_ms, p.speech_end_threshold_ms, p.silence_timeout_ms) == home
    assert AmdParams.from_twilio("Enable") == p
    names = ("timeout", "speech_threshold", "speech_end_threshold", "silence_timeout")
    assert defaults(NewCall, *(f"machine_detection_{n}_{'s' if n == 'timeout' else 'ms'}" for n in names)) == home
    r = AmdRequest()
    assert (r.timeout_ms // 1000, r.speech_threshold_ms, r.speech_end_threshold_ms, r.silence_timeout_ms) == home
    ms = defaults(MakeCall, *(f"amd_{n}_ms" for n in names))
    assert (ms[0] // 1000, *ms[1:]) == home  # type: ignore[operator]
