"""Conferences and their Participants (reference voice-next §2.3, §2.4): the project's rooms, which
live on the engine that runs their calls (calls/conference.py), in memory like the calls: the live
ones and the latest ended ones are listed. A conference's Recordings are routes/recordings.py's.

Parameters are checked before the room is looked up (a bad or refused one is a 400 naming it
even for a room that is gone). Participant create places an outbound call (the Calls resource's
own checks and options) whose TwiML is `<Dial><Conference ...>room</Conference></Dial>` built
from the participant options: it joins the room when answered, as Twilio's does; the path names
the room by CF sid (a known room) or by its friendly name (made when the call joins).
A room's fetch and Participants list not in this engine's memory answer from its row when it
ended (another engine ran it, or it is older than the rooms kept: several engines on one
database forward a live room's requests to its engine, api/forward.py, and give its name back
when it ends): an ended room has no participants.
HoldUrl/HoldMethod/WaitUrl/WaitMethod updates are refused (held and waiting
participants hear the built-in music); AnnounceUrl plays to the room or the participant
(calls/conference.py announce)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web
from multidict import MultiDict

from wirexa.api import context as ctx
from wirexa.api import parameters as tp
from wirexa.api.routes.calls import parse_new_call
from wirexa.api.serializers import conference_json, participant_json
from wirexa.calls.conference import Conferences, Participant, Room
from wirexa.calls.statuses import RECORDING_CALLBACK_EVENTS
from wirexa.errors import ApiCode, BadRequest
from wirexa.store.repo.conferences import ConferenceRecord, get_conference

STATUSES = ("init", "in-progress", "completed")
CONFERENCE_EVENTS = ("start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement")
MAX_LABEL = 128


def _conferences(request: web.Request) -> Conferences | None:
    return ctx.services(request).conferences


def _room_json(room: Room, prefix: str) -> dict[str, Any]:
    return conference_json(
        sid=room.sid,
        account_sid=room.account_sid,
        friendly_name=room.name,
        status=room.status,
        date_created=room.date_created,
        date_updated=room.date_updated,
        reason_conference_ended=room.reason_ended,
        call_sid_ending_conference=room.call_sid_ending,
        prefix=prefix,
    )


def _part_json(part: Participant, prefix: str) -> dict[str, Any]:
    return participant_json(
        account_sid=part.room.account_sid,
        conference_sid=part.room.sid,
        call_sid=part.call_sid,
        label=part.label,
        muted=part.muted,
        hold=part.hold,
        coach=part.coach,
        start_conference_on_enter=part.action.start_conference_on_enter,
        end_conference_on_exit=part.end_on_exit,
        status="connected",
        date_created=part.date_created,
        date_updated=part.date_updated or part.date_created,
        prefix=prefix,
    )


def _matches(when: dt.datetime, bounds: tuple[tuple[str, dt.datetime, bool], ...]) -> bool:
    for op, bound, date_only in bounds:
        value: dt.datetime | dt.date = when.date() if date_only else when
        limit: dt.datetime | dt.date = bound.date() if date_only else bound
        if (op == "=" and value != limit) or (op == "<" and not value < limit) or (op == ">" and not value > limit):  # type: ignore[operator]
            return False
    return True


def _page(request: web.Request, key: str, items: list[dict[str, Any]], ids: list[str]) -> web.Response:
    paging = ctx.parse_paging(request.query)
    start = paging.page * paging.page_size
    if paging.after_sid is not None:
        after = [i for i, sid in enumerate(ids) if sid == paging.after_sid]
        start = after[0] + 1 if after else start
    page = items[start : start + paging.page_size]
    more = start + paging.page_size < len(items)
    return ctx.page_response(request, key, page, paging, ids[start + len(page) - 1] if more and page else None)


async def list_conferences(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    q = request.query
    status = (q.get("Status") or "").strip()
    if status and status not in STATUSES:
        raise BadRequest(f"Status must be one of {', '.join(STATUSES)}, got {status!r}", code=ApiCode.INVALID_PARAMETER)
    name = q.get("FriendlyName")
    created = ctx.parse_time_filter(q, "DateCreated")
    updated = ctx.parse_time_filter(q, "DateUpdated")
    ctx.parse_paging(q)
    conferences = _conferences(request)
    rooms = [
        r
        for r in (conferences.rooms(project.sid) if conferences is not None else [])
        if (not status or r.status == status)
        and (name is None or r.name == name)
        and _matches(r.date_created, created)
        and _matches(r.date_updated, updated)
    ]
    pfx = ctx.prefix(request)
    return _page(request, "conferences", [_room_json(r, pfx) for r in rooms], [r.sid for r in rooms])


async def _room(request: web.Request) -> Room:
    project = await ctx.require_project(request)
    sid = request.match_info.get("sid") or request.match_info["conference"]
    conferences = _conferences(request)
    room = conferences.room(project.sid, sid) if conferences is not None else None
    if room is None:
        raise ctx.not_found(request)
    return room


async def _ended_row(request: web.Request) -> ConferenceRecord | None:
    """The path's room from its row, when this engine does not have it and it ended (else None)."""
    project = await ctx.require_project(request)
    sid = request.match_info.get("sid") or request.match_info["conference"]
    conferences = _conferences(request)
    if conferences is not None and conferences.room(project.sid, sid) is not None:
        return None
    row: ConferenceRecord | None = await ctx.services(request).store.lookup(get_conference, sid)
    return row if row is not None and row.account_sid == project.sid and row.status == "completed" else None


async def fetch_conference(request: web.Request) -> web.Response:
    row = await _ended_row(request)
    if row is not None:
        return web.json_response(
            conference_json(
                sid=row.sid,
                account_sid=row.account_sid,
                friendly_name=row.friendly_name,
                status=row.status,
                date_created=row.date_created,
                date_updated=row.date_updated,
                reason_conference_ended=row.reason_conference_ended,
                call_sid_ending_conference=row.call_sid_ending_conference,
                prefix=ctx.prefix(request),
            )
        )
    return web.json_response(_room_json(await _room(request), ctx.prefix(request)))


async def update_conference(request: web.Request) -> web.Response:
    await ctx.require_project(request)
    form = await ctx.form(request)
    status = (form.get("Status") or "").strip()
    if status and status != "completed":
        raise BadRequest(f"Status must be completed, got {status!r}", code=ApiCode.INVALID_PARAMETER)
    announce = ctx.opt_url(form, "AnnounceUrl")
    announce_method = ctx.parse_method(form.get("AnnounceMethod"), "AnnounceMethod")
    room = await _room(request)
    conferences = _conferences(request)
    assert conferences is not None  # a room exists only where conferences run
    if announce is not None and room.status != "completed":
        await conferences.announce(room, announce, announce_method)
    if status == "completed":
        await conferences.end(room)
    return web.json_response(_room_json(room, ctx.prefix(request)))


async def list_participants(request: web.Request) -> web.Response:
    await ctx.require_project(request)
    q = request.query
    filters = {name: ctx.parse_bool(q.get(name), name) for name in ("Muted", "Hold", "Coaching") if q.get(name)}
    ctx.parse_paging(q)
    if await _ended_row(request) is not None:
        return _page(request, "participants", [], [])
    room = await _room(request)
    parts = [
        p
        for p in room.participants.values()
        if filters.get("Muted", p.muted) == p.muted
        and filters.get("Hold", p.hold) == p.hold
        and filters.get("Coaching", bool(p.coach)) == bool(p.coach)
    ]
    pfx = ctx.prefix(request)
    return _page(request, "participants", [_part_json(p, pfx) for p in parts], [p.call_sid for p in parts])


async def _participant(request: web.Request) -> tuple[Room, Participant]:
    room = await _room(request)
    part = Conferences.participant(room, request.match_info["call"])
    if part is None:
        raise ctx.not_found(request)
    return room, part


async def fetch_participant(request: web.Request) -> web.Response:
    _, part = await _participant(request)
    return web.json_response(_part_json(part, ctx.prefix(request)))


def _opt_bool(form: Any, name: str) -> bool | None:
    value = form.get(name)
    return None if value is None or value == "" else ctx.parse_bool(value, name)


async def update_participant(request: web.Request) -> web.Response:
    await ctx.require_project(request)
    form = await ctx.form(request)
    tp.refuse(form, "UpdateParticipant")
    announce = ctx.opt_url(form, "AnnounceUrl")
    announce_method = ctx.parse_method(form.get("AnnounceMethod"), "AnnounceMethod")
    muted = form.get("Muted")
    hold = _opt_bool(form, "Hold")
    beep_on_exit = _opt_bool(form, "BeepOnExit")
    end_on_exit = _opt_bool(form, "EndConferenceOnExit")
    coaching = _opt_bool(form, "Coaching")
    to_coach = (form.get("CallSidToCoach") or "").strip()
    if to_coach and not re.fullmatch(r"CA[0-9a-f]{32}", to_coach):
        raise BadRequest(f"CallSidToCoach must be a CallSid, got {to_coach!r}", code=ApiCode.INVALID_PARAMETER)
    if coaching is True and not to_coach:
        raise BadRequest("CallSidToCoach is required when Coaching is true", code=ApiCode.INVALID_PARAMETER)
    room, part = await _participant(request)
    coach: str | None = None
    if coaching is True or (coaching is None and to_coach):
        if to_coach not in room.participants or to_coach == part.call_sid:
            raise BadRequest(f"CallSidToCoach {to_coach} is not another participant", code=ApiCode.INVALID_PARAMETER)
        coach = to_coach
    elif coaching is False:
        coach = ""
    conferences = _conferences(request)
    assert conferences is not None
    await conferences.update(
        part,
        # Twilio: true mutes; any other value is taken as false.
        muted=None if muted is None or muted == "" else muted.strip().lower() == "true",
        hold=hold,
        beep_on_exit=beep_on_exit,
        end_on_exit=end_on_exit,
        coach=coach,
    )
    if announce is not None:
        await conferences.announce(room, announce, announce_method, part)
    return web.json_response(_part_json(part, ctx.prefix(request)))


async def delete_participant(request: web.Request) -> web.Response:
    _, part = await _participant(request)
    conferences = _conferences(request)
    assert conferences is not None
    await conferences.kick(part)
    return web.Response(status=204)


# Participant create options that are the call's: passed to the Calls resource's create as they are.
_CALL_FIELDS = (
    "From", "To", "StatusCallback", "StatusCallbackMethod", "StatusCallbackEvent", "Timeout", "Record",
    "RecordingChannels", "RecordingStatusCallback", "RecordingStatusCallbackMethod", "RecordingStatusCallbackEvent",
    "RecordingTrack", "Trim", "SipAuthUsername", "SipAuthPassword", "CallerId", "TimeLimit", "MachineDetection",
    "MachineDetectionTimeout", "MachineDetectionSpeechThreshold", "MachineDetectionSpeechEndThreshold",
    "MachineDetectionSilenceTimeout",
)  # fmt: skip
BEEPS = {"true": "true", "false": "false", "onenter": "onEnter", "onexit": "onExit"}


def _conference_twiml(form: Any, name: str) -> str:
    """The <Dial><Conference> of a Participant create's options; BadRequest naming a bad one."""
    attrs: list[tuple[str, str]] = []
    label = (form.get("Label") or "").strip()
    if len(label) > MAX_LABEL:
        raise BadRequest(f"Label must be {MAX_LABEL} characters or fewer", code=ApiCode.INVALID_PARAMETER)
    if label:
        attrs.append(("participantLabel", label))
    for field, attr in (
        ("Muted", "muted"),
        ("StartConferenceOnEnter", "startConferenceOnEnter"),
        ("EndConferenceOnExit", "endConferenceOnExit"),
    ):
        if (form.get(field) or "") != "":
            attrs.append((attr, "true" if ctx.parse_bool(form.get(field), field) else "false"))
    beep = (form.get("Beep") or "").strip()
    if beep:
        if beep.lower() not in BEEPS:
            raise BadRequest(
                f"Beep must be true, false, onEnter or onExit, got {beep!r}", code=ApiCode.INVALID_PARAMETER
            )
        attrs.append(("beep", BEEPS[beep.lower()]))
    if "WaitUrl" in form:
        wait = ctx.opt_url(form, "WaitUrl")
        attrs.append(("waitUrl", wait or ""))  # "" is silence
    if (form.get("WaitMethod") or "") != "":
        attrs.append(("waitMethod", ctx.parse_method(form.get("WaitMethod"), "WaitMethod")))
    if (form.get("MaxParticipants") or "") != "":
        most = ctx.parse_int(form.get("MaxParticipants"), "MaxParticipants", 250, 2, 250, ApiCode.INVALID_PARAMETER)
        attrs.append(("maxParticipants", str(most)))
    callback = ctx.opt_url(form, "ConferenceStatusCallback")
    if callback is not None:
        attrs.append(("statusCallback", callback))
    if (form.get("ConferenceStatusCallbackMethod") or "") != "":
        method = ctx.parse_method(form.get("ConferenceStatusCallbackMethod"), "ConferenceStatusCallbackMethod")
        attrs.append(("statusCallbackMethod", method))
    events = ctx.parse_list(form, "ConferenceStatusCallbackEvent")
    if any(e not in CONFERENCE_EVENTS for e in events):
        bad = next(e for e in events if e not in CONFERENCE_EVENTS)
        raise BadRequest(f"Invalid ConferenceStatusCallbackEvent: {bad}", code=ApiCode.INVALID_PARAMETER)
    if events:
        attrs.append(("statusCallbackEvent", " ".join(events)))
    attrs += _recording_attrs(form)
    coaching = _opt_bool(form, "Coaching")
    to_coach = (form.get("CallSidToCoach") or "").strip()
    if to_coach and not re.fullmatch(r"CA[0-9a-f]{32}", to_coach):
        raise BadRequest(f"CallSidToCoach must be a CallSid, got {to_coach!r}", code=ApiCode.INVALID_PARAMETER)
    if coaching is True and not to_coach:
        raise BadRequest("CallSidToCoach is required when Coaching is true", code=ApiCode.INVALID_PARAMETER)
    if to_coach and coaching is not False:
        attrs.append(("coach", to_coach))
    text = "".join(f" {k}={quoteattr(v)}" for k, v in attrs)
    return f"<Response><Dial><Conference{text}>{escape(name)}</Conference></Dial></Response>"


CONFERENCE_RECORD = {"true": "record-from-start", "record-from-start": "record-from-start"}
CONFERENCE_RECORD.update({"false": "do-not-record", "do-not-record": "do-not-record"})
TRIMS = ("trim-silence", "do-not-trim")


def _recording_attrs(form: Any) -> list[tuple[str, str]]:
    """The room's recording (<Conference record trim recordingStatusCallback...>) of the
    Conference* options; BadRequest naming a bad one."""
    attrs: list[tuple[str, str]] = []
    record = (form.get("ConferenceRecord") or "").strip()
    if record:
        if record.lower() not in CONFERENCE_RECORD:
            raise BadRequest(
                f"ConferenceRecord must be true, false, record-from-start or do-not-record, got {record!r}",
                code=ApiCode.INVALID_PARAMETER,
            )
        attrs.append(("record", CONFERENCE_RECORD[record.lower()]))
    trim = (form.get("ConferenceTrim") or "").strip()
    if trim:
        if trim not in TRIMS:
            raise BadRequest(
                f"ConferenceTrim must be trim-silence or do-not-trim, got {trim!r}", code=ApiCode.INVALID_PARAMETER
            )
        attrs.append(("trim", trim))
    callback = ctx.opt_url(form, "ConferenceRecordingStatusCallback")
    if callback is not None:
        attrs.append(("recordingStatusCallback", callback))
    if (form.get("ConferenceRecordingStatusCallbackMethod") or "") != "":
        name = "ConferenceRecordingStatusCallbackMethod"
        attrs.append(("recordingStatusCallbackMethod", ctx.parse_method(form.get(name), name)))
    events = ctx.parse_list(form, "ConferenceRecordingStatusCallbackEvent")
    bad = [e for e in events if e not in RECORDING_CALLBACK_EVENTS]
    if bad:
        raise BadRequest(f"Invalid ConferenceRecordingStatusCallbackEvent: {bad[0]}", code=ApiCode.INVALID_PARAMETER)
    if events:
        attrs.append(("recordingStatusCallbackEvent", " ".join(events)))
    return attrs


async def create_participant(request: web.Request) -> web.Response:
    """An outbound call that joins the room when answered (status queued, as Twilio's)."""
    project = await ctx.require_project(request)
    form = await ctx.form(request)
    tp.refuse(form, "CreateParticipant")
    where = request.match_info["conference"]
    name = where
    conferences = _conferences(request)
    if where.startswith("CF"):
        room = conferences.room(project.sid, where) if conferences is not None else None
        if room is None:
            raise ctx.not_found(request)
        name = room.name
    twiml = _conference_twiml(form, name)
    call_form: MultiDict[str] = MultiDict((k, v) for k, v in form.items() if k in _CALL_FIELDS)
    call_form["Twiml"] = twiml
    if (form.get("AmdStatusCallback") or "").strip():  # a participant's AMD reports asynchronously
        call_form["AsyncAmd"] = "true"
        call_form["AsyncAmdStatusCallback"] = form["AmdStatusCallback"]
        if form.get("AmdStatusCallbackMethod"):
            call_form["AsyncAmdStatusCallbackMethod"] = form["AmdStatusCallbackMethod"]
    elif (form.get("AmdStatusCallbackMethod") or "") != "":
        ctx.parse_method(form.get("AmdStatusCallbackMethod"), "AmdStatusCallbackMethod")
    try:
        new = parse_new_call(call_form)
    except BadRequest as exc:
        if "Twiml" in str(exc):  # ours, not the caller's: say which options made it
            raise BadRequest(f"the participant options are too long for one room: {exc}", code=exc.code) from exc
        raise
    call = await ctx.services(request).calls.create(project, new)
    room = conferences.live.get((project.sid, name)) if conferences is not None else None
    now = call.date_created
    body = participant_json(
        account_sid=project.sid,
        conference_sid=room.sid if room is not None else None,
        call_sid=call.sid,
        label=(form.get("Label") or "").strip() or None,
        muted=ctx.parse_bool(form.get("Muted"), "Muted"),
        hold=False,
        coach=(form.get("CallSidToCoach") or "").strip() if _opt_bool(form, "Coaching") is not False else "",
        start_conference_on_enter=ctx.parse_bool(form.get("StartConferenceOnEnter"), "StartConferenceOnEnter", True),
        end_conference_on_exit=ctx.parse_bool(form.get("EndConferenceOnExit"), "EndConferenceOnExit"),
        status="queued",
        date_created=now,
        date_updated=now,
        prefix=ctx.prefix(request),
        room_path=quote(name, safe=""),
    )
    body["queue_time"] = "0"
    return web.json_response(body, status=201)


def add_routes(app: web.Application) -> None:
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts/{account}/Conferences"
        app.router.add_route("GET", f"{base}{ctx.JSON_EXT}", list_conferences)
        app.router.add_route("GET", f"{base}/{ctx.SID}{ctx.JSON_EXT}", fetch_conference)
        app.router.add_route("POST", f"{base}/{ctx.SID}{ctx.JSON_EXT}", update_conference)
        parts = base + "/{conference:[^/.]+}/Participants"
        app.router.add_route("GET", f"{parts}{ctx.JSON_EXT}", list_participants)
        app.router.add_route("POST", f"{parts}{ctx.JSON_EXT}", create_participant)
        one = parts + "/{call:[^/]+?}" + ctx.JSON_EXT
        app.router.add_route("GET", one, fetch_participant)
        app.router.add_route("POST", one, update_participant)
        app.router.add_route("DELETE", one, delete_participant)
