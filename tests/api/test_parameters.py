"""Every Twilio parameter accounted for: Twilio's OpenAPI parameter list of each operation Wirexa
serves (Calls, Call Recordings, Call Streams, Recordings, Transcriptions, IncomingPhoneNumbers, Queues and
their Members, Conferences, their Participants and Recordings) matches wirexa/api/parameters.py
exactly, so a parameter Twilio adds fails here until it is decided; each one is then sent to the
in-process API: a refused one is a 400 naming it, a supported one is taken (a good value is
accepted, a bad one is a 400 naming it).
README's "Twilio parameters" table is parameters.markdown()."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api
from wirexa.api import parameters as tp
from wirexa.api.routes.numbers import REFUSED as NUMBERS_REFUSED
from wirexa.errors import ApiCode
from wirexa.store.repo.recordings import insert_recording

ROOT = Path(__file__).parent.parent.parent
DATA = Path(__file__).parent / "data" / "twilio_v2010_parameters.json"
FULL = ROOT.parent / "shared" / "reference" / "twilio_api_v2010.json"
# The operations this file takes from Twilio's OpenAPI: the resources Wirexa serves (not their
# add-ons and transcriptions) and those it lacks.
RESOURCES = re.compile(
    r"^/2010-04-01/Accounts/\{AccountSid\}/("
    r"Calls(\.json|/\{Sid\}\.json|/\{CallSid\}/(Recordings|Streams)(\.json|/\{Sid\}\.json))"
    r"|Recordings(\.json|/\{Sid\}\.json|/\{RecordingSid\}/Transcriptions(\.json|/\{Sid\}\.json))"
    r"|Transcriptions(\.json|/\{Sid\}\.json)"
    r"|IncomingPhoneNumbers(\.json|/\{Sid\}\.json|/(Local|Mobile|TollFree)\.json)"
    r"|(Conferences|Queues)(\.json|/.*))$"
)


def extract(openapi: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """operationId -> method, path and its parameters (query, then form) for RESOURCES."""
    out: dict[str, dict[str, Any]] = {}
    for path, ops in openapi["paths"].items():
        if not RESOURCES.match(path):
            continue
        for method, op in ops.items():
            if method not in ("get", "post", "delete"):
                continue
            query = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]
            body = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {})
            out[op["operationId"]] = {
                "method": method.upper(),
                "path": path,
                "parameters": query + list(body.get("schema", {}).get("properties", {})),
            }
    return out


def twilio_operations() -> dict[str, dict[str, Any]]:
    return json.loads(DATA.read_text())  # type: ignore[no-any-return]


# The operations of the resources Wirexa serves that take parameters (a fetch or delete without
# any needs no decision; once Twilio gives it one, it is here and must be in the table).
SERVED = sorted(op for op, spec in twilio_operations().items() if spec["parameters"])


def test_every_twilio_parameter_is_decided() -> None:
    ops = twilio_operations()
    problems = []
    for op in SERVED:
        if op not in tp.OPERATIONS and op not in tp.SAME_AS:
            problems.append(f"{op}: Twilio's {ops[op]['parameters']} not decided in wirexa/api/parameters.py")
            continue
        ours = [p.name for p in tp.parameters(op)]
        assert len(ours) == len(set(ours)), f"{op} lists a parameter twice"
        twilio = set(ops[op]["parameters"])
        if missing := sorted(twilio - set(ours)):
            problems.append(f"{op}: Twilio's {missing} not decided in wirexa/api/parameters.py")
        if extra := sorted(set(ours) - twilio):
            problems.append(f"{op}: {extra} are not Twilio's")
    assert not problems, "\n".join(problems)
    # No stale row: every operation of the table is one of Twilio's, and each resource Wirexa
    # lacks has Twilio operations behind it.
    assert set(tp.OPERATIONS) | set(tp.SAME_AS) <= set(SERVED)
    for resource in tp.ABSENT:
        assert any(f"/{resource}" in spec["path"] for spec in ops.values()), resource


def test_numbers_refuse_what_the_table_refuses() -> None:
    """IncomingPhoneNumbers keep their own refusal list (routes/numbers.py): the same names."""
    table = {p.name: p.harmless for p in tp.NUMBER_CREATE if p.support is tp.Support.REFUSED and p.name != "AreaCode"}
    assert table == {name: harmless for name, (harmless, _) in NUMBERS_REFUSED.items()}


def test_readme_table_is_generated_from_the_table() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- twilio-parameters: begin -->\n", "<!-- twilio-parameters: end -->"
    assert start in readme and end in readme, "README lacks the Twilio parameters table's markers"
    got = readme.split(start, 1)[1].split(end, 1)[0]
    assert got.strip() == tp.markdown().strip(), (
        "README's Twilio parameters table is stale: replace it with "
        "`python -c 'from wirexa.api import parameters; print(parameters.markdown(), end=\"\")'`"
    )


# --- the API, parameter by parameter --------------------------------------------------------------

URL = "http://127.0.0.1:9/x"
_numbers = itertools.count(1000)
# Per parameter: a value the API must take, and one it must refuse naming the parameter (None:
# every value is good), by name or by name@operationId. A dict value is several fields (None
# removes a field of the base request).
GOOD: dict[str, Any] = {
    "SipAuthUsername": {
        "To": "sip:alice@pbx.example.com?X-Tenant=acme",
        "SipAuthUsername": "alice",
        "SipAuthPassword": "pw",
    },
    "SipAuthPassword": {"To": "sip:alice@pbx.example.com", "SipAuthUsername": "alice", "SipAuthPassword": "pw"},
    "To": "+15005550006",
    "From": "+15005550100",
    "ApplicationSid": {"ApplicationSid": "{app}", "Url": None},
    "StatusCallbackEvent": "ringing",
    "SendDigits": "1w2#",
    "Timeout": "30",
    "Record": "true",
    "CallerId": "+15005550199",
    "Twiml": {"Twiml": "<Response><Say>hi</Say></Response>", "Url": None},
    "TimeLimit": "60",
    "RecordingChannels": "dual",
    "RecordingTrack": "inbound",
    "RecordingStatusCallbackEvent": "in-progress",
    "ConferenceRecord": "record-from-start",
    "ConferenceTrim": "do-not-trim",
    "ConferenceRecordingStatusCallbackEvent": "in-progress completed",
    "Trim": "do-not-trim",
    "MachineDetection": "Enable",
    "MachineDetectionTimeout": "30",
    "MachineDetectionSpeechThreshold": "2400",
    "MachineDetectionSpeechEndThreshold": "1200",
    "MachineDetectionSilenceTimeout": "5000",
    "AsyncAmd": "true",
    "Status": "canceled",
    "Status@UpdateCallRecording": "paused",
    "PauseBehavior": "skip",
    "ParentCallSid": "CA" + "0" * 32,
    "CallSid": "CA" + "0" * 32,
    "ConferenceSid": "CF" + "0" * 32,
    "IncludeSoftDeleted": "true",
    "PageSize": "5",
    "Page": "0",
    "PageToken": "PA" + "CA" + "0" * 32,
    "PhoneNumber": "+14155551212",
    "FriendlyName": "Front desk",
    "ApiVersion": "2010-04-01",
    "VoiceApplicationSid": "{app}",
    "VoiceCallerIdLookup": "false",
    "VoiceFallbackUrl": {"VoiceFallbackUrl": URL, "VoiceUrl": URL},
    "AccountSid": "{project}",
    "Origin": "hosted",
    "Beta": "false",
    "Url@CreateStream": "wss://agent.example/ws",
    "Name@CreateStream": "fork",
    "Track@CreateStream": "both_tracks",
    "Status@UpdateStream": "stopped",
    "MaxSize": "10",
    "Status@ListConference": "completed",
    "Status@UpdateConference": "completed",
    "DateUpdated": "2026-01-01",
    "Muted": "true",
    "Hold": "true",
    "Coaching": {"Coaching": "true", "CallSidToCoach": "CA" + "1" * 32},
    "CallSidToCoach": "CA" + "1" * 32,
    "BeepOnExit": "false",
    "Label": "agent",
    "Beep": "onExit",
    "StartConferenceOnEnter": "false",
    "MaxParticipants": "5",
    "ConferenceStatusCallbackEvent": "start end",
    "AmdStatusCallback": {"AmdStatusCallback": URL, "MachineDetection": "Enable"},
    "EndConferenceOnExit": "true",
    **{f"Parameter{n}.Name": {f"Parameter{n}.Name": "k", f"Parameter{n}.Value": "v"} for n in range(1, 100)},
    **{f"Parameter{n}.Value": {f"Parameter{n}.Name": "k", f"Parameter{n}.Value": "v"} for n in range(1, 100)},
}
BAD: dict[str, Any] = {
    "SipAuthUsername": "alice",  # without SipAuthPassword, and To is a number
    "SipAuthPassword": {"To": "sip:alice@pbx.example.com", "SipAuthUsername": "alice"},  # without it
    "To": "nope",
    "From": "nope",
    "ApplicationSid": {"ApplicationSid": "AP" + "0" * 32, "Url": None},
    "StatusCallbackEvent": "sometimes",
    "SendDigits": "xyz",
    "Timeout": "0",
    "Record": "maybe",
    "CallerId": None,
    "Twiml": {"Twiml": "<Nope/>", "Url": None},
    "TimeLimit": "0",
    "RecordingChannels": "stereo",
    "RecordingTrack": "sideways",
    "RecordingStatusCallbackEvent": "finished",
    "ConferenceRecord": "sometimes",
    "ConferenceTrim": "some",
    "ConferenceRecordingStatusCallbackEvent": "finished",
    "Trim": "some",
    "MachineDetection": "Sometimes",
    "MachineDetectionTimeout": "1",
    "MachineDetectionSpeechThreshold": "1",
    "MachineDetectionSpeechEndThreshold": "1",
    "MachineDetectionSilenceTimeout": "1",
    "AsyncAmd": "maybe",
    "Status": "ringing",
    "Status@ListCall": "sleeping",
    "PauseBehavior": "mute",
    "IncludeSoftDeleted": "maybe",
    "PageSize": "0",
    "Page": "-1",
    "PhoneNumber": "12",
    "FriendlyName": "x" * 65,
    "ApiVersion": "2008-08-01",
    "VoiceApplicationSid": "AP" + "0" * 32,
    "VoiceCallerIdLookup": "true",
    "AccountSid": "AC" + "1" * 32,
    "Origin": "elsewhere",
    "Beta": "maybe",
    "Url@CreateStream": "https://agent.example/ws",  # a stream's URL is ws:// or wss://
    "Track@CreateStream": "sideways",
    "Status@UpdateStream": "paused",
    "MaxSize": "5001",
    "Status@ListConference": "open",
    "Status@UpdateConference": "paused",
    "DateUpdated": "soon",
    "Muted@UpdateParticipant": None,  # Twilio: any value but true unmutes
    "Muted": "maybe",
    "Hold": "maybe",
    "Coaching": "maybe",
    "CallSidToCoach": "someone",
    "BeepOnExit": "maybe",
    "Label": "x" * 129,
    "Beep": "loud",
    "StartConferenceOnEnter": "maybe",
    "MaxParticipants": "1",
    "ConferenceStatusCallbackEvent": "sometimes",
    "EndConferenceOnExit": "maybe",
    **{f"Parameter{n}.Name": {f"Parameter{n}.Name": "k", f"Parameter{n}.Value": "v" * 500} for n in range(1, 100)},
    **{f"Parameter{n}.Value": {f"Parameter{n}.Value": "v"} for n in range(1, 100)},  # without its Name
}
NO_BAD = {"ParentCallSid", "CallSid", "ConferenceSid", "PageToken", "Name"}
NO_BAD_IN_LISTS = {"To", "From", "PhoneNumber", "FriendlyName"}  # a filter matching nothing


def good_value(op: str, name: str) -> Any:
    for key in (f"{name}@{op}", name):
        if key in GOOD:
            return GOOD[key]
    if name.endswith(("Url", "StatusCallback")):
        return URL
    if name.endswith("Method"):
        return "GET"
    if name.endswith(("<", ">")) or name in ("StartTime", "EndTime", "DateCreated"):
        return "2026-01-01"
    raise AssertionError(f"no good value for {name} ({op}): add one to GOOD")


def bad_value(op: str, name: str) -> Any:
    if name in NO_BAD or (op.startswith("List") and name in NO_BAD_IN_LISTS):
        return None
    for key in (f"{name}@{op}", name):
        if key in BAD:
            return BAD[key]
    if name.endswith(("Url", "StatusCallback")):
        return "ftp://x"
    if name.endswith("Method"):
        return "PUT"
    if name.endswith(("<", ">")) or name in ("StartTime", "EndTime", "DateCreated"):
        return "soon"
    raise AssertionError(f"no bad value for {name} ({op}): add one to BAD or NO_BAD")


class Target:
    """Sends one operation's request with the fields given over its base request."""

    def __init__(self, api: Api, op: str, spec: dict[str, Any]) -> None:
        self.api, self.op, self.spec = api, op, spec
        self.subs: dict[str, str] = {}

    async def setup(self) -> None:
        api = self.api
        resp = await api.client.post(
            f"{api.base}/Applications.json", data={"VoiceUrl": URL, "FriendlyName": "app"}, headers=api.auth
        )
        assert resp.status == 201, await resp.text()
        self.subs = {"{app}": (await resp.json())["sid"], "{project}": api.project.sid}

    async def base(self) -> tuple[str, dict[str, str]]:
        """The path (sids filled in: a fresh call, recording or number) and the base fields."""
        api, op = self.api, self.op
        path = self.spec["path"].replace("{AccountSid}", api.project.sid)
        fields: dict[str, str] = {}
        if op == "CreateCall":
            fields = {"To": "+15005550006", "From": "+15005550100", "Url": URL}
        elif "/Queues" in path:
            fields = {"FriendlyName": f"queue {next(_numbers)}"} if op == "CreateQueue" else {}
            if op != "CreateQueue" and op != "ListQueue":
                resp = await api.client.post(
                    f"{api.base}/Queues.json", data={"FriendlyName": f"queue {next(_numbers)}"}, headers=api.auth
                )
                queue = (await resp.json())["sid"]
                path = path.replace("{QueueSid}", queue).replace("{Sid}", queue).replace("{CallSid}", "Front")
            if op == "UpdateMember":
                fields = {"Url": URL}
        elif op == "CreateParticipant":  # a room named by its friendly name: made when the call joins
            path = path.replace("{ConferenceSid}", f"room-{next(_numbers)}")
            fields = {"To": "+15005550006", "From": "+15005550100"}
        elif "/Conferences" in path:  # no live room in this API: 404 after the checks
            path = path.replace("{ConferenceSid}", "CF" + "0" * 32).replace("{Sid}", "CF" + "0" * 32)
            path = path.replace("{CallSid}", "CA" + "0" * 32)
        elif "{CallSid}" in path or op == "UpdateCall":
            resp = await api.create()
            call = (await resp.json())["sid"]
            path = path.replace("{CallSid}", call).replace("{Sid}", call)
            if "Recordings/{Sid}" in self.spec["path"] or op == "UpdateCallRecording":
                rec = api.store.write_sync(
                    lambda: insert_recording(
                        account_sid=api.project.sid, call_sid=call, status="in-progress", source="StartCallRecordingAPI"
                    )
                )
                path = self.spec["path"].replace("{AccountSid}", api.project.sid)
                path = path.replace("{CallSid}", call).replace("{Sid}", rec.sid)
            if op == "UpdateCallRecording":
                fields = {"Status": "paused"}
            if op == "CreateStream":
                fields = {"Url": "wss://agent.example/ws"}
            if op == "UpdateStream":
                fields = {"Status": "stopped"}
        elif "{RecordingSid}" in path:  # a recording's transcriptions
            resp = await api.create()
            call = (await resp.json())["sid"]
            rec = api.store.write_sync(
                lambda: insert_recording(
                    account_sid=api.project.sid, call_sid=call, status="completed", source="RecordVerb"
                )
            )
            path = path.replace("{RecordingSid}", rec.sid)
        elif op == "FetchRecording":
            resp = await api.create()
            call = (await resp.json())["sid"]
            rec = api.store.write_sync(
                lambda: insert_recording(
                    account_sid=api.project.sid, call_sid=call, status="completed", source="RecordVerb"
                )
            )
            path = path.replace("{Sid}", rec.sid)
        elif op.startswith("CreateIncomingPhoneNumber"):
            fields = {"PhoneNumber": f"+1415555{next(_numbers)}"}
        elif op == "UpdateIncomingPhoneNumber":
            number = f"+1415555{next(_numbers)}"
            resp = await api.client.post(
                f"{api.base}/IncomingPhoneNumbers.json", data={"PhoneNumber": number}, headers=api.auth
            )
            path = path.replace("{Sid}", (await resp.json())["sid"])
        assert "{" not in path, path
        return path, fields

    async def send(self, name: str, value: Any) -> tuple[int, dict[str, Any]]:
        path, fields = await self.base()
        given = value if isinstance(value, dict) else {name: value}
        for key, v in given.items():
            if v is None:
                fields.pop(key, None)
            else:
                fields[key] = self.subs.get(v, v)
        if self.spec["method"] == "GET":
            resp = await self.api.client.get(path, params=fields, headers=self.api.auth)
        else:
            resp = await self.api.client.post(path, data=fields, headers=self.api.auth)
        return resp.status, await resp.json()

    def accepted(self, status: int, body: dict[str, Any]) -> bool:
        if self.op in ("CreateCallRecording", "UpdateCallRecording", "CreateStream"):
            # no live session: 21220 after the checks
            return status == 400 and body["code"] == ApiCode.INVALID_CALL_STATE and "not" in body["message"]
        if self.op in (
            "UpdateStream",
            "UpdateMember",
            "UpdateConference",
            "ListParticipant",
            "UpdateParticipant",
            "ListConferenceRecording",
            "UpdateConferenceRecording",
        ):
            # nothing live to act on: 404 after the checks
            return status == 404 and body["code"] == ApiCode.NOT_FOUND
        return status in (200, 201)


@pytest.mark.parametrize("op", SERVED)
async def test_each_parameter_against_the_api(api: Api, op: str) -> None:
    spec = twilio_operations()[op]
    target = Target(api, op, spec)
    await target.setup()
    status, body = await target.send("", {})
    assert target.accepted(status, body), (op, status, body)
    problems = []
    for param in tp.parameters(op):
        name = param.name
        if param.support is tp.Support.REFUSED:
            status, body = await target.send(name, "x-" + name.lower())
            if status != 400 or body["code"] != param.code or name not in body["message"]:
                problems.append(f"{name}: refused in the table, the API answered {status} {body}")
            for harmless in ("", param.harmless):
                if harmless is not None:
                    status, body = await target.send(name, harmless)
                    if not target.accepted(status, body):
                        problems.append(f"{name}={harmless!r} asks for nothing, yet {status} {body}")
            continue
        status, body = await target.send(name, good_value(op, name))
        if not target.accepted(status, body):
            problems.append(f"{name}: a good value was refused: {status} {body}")
        bad = bad_value(op, name)
        if bad is not None:
            status, body = await target.send(name, bad)
            if status != 400 or name not in body["message"]:
                problems.append(
                    f"{name}={bad!r}: {param.support} in the table, yet not a 400 naming it: {status} {body}"
                )
    assert not problems, f"{op}:\n" + "\n".join(problems)


async def test_recordings_by_conference_sid(api: Api) -> None:
    call = (await (await api.create()).json())["sid"]
    api.store.write_sync(
        lambda: insert_recording(account_sid=api.project.sid, call_sid=call, status="completed", source="RecordVerb")
    )
    room = "CF" + "1" * 32
    api.store.write_sync(
        lambda: insert_recording(
            account_sid=api.project.sid, call_sid=None, conference_sid=room, status="completed", source="Conference"
        )
    )
    resp = await api.client.get(f"{api.base}/Recordings.json", headers=api.auth)
    assert len((await resp.json())["recordings"]) == 2
    resp = await api.client.get(f"{api.base}/Recordings.json", params={"ConferenceSid": room}, headers=api.auth)
    [rec] = (await resp.json())["recordings"]
    assert rec["conference_sid"] == room and rec["call_sid"] is None
    resp = await api.client.get(
        f"{api.base}/Recordings.json", params={"ConferenceSid": "CF" + "0" * 32}, headers=api.auth
    )
    assert resp.status == 200 and (await resp.json())["recordings"] == []


async def test_refused_call_parameters_leave_no_call(api: Api) -> None:
    resp = await api.create(CallReason="Your appointment")
    body = await resp.json()
    assert resp.status == 400 and body["code"] == ApiCode.INVALID_PARAMETER
    assert body["message"].startswith("CallReason is not supported")
    resp = await api.client.get(f"{api.base}/Calls.json", headers=api.auth)
    assert (await resp.json())["calls"] == []
