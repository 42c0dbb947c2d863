"""The inbound SIP front's servers: UDP and TCP on sip.inbound_port (and TLS on
sip.inbound_tls_port when a certificate is configured), on sip.bind_host, around the pure
core in front.py.

Theory of operation: everything runs on the event loop that called start(). A datagram or a
framed TCP/TLS message is parsed (garbage is dropped, one log line per source per window);
a response is a worker's, routed back through the branch map; ACK and CANCEL are matched to
the worker their INVITE went to, synchronously; every other request gets its own task, because
deciding who sent it may await lookup_user (the store). The forwarded request goes to the
worker over UDP from the front's own UDP socket (the worker answers to our Via: rport). TCP/TLS
connections are numbered; a response goes back over the connection its request came on.

A new INVITE let in gets the front's own 100 Trying (the workers' 100s stay here), then a worker
with room: at once when one has it, else it joins a first-come-first-served queue that one pump
serves, asking the pool once per WORKER_POLL_S and telling it how many wait (the pool starts
workers for them); after WORKER_WAIT_S it gets 503. While it waits, its copies are dropped and a
CANCEL is answered here (200, then 487). A worker whose library is full answers 486 before any
provisional: the INVITE goes back in the queue for another worker (MAX_TRIES in all), and the
caller never sees that 486.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Self

from wirexa.sip.front import (
    ALLOW,
    MAX_FORWARD_BYTES,
    REASONS,
    RETRY_AFTER_S,
    BranchMap,
    Credential,
    Digest,
    ParseError,
    Registrar,
    Request,
    Response,
    Route,
    SourcePolicy,
    StreamFramer,
    Transport,
    Verdict,
    authorize,
    claimed_username,
    derive_branch,
    forward_request,
    parse,
    parse_via,
    pop_our_via,
    response_target,
    response_to,
    serialize,
    tag_of,
    trunk_hostname,
    uri_of,
    user_of,
)
from wirexa.sip.guard import RefusalLog

__all__ = ["Credential", "Front"]

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 2048
MAX_PENDING = 1024  # requests waiting for lookup_user; beyond, datagrams are dropped
UDP_READ_LIMIT = 65535

PickWorker = Callable[[], tuple[str, int] | None]
# With every worker full, an INVITE waits this long (polling) for a slot before its 503: the
# pool starts workers as INVITEs come (a cold engine under a burst needs a second or two). The
# caller has had the front's own 100 Trying by then, so it does not retransmit meanwhile, and a
# copy that comes anyway (sent before the 100 arrived) is dropped while the first one waits.
WORKER_WAIT_S = 3.0
MAX_TRIES = 3  # workers an INVITE is sent to when their library is full (486 before any 100)
BUSY = 486
WORKER_POLL_S = 0.025
# The UDP socket's receive buffer: a burst of INVITEs (and their retransmissions) on a busy
# machine overflowed Linux's default 208 KB (measured: 1,300 datagrams dropped in a 50/s run).
UDP_RCVBUF = 4 * 1024 * 1024
LookupUser = Callable[[str], Awaitable[Credential | None]]


class Front:
    """The inbound SIP front. start() binds UDP and TCP on settings.sip_inbound_port (0: a free
    port, the same for both) and TLS when sip_inbound_tls_cert and _key are set; close() stops
    them. pick_worker() -> (host, port) of a worker with room, or None (the INVITE gets 503);
    lookup_user(username) -> the phone's or the sandbox caller's Credential, or None;
    draining() -> True while the engine drains (OPTIONS answered 503). Loop-only."""

    def __init__(
        self,
        settings: Any,
        pick_worker: PickWorker,
        lookup_user: LookupUser,
        *,
        clock: Callable[[], float] = time.time,
        worker_full: Callable[[tuple[str, int]], None] | None = None,
        worker_wait_s: float = WORKER_WAIT_S,
        waiting: Callable[[int], None] | None = None,
        draining: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.pick_worker = pick_worker
        self.worker_full = worker_full  # a worker's library refused an INVITE: full for a moment
        self.worker_wait_s = worker_wait_s
        self.waiting = waiting  # how many INVITEs wait for a worker (the pool starts workers for them)
        # True while the engine drains (serve's graceful stop): OPTIONS get 503, so a Kamailio
        # probing the engines (config/kamailio) takes it out of its dispatcher set.
        self.draining = draining or (lambda: False)
        self.lookup_user = lookup_user
        self.clock = clock
        self.registrar = Registrar(clock, max_expires_s=int(settings.sip_registration_max_s))
        self.port = int(settings.sip_inbound_port)
        self.tls_port: int | None = None
        self.branches = BranchMap()
        self.policy = SourcePolicy(())
        self.digest = Digest(settings.sip_domain, os.urandom(32))
        self.refusals = RefusalLog(log)
        self._secret = os.urandom(32)
        self._carrier_user = str(settings.sip_inbound_username)
        self._carrier_password = str(settings.sip_inbound_password)
        self._udp: asyncio.DatagramTransport | None = None
        self._servers: list[asyncio.Server] = []
        self._conns: dict[int, _Stream] = {}
        self._next_conn = 1
        self._tasks: set[asyncio.Task[None]] = set()
        # branch -> cancelled, for INVITEs not yet sent to a worker (being identified, or waiting
        # for a worker with room): their retransmissions are dropped, a CANCEL is answered here.
        self._waiting: dict[str, bool] = {}
        self._queue: deque[tuple[str, asyncio.Future[tuple[str, int] | None]]] = deque()  # waiting for a worker
        self._queued: dict[str, asyncio.Future[tuple[str, int] | None]] = {}  # the same, by branch
        self._pump_task: asyncio.Task[None] | None = None
        bind = str(settings.sip_bind_host)
        self._bind = bind
        public = str(settings.sip_public_address).strip()
        host = public or bind
        if host in ("0.0.0.0", "::", ""):  # an unspecified bind address names no one
            host = "127.0.0.1"
        self._sent_by = host
        self.forwarded = 0
        self.refused = 0

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.policy = await self._allowed_sources()
        loop = asyncio.get_running_loop()
        for attempt in range(20):
            udp, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), local_addr=(self._bind, self.port))
            sock = udp.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):  # the kernel caps it at net.core.rmem_max
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
            port = int(udp.get_extra_info("sockname")[1])
            try:
                server = await loop.create_server(
                    lambda: _Stream(self, "tcp"), self._bind, port, reuse_address=True, backlog=256
                )
            except OSError:
                udp.close()
                if self.port or attempt == 19:
                    raise
                continue
            self._udp = udp
            self.port = port
            self._servers.append(server)
            break
        cert, key = (str(self.settings.sip_inbound_tls_cert), str(self.settings.sip_inbound_tls_key))
        if cert and key:
            try:
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ctx.load_cert_chain(cert, key)
                tls = await loop.create_server(
                    lambda: _Stream(self, "tls"),
                    self._bind,
                    int(self.settings.sip_inbound_tls_port),
                    ssl=ctx,
                    reuse_address=True,
                    backlog=256,
                )
            except (OSError, ssl.SSLError):
                await self.close()  # unwind what started: UDP and TCP
                raise
            self._servers.append(tls)
            self.tls_port = int(tls.sockets[0].getsockname()[1])
        log.info(
            "inbound SIP front on %s:%d (udp, tcp%s); carrier from %s",
            self._bind,
            self.port,
            f", tls {self.tls_port}" if self.tls_port else "",
            ", ".join(map(str, self.policy.networks)) or "nobody (by address)",
        )

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for conn in list(self._conns.values()):
            conn.transport.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
            await asyncio.sleep(0)  # the socket itself closes on the loop's next turn
        tasks = [*self._tasks, *([self._pump_task] if self._pump_task is not None else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _allowed_sources(self) -> SourcePolicy:
        allowed = str(self.settings.sip_inbound_allowed).strip()
        if allowed:
            return SourcePolicy.from_cidrs(allowed)
        trunk = str(self.settings.sip_trunk_host).strip()
        if not trunk:
            return SourcePolicy(())
        host = trunk_hostname(trunk)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        except OSError as exc:
            log.warning("SIP trunk host %s does not resolve (%s): no carrier INVITE will be let in", host, exc)
            return SourcePolicy(())
        return SourcePolicy.from_cidrs(",".join(sorted({str(info[4][0]) for info in infos})))

    # --- receiving -----------------------------------------------------------------------------------

    def received(self, data: bytes, source: tuple[str, int], transport: Transport, conn_id: int) -> None:
        """One datagram or framed message from `source`."""
        if not data.strip():
            return  # a keepalive
        try:
            msg = parse(data)
            if isinstance(msg, Request):
                parse_via(msg.get_all("via")[0])
        except ParseError as exc:
            if self.refusals.malformed(source[0], source[1]):
                log.debug("the packet from %s:%d: %s", source[0], source[1], exc)
            return
        if isinstance(msg, Response):
            if transport == "udp":
                self._worker_response(msg, source)
            return
        if msg.method in ("ACK", "CANCEL"):
            self._ack_or_cancel(msg, source, transport, conn_id)
            return
        if tag_of(msg.get("to")):
            self._reply(msg, 481, source, transport, conn_id)
            return
        if len(self._tasks) >= MAX_PENDING:
            log.warning(
                "SIP front: %d requests pending; dropping a %s from %s", len(self._tasks), msg.method, source[0]
            )
            return
        task = asyncio.get_running_loop().create_task(self._request(msg, source, transport, conn_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _request(self, req: Request, source: tuple[str, int], transport: Transport, conn_id: int) -> None:
        try:
            if req.method == "INVITE":
                await self._invite(req, source, transport, conn_id)
            elif req.method == "REGISTER":
                await self._register(req, source, transport, conn_id)
            else:
                # Carriers ping, registered phones keep their NAT open, a phone may authenticate.
                if not self._known_source(source) and (await self._identify(req, source)).action != "pass":
                    self._refuse(req, source, transport, conn_id)
                elif req.method == "BYE":
                    self._reply(req, 481, source, transport, conn_id)  # a BYE without a To tag names no dialog
                elif req.method == "OPTIONS" and self.draining():
                    self._reply(req, 503, source, transport, conn_id, [("Retry-After", str(RETRY_AFTER_S))])
                elif req.method == "OPTIONS":
                    self._reply(req, 200, source, transport, conn_id, [("Allow", ALLOW), ("Accept", "application/sdp")])
                else:
                    self._reply(req, 405, source, transport, conn_id, [("Allow", ALLOW)])
        except Exception:  # a request must not take the front down
            log.exception("SIP front failed on a %s from %s:%d", req.method, *source)
            self._reply(req, 500, source, transport, conn_id)

    def _known_source(self, source: tuple[str, int]) -> bool:
        return self.policy.allows(source[0]) or self.registrar.has_source(f"{source[0]}:{source[1]}")

    async def _identify(
        self,
        req: Request,
        source: tuple[str, int],
        allowed: bool | None = None,
        kinds: tuple[str, ...] = ("phone", "sandbox"),
    ) -> Verdict:
        """Who sent `req` (authorize(), after looking up the user it names; a user of another
        kind than `kinds` is no one)."""
        allowed = self.policy.allows(source[0]) if allowed is None else allowed
        carrier_auth = bool(self._carrier_user)
        if allowed and not carrier_auth:
            return Verdict("pass", "carrier")
        if req.method != "INVITE" and allowed:
            return Verdict("pass", "carrier")  # the carrier's digest is asked on INVITEs only
        name = claimed_username(req, self.digest)
        credential: Credential | None = None
        if allowed and name == self._carrier_user:
            credential = Credential(name, self._carrier_password, "carrier")
        elif name:
            credential = await self.lookup_user(name)
            if credential is not None and credential.kind not in kinds:
                credential = None
        return authorize(req, allowed, carrier_auth, credential, self.digest, self.clock())

    async def _invite(self, req: Request, source: tuple[str, int], transport: Transport, conn_id: int) -> None:
        now = self.clock()
        branch = derive_branch(self._secret, req, self._conn_tag(transport, conn_id))
        if branch in self._waiting:
            return  # a retransmission of an INVITE the front still holds: the first copy goes on
        known = self.branches.get(branch, now)
        if known is not None and known.source == source:
            # A retransmission: the same worker, the same message (the worker's transaction absorbs it).
            data = self._prepare(req, branch, source, transport, conn_id, known.auth)
            if data is not None:
                self._to_worker(data, known.worker, req, source, known.auth)
            return
        self._waiting[branch] = False
        try:
            await self._hand_over(req, branch, source, transport, conn_id)
        finally:
            self._waiting.pop(branch, None)

    async def _hand_over(
        self, req: Request, branch: str, source: tuple[str, int], transport: Transport, conn_id: int
    ) -> None:
        """A new INVITE: who sent it, then a worker with room for it (waiting up to
        WORKER_WAIT_S), then forward it. The front answers 100 Trying itself as soon as the
        sender is let in (RFC 3261 16.2: a stateful proxy; the workers' 100s stay here)."""
        verdict = await self._identify(req, source)
        if verdict.action == "refuse":
            self._refuse(req, source, transport, conn_id)
            return
        if verdict.action == "challenge":
            header = ("Proxy-Authenticate", self.digest.challenge(self.clock(), verdict.stale))
            self._reply(req, 407, source, transport, conn_id, [header])
            return
        data = self._prepare(req, branch, source, transport, conn_id, verdict.label)
        if data is None:
            return
        self._reply(req, 100, source, transport, conn_id)
        worker = await self._worker_with_room(branch)
        if self._waiting[branch]:
            self._reply(req, 487, source, transport, conn_id)  # canceled while it waited
            return
        if worker is None:
            log.warning("no media worker has room: INVITE from %s:%d answered 503", *source)
            self._reply(req, 503, source, transport, conn_id, [("Retry-After", str(RETRY_AFTER_S))])
            return
        expires = self.clock() + BranchMap.RINGING_TTL_S
        self.branches.put(branch, Route(worker, source, transport, conn_id, expires, verdict.label, pending=data))
        self._to_worker(data, worker, req, source, verdict.label)

    async def _worker_with_room(self, branch: str) -> tuple[str, int] | None:
        """A worker with room for the INVITE of `branch`, waiting up to worker_wait_s while every
        worker is full (a burst, a cold pool starting workers); None when the wait ran out or the
        INVITE was canceled meanwhile (_waiting[branch] set). Waiting INVITEs are served in the
        order they came by one pump (_pump): however many wait, the pool is asked once per
        WORKER_POLL_S, not once per INVITE (measured: 100+ INVITEs polling each 25 ms took a fifth of
        the engine's CPU on pick_worker alone and turned an overload into a collapse)."""
        if not self._queue:
            worker = self.pick_worker()
            if worker is not None:
                return worker
        fut: asyncio.Future[tuple[str, int] | None] = asyncio.get_running_loop().create_future()
        self._queue.append((branch, fut))
        self._queued[branch] = fut
        if self._pump_task is None or self._pump_task.done():
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())
        try:
            return await asyncio.wait_for(fut, self.worker_wait_s)
        except TimeoutError:
            return None
        finally:
            self._queued.pop(branch, None)

    async def _pump(self) -> None:
        """Hand workers with room to the waiting INVITEs, first come first served."""
        try:
            while self._queue:
                while self._queue:
                    branch, fut = self._queue[0]
                    if fut.done():  # timed out or canceled
                        self._queue.popleft()
                        continue
                    worker = self.pick_worker()
                    if worker is None:
                        break
                    self._queue.popleft()
                    fut.set_result(worker)
                if self.waiting is not None:
                    self.waiting(sum(not f.done() for _, f in self._queue))
                await asyncio.sleep(WORKER_POLL_S)
        finally:
            if self.waiting is not None:
                self.waiting(0)

    def _prepare(
        self, req: Request, branch: str, source: tuple[str, int], transport: Transport, conn_id: int, auth: str | None
    ) -> bytes | None:
        """The bytes to forward, or None when the request was answered here instead (483, 513)."""
        our_via = f"SIP/2.0/UDP {self._sent_by}:{self.port};branch={branch};rport"
        own = [(self._sent_by, self.port), (self._bind, self.port)]
        fwd = forward_request(req, our_via, source, transport, auth, own)
        if isinstance(fwd, Response):
            if req.method != "ACK":
                self._send(serialize(fwd), source, transport, conn_id)
            return None
        data = serialize(fwd)
        if len(data) > MAX_FORWARD_BYTES:
            if req.method != "ACK":
                self._reply(req, 513, source, transport, conn_id)
            return None
        return data

    def _to_worker(
        self, data: bytes, worker: tuple[str, int], req: Request, source: tuple[str, int], auth: str | None
    ) -> None:
        if self._udp is not None:
            self._udp.sendto(data, worker)
            self.forwarded += 1
            log.debug("%s %s from %s:%d -> worker %s:%d (%s)", req.method, req.uri, *source, *worker, auth)

    def _ack_or_cancel(self, req: Request, source: tuple[str, int], transport: Transport, conn_id: int) -> None:
        now = self.clock()
        branch = derive_branch(self._secret, req, self._conn_tag(transport, conn_id))
        if req.method == "CANCEL" and branch in self._waiting:
            self._waiting[branch] = True  # the INVITE is still here: it gets its 487 from here
            queued = self._queued.get(branch)
            if queued is not None and not queued.done():
                queued.set_result(None)  # stop waiting for a worker
            self._reply(req, 200, source, transport, conn_id)
            return
        route = self.branches.get(branch, now)
        if route is not None and route.source[0] == source[0]:
            data = self._prepare(req, branch, source, transport, conn_id, None)
            if data is not None:
                self._to_worker(data, route.worker, req, source, None)
            return
        if req.method == "ACK":
            return  # nothing answers an ACK: ours for a 4xx we made, or one for a forgotten branch
        if self._known_source(source):
            self._reply(req, 481, source, transport, conn_id)
        else:
            self._refuse(req, source, transport, conn_id)

    async def _register(self, req: Request, source: tuple[str, int], transport: Transport, conn_id: int) -> None:
        verdict = await self._identify(req, source, allowed=False, kinds=("phone",))
        credential = verdict.credential
        if verdict.action == "challenge":
            header = ("WWW-Authenticate", self.digest.challenge(self.clock(), verdict.stale))
            self._reply(req, 401, source, transport, conn_id, [header])
            return
        aor = user_of(uri_of(req.get("to") or ""))
        if verdict.action == "refuse" or credential is None or credential.kind != "phone" or aor != credential.username:
            self._refuse(req, source, transport, conn_id)
            return
        result = self.registrar.register(credential.username, req, f"{source[0]}:{source[1]}", transport)
        if result.code == 200:
            log.info(
                "phone %s registered from %s:%d (%s): %d contact(s)",
                credential.username,
                *source,
                transport,
                len(self.registrar.contacts(credential.username)),
            )
        self._reply(req, result.code, source, transport, conn_id, list(result.headers))

    def _worker_response(self, resp: Response, source: tuple[str, int]) -> None:
        try:
            popped = pop_our_via(resp)
            if popped is None:
                return
            ours, rest = popped
            now = self.clock()
            route = self.branches.get(ours.branch, now)
            if route is None or route.worker != source or ours.branch in self._waiting:
                return  # not a response to anything we forwarded (or from someone else), or one being re-placed
            if route.pending is not None:
                if resp.code == BUSY:
                    self._elsewhere(ours.branch, route, rest)
                    return  # the library was full: another worker gets the INVITE
                if resp.code < 200:
                    self.branches.put(ours.branch, dataclasses.replace(route, pending=None))
            self.branches.touch(ours.branch, now, final=resp.code >= 200)
            if resp.code == 100:
                return  # the caller had the front's own 100 (RFC 3261 16.7: a proxy never forwards a 100)
            self._back(rest, route)
        except ParseError:
            if self.refusals.malformed(*source):
                log.debug("a response from %s:%d has a bad Via", *source)

    def _back(self, resp: Response, route: Route) -> None:
        """A response (our Via popped) to the caller of `route`."""
        if route.transport == "udp":
            target = response_target(parse_via(resp.get_all("via")[0]))
            self._send(serialize(resp), target, "udp", 0)
        else:
            self._send(serialize(resp), route.source, route.transport, route.conn_id)

    def _elsewhere(self, branch: str, route: Route, busy: Response) -> None:
        """A 486 before any provisional is the worker's library refusing a call beyond its slots
        (an INVITE it took answers 100 first; a <Reject> comes after that): tell the pool, and
        send the INVITE to another worker (waiting for one with room as a new INVITE does),
        MAX_TRIES workers in all. The caller never sees that 486: when no worker takes the call
        it gets 503, and a CANCEL meanwhile gets its 487 from here."""
        if self.worker_full is not None:
            self.worker_full(route.worker)
        self._waiting[branch] = False
        task = asyncio.get_running_loop().create_task(self._replace(branch, route, busy))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace(self, branch: str, route: Route, busy: Response) -> None:
        try:
            worker = await self._worker_with_room(branch) if route.tries < MAX_TRIES else None
            now = self.clock()
            if self._waiting[branch] or worker is None or route.pending is None:
                code, extra = (487, ()) if self._waiting[branch] else (503, (("Retry-After", str(RETRY_AFTER_S)),))
                if code == 503:
                    log.warning("no media worker took the INVITE from %s:%d: answered 503", *route.source)
                self.branches.touch(branch, now, final=True)
                headers = (*busy.headers, *extra)
                self._back(dataclasses.replace(busy, code=code, reason=REASONS[code], headers=headers), route)
                return
            self.branches.put(branch, dataclasses.replace(route, worker=worker, tries=route.tries + 1))
            if self._udp is not None:
                self._udp.sendto(route.pending, worker)
                log.info("a worker was full: the INVITE from %s:%d goes to worker %s:%d", *route.source, *worker)
        finally:
            self._waiting.pop(branch, None)

    # --- sending -------------------------------------------------------------------------------------

    @staticmethod
    def _conn_tag(transport: Transport, conn_id: int) -> str:
        return "" if transport == "udp" else f"{transport}:{conn_id}"

    def _reply(
        self,
        req: Request,
        code: int,
        source: tuple[str, int],
        transport: Transport,
        conn_id: int,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        self._send(serialize(response_to(req, code, extra or [])), source, transport, conn_id)

    def _refuse(self, req: Request, source: tuple[str, int], transport: Transport, conn_id: int) -> None:
        self.refused += 1
        self._reply(req, 403, source, transport, conn_id)
        self.refusals.refused(source[0], source[1], req.method)

    def _send(self, data: bytes, dest: tuple[str, int], transport: Transport, conn_id: int) -> None:
        if transport == "udp":
            if self._udp is not None:
                self._udp.sendto(data, dest)
            return
        conn = self._conns.get(conn_id)
        if conn is None or conn.transport.is_closing():
            log.info("the %s connection of %s:%d is gone: a response to it is dropped", transport, *dest)
            return
        conn.transport.write(data)

    def _add_conn(self, conn: _Stream) -> int | None:
        if len(self._conns) >= MAX_CONNECTIONS:
            return None
        conn_id = self._next_conn
        self._next_conn += 1
        self._conns[conn_id] = conn
        return conn_id


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, front: Front) -> None:
        self.front = front

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.front.received(data, (str(addr[0]), int(addr[1])), "udp", 0)

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP front UDP: %s", exc)  # an ICMP port unreachable from a gone peer


class _Stream(asyncio.Protocol):
    """One TCP or TLS connection: framed messages in, responses out."""

    def __init__(self, front: Front, kind: Transport) -> None:
        self.front = front
        self.kind = kind
        self.framer = StreamFramer()
        self.conn_id = 0
        self.peer: tuple[str, int] = ("", 0)
        self.transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1]))
        conn_id = self.front._add_conn(self)
        if conn_id is None:
            log.warning("SIP front: %d connections open; closing one from %s", MAX_CONNECTIONS, self.peer[0])
            transport.close()
            return
        self.conn_id = conn_id

    def data_received(self, data: bytes) -> None:
        if not self.conn_id:
            return
        pings = self.framer.pings
        try:
            messages = self.framer.feed(data)
        except ParseError:
            if self.front.refusals.malformed(*self.peer):
                log.debug("closing the %s connection of %s:%d: unframeable", self.kind, *self.peer)
            self.transport.close()
            return
        for _ in range(self.framer.pings - pings):
            self.transport.write(b"\r\n")  # RFC 5626 pong
        for message in messages:
            self.front.received(message, self.peer, self.kind, self.conn_id)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn_id:
            self.front._conns.pop(self.conn_id, None)
