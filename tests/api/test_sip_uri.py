"""A call to a SIP URI (issue 29 item 5), API side: the URI's X- headers are taken apart
(calls/sipuri.py) and any other header refused, SipAuthUsername/SipAuthPassword go together and
only with a sip: To, and the password is never shown."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from wirexa.calls.sipuri import split_headers


def test_only_x_headers_come_out_of_the_uri() -> None:
    assert split_headers("sip:alice@pbx.example.com;transport=tcp") == ("sip:alice@pbx.example.com;transport=tcp", ())
    assert split_headers("sip:alice@pbx.example.com?X-Tenant=acme%20co&X-Id=7") == (
        "sip:alice@pbx.example.com",
        (("X-Tenant", "acme co"), ("X-Id", "7")),
    )
    for bad in ("sip:a@h?Route=%3Csip:evil%3E", "sip:a@h?X-Ok=1&P-Asserted-Identity=x", "sip:a@h?X-NoValue"):
        with pytest.raises(ValueError, match="only X- headers"):
            split_headers(bad)


async def test_create_checks_the_uri_and_the_credentials(api: Api) -> None:
    url = f"{api.base}/Calls.json"
    base = {"From": "+15005550100", "Url": "http://127.0.0.1:9/x"}
    resp = await api.client.post(url, data={**base, "To": "sip:a@h?Route=%3Csip:evil%3E"}, headers=api.auth)
    body = await resp.json()
    assert (resp.status, body["code"]) == (400, 21211) and "Route" in body["message"]
    resp = await api.client.post(
        url, data={**base, "To": "+15005550006", "SipAuthUsername": "a", "SipAuthPassword": "p"}, headers=api.auth
    )
    assert (await resp.json())["message"].startswith("SipAuthUsername and SipAuthPassword are for a To")
    resp = await api.client.post(
        url,
        data={**base, "To": "sip:alice@127.0.0.1:9?X-Tenant=acme", "SipAuthUsername": "alice", "SipAuthPassword": "s3"},
        headers=api.auth,
    )
    body = await resp.json()
    assert resp.status == 201, body
    assert "s3" not in str(body) and body["to"] == "sip:alice@127.0.0.1:9?X-Tenant=acme"
