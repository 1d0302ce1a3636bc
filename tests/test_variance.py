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
