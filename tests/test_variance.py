"""Between-/within-event variance components (heggs.evaluate.variance) on residuals with known τ, φ."""

import numpy as np
import pytest

from heggs.evaluate.variance import variance_components, variance_components_ci


def _residuals(tau, phi, n_events=30, per_event=10, seed=0, mean=0.3):
    rng = np.random.default_rng(seed)
    events = np.repeat(np.arange(n_events), per_event)
    r = mean + rng.normal(0, tau, n_events)[events] + rng.normal(0, phi, events.size)
    return r, events.astype(str)


def test_recovers_known_tau_and_phi_within_sampling_error():
    taus, phis = [], []
    for seed in range(40):
        r, ev = _residuals(0.4, 0.6, seed=seed)
        v = variance_components(r, ev)
        taus.append(v.tau), phis.append(v.phi)
        assert v.n == 300 and v.n_events == 30
    # sampling sd of tau-hat with 30 events is ~0.06, of phi-hat with 270 dof ~0.026
    assert np.mean(taus) == pytest.approx(0.4, abs=0.03)
    assert np.mean(phis) == pytest.approx(0.6, abs=0.01)
    assert 0.03 < np.std(taus) < 0.1


def test_bootstrap_intervals_cover_the_truth_at_about_their_level():
    hits = {"tau": 0, "phi": 0, "sigma": 0}
    n_sets = 40
    for seed in range(n_sets):
        r, ev = _residuals(0.4, 0.6, seed=100 + seed)
        c = variance_components_ci(r, ev, n_boot=300, seed=seed)
        for key, truth in (("tau", 0.4), ("phi", 0.6), ("sigma", np.hypot(0.4, 0.6))):
            assert c[key]["low"] < c[key]["estimate"] < c[key]["high"]
            hits[key] += c[key]["low"] < truth < c[key]["high"]
        assert c["tau"]["n_events"] == 30
    for key, h in hits.items():  # nominal 95 %; a percentile bootstrap over 30 events runs a little low
        assert h / n_sets >= 0.8, (key, hits)


def test_all_within_event_gives_tau_near_zero():
    r, ev = _residuals(0.0, 0.6, seed=3)
    v = variance_components(r, ev)
    assert v.tau < 0.12
    assert v.phi == pytest.approx(0.6, abs=0.06)
    # all between-event: phi 0, tau the event spread
    r, ev = _residuals(0.5, 0.0, n_events=200, seed=4)
    v = variance_components(r, ev)
    assert v.phi == pytest.approx(0.0, abs=1e-6) and v.tau == pytest.approx(0.5, abs=0.06)


def test_unbalanced_nan_and_replicates():
    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 15, 60)
    ev = np.repeat(np.arange(60), sizes)
    r = rng.normal(0, 0.5, 60)[ev] + rng.normal(0, 0.4, ev.size)
    r[::17] = np.nan
    v = variance_components(r, ev)
    assert v.n == np.isfinite(r).sum()
    assert v.tau == pytest.approx(0.5, abs=0.15) and v.phi == pytest.approx(0.4, abs=0.05)
    # K replicates of the same records: the same estimate as one
    k = np.tile(np.arange(3), r.size)
    v3 = variance_components(np.repeat(r, 3), np.repeat(ev, 3), k)
    assert v3.tau == pytest.approx(v.tau) and v3.phi == pytest.approx(v.phi)


def test_degenerate_inputs():
    v = variance_components([0.1, 0.2], ["a", "a"])
    assert np.isnan(v.tau) and v.phi > 0
    assert np.isnan(variance_components([np.nan], ["a"]).tau)
    with pytest.raises(ValueError):
        variance_components([0.1, 0.2], ["a"])


def test_evaluate_rows_carry_psa_residuals_and_summary_tau_phi(tmp_path):
    """An oracle that returns the real record: the generated and the real τ, φ agree and the
    misfit ln(PGA_gen / PGA_real) has τ = φ = 0."""
    from heggs import config as C
    from heggs.evaluate.scoring import SIGMA_PERIODS_S, evaluate_generator, load_test_set, summarize
    from heggs.simulate.simulator import random_events, random_stations, simulate_store

    region = (35.0, 35.6, -117.4, -116.8)
    scfg = C.SimulateConfig(window=C.WindowConfig(length_s=30.0, sampling_rate_hz=50.0, band_max_hz=20.0),
                            split_fractions=(0.5, 0.0, 0.5))
    simulate_store(tmp_path / "store", random_events(8, region, mag_min=3.5, mag_max=4.5, seed=6, cfg=scfg),
                   random_stations(5, region, seed=6, cfg=scfg), scfg, seed=6, progress=False)
    test = load_test_set(tmp_path / "store", "test")

    class Same:
        units, uses_source, band_max_hz, name = "m/s2", True, 20.0, "same"

        def generate(self, test, targets, seeds, with_source, cfg):
            return test.waveforms[targets].copy()

    cfg = C.EvalConfig(n_records=2, picker="classical", n_boot=200, gmpe_models=("BSSA14",))
    nan = np.full(len(test), np.nan)
    rows = evaluate_generator(Same(), test, cfg, (nan, nan), progress=False).rows
    for t in SIGMA_PERIODS_S:
        g, r = rows[f"gmpe_BSSA14_psa{t:g}_gen"], rows[f"gmpe_BSSA14_psa{t:g}_real"]
        assert np.isfinite(g).all() and np.allclose(g, r)
        assert abs(np.mean(g)) < 3  # same order as the GMPE (the simulator is calibrated to BSSA14)
    for mode, s in summarize(rows, cfg).items():
        for im in ("pga", "psa0.1", "psa0.3", "psa1"):
            for q in ("tau", "phi"):
                gen, real = s[f"{q}_{im}_BSSA14_gen"], s[f"{q}_{im}_BSSA14_real"]
                assert gen["estimate"] == pytest.approx(real["estimate"], abs=1e-9), (mode, im, q)
                assert np.isfinite(gen["estimate"]) and gen["low"] <= gen["estimate"] <= gen["high"]
        assert s["phi_pga_BSSA14_real"]["estimate"] > 0.05
        assert s["tau_ln_pga"]["estimate"] == pytest.approx(0.0, abs=1e-9)
        assert s["phi_ln_pga"]["estimate"] == pytest.approx(0.0, abs=1e-9)
