"""The web console in a real headless Chromium (Debian's chromium + chromium-driver, driven by
selenium; nothing is downloaded) against a real `wirexa serve` (the session's shared sandbox
engine): log in from the keyboard, watch a call placed through the REST API appear in the live
list, open its timeline, play its recording, retry a failing webhook, log out; a queue fills live as a
call runs <Enqueue>, its page shows the member and dequeues it to a URL; stored markup
(a caller ID, a webhook response body) is shown as text; a POST without the CSRF token is 403;
another project's call is a 404 page; no JavaScript console errors; usable at 1280x800 and at a
phone's width. Screenshots of the main pages go to the run's tmp directory (printed)."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.conftest import LiveServer, engine_fixture
from wirexa import config
from wirexa.store.bootstrap import open_store
from wirexa.store.repo.calls import insert_call
from wirexa.store.repo.projects import create_project

pytestmark = [pytest.mark.sip, pytest.mark.slow]

engine = engine_fixture(shared=True)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
XSS = "<script>alert(1)</script>"
HTML_BODY = "<b>bold</b><script>alert(2)</script>"
WIDE, PHONE = (1280, 800), (390, 844)


class Receiver:
    """The customer's web server: /cb answers 200 with an HTML body, /fail answers 500,
    /hangup answers <Hangup/>."""

    def __init__(self) -> None:
        outer = self
        self.hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.hits.append(self.path)
                body, kind = HTML_BODY.encode(), "text/html"
                if self.path.startswith("/hangup"):
                    body, kind = b"<Response><Hangup/></Response>", "text/xml"
                self.send_response(200 if self.path.startswith(("/cb", "/hangup")) else 500)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: the pytest run's tmp directory (kept for the last runs)."""
    path = tmp_path_factory.mktemp("console-screenshots")
    print(f"\nconsole screenshots: {path}")
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        f"--window-size={WIDE[0]},{WIDE[1]}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def api(engine: LiveServer, method: str, path: str, form: dict[str, str] | None = None) -> Any:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(
        f"{engine.base_url}/2010-04-01/Accounts/{engine.project_id}{path}", data=data, method=method
    )
    token = base64.b64encode(f"{engine.project_id}:{engine.auth_token}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - 127.0.0.1
        return json.load(resp)


def console_errors(driver: webdriver.Chrome, allowed: tuple[str, ...] = ()) -> list[str]:
    """SEVERE entries of the browser's console since the last call, but those naming `allowed`."""
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and not any(a in e["message"] for a in allowed)
    ]


def row_text(driver: webdriver.Chrome, sid: str) -> str:
    """The text of the calls list's row of `sid` ('' while there is none), read in one script:
    the live feed may replace the rows between two WebDriver calls."""
    return str(
        driver.execute_script(
            "const r = document.querySelector(`tr[data-sid='${arguments[0]}']`); return r ? r.textContent : ''", sid
        )
    )


def fits(driver: webdriver.Chrome) -> bool:
    """No horizontal scrolling of the page itself (wide tables scroll inside their box)."""
    return bool(driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"))


def no_alert(driver: webdriver.Chrome) -> bool:
    with contextlib.suppress(NoAlertPresentException):
        driver.switch_to.alert.dismiss()
        return False
    return True


@contextlib.contextmanager
def engine_store(engine: LiveServer) -> Iterator[Any]:
    """The engine's own database, opened beside it (as the CLI does)."""
    store = open_store(config.load(overrides={"data_dir": str(engine.data_dir)}, env={}))
    try:
        yield store
    finally:
        store.close()


def login(driver: webdriver.Chrome, engine: LiveServer) -> None:
    """Log in from the keyboard: the user field has the focus, Tab to the password, Enter."""
    driver.get(f"{engine.base_url}/console/login")
    active = driver.switch_to.active_element
    assert active.get_attribute("id") == "user"
    active.send_keys(engine.project_id, Keys.TAB)
    driver.switch_to.active_element.send_keys(engine.auth_token, Keys.ENTER)
    wait_for("the dashboard", lambda: driver.current_url.endswith("/console/dashboard"))


def test_a_call_from_the_live_list_to_its_timeline_recording_and_webhooks(
    engine: LiveServer, browser: webdriver.Chrome, receiver: Receiver, shots: Path
) -> None:
    b = browser
    b.set_window_size(*WIDE)
    login(b, engine)
    b.get(f"{engine.base_url}/console/")  # the dashboard (a redirect)
    assert b.find_element(By.TAG_NAME, "h1").text == "Dashboard"
    b.save_screenshot(str(shots / "dashboard.png"))

    # The list is open before the call exists; the call appears without a reload.
    b.get(f"{engine.base_url}/console/calls")
    b.execute_script("window.__stayed = true")
    call = api(
        engine,
        "POST",
        "/Calls.json",
        {
            "To": "+15005550030",  # the sandbox callee answers, then hangs up after 2 s
            "From": "+15005550100",
            "Twiml": '<Response><Say>Hello from the console test.</Say><Pause length="5"/></Response>',
            "Record": "true",
            "StatusCallback": f"{receiver.url}/cb",
            "StatusCallbackEvent": "initiated ringing answered completed",
            "RecordingStatusCallback": f"{receiver.url}/fail",
        },
    )
    sid = call["sid"]
    row = wait_for("the new call's row", lambda: row_text(b, sid), 10)
    assert b.execute_script("return window.__stayed === true")  # SSE, not a reload
    assert "+15005550030" in row
    wait_for("completed in the live list", lambda: "completed" in row_text(b, sid), 30)
    b.save_screenshot(str(shots / "calls.png"))
    assert fits(b)

    recordings = wait_for(
        "the completed recording",
        lambda: [
            r for r in api(engine, "GET", f"/Calls/{sid}/Recordings.json")["recordings"] if r["status"] == "completed"
        ],
        20,
    )
    wait_for("the failing recording callback", lambda: any(p.startswith("/fail") for p in receiver.hits), 20)

    # The call's page: its timeline, the webhook's HTML body as text, the recording's player.
    b.get(f"{engine.base_url}/console/calls/{sid}")
    labels = [t.text for t in b.find_elements(By.CSS_SELECTOR, "svg.timeline a.mark text")]
    assert "queued" in labels and "answered" in labels and any(t.startswith("completed") for t in labels), labels
    assert any(t.startswith("call-status callback 200") for t in labels), labels
    assert "Say Hello from the console test." in labels, labels  # the verb it ran
    # its quality (the final sample at least, as its audio went; lossy calls: tests/e2e/test_quality_e2e.py)
    assert len(b.find_elements(By.CSS_SELECTOR, "#quality svg.quality")) == 3
    assert b.find_element(By.ID, "call-hangup-by").text == "callee"
    assert b.find_elements(By.CSS_SELECTOR, "svg.timeline a.mark.bad")  # the 500 of the recording callback
    bodies = b.execute_script(
        "return Array.from(document.querySelectorAll('pre.body')).map(p => [p.textContent, p.children.length])"
    )
    assert [HTML_BODY, 0] in bodies  # the markup is text: no element was made of it
    assert no_alert(b)
    assert (b.find_element(By.CSS_SELECTOR, "svg.wave path").get_attribute("d") or "").startswith("M")
    duration = b.execute_async_script(
        """const done = arguments[arguments.length - 1];
        const a = document.querySelector('audio.player');
        const report = () => a.play().then(() => done(a.duration), e => done('play: ' + e));
        if (a.readyState >= 1) report(); else { a.addEventListener('loadedmetadata', report); a.addEventListener('error', () => done('error')); a.load(); }"""
    )
    assert isinstance(duration, float) and duration > 0.5, duration
    assert abs(duration - float(recordings[0]["duration"])) <= 1.5
    b.execute_script("document.querySelector('audio.player').pause()")
    b.save_screenshot(str(shots / "call.png"))
    assert console_errors(b) == []

    # The webhooks outbox: the failing recording callback, retried now.
    b.get(f"{engine.base_url}/console/webhooks")
    rows = b.find_elements(By.CSS_SELECTOR, "tr[data-id]")
    failing = [r for r in rows if "/fail" in r.text]
    assert failing, [r.text for r in rows]
    hook_id = failing[0].get_attribute("data-id")
    b.save_screenshot(str(shots / "webhooks.png"))
    b.get(f"{engine.base_url}/console/webhooks/{hook_id}")
    attempts_before = int(b.find_element(By.XPATH, "//dt[.='Attempts']/following-sibling::dd[1]").text)
    assert "X-Twilio-Signature: " in b.find_element(By.CSS_SELECTOR, "pre.request").text
    b.find_element(By.CSS_SELECTOR, "button.retry").click()
    wait_for("the retried page", lambda: "retried=" in b.current_url)
    assert f"Webhook {hook_id} is due now" in b.find_element(By.ID, "retried").text

    def attempts() -> int:
        b.get(f"{engine.base_url}/console/webhooks/{hook_id}")
        return int(b.find_element(By.XPATH, "//dt[.='Attempts']/following-sibling::dd[1]").text)

    wait_for("the retried attempt", lambda: attempts() > attempts_before, 10)
    b.save_screenshot(str(shots / "webhook.png"))

    # A test call from the form: its page follows the call live (the feed reloads it) to the end.
    b.get(f"{engine.base_url}/console/call")
    b.find_element(By.ID, "To").send_keys("+15005550032")  # the callee hangs up after 0.6 s
    b.find_element(By.ID, "From").send_keys("+15005550100")
    b.find_element(By.ID, "place").click()
    wait_for("the test call's page", lambda: "/console/calls/CA" in b.current_url)
    wait_for(
        "the test call to end on its page",
        lambda: (
            b.execute_script("const s = document.getElementById('call-status'); return s && s.textContent")
            == "completed"
        ),
        30,
    )
    assert "Hello from Wirexa." in (b.find_element(By.TAG_NAME, "details").get_attribute("textContent") or "")

    for page, shot in (
        ("numbers", "numbers"),
        ("applications", "applications"),
        ("conferences", "conferences"),
        ("call", "test-call"),
        ("dashboard", "dashboard-after"),
    ):
        b.get(f"{engine.base_url}/console/{page}")
        assert fits(b), page
        b.save_screenshot(str(shots / f"{shot}.png"))
    assert b.find_element(By.XPATH, "//table[@class='pool']//th[.='workers']")
    assert console_errors(b) == []

    # Log out: the session is gone, pages lead to the login again.
    b.find_element(By.ID, "logout").click()
    wait_for("the login page", lambda: "/console/login" in b.current_url)
    b.get(f"{engine.base_url}/console/calls")
    assert "/console/login" in b.current_url


def test_markup_shows_as_text_csrf_is_refused_and_other_projects_are_not_found(
    engine: LiveServer, browser: webdriver.Chrome, shots: Path
) -> None:
    b = browser
    with engine_store(engine) as store:
        other = store.write_sync(create_project, "someone else")
        theirs = store.write_sync(
            lambda: insert_call(
                account_sid=other.sid,
                to_number="+15005550006",
                from_number="+15005550100",
                status="completed",
                direction="outbound-api",
            )
        )
        login(b, engine)
        b.get(f"{engine.base_url}/console/calls")
        b.execute_script("window.__stayed = true")
        mine = store.write_sync(
            lambda: insert_call(
                account_sid=engine.project_id,
                to_number="+15005550006",
                from_number=XSS,
                caller_id=XSS,
                status="ringing",
                direction="inbound",
            )
        )
    # Arrives through the live feed (rendered by the server, set as the tbody's HTML): as text.
    wait_for("the row", lambda: row_text(b, mine.sid), 10)
    cell = b.execute_script(
        "const c = document.querySelector(`tr[data-sid='${arguments[0]}'] td.from`); return [c.textContent, c.children.length]",
        mine.sid,
    )
    assert cell == [XSS, 0] and b.execute_script("return window.__stayed === true")
    assert no_alert(b)
    b.get(f"{engine.base_url}/console/calls/{mine.sid}")
    assert b.find_element(By.ID, "call-from").text == XSS and no_alert(b)
    assert console_errors(b) == []

    # A form POST without the session's CSRF token.
    status = b.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch('/console/call', {method: 'POST', body: new URLSearchParams({To: '+15005550006', From: '+15005550100', Twiml: '<Response/>'})})
          .then(r => done(r.status), e => done(String(e)));"""
    )
    assert status == 403

    b.get(f"{engine.base_url}/console/calls/{theirs.sid}")
    assert b.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert console_errors(b, allowed=("status of 403", "status of 404")) == []

    # A phone's width: the navigation wraps, tables scroll in their box, nothing else scrolls sideways.
    b.set_window_size(*PHONE)
    for page in ("dashboard", "calls", f"calls/{mine.sid}", "webhooks", "call", "queues", "queues/new"):
        b.get(f"{engine.base_url}/console/{page}")
        assert fits(b), page
    b.get(f"{engine.base_url}/console/calls")
    b.save_screenshot(str(shots / "calls-phone.png"))
    # Keyboard: the first Tab stop is the skip link.
    b.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert b.switch_to.active_element.get_attribute("class") == "skip"
    b.set_window_size(*WIDE)
    assert console_errors(b) == []


def test_a_queue_fills_live_and_its_caller_is_dequeued_to_a_url(
    engine: LiveServer, browser: webdriver.Chrome, receiver: Receiver, shots: Path
) -> None:
    b = browser
    b.set_window_size(*WIDE)
    b.get(f"{engine.base_url}/console/login")
    b.delete_all_cookies()  # the test before left its login
    login(b, engine)
    b.get(f"{engine.base_url}/console/queues")
    b.execute_script("window.__stayed = true")
    # A caller (the sandbox's person, who listens until hung up) waits in silence in a new queue.
    call = api(
        engine,
        "POST",
        "/Calls.json",
        {
            "To": "+15005550029",
            "From": "+15005550100",
            "Twiml": '<Response><Enqueue waitUrl="">console desk</Enqueue></Response>',
        },
    )
    qsid = wait_for(
        "the queue in the REST API",
        lambda: [
            q["sid"] for q in api(engine, "GET", "/Queues.json")["queues"] if q["friendly_name"] == "console desk"
        ],
        20,
    )[0]

    def size() -> str:
        return str(
            b.execute_script(
                "const c = document.querySelector(`tr[data-sid='${arguments[0]}'] td.size`); return c ? c.textContent : ''",
                qsid,
            )
        )

    wait_for("the queue's row with its caller, live", lambda: size() == "1", 20)
    assert b.execute_script("return window.__stayed === true")  # SSE, not a reload
    assert fits(b)
    b.save_screenshot(str(shots / "queues.png"))

    b.find_element(By.LINK_TEXT, "console desk").click()
    wait_for("the queue's page", lambda: b.current_url.endswith(f"/console/queues/{qsid}"))
    member = b.find_element(By.CSS_SELECTOR, f"#queue-live tr[data-sid='{call['sid']}'] a")
    assert member.get_attribute("href") == f"{engine.base_url}/console/calls/{call['sid']}"
    b.save_screenshot(str(shots / "queue.png"))
    b.find_element(By.ID, "Url").send_keys(f"{receiver.url}/hangup")
    b.find_element(By.ID, "dequeue").click()
    wait_for("the dequeued notice", lambda: "dequeued=" in b.current_url)
    assert f"Call {call['sid']} left the queue" in b.find_element(By.ID, "dequeued").text
    wait_for("the call to end", lambda: api(engine, "GET", f"/Calls/{call['sid']}.json")["status"] == "completed", 20)
    wait_for("the empty queue, live", lambda: "Nobody waits" in b.find_element(By.ID, "queue-live").text, 10)

    # Delete it (a confirmation page, then its form), leaving the shared engine as it was.
    b.find_element(By.ID, "delete-link").click()
    b.find_element(By.ID, "confirm-delete").click()
    wait_for("the list", lambda: "deleted=" in b.current_url)
    assert qsid not in b.page_source
    assert console_errors(b) == []
