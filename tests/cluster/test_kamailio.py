"""Kamailio in front of two engines (issue 27 item 4), all real: two `wirexa serve` on one
PostgreSQL database, `wirexa cluster kamailio-config` writing Kamailio's config and dispatcher list
from the nodes table, Debian's kamailio running it, SIPp as the carrier. Inbound INVITEs sent to
Kamailio are answered by both engines; outbound calls leave through Kamailio (`[sip]
outbound_proxy`), so the carrier sees its address; after one engine is SIGKILLed the next INVITEs
are still answered (failover, then probing takes it out); the other, draining, leaves the set and
keeps its call. One pair of engines and one Kamailio for the module (the kill and the drain last)."""

from __future__ import annotations

import collections
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.backends import free_udp_block
from tests.cluster import nodes_running, query, wait_for
from tests.conftest import LiveServer
from tests.e2e.webapp import WebApp
from tests.kamailio import Kamailio
from tests.pg import PgCluster
from wirexa.cli.main import app as cli_app
from wirexa.store.db import Store
from wirexa.store.repo import nodes

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SIPP = Path(__file__).parent.parent / "data" / "sipp"
NUMBER = "+15005550100"
CALLEE = "+15005550006"
FINAL = ("completed", "failed", "busy", "no-answer", "canceled")


@dataclass
class Front:
    url: str  # the shared database
    nodes: list[LiveServer]
    kamailio: Kamailio
    port: int  # Kamailio's
    carrier_port: int  # the SIPp trunk the engines dial out to
    out: Path  # where kamailio-config wrote its files
    printed: str  # what it printed
    web: WebApp


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory, pg: PgCluster) -> Iterator[Front]:
    assert shutil.which("sipp"), "SIPp is required (Debian package sip-tester)"
    url = pg.new_database()
    tmp = tmp_path_factory.mktemp("kamailio")
    base = free_udp_block(30000, 32000, 10, (0, 1))
    kport, cport = base, base + 1
    env = {
        "WIREXA_SIP_INBOUND_ALLOWED": "127.0.0.1/32",  # Kamailio's address: the carrier's INVITEs come from it
        "WIREXA_SIP_TRUNK_HOST": f"127.0.0.1:{cport}",
        "WIREXA_SIP_OUTBOUND_PROXY": f"sip:127.0.0.1:{kport}",
        "WIREXA_SIP_WORKERS_MIN": "2",
    }
    web = WebApp()
    # A first <Pause> would ring instead of answering (Twilio's rule): <Say> answers (cached after the first).
    web.docs["/voice"] = '<Response><Say>Hello.</Say><Pause length="10"/></Response>'
    web.docs["/status"] = ""
    try:
        with nodes_running(tmp, url, 2, extra_env=env) as nodes:
            nodes[0].client().incoming_phone_numbers.create(
                phone_number=NUMBER, voice_url=web.url("/voice"), status_callback=web.url("/status")
            )
            out = tmp / "kamailio"
            made = subprocess.run(
                [sys.executable, "-m", "wirexa", "cluster", "kamailio-config", "--data-dir", str(tmp / "cli"),
                 "--out", str(out), "--listen", f"udp:127.0.0.1:{kport}", "--ctl", str(out / "ctl")],
                env={**nodes[0].env, "COLUMNS": "200"},
                capture_output=True,
                text=True,
                timeout=60,
            )  # fmt: skip
            assert made.returncode == 0, made.stderr
            with Kamailio(out / "kamailio.cfg", out, out / "ctl") as kamailio:
                wanted = {n.env["WIREXA_SIP_INBOUND_PORT"] for n in nodes}
                wait_for(
                    lambda: {u.rsplit(":", 1)[1] for u, f in kamailio.dispatcher().items() if f == "AP"} == wanted,
                    10,
                    "both engines active in Kamailio's dispatcher",
                )
                yield Front(url, nodes, kamailio, kport, cport, out, made.stdout, web)
    finally:
        web.close()


def carrier_argv(f: Front, count: int, rate: int, talk_ms: int = 1000) -> list[str]:
    """SIPp's arguments for `count` carrier calls to Kamailio (`rate` a second), each `talk_ms`
    long, hung up by the carrier."""
    return [
        "-sf", str(SIPP / "proxy_carrier_call.xml"), "-i", "127.0.0.1", "-nostdin", "-max_socket", "100",
        "-s", NUMBER, "-p", "0", "-m", str(count), "-r", str(rate), "-l", str(count), "-d", str(talk_ms),
        "-timeout", "40s", "-timeout_error", "-trace_err", f"127.0.0.1:{f.port}",
    ]  # fmt: skip


def carrier_calls(f: Front, tmp: Path, count: int, rate: int) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["sipp", *carrier_argv(f, count, rate)], capture_output=True, cwd=tmp, timeout=60)


def inbound_owners(f: Front, since: int = 0) -> dict[str, tuple[str, str | None]]:
    rows = query(f.url, "SELECT sid, status, owner FROM calls WHERE direction = 'inbound' ORDER BY date_created")
    return {sid: (status, owner) for sid, status, owner in rows[since:]}


def test_kamailio_config_lists_the_open_engines_weighted_by_free_capacity(front: Front) -> None:
    nodes = {row[0]: row[1:] for row in query(front.url, "SELECT node_id, sip_uri, capacity, live_calls FROM nodes")}
    assert set(nodes) == {"node-1", "node-2"}
    lines = [line.split() for line in (front.out / "dispatcher.list").read_text().splitlines() if line[:1] != "#"]
    listed = {attrs.split(";")[0].removeprefix("duid="): (uri, flags, attrs) for _, uri, flags, _, attrs in lines}
    assert set(listed) == set(nodes)
    for node_id, (uri, flags, attrs) in listed.items():
        assert (uri, flags) == (nodes[node_id][0], "8")  # probed
        assert re.fullmatch(rf"duid={node_id};rweight=(100|[1-9][0-9]?)", attrs)
    cfg = (front.out / "kamailio.cfg").read_text()
    assert f"listen=udp:127.0.0.1:{front.port}" in cfg
    assert f'"{front.out / "dispatcher.list"}"' in cfg and f'"unix:{front.out / "ctl"}"' in cfg
    assert f"kamcmd -s unix:{front.out / 'ctl'} dispatcher.reload" in front.printed
    assert "node-1" in front.printed and "node-2" in front.printed


def test_cluster_status_shows_the_nodes(front: Front, tmp_path: Path) -> None:
    env = {"WIREXA_DATABASE_URL": front.url, "COLUMNS": "200"}
    shown = CliRunner().invoke(cli_app, ["cluster", "status", "--data-dir", str(tmp_path)], env=env)
    assert shown.exit_code == 0, shown.output
    rows = [line.split("\t") for line in shown.stdout.splitlines()]
    assert rows[0] == ["Node", "Gen", "State", "Heartbeat (s)", "Calls", "Capacity", "API", "SIP"]
    by_node = {row[0]: row for row in rows[1:]}
    assert set(by_node) == {"node-1", "node-2"}
    for node in front.nodes:
        row = by_node[node.env["WIREXA_CLUSTER_NODE_ID"]]
        assert row[2] == "open" and float(row[3]) < 3.0 and int(row[5]) > 0
        assert row[6] == node.base_url and row[7] == f"sip:127.0.0.1:{node.env['WIREXA_SIP_INBOUND_PORT']}"


def test_cluster_commands_refuse_bad_input_in_one_line(front: Front, pg: PgCluster, tmp_path: Path) -> None:
    runner = CliRunner()
    wild = pg.new_database()  # an engine bound to every address, advertising that
    store = Store(wild)
    store.migrate()
    store.write_sync(nodes.register, "wild", None, "sip:0.0.0.0:5060", 8)
    store.close()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cases = [
        ({"WIREXA_DATABASE_URL": front.url}, ["kamailio-config", "--out", str(blocker / "x")], "cannot write to"),
        ({"WIREXA_DATABASE_URL": pg.new_database()}, ["status"], "no engine has run on this database"),
        ({"WIREXA_DATABASE_URL": pg.new_database()}, ["kamailio-config", "--out", str(tmp_path)], "no engine is open"),
        ({"WIREXA_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, ["status"], "Connection refused"),
        ({"WIREXA_DATABASE_URL": front.url}, ["kamailio-config", "--listen", "udp:1.2.3.4:5060 x"], "listen socket"),
        ({"WIREXA_DATABASE_URL": wild}, ["kamailio-config", "--out", str(tmp_path)], "set its [cluster] sip_uri"),
    ]
    for env, args, said in cases:
        result = runner.invoke(cli_app, ["cluster", *args, "--data-dir", str(tmp_path / "d")], env=env)
        assert result.exit_code not in (0, None) and isinstance(result.exception, SystemExit | None), result.output
        assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)


def test_inbound_calls_through_kamailio_are_answered_by_both_engines(front: Front, tmp_path: Path) -> None:
    before = len(inbound_owners(front))
    carrier = carrier_calls(front, tmp_path, 20, 10)
    assert carrier.returncode == 0, carrier.stderr.decode()[-3000:] + front.kamailio.logs()[-3000:]
    calls = wait_for(
        lambda: len(c := inbound_owners(front, before)) == 20 and all(s in FINAL for s, _ in c.values()) and c,
        30,
        "20 inbound calls to end",
    )
    assert {status for status, _ in calls.values()} == {"completed"}
    owners = collections.Counter(owner for _, owner in calls.values())
    assert owners["node-1"] > 0 and owners["node-2"] > 0 and sum(owners.values()) == 20, owners


def test_an_outbound_call_leaves_through_kamailio(front: Front, tmp_path: Path) -> None:
    trunk = subprocess.Popen(
        ["sipp", "-sf", str(SIPP / "proxy_uas_answer.xml"), "-i", "127.0.0.1", "-p", str(front.carrier_port),
         "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_msg", "-trace_err"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: any(tmp_path.glob("proxy_uas_answer_*_messages.log")) or trunk.poll() is not None, 5, "SIPp")
        client = front.nodes[1].client()
        call = client.calls.create(to=CALLEE, from_=NUMBER, twiml='<Response><Pause length="1"/></Response>')
        code = trunk.wait(timeout=30)
        errors = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*_errors.log"))
        assert code == 0, errors[-2000:] + front.kamailio.logs()[-2000:]
    finally:
        if trunk.poll() is None:
            trunk.kill()
            trunk.wait()
    done = wait_for(lambda: (c := client.calls(call.sid).fetch()).status in FINAL and c, 15, "the call to end")
    assert done.status == "completed"
    [log] = tmp_path.glob("proxy_uas_answer_*_messages.log")
    text = log.read_text(errors="replace")
    invite = text[text.index("INVITE sip:") :]
    invite = invite[: invite.index("\n\n")] if "\n\n" in invite else invite
    vias = re.findall(r"^Via: *SIP/2\.0/UDP ([0-9.]+:[0-9]+)", invite, re.MULTILINE | re.IGNORECASE)
    assert vias[0] == f"127.0.0.1:{front.port}", invite  # the carrier got it from Kamailio
    assert re.search(rf"^Record-Route: *<sip:127\.0\.0\.1:{front.port};lr", invite, re.MULTILINE | re.IGNORECASE)
    assert "BYE sip:" in text  # the engine's BYE, through Kamailio by the route set


def test_inbound_calls_are_still_answered_after_an_engine_is_killed(front: Front, tmp_path: Path) -> None:
    dead = front.nodes[1]
    dead_uri = f"sip:127.0.0.1:{dead.env['WIREXA_SIP_INBOUND_PORT']}"
    before = len(inbound_owners(front))
    dead.kill_tree()
    carrier = carrier_calls(front, tmp_path, 6, 3)  # within the probing window: failover answers them
    assert carrier.returncode == 0, carrier.stderr.decode()[-3000:] + front.kamailio.logs()[-3000:]
    calls = wait_for(
        lambda: len(c := inbound_owners(front, before)) == 6 and all(s in FINAL for s, _ in c.values()) and c,
        30,
        "6 inbound calls to end",
    )
    assert {(status, owner) for status, owner in calls.values()} == {("completed", "node-1")}
    wait_for(lambda: front.kamailio.dispatcher()[dead_uri].startswith("I"), 10, "the dead engine inactive")
    assert f"engine DOWN: {dead_uri}" in front.kamailio.logs()  # its probes failed
    assert front.kamailio.dispatcher()[f"sip:127.0.0.1:{front.nodes[0].env['WIREXA_SIP_INBOUND_PORT']}"] == "AP"


def test_a_draining_engine_leaves_the_set_and_keeps_its_call(front: Front, tmp_path: Path) -> None:
    """After the kill: the last engine drains (SIGTERM) with a call live. Its OPTIONS get 503, so
    Kamailio takes it out (a new INVITE gets Kamailio's 503: no engine is left), while the live
    call's BYE still reaches it through Kamailio (Record-Route) and the call completes."""
    node = front.nodes[0]
    uri = f"sip:127.0.0.1:{node.env['WIREXA_SIP_INBOUND_PORT']}"
    before = len(inbound_owners(front))
    long_call = subprocess.Popen(
        ["sipp", *carrier_argv(front, 1, 1, talk_ms=8000)], cwd=tmp_path, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        [sid] = wait_for(
            lambda: [s for s, (status, _) in inbound_owners(front, before).items() if status == "in-progress"],
            10,
            "the long call answered",
        )
        assert node.proc is not None
        node.proc.send_signal(signal.SIGTERM)  # the graceful stop: drains while the call goes on
        wait_for(lambda: front.kamailio.dispatcher()[uri].startswith("I"), 8, "the draining engine inactive")
        assert long_call.poll() is None and node.proc.poll() is None  # still talking: out by its 503s, not gone
        assert refused_invite(front.port) == 503  # Kamailio's own: no engine is up
        assert long_call.wait(timeout=20) == 0, "".join(p.read_text() for p in tmp_path.glob("*_errors.log"))
    finally:
        if long_call.poll() is None:
            long_call.kill()
            long_call.wait()
    final = wait_for(lambda: (c := inbound_owners(front, before)[sid])[0] in FINAL and c, 10, "the long call to end")
    assert final == ("completed", "node-1")
    assert node.proc.wait(timeout=20) == 0  # stopped once its call ended


def refused_invite(port: int) -> int:
    """The final status code Kamailio answers one INVITE with (sent over UDP from a free port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        me = s.getsockname()[1]
        s.sendto(
            (
                f"INVITE sip:{NUMBER}@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-drain-{me};rport\r\nMax-Forwards: 70\r\n"
                f"From: <sip:+14155550123@127.0.0.1>;tag=d{me}\r\nTo: <sip:{NUMBER}@127.0.0.1>\r\n"
                f"Call-ID: drain-{me}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@127.0.0.1:{me}>\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode(),
            ("127.0.0.1", port),
        )
        while True:
            code = int(s.recv(65535).split(b" ", 2)[1])
            if code >= 200:
                return code
