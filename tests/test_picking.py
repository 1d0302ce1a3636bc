"""Arrival pickers (heggs.evaluate.picking): synthetic onsets, and analyst picks of the NCEDC demo set."""

from __future__ import annotations

import numpy as np
import pytest

from heggs.evaluate import picking
from heggs.evaluate.metrics import arrival_errors

FS = 100.0
N_RECORDS = 30  # a few dozen: the full-set figures come from `python -m heggs.evaluate.picking --validate`


def _synthetic_event(n=6000, tp=12.0, ts=18.0, seed=0):
    """Noise, then a P burst (strongest on Z) and an S burst (strongest on E/N), ENZ order."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    x = 0.05 * rng.standard_normal((3, n))
    for t0, amp, comps in ((tp, 1.0, (0.3, 0.3, 1.0)), (ts, 3.0, (1.0, 1.0, 0.3))):
        env = np.where(t >= t0, np.exp(-(t - t0) / 2.0), 0.0)
        for c in range(3):
            x[c] += amp * comps[c] * env * np.sin(2 * np.pi * 6.0 * t + rng.random() * 6.28) * (
                1 + 0.2 * rng.standard_normal(n)
            )
    return x


def test_classical_picker_on_synthetic_onset():
    x = np.stack([_synthetic_event(seed=s) for s in range(3)])
    picks = picking.pick_arrivals(x, FS, picker="classical")
    assert picks.p.shape == (3,) and picks.p_rate == 1.0
    np.testing.assert_allclose(picks.p, 12.0, atol=0.15)


def test_bad_arguments():
    x = np.zeros((1, 3, 1000))
    with pytest.raises(ValueError, match="unknown picker"):
        picking.pick_arrivals(x, FS, picker="gpd")
    with pytest.raises(ValueError, match="components"):
        picking.classical_picks(x, FS, component_order="12Z")


# ----------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def ncedc(shared_data):
    path = shared_data / "phasenet_ncedc_picks"
    if not (path / "waveform.csv").exists():
        pytest.skip(f"{path} not present")
    waves, itp, its, names = picking.load_ncedc_picks(path)
    sel = np.random.default_rng(0).permutation(len(names))[:N_RECORDS]
    crops, tp, ts = picking.random_crops(waves[sel], itp[sel], its[sel], 6000, (200, 3000), seed=0)
    return crops, tp / FS, ts / FS, (waves, itp)


def test_ncedc_loader_and_crops(ncedc):
    crops, tp, ts, (waves, itp) = ncedc
    assert waves.shape[1:] == (3, 9001) and len(waves) == len(itp)
    assert crops.shape == (N_RECORDS, 3, 6000)
    assert np.all(np.abs(crops).max(axis=-1) > 0)  # three live components
    assert np.all(np.isfinite(tp)) and np.all((tp >= 2.0) & (tp <= 30.0))
    assert np.std(tp) > 3.0  # P is not at a fixed sample
    assert np.all(ts > tp)


@pytest.mark.slow
def test_eqtransformer_against_analyst_picks(ncedc, seisbench_cache):
    crops, tp, ts, _ = ncedc
    picks = picking.pick_arrivals(crops, FS, picker="eqtransformer")  # conservative weights: fewer picks
    p = arrival_errors(picks.p, tp)
    s = arrival_errors(picks.s, ts)
    print(f"EQT P: median {p.median:.3f} s, rate {p.pick_rate_generated:.2f}; S: median {s.median:.3f} s, rate {s.pick_rate_generated:.2f}")
    assert p.median <= 0.1 and p.pick_rate_generated >= 0.75  # 23 of these 30; 86-88 % on the full set
    assert s.median <= 0.2 and s.pick_rate_generated >= 0.8


@pytest.mark.slow
def test_phasenet_and_classical_against_analyst_picks(ncedc, seisbench_cache):
    crops, tp, ts, _ = ncedc
    pn = picking.pick_arrivals(crops, FS, picker="phasenet")
    e = arrival_errors(pn.p, tp)
    assert e.median <= 0.1 and e.pick_rate_generated >= 0.9
    # the 0.03 s lateness of the converted weights is compensated: no bias left
    assert abs(np.nanmedian(pn.p - tp)) <= 0.015
    # (processed in chunks of 7 records: chunking must not change anything)
    raw = picking.pick_arrivals(crops, FS, picker="phasenet", time_shift_s=0.0, chunk_records=7)
    np.testing.assert_array_equal(np.isnan(raw.p), np.isnan(pn.p))
    np.testing.assert_allclose(raw.p - pn.p, 0.03, atol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(raw.s_prob, pn.s_prob)
    cl = picking.pick_arrivals(crops, FS, picker="classical")
    e = arrival_errors(cl.p, tp)
    assert e.median <= 0.2 and e.pick_rate_generated >= 0.8


def test_shifted_onset_gives_known_arrival_error(ncedc, seisbench_cache):
    """The same real record cropped d seconds earlier has its P d seconds later."""
    waves, itp = ncedc[3]
    # the record with the clearest P (largest post-/pre-P amplitude ratio), chosen by rule
    snr = [np.abs(w[:, p : p + 300]).max() / np.abs(w[:, p - 1000 : p - 50]).max() for w, p in zip(waves, itp)]
    i = int(np.argmax(snr))
    start = itp[i] - 1000  # P at 10 s
    shifts = np.array([0.5, 1.0, 1.5, 3.0])
    ref = waves[i : i + 1, :, start : start + 6000]
    moved = np.stack([waves[i, :, start - int(d * FS) : start - int(d * FS) + 6000] for d in shifts])
    p_ref = picking.pick_arrivals(ref, FS).p
    p_moved = picking.pick_arrivals(moved, FS).p
    err = arrival_errors(p_moved, np.repeat(p_ref, shifts.size))
    assert err.n == shifts.size
    # EQTransformer's picks jitter by a few samples with the window position
    np.testing.assert_allclose(p_moved - p_ref, shifts, atol=0.1)
    assert err.mae == pytest.approx(shifts.mean(), abs=0.05)


@pytest.mark.filterwarnings("ignore:Selected high corner frequency")
def test_short_and_resampled_records_are_handled(ncedc, seisbench_cache):
    crops, tp, _, _ = ncedc
    k = np.nonzero((tp > 12) & (tp < 25))[0][:4]
    # 30 s records are shorter than the 60 s EQTransformer window: padded, still picked
    short = np.stack([c[:, int(t * FS) - 1000 : int(t * FS) + 2000] for c, t in zip(crops[k], tp[k])])
    picks = picking.pick_arrivals(short, FS)
    np.testing.assert_allclose(picks.p, 10.0, atol=0.2)
    # 50 Hz input is resampled to the model rate; times stay in seconds
    from scipy.signal import resample_poly

    half = resample_poly(short, 1, 2, axis=-1)
    picks50 = picking.pick_arrivals(half, 50.0)
    np.testing.assert_allclose(picks50.p, 10.0, atol=0.2)



# ----------------------------------------------------------------------------- timing (shift test)

N_SHIFT = 40  # records of the shift test, as in picking.SHIFT_TEST_RESULTS


@pytest.mark.parametrize("picker,weights", [
    ("phasenet", "original"), ("classical", None),
    pytest.param("eqtransformer", "original", marks=pytest.mark.slow),  # the default EQTransformer weights
    pytest.param("eqtransformer", "original_nonconservative", marks=pytest.mark.slow),
])
def test_picks_follow_subsecond_shifts(ncedc, seisbench_cache, picker, weights):
    """Whole real records shifted by 0.05-0.95 s (their own pre-event noise shifted in) move the P
    and S picks by the shift: median |deviation| <= 0.02 s and >= 90 % within 0.05 s for a picker
    precise to the sample. Every picker `heggs evaluate --picker` offers is measured; the
    outcome must be the one recorded in SHIFT_TEST_RESULTS (which the timing guard uses)."""
    waves, itp = ncedc[3]
    sel = np.random.default_rng(0).permutation(len(itp))[:N_SHIFT]
    res = picking.shift_test(waves[sel], itp[sel], FS, picker, weights)
    p, s = res.stats("P"), res.stats("S")
    print(picker, weights, p, s)
    assert res.shifts_s.min() >= 0.05 and res.shifts_s.max() <= 0.95 and np.std(res.shifts_s) > 0.2
    known = picking.SHIFT_TEST_RESULTS[(picker, weights)]
    assert res.passes == known["passes"]
    assert p["median_abs_s"] == pytest.approx(known["p_median_s"], abs=0.006)
    assert p["within"] == pytest.approx(known["p_within"], abs=0.03)
    assert s["within"] == pytest.approx(known["s_within"], abs=0.03)
    if res.passes:
        for st in (p, s):
            assert st["n"] >= 0.85 * N_SHIFT and st["median_abs_s"] <= 0.02 and st["within"] >= 0.9


def test_default_picker_passes_and_the_guard_refuses_snapping_weights(seisbench_cache):
    import warnings

    from heggs.config import EvalConfig

    assert EvalConfig().picker == picking.DEFAULT_PICKER == "phasenet"
    assert picking.SHIFT_TEST_RESULTS[(picking.DEFAULT_PICKER, picking.DEFAULT_WEIGHTS["phasenet"])]["passes"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert picking.check_picker_timing("phasenet") is True
        assert picking.check_picker_timing("classical") is True
    with pytest.raises(ValueError, match="snaps P picks to whole seconds"):
        picking.check_picker_timing("eqtransformer", "original_nonconservative")
    with pytest.warns(UserWarning, match="forced"):
        assert picking.check_picker_timing("eqtransformer", "original_nonconservative", force=True) is False
    with pytest.warns(UserWarning, match="fails the sub-second shift test"):
        assert picking.check_picker_timing("eqtransformer") is False  # conservative EQT jitters by ±0.05 s


def test_guard_shift_tests_unrecorded_weights_on_synthetic_records(seisbench_cache, monkeypatch):
    """Weights without a recorded shift test are tested once per process on synthetic events."""
    import warnings

    waves, itp = picking.synthetic_events(4)
    assert waves.shape == (4, 3, 9000) and np.all((itp >= 2000) & (itp <= 5000))
    monkeypatch.setattr(picking, "SHIFT_TEST_RESULTS", {})
    picking._synthetic_shift_test.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert picking.check_picker_timing("classical") is True
    assert picking._synthetic_shift_test.cache_info().currsize == 1
    picking.check_picker_timing("classical")
    assert picking._synthetic_shift_test.cache_info().hits == 1
