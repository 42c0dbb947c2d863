"""
IVR backend example — connects to the Wirexa Voice Engine.
Install: pip install fastapi uvicorn httpx python-multipart
Run: uvicorn app:app --port 9000 --reload

The product doc's "Full Example" app.py, unchanged (indentation restored).
"""
from __future__ import annotations
import logging, os
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger(__name__)
app = FastAPI()
ENGINE_URL = os.getenv("ENGINE_URL", "https://wirexaapi.com")
ACCOUNT_SID = os.getenv("ACCOUNT_SID", "your_project_id")
AUTH_TOKEN = os.getenv("AUTH_TOKEN", "your_api_token")
MY_PUBLIC_URL = os.getenv("MY_PUBLIC_URL", "https://your-backend.example.com")
AUTH = (ACCOUNT_SID, AUTH_TOKEN)
CALLS_URL = f"{ENGINE_URL}/api/laml/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"


# ── 1. CREATE A CALL ──────────────────────────────────────────────────────────
@app.post("/call")
async def create_call(to: str, from_number: str = "+10000000000") -> dict:
    async with httpx.AsyncClient(timeout=15) as client:
        r = await client.post(CALLS_URL, auth=AUTH, data={
            "To": to,
            "From": from_number,
            "Url": f"{MY_PUBLIC_URL}/xml",
            "Method": "POST",
            "StatusCallback": f"{MY_PUBLIC_URL}/status",
            "StatusCallbackMethod": "POST",
            "MachineDetection": "Enable",
            "AsyncAmd": "true",
            "AsyncAmdStatusCallback": f"{MY_PUBLIC_URL}/amd",
        })
        data = r.json()
        log.info("Call created: %s → %s", data.get("sid"), to)
        return {"call_sid": data.get("sid"), "status": data.get("status")}


# ── 2. SERVE XML ──────────────────────────────────────────────────────────────
@app.post("/xml", response_class=PlainTextResponse)
async def xml_instructions(request: Request) -> str:
    form = dict(await request.form())
    log.info("[%s] XML requested — answered_by=%s", form.get("CallSid"), form.get("AnsweredBy"))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Response>
<Say>Hello, thank you for answering.</Say>
<Gather numDigits="1" timeout="7"
action="{MY_PUBLIC_URL}/gather" method="POST">
<Say>
Press 1 for sales.
Press 2 for support.
Press 9 to be removed from our list.
</Say>
</Gather>
<Say>We did not receive your selection. Goodbye.</Say>
<Hangup/>
</Response>"""


# ── 3. HANDLE GATHER ─────────────────────────────────────────────────────────
@app.post("/gather", response_class=PlainTextResponse)
async def gather(request: Request) -> str:
    form = dict(await request.form())
    digits = form.get("Digits", "")
    log.info("[%s] Gather: digits=%r", form.get("CallSid"), digits)
    if digits == "1":
        return """<Response>
<Say>Connecting you to sales.</Say>
<Transfer timeout="30">+13125550100</Transfer>
</Response>"""
    elif digits == "2":
        return """<Response>
<Say>Our team will contact you. Goodbye.</Say>
<Hangup/>
</Response>"""
    elif digits == "9":
        return """<Response>
<Say>You have been removed from our list. Goodbye.</Say>
<Hangup/>
</Response>"""
    else:
        return f"""<Response>
<Gather numDigits="1" timeout="7"
action="{MY_PUBLIC_URL}/gather" method="POST">
<Say>Invalid option. Press 1 for sales, 2 for support.</Say>
</Gather>
<Hangup/>
</Response>"""


# ── 4. AMD RESULT ─────────────────────────────────────────────────────────────
@app.post("/amd")
async def amd_result(request: Request) -> dict:
    form = dict(await request.form())
    call_sid = form.get("CallSid", "")
    answered_by = form.get("AnsweredBy", "")
    log.info("[%s] AMD: %s (%sms)", call_sid, answered_by, form.get("AmdDetectionTimeMs"))
    # Redirect to voicemail XML if machine answered
    if answered_by == "machine_start":
        async with httpx.AsyncClient(timeout=10) as client:
            await client.post(
                f"{ENGINE_URL}/api/laml/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call_sid}.json",
                auth=AUTH,
                data={"Url": f"{MY_PUBLIC_URL}/xml/voicemail", "Method": "POST"},
            )
    return {"received": True}


# ── 5. STATUS CALLBACK ────────────────────────────────────────────────────────
@app.post("/status")
async def status_callback(request: Request) -> dict:
    form = dict(await request.form())
    sid = form.get("CallSid", "")
    status = form.get("CallStatus", "")
    log.info("[%s] status=%s duration=%ss", sid, status, form.get("CallDuration", "0"))
    # TODO: update your database here
    return {"received": True}


# ── HEALTH ────────────────────────────────────────────────────────────────────
@app.get("/health")
async def health() -> dict:
    try:
        async with httpx.AsyncClient(timeout=5) as c:
            r = await c.get(f"{ENGINE_URL}/health")
            engine_ok = r.status_code == 200
    except Exception:
        engine_ok = False
    return {"backend": "ok", "engine_connected": engine_ok}
