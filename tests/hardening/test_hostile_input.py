"""Hostile input (issue 15, item 3), each with a clear outcome and nothing lost:

- the customer's documents: XML bombs, external entities, huge and deeply nested documents, an
  HTML page; <Play> of a corrupt WAV, a truncated MP3, a 50 MB+ file, a wrong Content-Type, an
  HTML page: a notification with Twilio's code, and the call goes on to its next verb (FakeSip
  harness, and once over real SIP);
- REST requests with bodies and headers at and over the limits, and invalid UTF-8 or control
  characters in every place a string is accepted (form bodies, query strings, path segments):
  Twilio's error JSON, never a 5xx or a traceback;
- `wirexa calls list|show` and `wirexa tail-webhooks` with terminal escape sequences stored in
  To/From/URL/error: shown escaped, in a pipe and on a terminal, never raw."""

from __future__ import annotations

import http.client
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.api.conftest import make_api
from tests.calls.conftest import Flow
from tests.cli.test_cli import run
from tests.conftest import Api, LiveServer, engine_fixture, make_live_server
from tests.e2e.webapp import WebApp
from wirexa import config
from wirexa.laml.parse import MAX_DEPTH
from wirexa.media.audio import tone_pcm, wav_bytes
from wirexa.store.bootstrap import open_store
from wirexa.store.repo.calls import insert_call
from wirexa.store.repo.notifications import insert_notification, list_notifications
from wirexa.store.repo.projects import create_project
from wirexa.store.repo.recordings import insert_recording
from wirexa.store.repo.webhooks import insert_webhook

AFTER = "After the problem."  # the <Say> after the hostile verb: spoken means the call went on

# --- documents --------------------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n > 1 else "&lol;" * 10}">' for n in range(1, 10))
    + "]><Response><Say>&lol9;</Say></Response>"
)
XXE = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response><Say>&x;</Say></Response>'
QUADRATIC = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + "a" * 20_000 + '">]><Response><Say>&a;&a;&a;</Say></Response>'
)
DEEP = "<Response><Say>" + "<s>" * 9000 + "hi" + "</s>" * 9000 + "</Say></Response>"
DEEP_AT_LIMIT = "<Response><Say>" + "<s>" * (MAX_DEPTH - 2) + "deep" + "</s>" * (MAX_DEPTH - 2) + "</Say></Response>"
HTML = "<!DOCTYPE html><html><head><title>502</title></head><body><h1>Bad gateway</h1></body></html>"


def _doc(body: str | bytes, content_type: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body.encode() if isinstance(body, str) else body, content_type=content_type)

    return handler


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (BILLION_LAUGHS, "text/xml", 12100),
        (XXE, "text/xml", 12100),
        (QUADRATIC, "text/xml", 12100),
        (DEEP, "text/xml", 12100),
        ("<Response>" + "<Pause/>" * 10_000 + "</Response>", "text/xml", 11750),  # 80 kB
        (HTML, "text/html", 12100),  # its DOCTYPE is a DTD: refused before the root is looked at
        (HTML.split(">", 1)[1], "text/html", 12102),  # no DOCTYPE: well-formed, root <html>
        ("<Response><Say>x</Say></Response>", "application/json", 12300),
        ("<Response><Say>\xff</Say></Response>".encode("latin-1"), "text/xml", 12100),  # not UTF-8
    ],
    ids=["billion-laughs", "xxe", "quadratic", "9000-deep", "80kB", "html", "html-no-doctype", "json", "latin-1"],
)
async def test_hostile_documents_give_their_code_and_the_call_ends_cleanly(
    flow: Flow, body: str | bytes, content_type: str, code: int
) -> None:
    flow.backend.docs["/xml"] = _doc(body, content_type)
    call = await flow.create(url=flow.backend.url("/xml"))
    done = await flow.wait_status(call.sid, ("completed",), timeout=15)
    notes = await flow.store.read(list_notifications, call.sid)
    assert [n.error_code for n in notes] == [code]
    assert "an application error has occurred" in flow.tts.spoken[-1][0].lower()
    assert done.end_time is not None and flow.events_of(call.sid)[-1] == "completed"
    assert "root:" not in " ".join(t for t, *_ in flow.tts.spoken)  # no /etc/passwd spoken


async def test_a_document_nested_to_the_limit_is_spoken(flow: Flow) -> None:
    flow.backend.docs["/xml"] = _doc(DEEP_AT_LIMIT, "text/xml")
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    assert [t for t, *_ in flow.tts.spoken] == ["deep"]
    assert await flow.store.read(list_notifications, call.sid) == []


# --- <Play> media -------------------------------------------------------------------------------


def _mp3(tmp_path: Path) -> bytes:
    """Two seconds of tone as a real MP3 (ffmpeg), to cut short."""
    import subprocess

    wav, mp3 = tmp_path / "tone.wav", tmp_path / "tone.mp3"
    wav.write_bytes(wav_bytes(tone_pcm(440, 2000)))
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), str(mp3)], check=True)
    return mp3.read_bytes()


CORRUPT_WAV = b"RIFF\xff\xff\xff\x7fWAVEfmt \x10\x00\x00\x00" + b"\xde\xad\xbe\xef" * 64


def _play_cases(tmp_path: Path) -> dict[str, tuple[bytes, str, int | None]]:
    """name -> (body, Content-Type, notification code or None when the audio plays)."""
    mp3 = _mp3(tmp_path)
    return {
        "corrupt-wav": (CORRUPT_WAV, "audio/wav", 13420),
        "random-bytes-as-mp3": (bytes(range(256)) * 64, "audio/mpeg", 13420),
        "html-page": (HTML.encode(), "text/html", 13420),
        "html-as-audio": (HTML.encode(), "audio/mpeg", 13420),
        "json-type": (wav_bytes(tone_pcm(440, 200)), "application/json", 13420),
        "empty": (b"", "audio/wav", 13420),
        # A cut MP3 is still MP3 frames: ffmpeg decodes what is there, the caller hears that.
        "truncated-mp3": (mp3[: len(mp3) // 3], "audio/mpeg", None),
    }


@pytest.mark.parametrize(
    "name",
    ["corrupt-wav", "random-bytes-as-mp3", "html-page", "html-as-audio", "json-type", "empty", "truncated-mp3"],
)
async def test_play_of_hostile_media_reports_and_the_call_goes_on(flow: Flow, tmp_path: Path, name: str) -> None:
    body, ctype, code = _play_cases(tmp_path)[name]
    flow.backend.docs["/media"] = _doc(body, ctype)
    flow.backend.docs["/xml"] = (
        f"<Response><Play>{flow.backend.url('/media')}</Play><Say>{AFTER}</Say><Hangup/></Response>"
    )
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",), timeout=20)
    notes = await flow.store.read(list_notifications, call.sid)
    assert [n.error_code for n in notes] == ([code] if code else [])
    assert flow.tts.spoken[-1][0] == AFTER  # the next verb ran
    plays = flow.sip.calls[call.sid].plays
    if code is None:  # part of the tone, then the <Say>
        assert len(plays) == 2 and Path(plays[0][1]).stat().st_size > 1000


async def test_play_of_a_file_over_50_mb_is_refused_and_the_call_goes_on(flow: Flow) -> None:
    big = b"\x00" * (50 * 1024 * 1024 + 1)
    flow.backend.docs["/big.wav"] = _doc(big, "audio/wav")
    flow.backend.docs["/xml"] = (
        f"<Response><Play>{flow.backend.url('/big.wav')}</Play><Say>{AFTER}</Say><Hangup/></Response>"
    )
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",), timeout=30)
    notes = await flow.store.read(list_notifications, call.sid)
    assert [n.error_code for n in notes] == [11750]
    assert flow.tts.spoken[-1][0] == AFTER
    assert len(flow.sip.calls[call.sid].plays) == 1  # only the <Say>


# --- the same over real SIP ---------------------------------------------------------------------


@pytest.mark.sip
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_hostile_play_and_document_over_real_sip(tmp_path: Path) -> None:
    """A real `wirexa serve`, real SIP to the sandbox: a corrupt WAV then an XML bomb behind a
    Redirect; the call speaks on, the notifications are there, and the call completes."""
    web_app = WebApp()
    server = make_live_server(tmp_path)
    try:
        web_app.files["/corrupt.wav"] = (CORRUPT_WAV, "audio/wav")
        web_app.docs["/xml"] = (
            f"<Response><Play>{web_app.url('/corrupt.wav')}</Play><Say>{AFTER}</Say>"
            f"<Redirect>{web_app.url('/bomb')}</Redirect></Response>"
        )
        web_app.docs["/bomb"] = BILLION_LAUGHS
        client = server.client()
        call = client.calls.create(
            to="+15005550006", from_="+15005550100", url=web_app.url("/xml"), status_callback=web_app.url("/status")
        )
        deadline = time.monotonic() + 60
        while (status := client.calls(call.sid).fetch().status) not in ("completed", "failed", "busy", "no-answer"):
            assert time.monotonic() < deadline, status
            time.sleep(0.3)
        assert status == "completed"
        codes = sorted(int(n.error_code) for n in client.calls(call.sid).notifications.list())
        assert codes == [12100, 13420]
        assert [r.path for r in web_app.requests if r.path in ("/corrupt.wav", "/bomb")] == ["/corrupt.wav", "/bomb"]
        deadline = time.monotonic() + 20
        while "completed" not in [r.form.get("CallStatus") for r in web_app.requests if r.path == "/status"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/health")
        health = json.loads(conn.getresponse().read())
        conn.close()
        assert health["status"] == "ok" and health["sip"]["worker_crashes"] == 0
    finally:
        server.stop()
        web_app.close()
    assert "Traceback" not in server.log.read_text(errors="replace")


# --- REST requests ------------------------------------------------------------------------------

ERROR_KEYS = {"code", "message", "more_info", "status", "detail"}


async def _error(resp: Any, status: int, code: int | None = None) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body) == ERROR_KEYS and body["status"] == status and body["detail"] == body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body  # type: ignore[no-any-return]


def _routes(api: Api, call: str, rec: str, note: str) -> list[tuple[str, str]]:
    """(method, path) of every route family that takes a string."""
    b = api.base
    return [
        ("GET", f"{b}/Calls.json"),
        ("POST", f"{b}/Calls.json"),
        ("GET", f"{b}/Calls/{call}.json"),
        ("POST", f"{b}/Calls/{call}.json"),
        ("GET", f"{b}/Calls/{call}/Recordings.json"),
        ("POST", f"{b}/Calls/{call}/Recordings.json"),
        ("POST", f"{b}/Calls/{call}/Recordings/{rec}.json"),
        ("GET", f"{b}/Calls/{call}/Notifications.json"),
        ("GET", f"{b}/Recordings.json"),
        ("GET", f"{b}/Recordings/{rec}.json"),
        ("GET", f"{b}/Notifications.json"),
        ("GET", f"{b}/Notifications/{note}.json"),
        ("GET", f"/recordings/{rec}.wav"),
        ("GET", "/health"),
    ]


async def _seeded(api: Api, tmp_path: Path) -> tuple[str, str, str]:
    call = await (await api.create()).json()
    wav = tmp_path / "r.wav"
    wav.write_bytes(wav_bytes(tone_pcm(440, 300)))
    rec = api.store.write_sync(
        lambda: insert_recording(
            account_sid=api.project.sid,
            call_sid=call["sid"],
            status="completed",
            source="RecordVerb",
            duration_s=1,
            wav_path=str(wav),
        )
    )
    note = api.store.write_sync(
        lambda: insert_notification(
            account_sid=api.project.sid, call_sid=call["sid"], error_code=11200, message_text="x"
        )
    )
    return call["sid"], rec.sid, note.sid


BAD_QUERY = ["To=%ff%fe", "%c3%28=1", "From=%ed%a0%80", "To=%1b%5b2J", "To=%00", "Status=%e2%82"]
BAD_FORM = [b"Status=%ff", b"%ff=1", b"Status=\xff\xfe", b"To=\xc3\x28&From=1", b"Url=%1b]0;x%07", b"Twiml=%00"]


async def test_invalid_utf8_and_control_characters_in_query_strings(api: Api, tmp_path: Path) -> None:
    call, rec, note = await _seeded(api, tmp_path)
    for method, path in _routes(api, call, rec, note):
        for query in BAD_QUERY:
            resp = await api.client.request(method, f"{path}?{query}", headers=api.auth)
            body = await _error(resp, 400, 20001)
            assert "UTF-8" in body["message"] or "control character" in body["message"], (path, query, body)


async def test_invalid_utf8_and_control_characters_in_form_bodies(api: Api, tmp_path: Path) -> None:
    call, rec, note = await _seeded(api, tmp_path)
    form = {"Content-Type": "application/x-www-form-urlencoded", **api.auth}
    for method, path in _routes(api, call, rec, note):
        if method != "POST":
            continue
        for body in BAD_FORM:
            await _error(await api.client.post(path, data=body, headers=form), 400, 20001)
        # multipart with a field that is not UTF-8, and multipart that is not multipart
        multipart = b'--b\r\nContent-Disposition: form-data; name="To"\r\n\r\n\xff\xfe\r\n--b--\r\n'
        headers = {"Content-Type": "multipart/form-data; boundary=b", **api.auth}
        await _error(await api.client.post(path, data=multipart, headers=headers), 400, 20001)
        headers = {"Content-Type": "multipart/form-data; boundary=zz", **api.auth}
        await _error(await api.client.post(path, data=b"garbage", headers=headers), 400, 20001)
    # The well-formed equivalents still work (the guard only refuses what is broken).
    ok = await api.client.post(f"{api.base}/Calls/{call}.json", data="Status=canceled", headers=form)
    assert ok.status == 200 and (await ok.json())["status"] == "canceled"


@pytest.mark.parametrize(
    ("segment", "status"),
    [
        ("CA%ff%fe", 400),  # not UTF-8
        ("CA%c3%28", 400),
        ("%ed%a0%80", 400),  # a surrogate
        ("CA%00", 404),  # decodes, names nothing
        ("CA%1b%5b2J", 404),
        ("..%2f..%2fhealth", 404),
        ("CA" + "f" * 5000, 404),
    ],
)
async def test_hostile_path_segments(api: Api, segment: str, status: int) -> None:
    for path in (
        f"{api.base}/Calls/{segment}.json",
        f"{api.base}/Recordings/{segment}.json",
        f"{api.base}/Calls/{segment}/Notifications.json",
        f"/recordings/{segment}.wav",
    ):
        resp = await api.client.get(path, headers=api.auth)
        assert resp.status == status, (path, resp.status)
        await _error(resp, status)


async def test_wrong_content_types_for_a_post(api: Api, tmp_path: Path) -> None:
    call, *_ = await _seeded(api, tmp_path)
    path = f"{api.base}/Calls/{call}.json"
    for ctype, body in (
        ("application/json", b'{"Status": "canceled"}'),
        ("text/xml", b"<Status>canceled</Status>"),
        ("application/octet-stream", b"Status=canceled"),
        ("application/x-www-form-urlencoded; charset=latin-1", b"Status=canceled"),
        ("application/x-www-form-urlencoded; charset=no-such-charset", b"Status=canceled"),
    ):
        resp = await api.client.post(path, data=body, headers={"Content-Type": ctype, **api.auth})
        await _error(resp, 400, 20001)
    fetched = await (await api.client.get(path, headers=api.auth)).json()
    assert fetched["status"] == "queued"  # none of them was taken as a cancel


async def test_request_bodies_at_and_over_the_limit(tmp_path: Path) -> None:
    limit = 4096
    async with make_api(tmp_path, api_max_body_bytes=limit) as api:
        form = {"Content-Type": "application/x-www-form-urlencoded", **api.auth}
        head = b"To=%2B15005550006&From=%2B15005550100&Twiml="
        body = head + b"x" * (limit - len(head))  # exactly at the limit: read, and Twiml's cap answers
        assert len(body) == limit
        await _error(await api.client.post(f"{api.base}/Calls.json", data=body, headers=form), 400, 21205)
        created = await api.client.post(f"{api.base}/Calls.json", data=head + b"%3CResponse%2F%3E", headers=form)
        assert created.status == 201 and (await created.json())["status"] == "queued"
        over = body + b"x"
        await _error(await api.client.post(f"{api.base}/Calls.json", data=over, headers=form), 413, 413)
        huge = b"x" * (20 * limit)
        await _error(await api.client.post(f"{api.base}/Calls.json", data=huge, headers=form), 413, 413)


live = engine_fixture("hostile", env={"WIREXA_SANDBOX_PROCESSES": "1"}, name="live")


def _raw(server: LiveServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes (what an HTTP client library would refuse to send) and read the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, rest = data.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                if length and len(rest) >= int(length.group(1)):
                    break
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, rest


@pytest.mark.slow
def test_request_lines_and_headers_at_and_over_the_limit_on_the_real_server(live: LiveServer) -> None:
    """aiohttp's parser refuses a request line or header line over 8190 bytes before the app: the
    answer is still Twilio's JSON (and the connection closes); just under the limit is served."""
    auth = live.auth["Authorization"]
    base = f"/2010-04-01/Accounts/{live.project_id}/Calls.json"

    def get(path: str, extra: str = "") -> tuple[int, dict[str, str], bytes]:
        req = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n{extra}Connection: close\r\n\r\n"
        return _raw(live, req.encode("latin-1"))

    status, _, _ = get(base + "?To=" + "1" * (8000 - len(base)))
    assert status == 200
    status, _, _ = get(base, "X-Pad: " + "a" * 8000 + "\r\n")
    assert status == 200
    for path, extra in (
        (base + "?To=" + "1" * 9000, ""),
        (base, "X-Pad: " + "a" * 9000 + "\r\n"),
        (base, "".join(f"X-{n}: {'b' * 100}\r\n" for n in range(200)) + "X-Big: " + "c" * 9000 + "\r\n"),
    ):
        status, headers, body = get(path, extra)
        assert status == 400 and headers["content-type"].startswith("application/json")
        doc = json.loads(body)
        assert set(doc) == ERROR_KEYS and doc["status"] == 400, doc
        assert doc["message"] in ("Request line or header too long", "Bad HTTP request"), doc
    for request in (
        b"FOO\x00 / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
    ):
        status, headers, body = _raw(live, request)
        assert 400 <= status < 500 and set(json.loads(body)) == ERROR_KEYS, (request, status, body)
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    conn.request("GET", "/health")
    assert conn.getresponse().status == 200  # and the server is fine
    conn.close()
    log = live.log.read_text(errors="replace")
    assert "Traceback" not in log and "unhandled error" not in log


# --- the CLI with hostile stored values -----------------------------------------------------------

ESCAPES = {
    "clear": "\x1b[2J\x1b[H",
    "title": "\x1b]0;pwned\x07",
    "osc52": "\x1b]52;c;ZWNobyBwd25lZA==\x07",  # write the clipboard
    "c1-csi": "\x9b31m",
    "cr": "\rOVERWRITTEN",
    "bidi": "\u202eevil\u202c",
    "backspace": "ab\x08\x08",
}


def _hostile_store(tmp_path: Path) -> tuple[str, str]:
    """A call whose To/From and webhook URL/error carry every escape (as an inbound call's SIP
    From or a receiver's answer could); returns (project, call sid)."""
    store = open_store(config.load(overrides={"data_dir": str(tmp_path)}, env={}))
    try:
        project = store.write_sync(create_project, "p\x1b[31m")
        hostile = "".join(ESCAPES.values())
        call = store.write_sync(
            lambda: insert_call(
                account_sid=project.sid,
                to_number="sip:" + hostile + "@x",
                from_number="+1" + hostile,
                status="completed",
                direction="inbound",
            )
        )
        store.write_sync(
            lambda: insert_webhook(
                account_sid=project.sid,
                call_sid=call.sid,
                kind="call-status",
                event="completed",
                url="http://h/" + hostile,
                method="POST",
                params=[("CallStatus", "completed")],
            )
        )
        store.write_sync(
            lambda: insert_notification(
                account_sid=project.sid,
                call_sid=call.sid,
                error_code=11200,
                message_text="receiver said " + hostile,
                request_url="http://h/" + hostile,
            )
        )
        return project.sid, call.sid
    finally:
        store.close()


RAW = re.compile("[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _assert_escaped(text: str) -> None:
    # rich's own styles are ESC [ ... m; nothing else may start with ESC, and no other control.
    without_styles = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert "\x1b" not in without_styles, repr(text)
    assert not RAW.search(without_styles), repr(RAW.search(without_styles))
    assert "\\x1b[2J" in without_styles and "\\x1b]0;pwned\\x07" in without_styles, without_styles
    assert "\\u202e" in without_styles and "\\x9b31m" in without_styles
    # A CR shows as \x0d on a terminal; a pipe's plain lines make it a space, as tab and newline.
    assert "\\x0dOVERWRITTEN" in without_styles or " OVERWRITTEN" in without_styles


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_cli_listings_show_stored_escape_sequences_escaped(tmp_path: Path, terminal: bool) -> None:
    _, sid = _hostile_store(tmp_path)
    d = ["--data-dir", str(tmp_path)]
    env = {"TTY_COMPATIBLE": "1", "COLUMNS": "400"} if terminal else {"COLUMNS": "400"}
    for args in (["calls", "list", *d], ["calls", "show", sid, *d], ["tail-webhooks", "--no-follow", *d]):
        result = run(*args, env=env)
        assert result.exit_code == 0, result.output
        _assert_escaped(result.stdout)


def test_cli_json_output_escapes_them_too(tmp_path: Path) -> None:
    _, sid = _hostile_store(tmp_path)
    d = ["--data-dir", str(tmp_path)]
    for args in (["calls", "list", *d, "--json"], ["calls", "show", sid, *d, "--json"]):
        result = run(*args)
        assert result.exit_code == 0 and not RAW.search(result.stdout) and "\x1b" not in result.stdout
        assert "\\u001b[2J" in result.stdout  # JSON's own escape: the value is whole
    shown = json.loads(run("calls", "show", sid, *d, "--json").stdout)
    assert ESCAPES["title"] in shown["to"]  # decoded, the stored value is intact


def test_tail_webhooks_following_into_a_pipe_escapes_them(tmp_path: Path) -> None:
    """The follow mode's plain lines (the real console script, stdout a pipe)."""
    import os
    import signal
    import subprocess
    import sys

    _hostile_store(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "wirexa", "tail-webhooks", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().decode(), proc.stdout.readline().decode()]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert lines[0].startswith("Time\t")
    _assert_escaped(lines[1])


# --- values at the edges of their types ---------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "statuses"),
    [
        # Calls, Recordings (DateCreated for StartTime), Notifications (which take neither filter).
        ("StartTime=9999-12-31T23:00:00-05:00", (400, 400, 200)),  # past year 9999 in UTC
        ("StartTime>=0001-01-01T00:00:00%2B05:00", (400, 400, 200)),  # before year 1 in UTC
        ("EndTime<=9999-12-31", (200, 200, 200)),
        ("StartTime=10000-01-01", (400, 400, 200)),
        ("Page=99999999999999999999", (400, 400, 400)),
        ("PageSize=-1", (400, 400, 400)),
        ("PageToken=PA%F0%9F%98%80", (200, 200, 200)),
    ],
)
async def test_list_filters_at_the_ends_of_their_range(api: Api, query: str, statuses: tuple[int, int, int]) -> None:
    paths = (f"{api.base}/Calls.json", f"{api.base}/Recordings.json", f"{api.base}/Notifications.json")
    for path, status in zip(paths, statuses, strict=True):
        resp = await api.client.get(
            f"{path}?{query.replace('StartTime', 'DateCreated' if 'Rec' in path else 'StartTime')}", headers=api.auth
        )
        assert resp.status == status, (path, query, resp.status)
        if status == 400:
            await _error(resp, 400, 20001)


@pytest.mark.parametrize(
    "header", ["Basic \xff\xfe", "Basic " + "\u00e9" * 8, "Basic //79/w==", "Basic " + "A" * 6000, "Digest x", "Basic"]
)
async def test_hostile_authorization_headers_get_401(api: Api, header: str) -> None:
    resp = await api.client.get(f"{api.base}/Calls.json", headers={"Authorization": header})
    await _error(resp, 401, 20003)


@pytest.mark.parametrize(
    "number", ["+1\u0e55\u0e55\u0e555550100", "+4\U000116c1\U000116c2\U000116c37183875", "+\uff11\uff12\uff13\uff14"]
)
async def test_phone_numbers_with_non_ascii_digits_are_refused(api: Api, number: str) -> None:
    """`\\d` in a str regex matches Thai, Takri or full-width digits: they are not E.164."""
    await _error(await api.create(To=number), 400, 21211)
    await _error(await api.create(From=number), 400, 21212)
