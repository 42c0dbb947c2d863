"""A retry pending when `wirexa serve` is killed with -9 is delivered after the restart, with the
same payload and a valid signature."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import make_live_server
from tests.e2e.webapp import WebApp
from wirexa import config
from wirexa.store.db import Store
from wirexa.store.repo.webhooks import get_webhook, insert_webhook

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_pending_retry_survives_kill_9(tmp_path: Path) -> None:
    web = WebApp()
    server = make_live_server(tmp_path, {"WIREXA_WEBHOOKS_SCHEDULE_S": "0,4,4,4"})
    try:
        store = Store(config.load(overrides={"data_dir": str(tmp_path)}, env={}).db_url)
        row = store.write_sync(
            lambda: insert_webhook(
                account_sid=server.project_id,
                call_sid="CA" + "5" * 32,
                kind="call-status",
                event="completed",
                url=web.url("/cb?leg=1"),
                method="POST",
                params=[("CallSid", "CA" + "5" * 32), ("CallStatus", "completed"), ("SequenceNumber", "3")],
            )
        )
        # First attempt: the receiver is down (we stop it), so the row waits 4 s for attempt 2.
        web.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            current = store.read_sync(get_webhook, row.id)
            if current is not None and current.attempts >= 1:
                break
            time.sleep(0.1)
        assert current is not None and current.attempts == 1 and current.status == "pending"
        server.kill_tree()
        time.sleep(0.5)
        web2 = WebApp.on_port(web.port)
        try:
            server.start()
            [hit] = web2.wait("/cb", timeout=20)
            assert hit.form == {"CallSid": "CA" + "5" * 32, "CallStatus": "completed", "SequenceNumber": "3"}
            assert RequestValidator(server.auth_token).validate(hit.url, hit.form, hit.headers["X-Twilio-Signature"])
            deadline = time.monotonic() + 10
            while store.read_sync(get_webhook, row.id).status != "delivered" and time.monotonic() < deadline:  # type: ignore[union-attr]
                time.sleep(0.1)
            final = store.read_sync(get_webhook, row.id)
            assert final is not None and final.status == "delivered" and final.attempts == 2
            time.sleep(1)
            assert len(web2.to("/cb")) == 1  # delivered once after the restart
        finally:
            web2.close()
        store.close()
    finally:
        server.stop()
