"""Picker-free onsets (heggs.evaluate.onset): synthetic cases, exact simulated arrivals and
analyst picks; the stated errors of docs/metrics.md are pinned loosely."""

import numpy as np
import pytest

from heggs.evaluate.onset import onset_errors, onsets, p_onset, s_onset, validate_real, validate_simulated


def _burst(n, fs, t0, dur, amp, rng, comps=(1.0, 1.0, 1.0)):
    x = np.zeros((3, n))
    k0, k1 = int(t0 * fs), int((t0 + dur) * fs)
    for c, a in enumerate(comps):
        x[c, k0:k1] = amp * a * rng.standard_normal(k1 - k0) * np.exp(-np.arange(k1 - k0) / (fs * dur / 3))
    return x


def test_step_onsets_on_a_synthetic_record():
    rng = np.random.default_rng(0)
    fs, n = 100.0, 6000
    x = 0.01 * rng.standard_normal((1, 3, n))
    x[0] += _burst(n, fs, 10.0, 5.0, 1.0, rng, comps=(0.2, 0.2, 1.0))   # P: mostly vertical
    x[0] += _burst(n, fs, 18.0, 15.0, 5.0, rng, comps=(1.0, 1.0, 0.3))  # S: mostly horizontal
    p, s = onsets(x, fs, "ENZ")
    assert abs(p[0] - 10.0) < 0.4
    assert abs(s[0] - 18.0) < 0.4


def test_shift_moves_onsets_and_zero_record_gives_nan():
    rng = np.random.default_rng(1)
    fs, n = 50.0, 3000
    x = 0.01 * rng.standard_normal((1, 3, n)) + _burst(n, fs, 20.0, 8.0, 1.0, rng)[None]
    shifted = np.roll(x, int(5 * fs), axis=-1)
    assert p_onset(shifted, fs)[0] - p_onset(x, fs)[0] == pytest.approx(5.0, abs=0.05)
    zero = np.zeros((2, 3, n))
    assert np.isnan(p_onset(zero, fs)).all() and np.isnan(s_onset(zero, fs)).all()
    assert np.isnan(s_onset(x, fs, p_s=np.array([np.nan])))[0]


def test_shapes_are_checked():
    with pytest.raises(ValueError):
        p_onset(np.zeros((3, 100)), 100.0)
    with pytest.raises(ValueError):
        s_onset(np.zeros((1, 3, 100)), 100.0, components="Z")


def test_onset_errors():
    e = onset_errors(np.array([1.0, 2.5, np.nan, 4.0]), np.array([1.0, 2.0, 3.0, np.nan]))
    assert e["n"] == 3 and e["detection_rate"] == pytest.approx(2 / 3)
    assert e["mae_s"] == pytest.approx(0.25) and e["median_signed_s"] == pytest.approx(0.25)


def test_stated_error_on_simulated_records():
    """docs/metrics.md: P MAE 0.11 s, S MAE 0.08 s against the exact arrivals (300 records)."""
    r = validate_simulated(120, seed=3)
    for ph, med, mae in (("P", 0.3, 0.5), ("S", 0.3, 1.0)):
        assert r[ph]["detection_rate"] >= 0.98, (ph, r[ph])
        assert r[ph]["median_abs_s"] <= med, (ph, r[ph])
        assert r[ph]["mae_s"] <= mae, (ph, r[ph])


def test_stated_error_on_real_records_with_analyst_picks(shared_data):
    """docs/metrics.md: on the 115 NCEDC crops P median |error| 0.15 s, S 0.12 s."""
    r = validate_real(shared_data / "phasenet_ncedc_picks")
    assert r["P"]["n"] == 115
    assert r["P"]["median_abs_s"] <= 0.3 and r["S"]["median_abs_s"] <= 0.3
    assert r["P"]["mae_s"] <= 3.0 and r["S"]["mae_s"] <= 1.5
    assert r["P"]["detection_rate"] >= 0.95 and r["S"]["detection_rate"] >= 0.95


# ----------------------------------------------------------------------------- in heggs evaluate


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """8 events x 5 stations, 30 s at 50 Hz, 1-20 Hz, exact arrivals; 50/0/50 split by event."""
    from heggs import config as C
    from heggs.simulate.simulator import random_events, random_stations, simulate_store

    region = (35.0, 35.6, -117.4, -116.8)
    cfg = C.SimulateConfig(window=C.WindowConfig(length_s=30.0, sampling_rate_hz=50.0, band_max_hz=20.0),
                           split_fractions=(0.5, 0.0, 0.5))
    root = tmp_path_factory.mktemp("onsetstore")
    simulate_store(root / "store", random_events(8, region, mag_min=3.5, mag_max=4.5, seed=5, cfg=cfg),
                   random_stations(5, region, seed=5, cfg=cfg), cfg, seed=5, progress=False)
    return root / "store"


class Delayed:
    """The real target delayed by ``shift_s`` (pre-event noise shifted in, time-reversed)."""

    units, uses_source, band_max_hz, name = "m/s2", False, 20.0, "delayed"

    def __init__(self, shift_s):
        self.shift_s = shift_s

    def generate(self, test, targets, seeds, with_source, cfg):
        w = test.waveforms[targets].copy()
        k = int(round(self.shift_s * test.sampling_rate_hz))
        return np.concatenate([w[..., :k][..., ::-1], w[..., :-k]], axis=-1)


def test_onset_columns_see_a_known_delay(small_store):
    from heggs import config as C
    from heggs.evaluate.scoring import evaluate_generator, load_test_set, summarize

    test = load_test_set(small_store, "test")
    cfg = C.EvalConfig(n_records=1, picker="classical", n_boot=200, gmpe_models=("BSSA14",), modes=("without_source",))
    nan = np.full(len(test), np.nan)
    rows = evaluate_generator(Delayed(1.5), test, cfg, (nan, nan), progress=False).rows
    for ph in "ps":
        err = rows[f"{ph}_onset_err_s"].to_numpy(float)
        assert np.isfinite(err).mean() > 0.9
        assert np.nanmedian(err) == pytest.approx(1.5, abs=0.1), ph
        # the real records' onsets against the exact arrivals of the simulated store
        assert np.nanmedian(np.abs(rows[f"{ph}_onset_real_err_store_s"])) < 0.5, ph
        np.testing.assert_allclose(rows[f"{ph}_onset_err_store_s"] - rows[f"{ph}_onset_real_err_store_s"], err)
    s = summarize(rows, cfg)["without_source"]
    assert s["p_onset_median_abs_s"]["estimate"] == pytest.approx(1.5, abs=0.1)
    assert s["p_onset_rate"]["estimate"] > 0.9
    assert s["p_onset_real_mae_store_s"]["estimate"] < 0.5
    assert s["p_onset_mae_store_s"]["low"] <= s["p_onset_mae_store_s"]["estimate"] <= s["p_onset_mae_store_s"]["high"]
