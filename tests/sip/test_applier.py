"""The applier with stand-in media objects (no Endpoint): what each link change does to them."""

from __future__ import annotations

import pjsua2 as pj
import pytest

from wirexa.sip import mediagraph as mg
from wirexa.sip.applier import Applier


class Media:
    """Records startTransmit/stopTransmit; `fail_to` names sinks it cannot connect to."""

    def __init__(self, name: str, calls: list[str], fail_to: tuple[str, ...] = ()) -> None:
        self.name, self.calls, self.fail_to = name, calls, fail_to

    def startTransmit(self, sink: Media) -> None:  # noqa: N802 - pjsua2's name
        if sink.name in self.fail_to:
            raise pj.Error()
        self.calls.append(f"start {self.name}->{sink.name}")

    def stopTransmit(self, sink: Media) -> None:  # noqa: N802 - pjsua2's name
        self.calls.append(f"stop {self.name}->{sink.name}")


def setup(fail_to: tuple[str, ...] = ()) -> tuple[Applier, mg.MediaGraph, list[str]]:
    calls: list[str] = []
    applier = Applier()
    for node in (mg.DEVICE, mg.SILENCE, mg.call_port("A"), mg.call_port("B"), mg.recorder("A", "R")):
        applier.add(node, Media(str(node), calls, fail_to))
    return applier, mg.MediaGraph(), calls


def test_changes_become_transmits_in_order() -> None:
    applier, graph, calls = setup()
    applier.apply(graph.add_call("A"))
    applier.apply(graph.add_call("B"))
    applier.apply(graph.bridge("A", "B"))
    applier.apply(graph.start_recording("A", "R", whole=True))
    applier.apply(graph.unbridge("A", "B"))
    assert calls == [
        "start call:A->device",
        "start call:B->device",
        "start call:B->call:A",
        "start call:A->call:B",
        "start call:A->recorder:A:R",
        "start silence->recorder:A:R",
        "stop call:B->call:A",
        "stop call:A->call:B",
    ]


def test_gone_links_are_not_touched() -> None:
    applier, graph, calls = setup()
    for sid in ("A", "B"):
        applier.apply(graph.add_call(sid))
    applier.apply(graph.bridge("A", "B"))
    calls.clear()
    applier.apply(graph.remove_call("B"))
    applier.drop_call("B")
    assert calls == [] and mg.call_port("B") not in applier.ports and mg.call_port("A") in applier.ports


def test_a_failed_connect_raises_only_when_strict() -> None:
    applier, graph, calls = setup(fail_to=("call:B",))
    applier.apply(graph.add_call("A"))
    applier.apply(graph.add_call("B"))
    with pytest.raises(pj.Error):
        applier.apply(graph.bridge("A", "B"), strict=True)
    applier.apply(graph.unbridge("A", "B"))  # undo: the disconnects run, failures or not
    assert calls[-2:] == ["stop call:B->call:A", "stop call:A->call:B"]
    applier.apply(graph.bridge("A", "B"))  # not strict: logged, the rest applied
    assert calls[-1] == "start call:B->call:A"


def test_a_link_to_an_unknown_port_is_skipped() -> None:
    applier, graph, calls = setup()
    applier.apply(graph.add_call("A"))
    applier.apply(graph.play("A"))  # no player registered
    assert calls == ["start call:A->device"]
    assert applier.drop(mg.player("A")) is None
