"""[sip] jitter_discard reaches pjsua's MediaConfig: the wheel wraps jbDiscardAlgo as an opaque
pointer, so the setting is written through ctypes (endpoint.set_jb_discard). Real pjsua2 objects;
the effect on calls is measured by bench/streams_bench.py (frames an echoed stream loses)."""

from __future__ import annotations

import pjsua2 as pj
import pytest

from wirexa import config
from wirexa.sip.endpoint import JB_DISCARD, jb_discard_of, set_jb_discard
from wirexa.sip.worker import parse_args


def test_the_setting_names_pjmedias_algorithms() -> None:
    assert set(config.JITTER_DISCARDS) == set(JB_DISCARD)
    assert config.Settings().sip_jitter_discard == "static"
    # pjmedia_jb_discard_algo: NONE 0, STATIC 1, PROGRESSIVE 2 (pjsua's default).
    assert JB_DISCARD == {"none": 0, "static": 1, "progressive": 2}
    assert jb_discard_of(pj.MediaConfig()) == JB_DISCARD["progressive"]


@pytest.mark.parametrize("name", ["static", "none", "progressive"])
def test_set_jb_discard_writes_the_media_config(name: str) -> None:
    cfg = pj.EpConfig()
    set_jb_discard(cfg.medConfig, name)
    assert jb_discard_of(cfg.medConfig) == JB_DISCARD[name]


def test_the_worker_takes_the_setting() -> None:
    base = ["--port", "5", "--rtp-port", "7", "--bind", "127.0.0.1", "--log-file", "/dev/null"]
    assert parse_args(base).jitter_discard == "static"
    assert parse_args([*base, "--jitter-discard", "none"]).jitter_discard == "none"
    with pytest.raises(SystemExit):
        parse_args([*base, "--jitter-discard", "adaptive"])
