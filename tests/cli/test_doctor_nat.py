"""`wirexa doctor`'s NAT check: a private SDP address toward a public trunk (a numeric TEST-NET
address: no DNS) is one warning naming public_address; a public address set, or a trunk on a
private network, passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wirexa import config
from wirexa.cli import doctor as doctor_module
from wirexa.cli.main import _register_optional, app

_register_optional()
PUBLIC_TRUNK = "203.0.113.5"  # TEST-NET-3: public as far as NAT goes, and never resolved


def nat(**values: Any) -> list[doctor_module.Check]:
    return doctor_module.check_nat(config.load(overrides=values, env={}))


def test_a_private_sdp_toward_a_public_trunk_warns_naming_public_address() -> None:
    (check,) = nat(sip_trunk_host=f"{PUBLIC_TRUNK}:5060", sip_bind_host="192.168.1.20")
    assert check.status == "warn"
    assert "192.168.1.20" in check.detail and PUBLIC_TRUNK in check.detail
    assert "public_address" in check.fix and "WIREXA_SIP_PUBLIC_ADDRESS" in check.fix


def test_public_address_set_or_a_private_trunk_or_no_trunk_pass() -> None:
    (check,) = nat(sip_trunk_host=PUBLIC_TRUNK, sip_public_address="198.51.100.7")
    assert check.status == "ok" and "198.51.100.7" in check.detail
    (check,) = nat(sip_trunk_host=PUBLIC_TRUNK, sip_public_rtp_address="198.51.100.8")
    assert check.status == "ok" and "198.51.100.8" in check.detail
    (check,) = nat(sip_trunk_host="10.1.2.3:5060")
    assert check.status == "ok" and "private network" in check.detail
    (check,) = nat(sip_trunk_host=PUBLIC_TRUNK, sip_bind_host="198.51.100.9")
    assert check.status == "ok"
    assert nat() == []


def test_private_means_rfc1918_cgnat_loopback_and_link_local_not_test_net() -> None:
    for a in ("10.0.0.1", "172.31.255.1", "192.168.0.1", "100.64.0.1", "127.0.0.1", "169.254.3.4"):
        assert doctor_module.is_private(a), a
    for a in ("203.0.113.5", "192.0.2.1", "8.8.8.8", "172.32.0.1", "not an address"):
        assert not doctor_module.is_private(a), a


def test_the_cli_shows_the_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor_module, "sip_options", lambda *a, **k: ("SIP/2.0 200 OK", ""))
    env = {"WIREXA_SIP_TRUNK_HOST": PUBLIC_TRUNK, "WIREXA_SIP_BIND_HOST": "127.0.0.1"}
    result = CliRunner().invoke(app, ["doctor", "--json", "--data-dir", str(tmp_path)], env=env)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["NAT"]["status"] == "warn" and "127.0.0.1" in checks["NAT"]["detail"]
