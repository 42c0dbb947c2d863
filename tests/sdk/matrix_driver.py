"""The client matrix's scenario through one Python client, inside that client's own virtualenv
(tests/sdk/test_client_matrix.py; twilio-node runs tests/sdk/node/matrix.js, the same steps).

usage: matrix_driver.py KIND SCENARIO_JSON   KIND: twilio (twilio-python of the venv), signalwire
(signalwire 2.1.1's Client), wirexaapi (our sdk/). Only the base URL is changed: each client
talks through its own HTTP stack. Prints one JSON line."""

import json
import sys
import traceback
from urllib.parse import urlsplit

kind = sys.argv[1]
s = json.loads(sys.argv[2])
out: dict[str, object] = {"kind": kind}


def make(user, password, account=None):
    if kind == "twilio":
        from twilio.rest import Client

        client = Client(user, password, account)
        client.api.base_url = s["base_url"]
    elif kind == "signalwire":
        from signalwire.rest import Client

        client = Client(user, password, account, signalwire_space_url=urlsplit(s["base_url"]).netloc)
        client.api.base_url = s["base_url"]  # signalwire 2.x forces https
    else:
        from wirexaapi import Client

        client = Client(user, password, account, signalwire_space_url=urlsplit(s["base_url"]).netloc)
    return client


def count(page):
    return sum(1 for _ in page) if page else 0


def error_of(fn):
    from twilio.base.exceptions import TwilioRestException

    try:
        fn()
    except TwilioRestException as exc:
        return [exc.status, exc.code]
    return None


def scenario(client):
    import twilio

    out["client"] = kind + " on twilio-python " + twilio.__version__
    # Calls: three from this client's own From, listed two a page, fetched, canceled.
    created = [
        client.calls.create(
            to=s["to"],
            from_=s["from"],
            twiml="<Response><Say>matrix</Say></Response>",
            status_callback_event=["initiated", "completed"],
            status_callback="http://127.0.0.1:9/status",
            timeout=30,
        )
        for _ in range(3)
    ]
    # twilio-python 9 names From `_from`, 6 and 7 `from_`.
    out["created"] = [[c.sid[:2], c.status, getattr(c, "_from", None) or c.from_] for c in created]
    fetched = client.calls(created[0].sid).fetch()
    out["fetched"] = [fetched.sid == created[0].sid, fetched.to, fetched.direction]
    first = client.calls.page(from_=s["from"], page_size=2)
    second = first.next_page()
    out["pages"] = [count(first), count(second), 1 if second and second.next_page() else 0]
    out["listed"] = sorted(c.sid for c in client.calls.stream(from_=s["from"], page_size=2))
    out["created_sids"] = sorted(c.sid for c in created)
    out["updated"] = [client.calls(c.sid).update(status="canceled").status for c in created]
    out["missing"] = error_of(lambda: client.calls("CA" + "0" * 32).fetch())
    resp = client.request(
        "POST",
        f"{s['base_url']}/2010-04-01/Accounts/{s['account']}/Calls.json",
        data={"To": s["to"], "From": s["from"], "Url": "http://127.0.0.1:9/x", "CallReason": "x"},
    )
    body = json.loads(resp.text)
    out["refused"] = [resp.status_code, body.get("code")]

    # Recordings: the recorded call's, at account and call level.
    out["recordings"] = [r.sid for r in client.recordings.list(call_sid=s["recorded_call"], page_size=1)]
    rec = client.recordings(s["recording"]).fetch()
    out["recording"] = [rec.sid, rec.call_sid, rec.status, int(rec.duration) >= 1]
    out["call_recordings"] = [r.sid for r in client.calls(s["recorded_call"]).recordings.list()]

    # Numbers: register, list, fetch, update, release.
    numbers = client.incoming_phone_numbers
    number = numbers.create(phone_number=s["number"], voice_url="http://127.0.0.1:9/in")
    found = numbers.list(phone_number=s["number"])
    got = numbers(number.sid).fetch()
    upd = numbers(number.sid).update(voice_url="http://127.0.0.1:9/in2", voice_method="GET")
    numbers(number.sid).delete()
    out["number"] = [
        number.sid[:2],
        [n.sid for n in found],
        got.phone_number,
        upd.voice_url,
        upd.voice_method,
        error_of(lambda: numbers(number.sid).fetch()),
    ]
    out["number_sid"] = number.sid
    return created[0].sid


try:
    client = make(s["account"], s["token"])
    call_sid = scenario(client)
    # API Keys: create (the secret once), use, rename, list, fetch, delete (then refused at once:
    # the one failed login of the scenario, a fetch, whose 401 twilio-python reports with its code).
    key = client.new_keys.create(friendly_name="matrix " + kind)
    keyed = make(key.sid, key.secret, s["account"])
    listed = keyed.calls.list(from_=s["from"], limit=5)
    renamed = client.keys(key.sid).update(friendly_name="renamed")
    out["key"] = [
        key.sid[:2],
        bool(key.secret),
        sorted(c.sid for c in listed) == out["created_sids"],
        renamed.friendly_name,
        key.sid in [k.sid for k in client.keys.list()],
        client.keys(key.sid).fetch().friendly_name,
    ]
    client.keys(key.sid).delete()
    out["key_deleted"] = error_of(lambda: keyed.calls(call_sid).fetch())
except Exception as exc:  # noqa: BLE001 - reported, the test asserts
    out["error"] = f"{type(exc).__name__}: {exc}"
    out["trace"] = traceback.format_exc()[-2000:]
print(json.dumps(out))
