"""Waveform validity checks (heggs.evaluate.validity): clean records pass, each defect fails
exactly its own check. Clean records come from the stochastic simulator (band-limited, exact
physics); the defects are the ones seen in the first model's records (docs/metrics.md)."""

from __future__ import annotations

import numpy as np
import pytest

from heggs.evaluate import validity as V
from heggs.simulate.simulator import simulate_records

FS, HOP = 100.0, 64


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    rng = np.random.default_rng(0)
    n = 12
    w, _ = simulate_records(35.0, -117.0, 8.0, rng.uniform(3, 6, n), 35.0 + rng.uniform(0.05, 1.0, n), -117.0,
                            seeds=range(n))
    return w.astype(np.float64)


def _check(x, **kw) -> dict[str, float]:
    return V.validity_checks(x, FS, 1.0, 45.0, HOP, **kw).fractions()


def test_clean_records_pass_everything(clean):
    assert _check(clean) == {"mean": 1.0, "band": 1.0, "edges": 1.0, "comb": 1.0, "drift": 1.0, "all": 1.0}


def test_constant_offset_fails_mean_only(clean):
    pga = np.abs(clean).max(-1, keepdims=True)
    f = _check(clean + 0.03 * pga)
    assert f["mean"] == 0.0 and f["comb"] == 1.0 and f["edges"] == 1.0


def test_frame_rate_comb_fails_comb(clean):
    t = np.arange(clean.shape[-1]) / FS
    comb = sum(np.cos(2 * np.pi * k * FS / HOP * t) for k in range(1, 28))
    pga = np.abs(clean).max(-1, keepdims=True)
    f = _check(clean + 0.05 * pga * comb / np.abs(comb).max())
    assert f["comb"] == 0.0
    # a comb at another rate is not this check's business
    other = sum(np.cos(2 * np.pi * k * 1.13 * t) for k in range(1, 28))
    assert _check(clean + 0.05 * pga * other / np.abs(other).max())["comb"] == 1.0


def test_sub_band_wander_fails_band_and_drift(clean):
    t = np.arange(clean.shape[-1]) / FS
    pga = np.abs(clean).max(-1, keepdims=True)
    f = _check(clean + 0.3 * pga * np.sin(2 * np.pi * 0.2 * t))
    assert f["band"] == 0.0 and f["drift"] == 0.0 and f["mean"] == 1.0


def test_edge_jump_fails_edges_unless_the_valid_range_ends_there(clean):
    x = clean.copy()
    x[..., -1] = 3 * np.abs(clean).max(-1)
    assert _check(x)["edges"] == 0.0
    n = x.shape[-1]
    y = clean.copy()
    y[..., n - 1000] = 3 * np.abs(clean).max(-1)  # peak right where a truncated target ends
    assert _check(y, valid_end=n - 1000)["edges"] == 1.0
    z = clean.copy()
    z[..., 0] = 3 * np.abs(clean).max(-1)
    assert _check(z)["edges"] == 0.0


def test_drift_ignores_a_coda_cut_by_the_window():
    # M 6 at 120-135 km: S arrives at ~35 s and the window ends while the ground still shakes;
    # removing the whole-window mean (as a careless processing would) puts a trend before P
    n = 6
    w, _ = simulate_records(35.0, -117.0, 8.0, 6.0, 35.0 + np.linspace(1.08, 1.22, n), -117.0, seeds=range(n))
    x = w.astype(np.float64)
    x = x - x.mean(-1, keepdims=True)
    ratio, ok = V.velocity_drift(x, 1 / FS, 1.0)
    assert ok.all(), ratio.max()


def test_shapes_and_bad_input():
    ratio, ok = V.mean_offset(np.ones((2, 3, 100)))
    assert ratio.shape == ok.shape == (2, 3) and not ok.any()
    with pytest.raises(ValueError, match="samples"):
        V.mean_offset(np.ones(3))
    with pytest.raises(ValueError, match="n_components"):
        V.validity_checks(np.ones((3, 100)), FS, 1.0, 45.0, HOP)
