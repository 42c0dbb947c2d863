"""Kamailio in front of several engines: its configuration and its dispatcher list, as text.

Theory of operation. The carrier sends its INVITEs to one Kamailio (Debian's `kamailio`, 5.6),
whose `dispatcher` module spreads them over the engines' inbound SIP fronts; the engines' own
outbound requests go out through the same Kamailio (`[sip] outbound_proxy`), so the carrier
sees one address both ways. `wirexa cluster kamailio-config` writes both files from the nodes
table; config/kamailio/kamailio.cfg is the configuration with the defaults below (a test holds
it equal to `kamailio_cfg()`).

- The dispatcher list (`dispatcher_list`): set 1, one line per open engine with an inbound SIP
  address, flag 8 (probing), attrs `duid=<node id>;rweight=<share>`. The share is the engine's
  free capacity (capacity - live calls, from its last heartbeat) scaled so that the freest engine
  has 100 (Kamailio takes 1-100; a full engine keeps 1, not 0, which would take it out of
  the algorithm: it answers 503 itself when it is really full).
- The algorithm is 11, relative weight: each active engine gets rweight / (sum of the active
  engines' rweights) of the new calls. Chosen over weight (9: an engine that goes down hands its
  whole share to the next one in the list, not to all of them) and call-load (10: Kamailio counts
  only the calls it dispatched itself, and needs dialog bookkeeping; the engines' outbound calls
  and their real capacity are in the database, which the weights come from). The weights are
  what the nodes table said when the list was written: run the command again (and
  `kamcmd dispatcher.reload`) when engines join or leave, or from cron to follow the load.
- Probing: OPTIONS to every engine every 2 s (`ds_probing_mode` 1), 2 failures take it out, 2
  successes bring it back, and only a 2xx counts as up: a draining engine answers 503 (its
  graceful stop) and a dead one nothing, so both leave the set within ~4-6 s.
- Failover: a new INVITE whose engine answers 500 or 503, or says nothing within `fr_timer`
  (2 s), goes to the next engine (the engine is marked down until its probes pass again);
  never on 4xx or 6xx (a <Reject> is the application's answer, not a failure).
- record_route on every INVITE, both ways, so in-dialog requests (BYE, re-INVITE, ACK) follow
  the dialog through Kamailio; the engines' in-dialog requests carry the route set back.
- Outbound: an initial request from an engine's address (`ds_is_from_list`, the address only:
  an engine's workers send from other ports than its inbound one) that is not addressed to
  Kamailio itself is relayed to its request URI, the carrier, record-routed. Only the engines
  may relay through Kamailio that way.

Pure: text in, text out; the CLI reads the nodes and writes the files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DISPATCHER_SET = 1
PROBING = 8  # dispatcher destination flag: send OPTIONS keepalives
ALGORITHM = 11  # relative weight (rweight), over the active destinations only
MAX_RWEIGHT = 100
DEFAULT_LISTEN = ("udp:127.0.0.1:5060",)
DEFAULT_LIST_FILE = "/etc/kamailio/dispatcher.list"
DEFAULT_CTL = "/run/kamailio/kamailio_ctl"


@dataclass(frozen=True, slots=True)
class Engine:
    """What the dispatcher list needs of one node."""

    node_id: str
    sip_uri: str
    capacity: int
    live_calls: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.live_calls)


def rweights(engines: Sequence[Engine]) -> list[int]:
    """Each engine's relative weight: its free capacity, the freest engine's being 100, at least 1."""
    most = max((e.free for e in engines), default=0)
    if most <= 0:
        return [1 for _ in engines]
    return [max(1, round(MAX_RWEIGHT * e.free / most)) for e in engines]


def dispatcher_list(engines: Sequence[Engine]) -> str:
    """The dispatcher.list text: set 1, one probed destination per engine."""
    lines = [
        "# Kamailio dispatcher list, written by `wirexa cluster kamailio-config` from the nodes table.",
        "# setid destination flags priority attrs (8 = probed with OPTIONS; rweight = share of new calls)",
    ]
    for engine, weight in zip(engines, rweights(engines), strict=True):
        lines.append(f"# {_attr(engine.node_id)}: {engine.free} of {engine.capacity} calls free")
        lines.append(f"{DISPATCHER_SET} {engine.sip_uri} {PROBING} 0 duid={_attr(engine.node_id)};rweight={weight}")
    return "\n".join(lines) + "\n"


def _attr(value: str) -> str:
    """An attrs value: Kamailio splits attrs on ';' and '=' and the line on blanks."""
    return "".join(c if c.isalnum() or c in "-_.:@" else "_" for c in value)


def _quoted(value: str) -> str:
    if '"' in value or "\n" in value:
        raise ValueError(f"{value!r} cannot go in a Kamailio string")
    return f'"{value}"'


def kamailio_cfg(
    listen: Iterable[str] = DEFAULT_LISTEN, list_file: str = DEFAULT_LIST_FILE, ctl_socket: str = DEFAULT_CTL
) -> str:
    """kamailio.cfg: `listen` sockets (proto:address:port), the dispatcher list's path, the
    path of the control socket kamcmd talks to."""
    sockets = [s.strip() for s in listen if s.strip()]
    if not sockets:
        raise ValueError("Kamailio needs at least one listen socket (udp:address:port)")
    for socket in sockets:
        if any(c.isspace() or c in "\"'#" for c in socket):
            raise ValueError(f"{socket!r} is not a Kamailio listen socket (udp:address:port)")
    head = [
        "#!KAMAILIO",
        "#",
        "# Kamailio in front of several Wirexa engines (Debian's kamailio 5.6): the carrier's INVITEs are",
        "# spread over the engines by the dispatcher module, the engines' outbound calls are relayed to the",
        "# carrier. Written by `wirexa cluster kamailio-config`; see config/kamailio/README.md.",
        "",
        f"#!define WIREXA_DISPATCHER_LIST {_quoted(list_file)}",
        f"#!define WIREXA_CTL {_quoted('unix:' + ctl_socket)}",
        "",
        *(f"listen={socket}" for socket in sockets),
    ]
    return "\n".join(head) + "\n" + _BODY


_BODY = """
debug=2
log_stderror=no
log_facility=LOG_LOCAL0
log_prefix="{$mt $hdr(CSeq) $ci} "
children=4
disable_tcp=yes
auto_aliases=no
mhomed=1

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "ctl.so"
loadmodule "dispatcher.so"

modparam("ctl", "binrpc", WIREXA_CTL)
# No answer at all from an engine within 2 s: the next one (its front answers 100 at once).
modparam("tm", "fr_timer", 2000)
modparam("tm", "fr_inv_timer", 120000)

modparam("dispatcher", "list_file", WIREXA_DISPATCHER_LIST)
modparam("dispatcher", "flags", 2)                        # keep the other engines for ds_next_dst()
modparam("dispatcher", "xavp_dst", "_dsdst_")
modparam("dispatcher", "xavp_ctx", "_dsctx_")
modparam("dispatcher", "ds_ping_method", "OPTIONS")
modparam("dispatcher", "ds_ping_from", "sip:kamailio@wirexa.invalid")
modparam("dispatcher", "ds_ping_interval", 2)             # seconds
modparam("dispatcher", "ds_probing_mode", 1)              # probe every engine, always
modparam("dispatcher", "ds_probing_threshold", 2)         # 2 failed probes: inactive
modparam("dispatcher", "ds_inactive_threshold", 2)        # 2 good probes: active again
modparam("dispatcher", "ds_ping_reply_codes", "class=2")  # a draining engine's 503 is down

request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {
        sl_send_reply("200", "Keepalive");
        exit;
    }
    if (is_method("CANCEL")) {
        if (t_check_trans()) {
            t_relay();
        }
        exit;
    }
    if (!is_method("ACK")) {
        if (t_precheck_trans()) {
            t_check_trans();
            exit;
        }
        t_check_trans();
    }
    if (has_totag()) {
        route(WITHINDLG);
        exit;
    }
    remove_hf("Route");  # an engine's preloaded Route to us ([sip] outbound_proxy)
    if (is_method("INVITE")) {
        record_route();
    }
    # An engine's own request (its workers send from other ports than its front: the address
    # only is matched), not addressed to us: to the carrier in its request URI.
    if (ds_is_from_list("1", "3") && !(uri == myself)) {
        route(TO_CARRIER);
    }
    if (is_method("REGISTER")) {
        sl_send_reply("403", "Register with an engine directly");
        exit;
    }
    route(TO_ENGINE);
}

route[WITHINDLG] {
    if (loose_route()) {
        route(RELAY);
    }
    if (is_method("ACK") && t_check_trans()) {
        route(RELAY);
    }
    sl_send_reply("404", "Not here");
    exit;
}

route[RELAY] {
    if (!t_relay()) {
        sl_reply_error();
    }
    exit;
}

route[TO_CARRIER] {
    # The carrier's answer is the call's: no failover here.
    route(RELAY);
}

route[TO_ENGINE] {
    if (!ds_select_dst("1", "11")) {
        xlog("L_WARN", "no engine is up for $rm from $si:$sp\\n");
        sl_send_reply("503", "No engine available");
        exit;
    }
    t_on_failure("ENGINE_FAILED");
    route(RELAY);
}

failure_route[ENGINE_FAILED] {
    if (t_is_canceled()) {
        exit;
    }
    # 500, 503 or no answer: the engine is down or draining; try the next one. Never on 4xx or
    # 6xx: those are the application's answer.
    if (t_check_status("500|503") || (t_branch_timeout() && !t_branch_replied())) {
        xlog("L_WARN", "engine $du failed the $rm ($T_reply_code; 408: no answer): marked down\\n");
        ds_mark_dst("ip");
        if (ds_next_dst()) {
            xlog("L_INFO", "$rm to the next engine: $du\\n");
            t_on_failure("ENGINE_FAILED");
            t_relay();
        }
    }
}

# The engine is $du when a call's failover marked it, $ru when its probes did.
event_route[dispatcher:dst-down] {
    if ($du != $null) {
        xlog("L_WARN", "engine DOWN: $du\\n");
    } else {
        xlog("L_WARN", "engine DOWN: $ru\\n");
    }
}

event_route[dispatcher:dst-up] {
    xlog("L_WARN", "engine UP: $ru\\n");
}
"""
