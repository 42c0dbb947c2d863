"""Sizing the pool from the machine when sip.workers_max / calls.max_concurrent are 0 (issue 13)."""

from __future__ import annotations

import os

from wirexa import config


def test_zero_means_sized_from_this_machine() -> None:
    sized = config.machine_sizing(15060, 20000, sandbox=True)  # no trunk: the sandbox carrier runs
    s = config.load(env={}, overrides={"data_dir": "/nonexistent-h13"})
    assert (s.sip_workers_max, s.calls_max_concurrent) == (sized.workers_max, sized.calls_max)
    assert sized.cores == len(os.sched_getaffinity(0))
    assert sized.by["cpu"] == sized.cores * config.CALLS_PER_CORE
    assert sized.limit == min(sized.by, key=lambda k: sized.by[k])
    # Enough workers for every call, plus the slot kept for a <Dial> leg.
    assert sized.workers_max * config.CALLS_PER_WORKER >= sized.calls_max + 1


def test_set_values_are_kept() -> None:
    s = config.load(env={"WIREXA_SIP_WORKERS_MAX": "3"}, overrides={"data_dir": "/nonexistent-h13"})
    assert s.sip_workers_max == 3
    assert s.calls_max_concurrent == config.machine_sizing(15060, 20000, sandbox=True).calls_max
    s = config.load(env={}, overrides={"data_dir": "/nonexistent-h13", "calls_max_concurrent": 7})
    assert s.calls_max_concurrent == 7


def test_the_port_range_limits_the_pool() -> None:
    # RTP blocks of 100 ports from 65000: 5 workers; SIP ports below the RTP range leave room.
    sized = config.machine_sizing(60000, 65000)
    assert sized.by["ports"] == 5 * config.CALLS_PER_WORKER
    # SIP ports right below the RTP range: 2 ports, so 2 workers.
    assert config.machine_sizing(19998, 20000).by["ports"] == 2 * config.CALLS_PER_WORKER
    # The sandbox carrier's RTP ports start 5000 above the workers': 50 workers' blocks fit.
    assert config.machine_sizing(15060, 20000, sandbox=True).by["ports"] == 50 * config.CALLS_PER_WORKER
