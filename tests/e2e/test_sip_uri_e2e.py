"""A call to a SIP URI through `wirexa serve` (issue 29 item 5): twilio-python creates it with
SipAuthUsername/SipAuthPassword and an X- header in the URI; SIPp as the SIP endpoint challenges
(407), checks the digest (from its message log) and the header, answers with an X- header of its
own, which the call's document request carries as SipHeader_X-Pbx-Queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import free_port
from tests.conftest import LiveServer, engine_fixture
from tests.e2e.test_engine_e2e import wait_final
from tests.e2e.webapp import WebApp
from tests.sip.conftest import sipp  # noqa: F401 - the SIPp fixture
from tests.sip.test_sip import digest_ok

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

engine = engine_fixture(shared=True)


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    app.docs["/pbx"] = "<Response><Say>Hello PBX</Say><Hangup/></Response>"
    yield app
    app.close()


def test_a_call_to_a_sip_uri_authenticates_and_carries_x_headers_both_ways(
    engine: LiveServer,
    web: WebApp,
    tmp_path: Path,
    sipp: Any,  # noqa: F811
) -> None:
    port = free_port()
    endpoint = sipp("uas_auth.xml", port, "-trace_msg")  # its message log goes to tmp_path
    call = engine.client().calls.create(
        to=f"sip:alice@127.0.0.1:{port}?X-Tenant=acme",
        from_="+15005550100",
        url=web.url("/pbx"),
        sip_auth_username="alice",
        sip_auth_password="s3cret",
    )
    assert wait_final(engine.client(), call.sid).status == "completed"
    assert endpoint.wait(timeout=20) == 0
    [hit] = web.wait("/pbx", call.sid)
    assert (
        hit.form["SipHeader_X-Pbx-Queue"] == "sales" and hit.form["To"] == f"sip:alice@127.0.0.1:{port}?X-Tenant=acme"
    )
    [log] = list(tmp_path.glob("uas_auth_*_messages.log"))
    text = log.read_text()
    [header] = [line for line in text.splitlines() if line.startswith("Proxy-Authorization:")]
    assert 'username="alice"' in header and digest_ok(header, "INVITE", "s3cret")
    assert "X-Tenant: acme" in text
