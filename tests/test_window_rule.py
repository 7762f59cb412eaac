"""The window/hop default rule is one rule: the client's plan (which its reconnects resume by) is the server's."""

from __future__ import annotations

import pytest

from speechsense.client.options import ClientOptions
from speechsense.client.session import resolve_plan as client_plan
from speechsense.server.messages import window_plan as server_plan
from speechsense.v1 import emotion_pb2 as pb
from speechsense.windowing import DEFAULT_HOP_SECONDS, WindowPlan


def resolve_plan(window: float, hop: float, model_window: float, model_hop: float) -> tuple[float, float]:
    plan = WindowPlan.resolve(window, hop, model_window, model_hop)
    return plan.window_seconds, plan.hop_seconds


@pytest.mark.parametrize("window", [0.0, 0.5, 2.0, 3.0])
@pytest.mark.parametrize("hop", [0.0, 0.25, 0.5])
@pytest.mark.parametrize("model_hop", [0.0, 0.5, 1.5])
def test_client_and_server_resolve_the_same_plan(window, hop, model_hop):
    model_window = 3.0
    server = server_plan(pb.WindowSpec(window_seconds=window, hop_seconds=hop), model_window, model_hop)
    info = pb.GetModelInfoResponse(window_seconds=model_window, default_hop_seconds=model_hop)
    client = client_plan(ClientOptions(window_seconds=window, hop_seconds=hop), info)
    assert (client.window_seconds, client.hop_seconds) == pytest.approx((server.window_seconds, server.hop_seconds))


def test_the_default_hop_is_capped_at_the_window():
    assert resolve_plan(0.0, 0.0, 3.0, 0.0) == (3.0, DEFAULT_HOP_SECONDS)
    assert resolve_plan(0.5, 0.0, 3.0, 0.0) == (0.5, 0.5)
    assert resolve_plan(0.0, 0.0, 3.0, 1.5) == (3.0, 1.5)
    assert resolve_plan(2.0, 0.25, 3.0, 1.5) == (2.0, 0.25)
