"""The issue's case end to end (`wirexa serve`, twilio-python, the sandbox carrier): serve killed
(-9, with its SIP processes) 4 s after the answer and started again 10 s later; the call's
`duration` is its 4 s up to the engine's last heartbeat, not 14, and `end_time` is not the restart."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import pytest
from twilio.rest import Client

from tests.conftest import make_live_server
from wirexa.calls.dispatcher import ALIVE_EVERY_S

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_a_call_left_live_by_a_killed_engine_ends_at_its_last_heartbeat(tmp_path: Path) -> None:
    server = make_live_server(tmp_path)
    try:
        client = Client(server.project_id, server.auth_token)
        client.api.base_url = server.base_url
        call = client.calls.create(
            to="+15005550006", from_="+15005550100", twiml="<Response><Pause length='60'/></Response>"
        )
        deadline = time.monotonic() + 30
        while client.calls(call.sid).fetch().status != "in-progress":
            assert time.monotonic() < deadline, "never answered"
            time.sleep(0.1)
        time.sleep(4)
        server.kill_tree()
        killed_at = time.time()
        time.sleep(10)
        server.start()
        ended = client.calls(call.sid).fetch()
        assert ended.status == "completed"
        # The last heartbeat came at most ALIVE_EVERY_S before the kill (and the poll above saw the answer late).
        assert 4 - ALIVE_EVERY_S - 1 <= int(ended.duration) <= 4 + 1
        end_time = email.utils.parsedate_to_datetime(ended.end_time.strftime("%a, %d %b %Y %H:%M:%S +0000"))
        assert end_time.timestamp() <= killed_at + 1
    finally:
        server.stop()
