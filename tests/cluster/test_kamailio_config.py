"""The Kamailio config and dispatcher list as text (wirexa/cluster/kamailio.py, pure), the shipped
config/kamailio/kamailio.cfg, checked by Kamailio itself (`kamailio -c`), and `[sip]
outbound_proxy` (its check and the Route URI the workers preload)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.kamailio import KAMAILIO, kamailio_bin
from wirexa import config
from wirexa.cluster.kamailio import Engine, dispatcher_list, kamailio_cfg, rweights
from wirexa.errors import ConfigError
from wirexa.sip.bridge import proxy_uri

SHIPPED = Path(__file__).parent.parent.parent / "config" / "kamailio" / "kamailio.cfg"


def test_the_shipped_config_is_the_generated_one() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == kamailio_cfg(), (
        "regenerate: python -c 'from wirexa.cluster import kamailio; print(kamailio.kamailio_cfg(), end=\"\")'"
        " > config/kamailio/kamailio.cfg"
    )


def test_kamailio_accepts_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(kamailio_cfg(["udp:127.0.0.1:5060", "udp:127.0.0.1:5062"], str(tmp_path / "d.list"), "/x/ctl"))
    checked = subprocess.run([kamailio_bin(KAMAILIO), "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert checked.returncode == 0 and "config file ok" in checked.stderr, checked.stderr[-2000:]


def test_weights_follow_free_capacity() -> None:
    engines = [Engine("a", "sip:10.0.0.1:5060", 48, 0), Engine("b", "sip:10.0.0.2:5060", 48, 24),
               Engine("c", "sip:10.0.0.3:5060", 48, 60), Engine("d", "sip:10.0.0.4:5060", 96, 1)]  # fmt: skip
    assert rweights(engines) == [51, 25, 1, 100]  # a full engine keeps 1: 0 would leave the algorithm
    assert rweights([Engine("a", "sip:x", 4, 4), Engine("b", "sip:y", 4, 9)]) == [1, 1]
    assert rweights([]) == []


def test_the_dispatcher_list_has_one_probed_line_per_engine() -> None:
    text = dispatcher_list([Engine("node-1", "sip:10.0.0.1:5060", 40, 10), Engine("eu west;2", "sip:h:5070", 40, 0)])
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == ["1 sip:10.0.0.1:5060 8 0 duid=node-1;rweight=75", "1 sip:h:5070 8 0 duid=eu_west_2;rweight=100"]
    assert "# node-1: 30 of 40 calls free" in text


def test_bad_listen_sockets_and_paths_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        kamailio_cfg([" "])
    with pytest.raises(ValueError, match="listen socket"):
        kamailio_cfg(["udp:1.2.3.4:5060 #"])
    with pytest.raises(ValueError, match="Kamailio string"):
        kamailio_cfg(list_file='/tmp/a"b')


@pytest.mark.parametrize(
    ("given", "route"),
    [("10.0.0.5:5060", "sip:10.0.0.5:5060;lr"), ("sip:k.example", "sip:k.example;lr"),
     ("sip:k;transport=tcp", "sip:k;transport=tcp;lr"), ("sip:k:5080;lr", "sip:k:5080;lr")],
)  # fmt: skip
def test_the_outbound_proxy_is_a_loose_route(given: str, route: str) -> None:
    assert proxy_uri(given) == route


@pytest.mark.parametrize("bad", ["sip:user@k", "sip:", "k 5060", "<sip:k>"])
def test_a_bad_outbound_proxy_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="sip.outbound_proxy must be a SIP URI"):
        config.load(overrides={"sip_outbound_proxy": bad, "sip_trunk_host": "10.0.0.9"}, env={})


def test_an_outbound_proxy_needs_a_trunk() -> None:
    with pytest.raises(ConfigError, match="needs sip.trunk_host"):
        config.load(overrides={"sip_outbound_proxy": "sip:10.0.0.5"}, env={})
    assert config.load(overrides={"sip_outbound_proxy": " ", "sip_trunk_host": ""}, env={}).sip_outbound_proxy == " "
