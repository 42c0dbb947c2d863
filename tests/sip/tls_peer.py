"""A SIP peer for the TLS trunk test: pjsua2 in its own process with a server TLS transport
(the test's self-signed certificate), answering every INVITE with 200 and echoing nothing.

    python tests/sip/tls_peer.py PORT CERT KEY RTP_PORT

Prints one JSON line per event on stdout ("ready", "incoming" with the INVITE's Via header,
"confirmed", "disconnected"); exits when stdin closes. It has no other transport than TLS.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import pjsua2 as pj


def say(**event: Any) -> None:
    print(json.dumps(event), flush=True)


class Peer(pj.Account):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Any] = []

    def onIncomingCall(self, prm: Any) -> None:
        call = PeerCall(self, prm.callId)
        self.calls.append(call)
        say(
            ev="incoming",
            via=next((line for line in prm.rdata.wholeMsg.splitlines() if line.lower().startswith("via:")), ""),
        )
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)


class PeerCall(pj.Call):  # type: ignore[misc]
    def onCallState(self, prm: Any) -> None:
        state = self.getInfo().state
        if state == pj.PJSIP_INV_STATE_CONFIRMED:
            say(ev="confirmed")
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            say(ev="disconnected")


def main() -> None:
    port, cert, key, rtp = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.consoleLevel = 0
    cfg.medConfig.sndAutoCloseTime = -1
    ep.libInit(cfg)
    tc = pj.TransportConfig()
    tc.port = port
    tc.boundAddress = "127.0.0.1"
    tc.tlsConfig.certFile = cert
    tc.tlsConfig.privKeyFile = key
    ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tc)
    ep.audDevManager().setNullDev()
    ep.libStart()
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:trunk@127.0.0.1:{port};transport=tls"
    acfg.mediaConfig.transportConfig.port = rtp
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    peer = Peer()
    peer.create(acfg, True)
    stop = threading.Event()

    def stop_at_eof() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=stop_at_eof, daemon=True).start()
    say(ev="ready")
    while not stop.is_set():
        ep.libHandleEvents(10)
    ep.hangupAllCalls()
    for _ in range(50):
        ep.libHandleEvents(10)
    peer.calls.clear()
    ep.libDestroy()


if __name__ == "__main__":
    main()
