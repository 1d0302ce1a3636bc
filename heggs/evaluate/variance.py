"""Stage: evaluation metrics — between-event and within-event variability of log residuals.

A residual of a record against a ground-motion model, ``r = ln(IM / GMPE median)``, is split
as in every GMPE regression (Abrahamson & Youngs 1992; Al Atik et al. 2010) into

    r_ej = c + δB_e + δW_ej,   δB_e ~ N(0, τ²) (event term),  δW_ej ~ N(0, φ²) (within-event)

with events e and records j. τ says how much whole events differ from the model (stress drop,
in a simulated store by construction); φ how much records of one event differ (path, site,
radiation, noise). The estimator is the random-effects one-way ANOVA (method of moments,
unbalanced; Searle et al. 1992, ch. 3), which is unbiased and needs no iteration:

    φ² = SSW / (N − I),   τ² = max(0, (SSB / (I − 1) − φ²) / n₀),   n₀ = (N − Σ n_e² / N) / (I − 1)

(SSW: squares about each event's mean; SSB: n_e-weighted squares of the event means about the
grand mean; N records in I events). Confidence intervals resample EVENTS (percentile bootstrap,
as :func:`heggs.evaluate.metrics.bootstrap_ci`). A generator evaluated with several records per
target (``sample`` k = 0..K−1) is decomposed once per k — each k is one record per station, like
the real records — and the variances are averaged over k before the square root.

What the evaluation reports with it (docs/metrics.md, "Between- and within-event sigma"): τ and
φ of ``ln(PGA / median)`` and of ``ln(PSA(T) / median)`` of the real records and of each
generator's records with and without a source, and τ, φ of the misfit ``ln(PGA_gen / PGA_real)``
(a source record that carries its event term makes the misfit's τ small).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["VarianceComponents", "variance_components", "variance_components_ci"]


@dataclass
class VarianceComponents:
    """τ (between-event) and φ (within-event) standard deviations, in the residuals' unit
    (natural log units for ln residuals), the total σ = sqrt(τ² + φ²), the grand mean c and the
    numbers of records and events used."""

    tau: float
    phi: float
    sigma: float
    mean: float
    n: int
    n_events: int


def _event_stats(values: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per event: count, sum and sum of squares of the finite values."""
    ok = np.isfinite(values)
    _, inv = np.unique(events[ok], return_inverse=True)
    v = values[ok]
    return (np.bincount(inv).astype(np.float64), np.bincount(inv, weights=v), np.bincount(inv, weights=v * v))


def _anova(n: np.ndarray, s: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """τ², φ², grand mean from event counts n, sums s, sums of squares q; (..., I) -> (...).
    NaN where fewer than 2 events or no within-event degree of freedom."""
    N = n.sum(-1)
    I = (n > 0).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s.sum(-1) / N
        ssw = (q - np.where(n > 0, s * s / np.where(n > 0, n, 1.0), 0.0)).sum(-1)
        ssb = np.where(n > 0, s * s / np.where(n > 0, n, 1.0), 0.0).sum(-1) - N * mean**2
        phi2 = np.where(N - I > 0, ssw / (N - I), np.nan)
        n0 = (N - (n * n).sum(-1) / N) / (I - 1)
        tau2 = np.where(I > 1, np.maximum(0.0, (ssb / (I - 1) - phi2) / n0), np.nan)
    return tau2, np.maximum(phi2, 0.0), mean


def variance_components(residuals, events, replicates=None) -> VarianceComponents:
    """τ and φ of ``residuals`` grouped by ``events`` (module docstring).

    residuals : (n,) e.g. ln(PGA / median); NaN values are left out
    events : (n,) event label of each value (e.g. ``source_id``)
    replicates : (n,) optional replicate label (e.g. the generated record index k): each
        replicate is decomposed on its own and τ², φ² are averaged over replicates
    """
    r = np.asarray(residuals, dtype=np.float64).ravel()
    e = np.asarray(events).ravel()
    k = np.zeros(r.size, dtype=int) if replicates is None else np.asarray(replicates).ravel()
    if not r.size == e.size == k.size:
        raise ValueError(f"residuals {r.shape}, events {e.shape} and replicates {k.shape} differ in length")
    t2, p2, m = [], [], []
    for rep in np.unique(k):
        sel = k == rep
        if not np.isfinite(r[sel]).any():
            continue
        a, b, c = _anova(*_event_stats(r[sel], e[sel]))
        t2.append(a), p2.append(b), m.append(c)
    ok = np.isfinite(r)
    if not t2:
        nan = float("nan")
        return VarianceComponents(nan, nan, nan, nan, 0, 0)
    tau2, phi2 = float(np.mean(t2)), float(np.mean(p2))
    return VarianceComponents(float(np.sqrt(tau2)), float(np.sqrt(phi2)), float(np.sqrt(tau2 + phi2)),
                              float(np.mean(m)), int(ok.sum()), int(len(np.unique(e[ok]))))


def variance_components_ci(residuals, events, replicates=None, n_boot: int = 1000, level: float = 0.95,
                           seed: int = 0) -> dict[str, dict[str, float]]:
    """:func:`variance_components` with percentile bootstrap intervals over events.

    Each replicate draws as many events as there are, with replacement (an event drawn twice
    counts as two events). Returns ``{"tau": {...}, "phi": {...}, "sigma": {...}}``, each
    ``{estimate, low, high, n, n_events}`` (the :func:`heggs.evaluate.scoring.summarize` form).
    """
    r = np.asarray(residuals, dtype=np.float64).ravel()
    e = np.asarray(events).ravel()
    k = np.zeros(r.size, dtype=int) if replicates is None else np.asarray(replicates).ravel()
    est = variance_components(r, e, k)
    keys = ("tau", "phi", "sigma")
    out = {key: {"estimate": getattr(est, key), "low": float("nan"), "high": float("nan"), "n": est.n,
                 "n_events": est.n_events} for key in keys}
    ok = np.isfinite(r)
    if est.n_events < 2:
        return out
    labels, inv = np.unique(e[ok], return_inverse=True)
    reps = np.unique(k[ok])
    # per replicate and event: count, sum, sum of squares -> (R, I)
    stats = np.zeros((3, len(reps), len(labels)))
    for j, rep in enumerate(reps):
        sel = k[ok] == rep
        v = r[ok][sel]
        stats[0, j] = np.bincount(inv[sel], minlength=len(labels))
        stats[1, j] = np.bincount(inv[sel], weights=v, minlength=len(labels))
        stats[2, j] = np.bincount(inv[sel], weights=v * v, minlength=len(labels))
    draws = np.random.default_rng(seed).integers(0, len(labels), size=(int(n_boot), len(labels)))
    n_, s_, q_ = (st[:, draws].transpose(1, 0, 2) for st in stats)  # (B, R, I)
    tau2, phi2, _ = _anova(n_, s_, q_)
    with np.errstate(invalid="ignore"):
        tau2, phi2 = np.nanmean(tau2, axis=1), np.nanmean(phi2, axis=1)
    boot = {"tau": np.sqrt(tau2), "phi": np.sqrt(phi2), "sigma": np.sqrt(tau2 + phi2)}
    alpha = 100 * (1.0 - level) / 2.0
    for key in keys:
        b = boot[key][np.isfinite(boot[key])]
        if b.size:
            out[key]["low"], out[key]["high"] = (float(x) for x in np.percentile(b, [alpha, 100 - alpha]))
    return out
