"""The session rule has one definition: the server's live Calibrator and training's simulated sessions give
every window the same baseline, and both read the rule a model file carries the same way."""

from __future__ import annotations

import numpy as np
import pytest

from speechsense.calibration import SessionRule, session_baselines, session_rule
from speechsense.server import calibration as server_calibration
from speechsense.training.linear import calibration_eval
from speechsense.v1 import emotion_pb2 as pb


@pytest.mark.parametrize("rule", [SessionRule(40, 0.1), SessionRule(1, 1.0), SessionRule(5.5, 0.5)],
                         ids=lambda r: r.name)
def test_the_server_and_training_give_each_window_of_a_session_the_same_baseline(rule: SessionRule):
    z = np.random.default_rng(7).standard_normal((120, 16)).astype(np.float32)
    calibrator = server_calibration.Calibrator(pb.CALIBRATION_SESSION, z.shape[1], rule=rule)
    live = []
    for row in z:
        baseline = calibrator.baseline()
        live.append(np.zeros(z.shape[1], np.float32) if baseline is None else baseline.values)
        calibrator.observe(row)
    np.testing.assert_allclose(np.stack(live), session_baselines(z, rule), rtol=1e-5, atol=1e-6)
    assert calibrator.adapts


def test_server_and_training_use_the_one_rule_class_and_name():
    assert server_calibration.SessionRule is SessionRule is calibration_eval.SessionRule
    assert SessionRule(40, 0.1).name == "prior40-cap0.1"


def test_a_files_calibration_metadata_gives_its_rule_or_none():
    assert session_rule({"session": {"prior_windows": 40, "max_weight": 0.1}}) == SessionRule(40.0, 0.1)
    assert session_rule({}) is None


@pytest.mark.parametrize(("prior", "cap"), [(0.5, 0.1), (40, 0.0), (40, 1.5)])
def test_a_rule_outside_its_range_is_refused(prior, cap):
    with pytest.raises(ValueError, match="session calibration needs"):
        SessionRule(prior, cap)
