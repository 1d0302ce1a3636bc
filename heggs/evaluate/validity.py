"""Stage: evaluation — waveform validity checks a seismologist applies before any metric.

A generated record that fails one of these is rejected on sight, whatever its scores: a
constant offset, energy outside the record's band, a peak at a window edge, a spectral line at
the STFT frame rate (the comb a frame-wise decoder leaves), or a velocity that does not return
towards zero after integration. Each check is a plain function on ``(..., n_samples)`` arrays
(leading axes, e.g. records and components, are kept) returning booleans (True = passes) and the
measured quantity; :func:`validity_checks` runs them all on ``(n, n_components, n_samples)``
records. Definitions and thresholds: docs/metrics.md, "Waveform validity".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal
from scipy.integrate import cumulative_trapezoid

from .metrics import check_dt

__all__ = [
    "MEAN_FRACTION",
    "OUT_OF_BAND_FRACTION",
    "EDGE_S",
    "LINE_RATIO",
    "DRIFT_FRACTION",
    "mean_offset",
    "out_of_band_energy",
    "edge_peak",
    "frame_rate_line",
    "velocity_drift",
    "ValidityResult",
    "validity_checks",
]

#: |mean| / PGA above which a component carries an offset
MEAN_FRACTION = 0.01
#: fraction of the energy outside [band_min, band_max] above which a record fails
OUT_OF_BAND_FRACTION = 0.05
#: a peak within this many seconds of a window edge fails (unless the valid range ends there)
EDGE_S = 0.5
#: geometric mean over the frame-rate harmonics of line amplitude / neighbourhood median
LINE_RATIO = 2.0
#: sub-band velocity (drift) over the last 10 % of the record / PGV above which the record drifts
DRIFT_FRACTION = 0.10


def _x(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] < 4:
        raise ValueError(f"records need at least 4 samples on the last (time) axis, got shape {x.shape}")
    return x


def mean_offset(acc) -> tuple[np.ndarray, np.ndarray]:
    """``|mean(a)| / max|a|`` per trace and whether it is <= :data:`MEAN_FRACTION`.

    acc : (..., n_samples), any unit  ->  (ratio (...), passes (...) bool). An all-zero trace
    has ratio 0 and passes.
    """
    a = _x(acc)
    peak = np.abs(a).max(axis=-1)
    ratio = np.divide(np.abs(a.mean(axis=-1)), peak, out=np.zeros_like(peak), where=peak > 0)
    return ratio, ratio <= MEAN_FRACTION


def out_of_band_energy(acc, dt: float, band_min_hz: float, band_max_hz) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of the energy (|FFT|², the mean removed) below ``band_min_hz`` or above
    ``band_max_hz``, and whether it is <= :data:`OUT_OF_BAND_FRACTION`.

    acc : (..., n_samples); dt : s; band_max_hz : scalar or broadcastable to the leading axes
    (each record's own upper band edge). Returns (fraction (...), passes (...) bool).
    """
    a = _x(acc)
    dt = check_dt(dt)
    a = a - a.mean(axis=-1, keepdims=True)  # the offset is its own check
    power = np.abs(np.fft.rfft(a, axis=-1)) ** 2
    f = np.fft.rfftfreq(a.shape[-1], dt)
    hi = np.asarray(band_max_hz, dtype=np.float64)[..., None]
    outside = (f < band_min_hz) | (f > hi)
    total = power.sum(axis=-1)
    frac = np.divide((power * outside).sum(axis=-1), total, out=np.zeros_like(total), where=total > 0)
    return frac, frac <= OUT_OF_BAND_FRACTION


def edge_peak(acc, dt: float, valid_start=None, valid_end=None) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) from the peak ``argmax |a|`` to the nearer window edge, and whether it is more
    than :data:`EDGE_S` — or the peak lies within :data:`EDGE_S` of an inner end of the target's
    valid range (``valid_start > 0`` or ``valid_end < n_samples``, samples, broadcastable to the
    leading axes), where a triggered or truncated real record legitimately starts or ends strong.
    acc : (..., n_samples); dt : s. Returns (distance_s (...), passes (...) bool).
    """
    a = _x(acc)
    dt = check_dt(dt)
    n = a.shape[-1]
    i = np.abs(a).argmax(axis=-1)
    dist_s = np.minimum(i, n - 1 - i) * dt
    ok = dist_s > EDGE_S
    if valid_start is not None:
        vs = np.broadcast_to(np.asarray(valid_start, dtype=np.float64), i.shape)
        ok |= (vs > 0) & (np.abs(i - vs) * dt <= EDGE_S)
    if valid_end is not None:
        ve = np.broadcast_to(np.asarray(valid_end, dtype=np.float64), i.shape)
        ok |= (ve < n) & (np.abs(i - ve) * dt <= EDGE_S)
    return dist_s, ok


def frame_rate_line(acc, dt: float, hop_length: int, band_min_hz: float, band_max_hz,
                    width: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Strength of a comb of spectral lines at the harmonics ``k * fs / hop_length`` inside the
    band (the STFT frame rate and its multiples), and whether it stays below :data:`LINE_RATIO`.

    At each harmonic ``f_k`` the line strength is the RMS Fourier amplitude of the bins within
    ±1 bin of ``f_k`` over the median amplitude in ``[f_k (1 - width), f_k (1 + width)]``
    without those bins; the comb strength is the geometric mean over the harmonics in
    ``[band_min_hz, band_max_hz]``. A comb raises every harmonic, a site resonance one: real and
    simulated records give 1.0-1.35, a frame-wise decoder's pulse train 4-9.
    acc : (..., n_samples); band_max_hz : scalar or broadcastable to the leading axes.
    Returns (strength (...), passes (...) bool).
    """
    a = _x(acc)
    dt = check_dt(dt)
    a = a - a.mean(axis=-1, keepdims=True)
    amp = np.abs(np.fft.rfft(a, axis=-1))
    f = np.fft.rfftfreq(a.shape[-1], dt)
    df = f[1]
    frame_hz = 1.0 / (dt * hop_length)
    hi = np.broadcast_to(np.asarray(band_max_hz, dtype=np.float64), a.shape[:-1])
    log_sum = np.zeros(a.shape[:-1])
    count = np.zeros(a.shape[:-1])
    for k in range(1, int(f[-1] / frame_hz) + 1):
        fk = k * frame_hz
        if fk < band_min_hz or fk > f[-1] * (1 - width):
            continue
        line = np.abs(f - fk) <= 1.01 * df
        near = (np.abs(f - fk) <= width * fk) & ~line
        if not line.any() or near.sum() < 5:
            continue
        med = np.median(amp[..., near], axis=-1)
        r = np.sqrt((amp[..., line] ** 2).mean(axis=-1))
        use = (fk <= hi) & (med > 0) & (r > 0)
        log_sum += np.where(use, np.log(np.where(use, r / np.where(med > 0, med, 1.0), 1.0)), 0.0)
        count += use
    strength = np.exp(np.divide(log_sum, count, out=np.zeros_like(log_sum), where=count > 0))
    return strength, strength < LINE_RATIO


def velocity_drift(acc, dt: float, band_min_hz: float, valid_start=None, valid_end=None,
                   tail: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Sub-band velocity left at the end of the record relative to PGV, and whether it is <=
    :data:`DRIFT_FRACTION`.

    The valid range is integrated (trapezoid) to velocity and the least-squares line is removed
    from it (the standard baseline correction: a constant acceleration offset and an initial
    velocity). Drift is what then lies below the band: the velocity low-passed at
    ``band_min_hz / 2`` (4th-order Butterworth, zero phase). The ratio is the largest drift
    over the last ``tail`` fraction of the valid range over PGV (of the corrected velocity).
    Band-limited records, real or simulated, stay below ~0.05 also when the window cuts their
    coda; a sub-band wander leaves ~0.4-0.9.

    acc : (n, n_components, n_samples) or (n_components, n_samples), m/s²; dt : s;
    valid_start, valid_end : samples, scalars or (n,) (default: the whole window).
    Returns (ratio, passes bool), one per trace.
    """
    a = _x(acc)
    dt = check_dt(dt)
    squeeze = a.ndim == 2
    a = a[None] if squeeze else a
    if a.ndim != 3:
        raise ValueError(f"records must be (n, n_components, n_samples), got shape {a.shape}")
    n, _, ns = a.shape
    start = np.broadcast_to(np.asarray(0 if valid_start is None else valid_start, dtype=int), (n,))
    end = np.broadcast_to(np.asarray(ns if valid_end is None else valid_end, dtype=int), (n,))
    sos = signal.butter(4, 0.5 * band_min_hz, btype="low", fs=1.0 / dt, output="sos")
    ratio = np.zeros(a.shape[:-1])
    for i in range(n):
        s0, e0 = int(np.clip(start[i], 0, ns)), int(np.clip(end[i], 0, ns))
        if e0 - s0 < 32:
            continue
        v = signal.detrend(cumulative_trapezoid(a[i, :, s0:e0], dx=dt, axis=-1, initial=0.0), axis=-1, type="linear")
        pgv = np.abs(v).max(axis=-1)
        drift = signal.sosfiltfilt(sos, v, axis=-1)
        k = max(2, int(tail * (e0 - s0)))
        ratio[i] = np.divide(np.abs(drift[:, -k:]).max(axis=-1), pgv, out=np.zeros_like(pgv), where=pgv > 0)
    ratio = ratio[0] if squeeze else ratio
    return ratio, ratio <= DRIFT_FRACTION


@dataclass
class ValidityResult:
    """Per-record validity: each field is ``(n,)`` (worst component); ``passes_*`` are bool.

    mean_ratio : max over components of |mean| / PGA; out_of_band : max fraction of energy
    outside the band; edge_s : min distance of a component's peak to a window edge (s);
    line_ratio : max frame-rate line strength; drift_ratio : max |v_end| / PGV.
    """

    mean_ratio: np.ndarray
    passes_mean: np.ndarray
    out_of_band: np.ndarray
    passes_band: np.ndarray
    edge_s: np.ndarray
    passes_edges: np.ndarray
    line_ratio: np.ndarray
    passes_comb: np.ndarray
    drift_ratio: np.ndarray
    passes_drift: np.ndarray

    @property
    def passes_all(self) -> np.ndarray:
        return self.passes_mean & self.passes_band & self.passes_edges & self.passes_comb & self.passes_drift

    def fractions(self) -> dict[str, float]:
        """Fraction of records passing each check and all of them."""
        out = {k[len("passes_"):]: float(np.mean(getattr(self, k))) for k in
               ("passes_mean", "passes_band", "passes_edges", "passes_comb", "passes_drift")}
        out["all"] = float(np.mean(self.passes_all))
        return out


def validity_checks(records, sampling_rate_hz: float, band_min_hz: float, band_max_hz, hop_length: int,
                    valid_start=None, valid_end=None) -> ValidityResult:
    """Every validity check on ``records`` (n, n_components, n_samples) m/s².

    band_max_hz, valid_start, valid_end : scalars or (n,) per record (the target's band edge
    and its valid range in samples).
    A record passes a check when every component does.
    """
    x = _x(records)
    if x.ndim != 3:
        raise ValueError(f"records must be (n, n_components, n_samples), got shape {x.shape}")
    n = x.shape[0]
    dt = 1.0 / float(sampling_rate_hz)
    per_rec = lambda v: None if v is None else np.broadcast_to(np.asarray(v, dtype=np.float64), (n,))[:, None]  # noqa: E731
    m, pm = mean_offset(x)
    b, pb = out_of_band_energy(x, dt, band_min_hz, per_rec(band_max_hz))
    e, pe = edge_peak(x, dt, per_rec(valid_start), per_rec(valid_end))
    c, pc = frame_rate_line(x, dt, hop_length, band_min_hz, per_rec(band_max_hz))
    d, pd = velocity_drift(x, dt, band_min_hz, valid_start, valid_end)
    return ValidityResult(m.max(-1), pm.all(-1), b.max(-1), pb.all(-1), e.min(-1), pe.all(-1),
                          c.max(-1), pc.all(-1), d.max(-1), pd.all(-1))
