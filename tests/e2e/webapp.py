"""A customer's web app for end-to-end tests: serves XML by path and records every request
(status callbacks included), in a background thread so sync SDK code can drive calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    path: str
    method: str
    url: str
    form: dict[str, str]
    headers: dict[str, str]
    t: float


class WebApp:
    def __init__(self, port: int = 0) -> None:
        self.docs: dict[str, str | Callable[[Request], str]] = {}
        self.files: dict[str, tuple[bytes, str]] = {}  # path -> (body, Content-Type), e.g. audio
        self.statuses: dict[str, int] = {}  # path -> HTTP status answered there (an error page)
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                form = (
                    dict(parse_qsl(body, keep_blank_values=True))
                    if self.command == "POST"
                    else dict(parse_qsl(parts.query, keep_blank_values=True))
                )
                req = Request(
                    parts.path,
                    self.command,
                    f"http://127.0.0.1:{app.port}{self.path}",
                    form,
                    dict(self.headers),
                    time.monotonic(),
                )
                with app.lock:
                    app.requests.append(req)
                doc = app.docs.get(parts.path)
                if parts.path in app.files:
                    data, ctype = app.files[parts.path]
                elif doc is None:
                    data, ctype = b"OK", "text/plain"
                else:
                    data, ctype = (doc(req) if callable(doc) else doc).encode(), "text/xml"
                self.send_response(app.statuses.get(parts.path, 200))
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @classmethod
    def on_port(cls, port: int) -> WebApp:
        return cls(port)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str, call_sid: str | None = None) -> list[Request]:
        with self.lock:
            return [
                r for r in self.requests if r.path == path and (call_sid is None or r.form.get("CallSid") == call_sid)
            ]

    def wait(self, path: str, call_sid: str | None = None, count: int = 1, timeout: float = 30.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(path, call_sid)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{count} request(s) to {path} never came; got {len(self.to(path, call_sid))}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
