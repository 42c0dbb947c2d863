"""Manage numbers and applications with one SDK against a running engine; runs inside that SDK's
own virtualenv (tests/api/test_numbers.py runs it with signalwire 2.1.1, whose twilio 6.54 and
strict IncomingPhoneNumber and Application classes read every key with payload[...]).

usage: numbers_sdk_driver.py KIND BASE_URL PROJECT_ID AUTH_TOKEN NUMBER_STEM
KIND: twilio | signalwire. NUMBER_STEM: an E.164 start; numbers STEM0..STEM2 are registered and
released. Prints one JSON line."""

import json
import sys
import traceback
from urllib.parse import urlsplit

kind, base_url, project, token, stem = sys.argv[1:6]
out: dict[str, object] = {"kind": kind}


def make():
    if kind == "signalwire":
        from signalwire.rest import Client

        c = Client(project, token, signalwire_space_url=urlsplit(base_url).netloc)
    else:
        from twilio.rest import Client

        c = Client(project, token)
    c.api.base_url = base_url  # signalwire 2.x forces https (reference §3); point it at http
    return c


def error(fn):
    from twilio.base.exceptions import TwilioRestException

    try:
        fn()
    except TwilioRestException as exc:
        return [exc.status, exc.code]
    return None


created = []
try:
    client = make()
    app = client.applications.create(friendly_name="IVR", voice_url="http://127.0.0.1:9/app", voice_method="GET")
    out["app"] = [app.sid[:2], app.voice_method, app.friendly_name]
    for i in range(3):
        n = client.incoming_phone_numbers.create(phone_number=f"{stem}{i}", voice_url="http://127.0.0.1:9/voice")
        created.append(n.sid)
    first = client.incoming_phone_numbers(created[0]).fetch()
    out["fetched"] = [first.sid[:2], first.phone_number, first.friendly_name, first.voice_url, first.capabilities]
    out["duplicate"] = error(lambda: client.incoming_phone_numbers.create(phone_number=f"{stem}0"))
    out["invalid"] = error(lambda: client.incoming_phone_numbers.create(phone_number="555-0100"))
    out["fallback_alone"] = error(
        lambda: client.incoming_phone_numbers.create(phone_number=f"{stem}9", voice_fallback_url="http://x/fb")
    )
    out["listed"] = sorted(n.phone_number for n in client.incoming_phone_numbers.list(phone_number=stem[-6:]))
    out["paged"] = sum(1 for _ in client.incoming_phone_numbers.stream(phone_number=stem, page_size=2))
    out["wildcard"] = len(client.incoming_phone_numbers.list(phone_number=stem[:-1] + "*"))
    updated = client.incoming_phone_numbers(created[1]).update(voice_application_sid=app.sid, friendly_name="Desk")
    out["updated"] = [updated.voice_application_sid == app.sid, updated.friendly_name]
    out["app_listed"] = [a.sid == app.sid for a in client.applications.list(friendly_name="IVR")]
    out["app_updated"] = client.applications(app.sid).update(voice_url="http://127.0.0.1:9/app2").voice_url
    client.applications(app.sid).delete()
    out["after_app"] = client.incoming_phone_numbers(created[1]).fetch().voice_application_sid
    out["missing"] = error(lambda: client.incoming_phone_numbers("PN" + "0" * 32).fetch())
    out["deleted"] = [client.incoming_phone_numbers(sid).delete() for sid in created]
    gone, created = created[0], []
    out["gone"] = error(lambda: client.incoming_phone_numbers(gone).fetch())
    out["twilio_version"] = __import__("twilio").__version__
except Exception as exc:  # noqa: BLE001 - report, the test asserts
    out["error"] = f"{type(exc).__name__}: {exc}"
    out["trace"] = traceback.format_exc()[-1500:]
finally:
    for sid in created:  # leave the engine as it was found
        try:
            make().incoming_phone_numbers(sid).delete()
        except Exception:  # noqa: BLE001, S110
            pass
print(json.dumps(out))
