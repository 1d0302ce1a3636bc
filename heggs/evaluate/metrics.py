"""Stage: evaluation metrics — waveform, envelope, spectrogram and intensity measures.

Plain functions comparing generated and real records (the metrics of the HEGGS paper plus the
usual engineering intensity measures), numpy arrays in, numbers/arrays out, time on the LAST
axis and any leading axes (records, components) kept: ``(n, 3, n_samples)`` gives ``(n, 3)``.
Spectral measures (Fourier spectra, response spectra, RotD50, Brune corner frequency) are in
:mod:`heggs.evaluate.spectra`, arrival picking in :mod:`heggs.evaluate.picking`, GMPE comparisons in
:mod:`heggs.evaluate.gmpe`. Every definition, with formulas and units, is written down in
docs/metrics.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import signal
from scipy.integrate import cumulative_trapezoid

__all__ = [
    "G",
    "pga",
    "pgv",
    "velocity",
    "log_residual",
    "envelope",
    "envelope_correlation",
    "snr_db",
    "psnr_db",
    "spectrogram",
    "spectrogram_mse",
    "arias_intensity",
    "husid",
    "significant_duration",
    "ArrivalErrors",
    "arrival_errors",
    "BootstrapCI",
    "bootstrap_ci",
]

#: standard gravity, m/s² (used for Arias intensity and PGA in g)
G = 9.80665


def _pair(gen, real, name: str = "generated/real") -> tuple[np.ndarray, np.ndarray]:
    gen = np.asarray(gen, dtype=np.float64)
    real = np.asarray(real, dtype=np.float64)
    if gen.shape != real.shape:
        raise ValueError(f"{name} shapes differ: {gen.shape} vs {real.shape}")
    if gen.ndim == 0 or gen.shape[-1] < 2:
        raise ValueError(f"need at least 2 samples on the last (time) axis, got shape {gen.shape}")
    return gen, real


def _signal(x, name: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] < 2:
        raise ValueError(f"{name} needs at least 2 samples on its last (time) axis, got shape {x.shape}")
    return x


def check_dt(dt: float) -> float:
    """``dt`` as a float, or ValueError unless it is a positive sample interval (s)."""
    dt = float(dt)
    if not dt > 0:
        raise ValueError(f"dt must be a positive sample interval in seconds, got {dt}")
    return dt


# ----------------------------------------------------------------------------- peak motions


def pga(acc) -> np.ndarray:
    """Peak ground acceleration ``max_t |a(t)|`` per trace.

    acc : (..., n_samples) acceleration, m/s²  ->  (...) m/s² (divide by :data:`G` for g).
    For the orientation-independent horizontal PGA used by GMPEs (RotD50) use
    ``heggs.evaluate.spectra.rotd_peak(acc[..., :2, :], percentiles=(50,))``.
    """
    return np.abs(_signal(acc, "acc")).max(axis=-1)


def pgv(acc, dt: float) -> np.ndarray:
    """Peak ground velocity from acceleration by trapezoidal integration (v(0) = 0).

    The record is assumed band-limited (the store band-passes 1–45 Hz), so no further filter
    is applied; the mean of the acceleration is removed first so that a DC offset does not
    integrate into a ramp.

    acc : (..., n_samples) m/s²;  dt : s  ->  (...) m/s
    """
    return np.abs(velocity(acc, dt)).max(axis=-1)


def velocity(acc, dt: float) -> np.ndarray:
    """Ground velocity from acceleration as :func:`pgv` integrates it: mean removed, then the
    trapezoid rule from v(0) = 0.

    acc : (..., n_samples) m/s²;  dt : s  ->  (..., n_samples) m/s
    """
    acc = _signal(acc, "acc")
    acc = acc - acc.mean(axis=-1, keepdims=True)
    return cumulative_trapezoid(acc, dx=check_dt(dt), axis=-1, initial=0.0)


def log_residual(generated, real) -> np.ndarray:
    """Natural-log residual ``ln(generated / real)`` of positive intensity measures.

    generated, real : (...) same unit (PGA, PGV, PSA …)  ->  (...) dimensionless; 0 = equal,
    +0.69 = generated twice as large. Non-positive values give NaN.
    """
    g = np.asarray(generated, dtype=np.float64)
    r = np.asarray(real, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(g) - np.log(r)
    return np.where((g > 0) & (r > 0), out, np.nan)


# ----------------------------------------------------------------------------- envelopes


def envelope(x) -> np.ndarray:
    """Hilbert envelope ``|x + i H[x]|`` along the last axis; same shape and unit as ``x``."""
    return np.abs(signal.hilbert(_signal(x), axis=-1))


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    num = (a * b).sum(axis=-1)
    den = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def envelope_correlation(generated, real, smooth_s: float = 0.0, dt: float | None = None) -> np.ndarray:
    """Pearson correlation of the Hilbert envelopes of generated and real traces.

    Parameters
    ----------
    generated, real : (..., n_samples) same unit (any; the correlation is scale-free)
    smooth_s : optional moving-average length applied to both envelopes, s (needs ``dt``);
        0 = raw envelopes (the paper's definition)
    dt : s, only used with ``smooth_s``

    Returns
    -------
    (...) in [-1, 1]; 1 for identical traces; NaN where an envelope is constant.
    """
    gen, real = _pair(generated, real)
    eg, er = envelope(gen), envelope(real)
    if smooth_s > 0:
        if dt is None:
            raise ValueError("envelope_correlation: smooth_s needs dt")
        from scipy.ndimage import uniform_filter1d

        n = max(1, int(round(smooth_s / check_dt(dt))))
        eg = uniform_filter1d(eg, n, axis=-1, mode="nearest")
        er = uniform_filter1d(er, n, axis=-1, mode="nearest")
    return _pearson(eg, er)


# ----------------------------------------------------------------------------- SNR / PSNR


def snr_db(generated, real) -> np.ndarray:
    """Signal-to-noise ratio of a generated trace against the real one, dB.

    ``SNR = 10 log10( Σ real² / Σ (generated − real)² )``, the real trace being the signal and
    the difference the noise. +inf for identical traces.

    generated, real : (..., n_samples) same unit  ->  (...) dB
    """
    gen, real = _pair(generated, real)
    sig = (real**2).sum(axis=-1)
    err = ((gen - real) ** 2).sum(axis=-1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(sig) - 10.0 * np.log10(err)


def psnr_db(generated, real) -> np.ndarray:
    """Peak signal-to-noise ratio, dB: ``PSNR = 10 log10( max|real|² / mean((generated − real)²) )``.

    generated, real : (..., n_samples) same unit  ->  (...) dB; +inf for identical traces.
    """
    gen, real = _pair(generated, real)
    peak = np.abs(real).max(axis=-1) ** 2
    mse = ((gen - real) ** 2).mean(axis=-1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(peak) - 10.0 * np.log10(mse)


# ----------------------------------------------------------------------------- spectrograms


def spectrogram(x, fs: float, nperseg: int = 256, noverlap: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """STFT amplitude spectrogram ``|STFT|`` (Hann window, scipy.signal.stft scaling).

    x : (..., n_samples);  fs : Hz  ->  freqs (F,) Hz, times (T,) s, amplitude (..., F, T)
    in the unit of ``x``.
    """
    x = _signal(x)
    if not fs > 0:
        raise ValueError(f"fs must be positive, got {fs}")
    nperseg = min(int(nperseg), x.shape[-1])
    noverlap = nperseg * 3 // 4 if noverlap is None else int(noverlap)
    f, t, z = signal.stft(x, fs=fs, window="hann", nperseg=nperseg, noverlap=noverlap, axis=-1)
    return f, t, np.abs(z)


def spectrogram_mse(
    generated,
    real,
    fs: float,
    scale: str = "log",
    nperseg: int = 256,
    noverlap: int | None = None,
    dynamic_range_db: float = 80.0,
    compression: float = 0.3,
    fmax: float | None = None,
) -> np.ndarray:
    """Mean squared difference of generated and real spectrograms, per trace.

    ``scale="log"`` (default): ``L = log10(max(|S|, floor))`` with the floor
    ``max|S_real| · 10^(−dynamic_range_db/20)`` shared by both traces (so silence in both is
    not rewarded or punished beyond the floor); MSE in (log10 amplitude)² — a factor-10
    amplitude error everywhere gives 1, a factor 2 gives 0.09.
    ``scale="compressed"``: ``C = (|S| / max|S_real|)^compression`` (the power-law compressed
    magnitude of the model's representation), MSE dimensionless; amplitude errors and shape
    errors both count, bounded for silent regions.

    Parameters
    ----------
    generated, real : (..., n_samples) same unit;  fs : Hz
    nperseg, noverlap : STFT segment and overlap (default 75 %) in samples
    fmax : ignore frequencies above this (e.g. the record's band limit), Hz

    Returns
    -------
    (...) mean over frequencies (≤ fmax) and frames; 0 for identical traces.
    """
    gen, real = _pair(generated, real)
    f, _, sg = spectrogram(gen, fs, nperseg, noverlap)
    _, _, sr = spectrogram(real, fs, nperseg, noverlap)
    if fmax is not None:
        keep = f <= fmax
        sg, sr = sg[..., keep, :], sr[..., keep, :]
    ref = sr.max(axis=(-2, -1), keepdims=True)
    ref = np.where(ref > 0, ref, 1.0)
    if scale == "log":
        floor = ref * 10.0 ** (-dynamic_range_db / 20.0)
        a, b = np.log10(np.maximum(sg, floor)), np.log10(np.maximum(sr, floor))
    elif scale == "compressed":
        a, b = (sg / ref) ** compression, (sr / ref) ** compression
    else:
        raise ValueError(f"scale must be 'log' or 'compressed', got {scale!r}")
    return ((a - b) ** 2).mean(axis=(-2, -1))


# ----------------------------------------------------------------------------- Arias, duration


def arias_intensity(acc, dt: float) -> np.ndarray:
    """Arias intensity ``Ia = π / (2g) ∫ a(t)² dt`` (trapezoid rule).

    acc : (..., n_samples) m/s²;  dt : s  ->  (...) m/s
    """
    acc = _signal(acc, "acc")
    return np.pi / (2.0 * G) * np.trapezoid(acc**2, dx=check_dt(dt), axis=-1)


def husid(acc, dt: float) -> np.ndarray:
    """Normalised Husid curve ``H(t) = ∫_0^t a² / ∫_0^T a²`` (0 → 1), shape of ``acc``."""
    acc = _signal(acc, "acc")
    cum = cumulative_trapezoid(acc**2, dx=check_dt(dt), axis=-1, initial=0.0)
    total = cum[..., -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, cum / np.where(total > 0, total, 1.0), np.nan)


def significant_duration(acc, dt: float, start: float = 0.05, end: float = 0.95) -> np.ndarray:
    """Significant duration, s: time between Husid levels ``start`` and ``end`` (D5-95 default).

    Crossing times are interpolated linearly between samples.
    acc : (..., n_samples) m/s²  ->  (...) s; NaN for an all-zero trace.
    """
    if not 0 <= start < end <= 1:
        raise ValueError(f"need 0 <= start < end <= 1, got {start}, {end}")
    h = husid(acc, dt)
    flat = h.reshape(-1, h.shape[-1])
    t = np.arange(h.shape[-1]) * dt
    out = np.full(flat.shape[0], np.nan)
    for i, row in enumerate(flat):
        if np.isnan(row[-1]):
            continue
        # H is non-decreasing: np.interp inverts it (ties resolved to the first crossing)
        t0 = np.interp(start, row, t)
        t1 = np.interp(end, row, t)
        out[i] = t1 - t0
    return out.reshape(h.shape[:-1])


# ----------------------------------------------------------------------------- arrival errors


@dataclass
class ArrivalErrors:
    """Arrival-time comparison of one phase (see :func:`arrival_errors`).

    mae : mean |t_gen − t_real| over records picked in both, s
    median : median |error|, s;  bias : mean signed error (gen − real), s
    n : records picked in both;  n_total : records compared
    pick_rate_generated, pick_rate_real : fraction of records with a pick (0–1)
    abs_errors : (n_total,) |error| per record, s, NaN where either pick is missing
    """

    mae: float
    median: float
    bias: float
    n: int
    n_total: int
    pick_rate_generated: float
    pick_rate_real: float
    abs_errors: np.ndarray


def arrival_errors(t_generated, t_real) -> ArrivalErrors:
    """Compare picked arrival times of generated and real records of one phase.

    t_generated, t_real : (n,) arrival times, s from the record start, NaN = no pick.
    The MAE is over records where both were picked; the pick rates say how many were.
    """
    tg = np.asarray(t_generated, dtype=np.float64).ravel()
    tr = np.asarray(t_real, dtype=np.float64).ravel()
    if tg.shape != tr.shape:
        raise ValueError(f"t_generated {tg.shape} and t_real {tr.shape} differ")
    if tg.size == 0:
        raise ValueError("no arrivals to compare")
    err = tg - tr
    both = np.isfinite(err)
    n = int(both.sum())
    return ArrivalErrors(
        mae=float(np.abs(err[both]).mean()) if n else float("nan"),
        median=float(np.median(np.abs(err[both]))) if n else float("nan"),
        bias=float(err[both].mean()) if n else float("nan"),
        n=n,
        n_total=int(tg.size),
        pick_rate_generated=float(np.isfinite(tg).mean()),
        pick_rate_real=float(np.isfinite(tr).mean()),
        abs_errors=np.abs(err),
    )


# ----------------------------------------------------------------------------- bootstrap over events


@dataclass
class BootstrapCI:
    """``estimate`` (stat of all values) with the percentile interval [``low``, ``high``]."""

    estimate: float
    low: float
    high: float
    level: float
    n_groups: int
    n_boot: int


def bootstrap_ci(
    values,
    groups,
    stat: Callable[[np.ndarray], float] = np.mean,
    n: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> BootstrapCI:
    """Percentile bootstrap confidence interval resampling GROUPS (events), not records.

    Records of one event are correlated; resampling records would understate the
    uncertainty of a small test set. Each replicate draws as many groups as there are, with
    replacement, and applies ``stat`` to all values of the drawn groups (a group drawn twice
    counts twice).

    Parameters
    ----------
    values : (n_values,) per-record metric (NaN values are passed to ``stat`` unchanged: use
        ``np.nanmean`` to ignore them)
    groups : (n_values,) group label per value (e.g. ``source_id``)
    stat : function of a 1-D array returning a number
    n : number of bootstrap replicates;  level : coverage, e.g. 0.95;  seed : RNG seed
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    g = np.asarray(groups).ravel()
    if v.shape != g.shape:
        raise ValueError(f"values {v.shape} and groups {g.shape} differ")
    if v.size == 0:
        raise ValueError("bootstrap_ci: no values")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    _, inverse = np.unique(g, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    members = [order[s : s + c] for s, c in zip(starts, counts)]
    n_groups = len(members)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(int(n), n_groups))
    reps = np.empty(int(n))
    if stat is np.mean:  # fast path: sums and counts per group
        sums = np.bincount(inverse, weights=v)
        reps = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    else:
        for i, d in enumerate(draws):
            reps[i] = stat(v[np.concatenate([members[j] for j in d])])
    alpha = (1.0 - level) / 2.0
    low, high = np.nanpercentile(reps, [100 * alpha, 100 * (1 - alpha)])
    return BootstrapCI(float(stat(v)), float(low), float(high), float(level), n_groups, int(n))
