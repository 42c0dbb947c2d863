"""Drive one SDK against a running engine; runs inside that SDK's own virtualenv.

usage: driver.py KIND BASE_URL PROJECT_ID AUTH_TOKEN
KIND: twilio (plain twilio-python), signalwire (signalwire 2.1.1), wirexaapi101 (published
1.0.1), ours (sdk/wirexaapi 2.x, on whatever twilio this venv has). Prints one JSON line.
"""

import json
import sys
import traceback
from urllib.parse import urlsplit

kind, base_url, project, token = sys.argv[1:5]
space = urlsplit(base_url).netloc
out: dict[str, object] = {"kind": kind}


def make(token_):
    if kind == "twilio":
        from twilio.rest import Client

        c = Client(project, token_)
        c.api.base_url = base_url
        return c
    if kind == "signalwire":
        from signalwire.rest import Client

        c = Client(project, token_, signalwire_space_url=space)
        c.api.base_url = base_url  # signalwire 2.x forces https (reference §3); point it at http
        return c
    if kind == "wirexaapi101":
        from wirexaapi import Client

        return Client(project, token_, signalwire_space_url=space)
    from wirexaapi import Client

    return Client(project, token_, signalwire_space_url=space)


try:
    client = make(token)
    call = client.calls.create(
        to="+15005550006",
        from_="+15005550100",
        url="http://127.0.0.1:9/xml",
        status_callback="http://127.0.0.1:9/s",
        status_callback_event=["initiated", "ringing", "completed"],
        record=True,
    )
    out["created"] = [call.sid[:2], call.status]
    fetched = client.calls(call.sid).fetch()
    out["fetched"] = [fetched.sid == call.sid, fetched.to]
    if kind == "wirexaapi101":
        out["listed"] = len(client.calls.list(limit=5))
        out["updated"] = client.calls(call.sid).update(status="completed").status
    else:
        out["listed"] = len(client.calls.list(limit=5))
        out["paged"] = sum(1 for _ in client.calls.stream(page_size=7))
        out["updated"] = client.calls(call.sid).update(status="canceled").status
        import twilio.base.exceptions as tx

        try:
            client.calls("CA" + "0" * 32).fetch()
        except tx.TwilioRestException as exc:
            out["missing"] = [exc.status, exc.code]
        try:
            make("wrong-token").calls(call.sid).fetch()
        except tx.TwilioRestException as exc:
            out["bad_auth"] = [exc.status, exc.code]
        try:
            client.calls(call.sid).update(status="completed")
        except tx.TwilioRestException as exc:
            out["ended_update"] = [exc.status, exc.code]
        out["twilio_version"] = __import__("twilio").__version__
except Exception as exc:  # noqa: BLE001 - report, the test asserts
    out["error"] = f"{type(exc).__name__}: {exc}"
    out["trace"] = traceback.format_exc()[-1500:]
print(json.dumps(out))
