"""Calibration on the fake engine: floors of the same-engine oracles, tolerances a multiple of the
largest floor, and the negative control: a shift of 10x the floor on the path each oracle guards
is flagged under the calibrated profile, while the clean engine gives no finding."""
import math

import pytest

from enginebugs.difftest.calibrate import MEASURE, calibrate_runs, round_up, tolerances, write_profile
from enginebugs.difftest.runner import Runner, RunOptions, parse_config
from enginebugs.difftest.suites import load_suite
from enginebugs.difftest.tolerances import load_profile
from tests.fake_engine import fake_model, in_process_factory, run_fake

CONFIGS = ["fake:f32", "fake:f32:prefill_chunk=3"]


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    def make():
        return Runner(fake_model(), [parse_config(c) for c in CONFIGS], load_suite("smoke"),
                      RunOptions(profile=MEASURE, progress=False, reference="fake:f32"),
                      client_factory=in_process_factory())
    measured = calibrate_runs(make, repeats=2)
    path = tmp_path_factory.mktemp("cal") / "tol.toml"
    values = write_profile(path, measured, 5.0, "default", "fake engine", "fake")
    return measured, values, path


def test_floors_and_tolerances(calibrated):
    measured, values, path = calibrated
    same = measured["same:f32@fake"]
    assert {"cache.kv_recompute", "cache.prefix_reuse", "cache.chunked_prefill", "batch.needle", "repeat"} <= set(same)
    assert same["repeat"]["max_abs_logprob_delta"] == 0.0  # the fake engine is deterministic
    floor = max(s.get("max_abs_logprob_delta", 0.0) for s in same.values())
    assert 0 < floor < 1e-4
    assert floor * 5 <= values["same:f32#fake"]["logprob_atol"] <= floor * 5.3
    kv = same["cache.kv_recompute"]["max_abs_logprob_delta"]
    assert kv * 5 <= values["same:f32@fake/cache.kv_recompute#fake"]["logprob_atol"] <= kv * 5.3
    profile = load_profile("default", path)
    assert profile.for_class("same:f32", "cache.kv_recompute", "fake", "fake").logprob_atol < 1e-4  # calibrated
    assert (profile.for_class("same:f32", "cache.kv_recompute", "other", "fake").logprob_atol
            == values["same:f32#fake"]["logprob_atol"])
    assert profile.for_class("same:f32", "cache.kv_recompute", "fake", "gemma").logprob_atol == 0.01  # not calibrated
    assert 'profiles.default."same:f32#fake"' in path.read_text() and "cache.kv_recompute" in path.read_text()
    assert load_profile("default", path).for_class("same:f32", model="fake").logprob_atol == values["same:f32#fake"]["logprob_atol"]


def test_round_up():
    assert round_up(1.234e-6) == pytest.approx(1.3e-6) and round_up(0.0) == 0.0 and round_up(5e-5) == pytest.approx(5e-5)
    assert tolerances({"same:f32@e": {"x": {}}})["same:f32"]["logprob_atol"] == 1e-5  # the minimum
    assert set(tolerances({"same:f32@e": {"x": {}}}, model="m")) == {"same:f32#m", "same:f32@e/x#m"}


@pytest.mark.parametrize("path, oracle", [("decode", "cache.kv_recompute"), ("batch", "batch.needle"),
                                          ("hot", "cache.prefix_reuse")])
def test_ten_times_the_floor_is_flagged_under_the_calibrated_profile(calibrated, path, oracle):
    measured, values, tol_file = calibrated
    floor = max(s.get("max_abs_logprob_delta", 0.0) for s in measured["same:f32@fake"].values())
    profile = load_profile("default", tol_file)
    fault = f"path_noise:f32:wraps=fake:path={path}:delta={10 * floor!r}"
    result = Runner(fake_model(), [parse_config(c) for c in ("fake:f32", fault)], load_suite("smoke"),
                    RunOptions(profile=profile, progress=False, reference="fake:f32"),
                    client_factory=in_process_factory()).run()
    flagged = {f.oracle: f for f in result.findings}
    assert oracle in flagged and flagged[oracle].root_cause == "incorrect-cache-management"
    assert not any(o.startswith("precision.") for o in flagged)  # far below the cross-engine tolerance
    # The shipped default profile (0.01 nats before calibration) would not see it at all ... unless calibrated.
    assert math.isfinite(profile.for_class("same:f32").kld_mean)


def test_clean_engine_gives_no_finding_under_the_calibrated_profile(calibrated):
    _, _, tol_file = calibrated
    profile = load_profile("default", tol_file)
    result = Runner(fake_model(), [parse_config(c) for c in CONFIGS], load_suite("smoke"),
                    RunOptions(profile=profile, progress=False, reference="fake:f32"),
                    client_factory=in_process_factory()).run()
    assert result.findings == []
