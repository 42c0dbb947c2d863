"""The console's Conferences pages in process, on live rooms (the call-flow harness: real
dispatcher, sessions and conference rooms, FakeSip as the network and its media rooms): the
list and a room's page with its participants (CallSid linked, muted and hold), both live over
Server-Sent Events; mute/unmute, hold/unhold and kick through the Participants resource's
service calls, end through the Conferences resource's; CSRF refused, another project's login
gets a 404, a room's name with markup is text."""

from __future__ import annotations

import re

from tests.calls.conftest import Flow, flow  # noqa: F401 - the call-flow harness (a fixture)
from tests.conftest import Api, start_api
from tests.console.test_pages import XSS, login
from tests.console.test_queue_pages import rows_event
from wirexa.calls.conference import Conferences
from wirexa.console.auth import write_password
from wirexa.store.repo.projects import create_project

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def join(harness: Flow, path: str) -> str:
    """A document that dials the room named XSS (escaped in the XML), then hangs up."""
    docs = harness.backend.docs
    docs[path] = f'<Response><Dial action="/after"><Conference>{ESCAPED}</Conference></Dial></Response>'
    docs["/after"] = "<Response><Hangup/></Response>"
    return harness.backend.url(path)


async def test_participants_live_mute_hold_kick_and_end(flow: Flow) -> None:  # noqa: F811
    rooms = flow.dispatcher.deps.conferences
    assert isinstance(rooms, Conferences)
    a = await flow.create(url=join(flow, "/a"))
    b = await flow.create(to="+15005550007", url=join(flow, "/b"))
    await flow.wait_for(lambda: any(len(members) == 2 for members in flow.sip.rooms.values()))
    [room] = rooms.rooms(flow.project.sid)
    key = room.sid
    assert room.name == XSS and flow.sip.hears(key, a.sid) == {b.sid}
    api = await start_api(flow.store, flow.dispatcher.settings, flow.project)
    api.services.conferences = rooms
    try:
        token = await login(api)
        c = api.client
        text = await (await c.get("/console/conferences")).text()
        row = re.search(rf'<tr data-sid="{key}">(.*?)</tr>', text, re.S)
        assert row and '<td class="num count">2</td>' in row.group(1) and "in-progress" in row.group(1)
        assert XSS not in text and f">{ESCAPED}</a>" in text
        page = await (await c.get(f"/console/conferences/{key}")).text()
        assert XSS not in page and f"<h1>Conference {ESCAPED}</h1>" in page
        parts = re.findall(r'<tr data-sid="(CA\w+)">\s*<td><a href="/console/calls/\1">', page)
        assert parts == [a.sid, b.sid] and f'data-rows-feed="/console/conferences/{key}/feed"' in page
        action = f"/console/conferences/{key}/participants"

        # CSRF: refused, nothing changed.
        for data in ({"do": "mute"}, {"do": "mute", "csrf": "wrong"}):
            resp = await c.post(f"{action}/{a.sid}", data=data)
            assert resp.status == 403 and "CSRF" in await resp.text()
        resp = await c.post(f"/console/conferences/{key}/end", data={})
        assert resp.status == 403 and room.status == "in-progress" and not room.participants[a.sid].muted

        # Mute a: b no longer hears it (the media room's rule); the REST API says muted.
        resp = await c.post(f"{action}/{a.sid}", data={"csrf": token, "do": "mute"})
        assert resp.status == 200 and f"Call {a.sid} muted." in await resp.text()
        assert flow.sip.hears(key, b.sid) == set() and flow.sip.hears(key, a.sid) == {b.sid}
        rest = await c.get(f"{api.base}/Conferences/{key}/Participants/{a.sid}.json", headers=api.auth)
        assert (await rest.json())["muted"] is True
        page = await (await c.get(f"/console/conferences/{key}")).text()
        mine = re.search(rf'<tr data-sid="{a.sid}">(.*?)</tr>', page, re.S)
        assert mine and '<td class="muted">yes</td>' in mine.group(1) and 'value="unmute"' in mine.group(1)
        await c.post(f"{action}/{a.sid}", data={"csrf": token, "do": "unmute"})
        assert flow.sip.hears(key, b.sid) == {a.sid} and not room.participants[a.sid].muted

        # Hold b: out of the media room (the hold music), then back.
        resp = await c.post(f"{action}/{b.sid}", data={"csrf": token, "do": "hold"})
        assert resp.status == 200 and room.participants[b.sid].hold and b.sid not in flow.sip.rooms[key]
        await c.post(f"{action}/{b.sid}", data={"csrf": token, "do": "unhold"})
        assert not room.participants[b.sid].hold and b.sid in flow.sip.rooms[key]
        resp = await c.post(f"{action}/{b.sid}", data={"csrf": token, "do": "explode"})
        assert resp.status == 400 and "do must be one of mute, unmute, hold, unhold, kick" in await resp.text()

        # Kick b, watched on the page's feed: its row goes; its call goes on at <Dial action>.
        feed = await c.get(f"/console/conferences/{key}/feed")
        assert feed.headers["Content-Type"] == "text/event-stream"
        resp = await c.post(f"{action}/{b.sid}", data={"csrf": token, "do": "kick"})
        assert resp.status == 200 and f"Call {b.sid} removed from the conference." in await resp.text()
        rows = await rows_event(feed, lambda data: b.sid not in data)
        assert a.sid in rows and f'name="csrf" value="{token}"' in rows  # its forms still work
        feed.close()
        await flow.wait_status(b.sid, ("completed",))
        assert [p["CallSid"] for p in flow.backend.requests_to("/after")] == [b.sid]
        resp = await c.post(f"{action}/{b.sid}", data={"csrf": token, "do": "mute"})
        assert resp.status == 404

        # Another project's login: not listed, a 404.
        other = await api.store.write(lambda: create_project("other"))
        c.session.cookie_jar.clear()
        theirs = await login(api, other.sid, other.auth_token)
        assert key not in await (await c.get("/console/conferences")).text()
        for method, path, data in (
            ("GET", f"/console/conferences/{key}", {}),
            ("GET", f"/console/conferences/{key}/feed", {}),
            ("POST", f"/console/conferences/{key}/end", {"csrf": theirs}),
            ("POST", f"{action}/{a.sid}", {"csrf": theirs, "do": "kick"}),
        ):
            resp = await c.request(method, path, data=data)
            assert resp.status == 404 and "No such conference." in await resp.text(), path
        assert room.status == "in-progress" and a.sid in room.participants
        # The admin login sees every project's rooms.
        write_password(api.settings.data_path, "0123456789-admin")
        c.session.cookie_jar.clear()
        await login(api, "admin", "0123456789-admin")
        assert f'<tr data-sid="{key}">' in await (await c.get("/console/conferences")).text()
        assert (await c.get(f"/console/conferences/{key}")).status == 200

        # End it: everyone leaves, the room is completed (still listed, as ended).
        c.session.cookie_jar.clear()
        token = await login(api)
        resp = await c.post(f"/console/conferences/{key}/end", data={"csrf": token})
        text = await resp.text()
        assert resp.status == 200 and "The conference is ended." in text and 'id="end-conference"' not in text
        assert room.status == "completed" and "conference-ended-via-api" in text
        await flow.wait_status(a.sid, ("completed",))
        text = await (await c.get("/console/conferences")).text()
        row = re.search(rf'<tr data-sid="{key}">(.*?)</tr>', text, re.S)
        assert row and "completed" in row.group(1) and '<td class="num count">0</td>' in row.group(1)
    finally:
        await api.client.close()


async def test_without_sip_there_are_no_rooms(api: Api) -> None:
    assert api.services.conferences is None  # the API in process: no SIP, no rooms
    await login(api)
    text = await (await api.client.get("/console/conferences")).text()
    assert "No conferences." in text and 'href="/console/conferences" aria-current="page"' in text
    resp = await api.client.get(f"/console/conferences/CF{'0' * 32}")
    assert resp.status == 404 and "No such conference." in await resp.text()
