"""store/repo/quality.py through StoreCalls.quality_sampled: samples kept in order, the call's
summary and flags, thinning past the cap, the call's delete taking its samples."""

from __future__ import annotations

from wirexa.media.quality import Decimator, QualityMeter, Reading
from wirexa.store.calls import StoreCalls
from wirexa.store.db import Store
from wirexa.store.repo.calls import delete_call, get_call, insert_call
from wirexa.store.repo.projects import create_project
from wirexa.store.repo.quality import samples_of, summary_of


async def test_samples_and_the_summary_of_a_lossy_call(store: Store) -> None:
    project = store.write_sync(create_project, "p")
    call = store.write_sync(
        lambda: insert_call(
            account_sid=project.sid, to_number="+1", from_number="+2", status="in-progress", direction="outbound-api"
        )
    )
    calls = StoreCalls(store, status_callbacks=lambda *a: None, recording_callbacks=lambda *a: None)
    assert summary_of(call) is None and call.quality_flags is None
    meter, kept = QualityMeter(), Decimator(4)
    total = 0
    for i in range(10):  # 5% of the far end's packets lost; 10 samples kept as 4 at most
        total += 200
        sample = meter.sample(Reading(total - total // 20, total // 20, 3000, total, 0, 2000, 30000, 60), i * 5.0)
        keep, thin = kept.keep(sample.seq)
        await calls.quality_sampled(call.sid, sample if keep else None, thin, meter.summary())
    stored = samples_of(call.sid)
    assert [s.seq for s in stored] == [0, 4, 8]  # evenly spaced from the start
    assert stored[1].inbound.loss_pct == 5.0 and stored[1].rtt_ms == 30.0 and stored[1].outbound.mos is not None
    updated = get_call(call.sid)
    assert updated is not None
    assert updated.quality_flags == "high_packet_loss:inbound"
    summary = summary_of(updated)
    assert summary is not None and summary.samples == 10 and summary.inbound.loss_pct == 5.0
    store.write_sync(delete_call, call.sid)
    assert samples_of(call.sid) == []
