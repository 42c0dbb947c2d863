"""Conference rooms across worker processes, for real (pjsua2 workers and the sandbox carrier):
a room lives in one worker (the first member's); members in other workers reach it over
loopback relays, and every member hears every other unmuted one, wherever each call is; the room's
recording (its home's) is the mix of every member heard, relayed ones included."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from tests.e2e.agent import tone_seconds
from tests.sip.conftest import make_settings, running
from tests.sip.test_sip import tone_file
from wirexa.calls.ports import CallAnswered
from wirexa.sip.pool import CALLS_PER_WORKER

pytestmark = pytest.mark.sip

LOUD, QUIET, LISTENER = "+15005550030", "+15005550031", "+15005550032"  # 440 Hz, 1000 Hz, silence


async def test_members_in_three_workers_hear_every_unmuted_member(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox.toml"
    sandbox.write_text(
        f'[numbers."{LOUD}"]\nanswer = "{tone_file(tmp_path / "a.wav", 8000, 440)}"\n'
        f'[numbers."{QUIET}"]\nanswer = "{tone_file(tmp_path / "b.wav", 8000, 1000)}"\n'
        f'[numbers."{LISTENER}"]\nanswer = "silence"\n'
    )
    settings = make_settings(tmp_path, sandbox_config=str(sandbox), sip_workers_max=3)
    async with running(settings, tmp_path) as h:
        pool = h.bridge.pool
        assert pool is not None
        # LOUD, QUIET and two listeners fill one worker; two more listeners go to another one.
        first = [await h.dial(n) for n in (LOUD, QUIET, LISTENER, LISTENER)]
        await asyncio.gather(*(h.wait(s, CallAnswered, timeout=30) for s in first))
        assert (
            len({pool.by_call[s].index for s in first}) == 1 and len(pool.by_call[first[0]].calls) == CALLS_PER_WORKER
        )
        later = [await h.dial(LISTENER) for _ in range(2)]
        await asyncio.gather(*(h.wait(s, CallAnswered, timeout=30) for s in later))
        loud, quiet, l1, l2 = first
        l3, l4 = later
        home = pool.by_call[l3]
        assert home is not pool.by_call[loud]

        # l3 joins first: the room's home is its worker; everyone else is relayed into it,
        # QUIET muted (it hears the room, nobody hears it).
        await h.bridge.room_join("room", l3)
        await h.bridge.room_join("room", loud)
        await h.bridge.room_join("room", quiet, muted=True)
        for sid in (l1, l2, l4):
            await h.bridge.room_join("room", sid)
        assert pool.rooms == {"room": home}
        assert {sid for _, sid in pool.room_relays} == {loud, quiet, l1, l2} | (
            {l4} if pool.by_call[l4] is not home else set()
        )
        recording = tmp_path / "rec" / "room.wav"
        await h.bridge.room_record("room", "RE1", str(recording))
        await asyncio.sleep(2.5)

        # A member that leaves, and one whose call ends, give their relay ports back.
        await h.bridge.room_leave("room", l1)
        assert ("room", l1) not in pool.room_relays
        for sid in (l1, l2, l3, l4):
            await h.bridge.hangup(sid)
            await h.ended(sid)
        for sid in (l1, l2, l3, l4):
            with wave.open(str(await h.sandbox_wav(sid))) as w:
                pcm = w.readframes(w.getnframes())
            # remote -> remote (l1, l2 and maybe l4 are not in the home worker) and remote -> local (l3)
            assert tone_seconds(pcm, 440) > 1.0, sid  # of the 2.5 s in the room
            assert tone_seconds(pcm, 1000) == 0, sid  # muted QUIET is heard by nobody
        for sid in (loud, quiet):
            await h.bridge.hangup(sid)
            await h.ended(sid)
        for _ in range(50):
            if not pool.room_relays:
                break
            await asyncio.sleep(0.05)
        assert pool.room_relays == {}
        done = await h.bridge.room_record_stop("room", "RE1")  # it outlived the members: silence since
        assert done is not None and (done.call_sid, done.rec_id, done.path) == ("room", "RE1", str(recording))
        assert done.duration_ms >= 2500 and pool.room_recordings == {}
        with wave.open(str(recording)) as w:
            assert (w.getnchannels(), w.getframerate()) == (1, 8000)
            mix = w.readframes(w.getnframes())
        assert abs(len(mix) / 16 - done.duration_ms) < 500  # the file kept time
        assert tone_seconds(mix, 440) > 1.5  # LOUD, relayed from another worker into the home's mix
        assert tone_seconds(mix, 1000) == 0  # muted QUIET is not in it
        h.bridge.room_over("room")
        assert pool.rooms == {}
        assert all(not w.relay_ports for w in pool.workers.values())
        assert pool.crashes == 0


async def test_a_join_sent_before_the_call_has_audio_waits_for_it(tmp_path: Path) -> None:
    """An answer and the join go out together (an inbound <Dial><Conference>): the worker holds the
    join, or the relay of a call in another worker, until the call's media is up."""
    sandbox = tmp_path / "sandbox.toml"
    sandbox.write_text(
        f'[numbers."{LOUD}"]\nanswer = "{tone_file(tmp_path / "a.wav", 8000, 440)}"\n'
        f'[numbers."{LISTENER}"]\nanswer = "silence"\n'
    )
    settings = make_settings(tmp_path, sandbox_config=str(sandbox), sip_workers_max=3)
    async with running(settings, tmp_path) as h:
        pool = h.bridge.pool
        assert pool is not None
        loud = await h.dial(LOUD)
        await h.wait(loud, CallAnswered, timeout=30)
        await h.bridge.room_join("room", loud)
        early = []
        for _ in range(CALLS_PER_WORKER):  # fills the first worker, then one in another
            sid = await h.dial(LISTENER)
            await asyncio.sleep(0.05)  # the worker has the call (MakeCall), not its audio
            await h.bridge.room_join("room", sid)
            early.append(sid)
        await asyncio.gather(*(h.wait(s, CallAnswered, timeout=30) for s in early))
        assert any(pool.by_call[s] is not pool.by_call[loud] for s in early)  # one is relayed
        await asyncio.sleep(2.5)
        for sid in early:
            await h.bridge.hangup(sid)
            await h.ended(sid)
        for sid in early:
            with wave.open(str(await h.sandbox_wav(sid))) as w:
                assert tone_seconds(w.readframes(w.getnframes()), 440) > 1.0, sid
        await h.bridge.hangup(loud)
        await h.ended(loud)
        assert pool.crashes == 0
