"""/proc helpers for the LaML bench: CPU and memory of a process tree, split by process kind.

bench/common.py's tree() reads only the main thread's `children` file, which misses processes a
non-main thread spawned; this walks the whole process table by PPid instead, and also counts the
CPU of children a process has reaped (cutime/cstime: short-lived espeak-ng / ffmpeg runs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CLK = os.sysconf("SC_CLK_TCK")


@dataclass
class Proc:
    pid: int
    kind: str
    cpu_s: float  # own user+system
    reaped_s: float  # user+system of waited-for children
    rss_mb: float
    pss_mb: float


def _stat(pid: int) -> tuple[int, float, float]:
    """(ppid, own cpu s, reaped children cpu s)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK, (int(fields[13]) + int(fields[14])) / CLK


def _mem(pid: int) -> tuple[float, float]:
    rss = pss = 0.0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) / 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss, pss


def _cmdline(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")


def classify(root: int, kinds: dict[bytes, str], default: str) -> dict[int, Proc]:
    """Every live process under `root` (root included). A process whose argv contains a key of
    `kinds` gets that kind, and its descendants inherit it; the rest get `default`."""
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parent[int(name)] = _stat(int(name))[0]
            except (OSError, IndexError, ValueError):
                continue
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, Proc] = {}
    stack = [(root, default)]
    while stack:
        pid, inherited = stack.pop()
        try:
            argv = _cmdline(pid)
            _, cpu, reaped = _stat(pid)
        except (OSError, IndexError, ValueError):
            continue
        kind = next((k for marker, k in kinds.items() if marker in argv), inherited)
        rss, pss = _mem(pid)
        out[pid] = Proc(pid, kind, cpu, reaped, rss, pss)
        stack += [(c, kind) for c in children.get(pid, [])]
    return out


def thread_cpu(pids: list[int]) -> dict[str, float]:
    """CPU seconds so far of the processes' threads, summed by thread name (a SIP worker's are
    `python` (its main thread), `clock` (the null sound device's: the bridge and every
    onFrameReceived), `media` (RTP in)): a process-wide figure hides a per-thread change
    smaller than its own run-to-run noise."""
    out: dict[str, float] = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                    text = f.read().decode(errors="replace")
            except OSError:
                continue
            name = text[text.index("(") + 1 : text.rindex(")")]
            fields = text[text.rindex(")") + 2 :].split()
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK
    return out


def cpu_delta(before: dict[int, Proc], after: dict[int, Proc]) -> tuple[dict[str, float], int, int]:
    """CPU seconds per kind between two snapshots: own time of processes alive at both ends, all
    time of processes started in between, and reaped-children time. Also (new, gone) counts; a
    process gone in between loses its share since `before` (reported, not guessed)."""
    per: dict[str, float] = {}
    for pid, p in after.items():
        b = before.get(pid)
        d = (p.cpu_s + p.reaped_s) - ((b.cpu_s + b.reaped_s) if b else 0.0)
        per[p.kind] = per.get(p.kind, 0.0) + d
    new = sum(1 for pid in after if pid not in before)
    gone = sum(1 for pid in before if pid not in after)
    return per, new, gone


def machine_busy() -> tuple[float, float]:
    """(busy jiffies, total jiffies) over all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])
    return (total - idle) / CLK, total / CLK
