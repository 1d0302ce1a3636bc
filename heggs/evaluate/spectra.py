"""Stage: evaluation metrics — spectral intensity measures.

Fourier amplitude spectra (with Konno-Ohmachi smoothing), 5 %-damped pseudo-spectral
acceleration of single-degree-of-freedom (SDOF) oscillators, orientation-independent
RotDnn spectra, and a Brune ω² fit of the corner frequency. Everything takes plain numpy
arrays (time on the LAST axis, any leading axes are records/components) and returns numpy
arrays, vectorised over the leading axes. Definitions and units: docs/metrics.md.

The SDOF response is the exact solution for an input that is linear between samples
(Nigam & Jennings 1969): the continuous oscillator is discretised with a first-order hold
(``scipy.signal.cont2discrete(method="foh")``) and run as a 2nd-order IIR filter with
``scipy.signal.lfilter`` — one filter per period, all records and components at once.
(pyrotd is not used: it does not import with current setuptools.)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import signal

from .metrics import check_dt

__all__ = [
    "DEFAULT_PERIODS_S",
    "fourier_amplitude_spectrum",
    "konno_ohmachi",
    "sdof_displacement",
    "response_spectrum",
    "rotd",
    "rotd_peak",
    "BruneFit",
    "fit_brune",
    "brune_spectrum",
]


#: default oscillator periods, s: 60 log-spaced values from 0.01 s to 10 s
DEFAULT_PERIODS_S = np.geomspace(0.01, 10.0, 60)


def _as_float_array(x, name: str, min_ndim: int = 1) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {a.shape}")
    if a.shape[-1] < 2:
        raise ValueError(f"{name} needs at least 2 samples on its last (time) axis, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a



# ----------------------------------------------------------------------------- Fourier spectra


def fourier_amplitude_spectrum(x, dt: float, n_fft: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Fourier amplitude spectrum ``|X(f)| = |Σ x_k e^{-2πi f k dt}| · dt``.

    Parameters
    ----------
    x : (..., n_samples) float, e.g. acceleration in m/s²
    dt : sample interval, s
    n_fft : FFT length (zero-padded); default ``n_samples``

    Returns
    -------
    freqs : (n_fft // 2 + 1,) Hz
    amplitude : (..., n_fft // 2 + 1) in [x]·s (m/s for acceleration in m/s²).
        A sine of amplitude A over a duration D (integer number of cycles) peaks at A·D/2.
    """
    x = _as_float_array(x, "x")
    dt = check_dt(dt)
    n_fft = x.shape[-1] if n_fft is None else int(n_fft)
    if n_fft < x.shape[-1]:
        raise ValueError(f"n_fft={n_fft} is shorter than the record ({x.shape[-1]} samples)")
    amp = np.abs(np.fft.rfft(x, n=n_fft, axis=-1)) * dt
    return np.fft.rfftfreq(n_fft, dt), amp


def konno_ohmachi(
    spectra, freqs, center_freqs=None, bandwidth: float = 40.0
) -> tuple[np.ndarray, np.ndarray]:
    """Konno & Ohmachi (1998) smoothing of amplitude spectra onto a set of centre frequencies.

    The window ``W(f, fc) = [sin(b log10(f/fc)) / (b log10(f/fc))]^4`` comes from
    ``obspy.signal.konnoohmachismoothing.konno_ohmachi_smoothing_window`` (normalised to unit
    sum); evaluating it only at the requested centre frequencies (a smoothing matrix of
    ``(n_centres, n_freqs)``) keeps it cheap for long records.

    Parameters
    ----------
    spectra : (..., n_freqs) amplitude spectra (any unit)
    freqs : (n_freqs,) Hz, increasing
    center_freqs : (n_out,) Hz; default 100 log-spaced values between the first non-zero
        frequency and the last frequency
    bandwidth : b; 40 is the customary value (larger = narrower window)

    Returns
    -------
    center_freqs : (n_out,) Hz
    smoothed : (..., n_out) same unit as ``spectra``
    """
    from obspy.signal.konnoohmachismoothing import konno_ohmachi_smoothing_window

    spectra = np.asarray(spectra, dtype=np.float64)
    freqs = np.asarray(freqs, dtype=np.float64)
    if freqs.ndim != 1 or spectra.shape[-1] != freqs.size:
        raise ValueError(f"spectra (..., {spectra.shape[-1]}) and freqs {freqs.shape} do not match")
    if center_freqs is None:
        positive = freqs[freqs > 0]
        center_freqs = np.geomspace(positive[0], freqs[-1], 100)
    center_freqs = np.atleast_1d(np.asarray(center_freqs, dtype=np.float64))
    if np.any(center_freqs <= 0):
        raise ValueError("center_freqs must be positive")
    weights = np.stack(
        [konno_ohmachi_smoothing_window(freqs, float(fc), bandwidth, normalize=True) for fc in center_freqs]
    )
    return center_freqs, spectra @ weights.T


# ----------------------------------------------------------------------------- SDOF oscillators


@functools.lru_cache(maxsize=4096)
def _oscillator_filter(period: float, damping: float, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """IIR coefficients (b, a) mapping ground acceleration to relative displacement u.

    ``ü + 2ζωu̇ + ω²u = −a_g``, discretised exactly for a piecewise-linear ``a_g``.
    """
    w = 2.0 * np.pi / period
    a_c = np.array([[0.0, 1.0], [-w * w, -2.0 * damping * w]])
    b_c = np.array([[0.0], [-1.0]])
    c_c = np.array([[1.0, 0.0]])
    d_c = np.array([[0.0]])
    ad, bd, cd, dd, _ = signal.cont2discrete((a_c, b_c, c_c, d_c), dt, method="foh")
    b, a = signal.ss2tf(ad, bd, cd, dd)
    return np.atleast_1d(np.squeeze(b)), a


def _check_periods(periods, damping: float) -> np.ndarray:
    if periods is None:
        periods = DEFAULT_PERIODS_S
    periods = np.atleast_1d(np.asarray(periods, dtype=np.float64))
    if periods.ndim != 1 or periods.size == 0 or np.any(~np.isfinite(periods)) or np.any(periods <= 0):
        raise ValueError(f"periods must be a 1-D array of positive seconds, got {periods!r}")
    if not 0 <= damping < 1:
        raise ValueError(f"damping must be in [0, 1), got {damping}")
    return periods


def sdof_displacement(acc, dt: float, periods=None, damping: float = 0.05, pad_s: float | None = None) -> np.ndarray:
    """Relative displacement time histories of SDOF oscillators.

    Parameters
    ----------
    acc : (..., n_samples) ground acceleration, m/s²
    dt : sample interval, s
    periods : (n_periods,) oscillator periods, s (default :data:`DEFAULT_PERIODS_S`)
    damping : fraction of critical (0.05 = 5 %)
    pad_s : zeros appended so that a peak in free vibration after the record end is seen;
        default ``max(periods)``

    Returns
    -------
    u : (..., n_periods, n_samples + n_pad) relative displacement, m
    """
    acc = _as_float_array(acc, "acc")
    dt = check_dt(dt)
    periods = _check_periods(periods, damping)
    pad_s = float(periods.max()) if pad_s is None else float(pad_s)
    n_pad = int(np.ceil(max(pad_s, 0.0) / dt))
    x = np.concatenate([acc, np.zeros(acc.shape[:-1] + (n_pad,))], axis=-1) if n_pad else acc
    out = np.empty(acc.shape[:-1] + (periods.size, x.shape[-1]))
    for i, period in enumerate(periods):
        b, a = _oscillator_filter(float(period), damping, dt)
        out[..., i, :] = signal.lfilter(b, a, x, axis=-1)
    return out


def response_spectrum(acc, dt: float, periods=None, damping: float = 0.05, pad_s: float | None = None) -> np.ndarray:
    """Pseudo-spectral acceleration ``PSA(T) = (2π/T)² · max_t |u(t)|`` per component.

    Parameters
    ----------
    acc : (..., n_samples) ground acceleration, m/s²
    dt : s;  periods : (n_periods,) s (default :data:`DEFAULT_PERIODS_S`);  damping : fraction
    of critical

    Returns
    -------
    psa : (..., n_periods) m/s²
    """
    periods = _check_periods(periods, damping)
    u = sdof_displacement(acc, dt, periods, damping, pad_s)
    return (2.0 * np.pi / periods) ** 2 * np.abs(u).max(axis=-1)


def _pow2_buckets(need: np.ndarray, n: int) -> np.ndarray:
    """Round counts up to a power of two (capped at n): few distinct, dense block sizes."""
    return np.minimum(2 ** np.ceil(np.log2(np.maximum(need, 1))).astype(np.int64), n)


def _top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries of each row (unordered); all indices if k >= n."""
    n = values.shape[1]
    if k >= n:
        return np.broadcast_to(np.arange(n), values.shape)
    return np.argpartition(-values, k - 1, axis=1)[:, :k]


def _project_peaks(a1: np.ndarray, a2: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """(rows, k) coordinates and (2, a) directions -> (rows, a) max |projection|."""
    return np.abs(np.stack([a1, a2], -1) @ rot).max(axis=1)


def _sector_peaks(a1: np.ndarray, a2: np.ndarray, bounds: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Exact peaks over candidate samples a1, a2 (rows, k), pruned per ~15° sector of angles."""
    rows, k = a1.shape
    rot = np.stack([np.cos(angles), np.sin(angles)])
    if k <= 128:
        return _project_peaks(a1, a2, rot)
    r = np.hypot(a1, a2)
    phi = np.arctan2(a2, a1)
    out = np.empty((rows, angles.size))
    for sec in np.array_split(np.arange(angles.size), max(1, int(round(angles.size / 15)))):
        centre = 0.5 * (angles[sec[0]] + angles[sec[-1]])
        half = 0.5 * (angles[sec[-1]] - angles[sec[0]])
        delta = np.abs(np.mod(phi - centre + np.pi / 2, np.pi) - np.pi / 2)  # angular distance mod π
        score = r * np.cos(np.maximum(delta - half, 0.0))  # ≥ |projection| for every angle of sec
        floor = bounds[:, sec].min(axis=1) * (1.0 - 1e-9)  # margin for rounding
        bucket = _pow2_buckets((score >= floor[:, None]).sum(axis=1), k)
        for kk in np.unique(bucket):
            sel = np.nonzero(bucket == kk)[0]
            idx = _top_k(score[sel], int(kk))
            out[np.ix_(sel, sec)] = _project_peaks(
                np.take_along_axis(a1[sel], idx, 1), np.take_along_axis(a2[sel], idx, 1), rot[:, sec]
            )
    return out


def _rotated_peaks(h1: np.ndarray, h2: np.ndarray, angles: np.ndarray, chunk_elems: int = 2**22) -> np.ndarray:
    """``max_t |h1 cos θ + h2 sin θ|`` for each row and angle, exactly, with pruning.

    h1, h2 : (m, n);  angles : (a,) rad, increasing, within [0, π)  ->  (m, a).
    Lower bounds ``L_θ`` come from the 64 samples of largest radius ``r = hypot(h1, h2)``.
    Since ``|h1 cos θ + h2 sin θ| ≤ r``, only samples with ``r ≥ min_θ L_θ`` can hold a peak;
    among those, per sector of ~15°, only samples whose bound
    ``r · max_{θ ∈ sector} |cos(θ − φ)|`` (φ the sample's direction) reaches
    ``min_{θ ∈ sector} L_θ`` are evaluated. Exact; typically tens of samples per row.
    """
    m, n = h1.shape
    r = np.hypot(h1, h2)
    rot = np.stack([np.cos(angles), np.sin(angles)])
    k0 = min(n, 64)
    idx = _top_k(r, k0)
    bounds = _project_peaks(np.take_along_axis(h1, idx, 1), np.take_along_axis(h2, idx, 1), rot)
    if k0 >= n:
        return bounds  # every sample was evaluated
    floor = bounds.min(axis=1) * (1.0 - 1e-9)
    bucket = _pow2_buckets((r >= floor[:, None]).sum(axis=1), n)
    out = np.empty((m, angles.size))
    for k in np.unique(bucket):
        rows = np.nonzero(bucket == k)[0]
        step = max(1, chunk_elems // (int(k) * 16))
        for s0 in range(0, rows.size, step):
            sel = rows[s0 : s0 + step]
            idx = _top_k(r[sel], int(k))
            out[sel] = _sector_peaks(
                np.take_along_axis(h1[sel], idx, 1), np.take_along_axis(h2[sel], idx, 1), bounds[sel], angles
            )
    return out


def _angles(angle_step_deg: float) -> np.ndarray:
    if not 0 < angle_step_deg <= 90:
        raise ValueError(f"angle_step_deg must be in (0, 90], got {angle_step_deg}")
    return np.deg2rad(np.arange(0.0, 180.0, angle_step_deg))


def rotd_peak(horizontals, percentiles=(50, 100), angle_step_deg: float = 1.0) -> np.ndarray:
    """RotDnn of a peak value (e.g. PGA RotD50) of two orthogonal horizontal components.

    ``RotDnn = percentile_nn over θ ∈ [0°, 180°) of max_t |h1 cos θ + h2 sin θ|``
    (Boore 2010), with percentiles interpolated linearly between the sorted angles.

    Parameters
    ----------
    horizontals : (..., 2, n_samples) two orthogonal horizontals (e.g. E, N), any unit
    percentiles : sequence of numbers in [0, 100]

    Returns
    -------
    (..., n_percentiles) in the unit of ``horizontals``
    """
    h = _as_float_array(horizontals, "horizontals", min_ndim=2)
    if h.shape[-2] != 2:
        raise ValueError(f"horizontals must have 2 components on axis -2, got shape {h.shape}")
    lead = h.shape[:-2]
    flat = h.reshape(-1, 2, h.shape[-1])
    peaks = _rotated_peaks(flat[:, 0], flat[:, 1], _angles(angle_step_deg))
    out = np.percentile(peaks, np.asarray(percentiles, dtype=float), axis=-1)
    return np.moveaxis(out, 0, -1).reshape(lead + (len(np.atleast_1d(percentiles)),))


def rotd(
    horizontals,
    dt: float,
    periods=None,
    damping: float = 0.05,
    percentiles=(50, 100),
    angle_step_deg: float = 1.0,
    pad_s: float | None = None,
) -> np.ndarray:
    """RotDnn pseudo-spectral acceleration (Boore 2010) of two horizontal components.

    The oscillator is linear, so the response to the record rotated by θ is
    ``u_θ = u_1 cos θ + u_2 sin θ``: two oscillator runs per period cover all angles.

    Parameters
    ----------
    horizontals : (..., 2, n_samples) two orthogonal horizontal accelerations, m/s²
    dt : s;  periods : (n_periods,) s;  damping : fraction of critical
    percentiles : e.g. (50, 100) for RotD50 and RotD100
    angle_step_deg : rotation increment (1° = 180 angles)

    Returns
    -------
    psa : (..., n_periods, n_percentiles) m/s²
    """
    h = _as_float_array(horizontals, "horizontals", min_ndim=2)
    if h.shape[-2] != 2:
        raise ValueError(f"horizontals must have 2 components on axis -2, got shape {h.shape}")
    periods = _check_periods(periods, damping)
    u = sdof_displacement(h, dt, periods, damping, pad_s)  # (..., 2, P, n)
    lead = h.shape[:-2]
    u = u.reshape((-1, 2) + u.shape[-2:])
    m = u.shape[0] * periods.size
    peaks = _rotated_peaks(u[:, 0].reshape(m, -1), u[:, 1].reshape(m, -1), _angles(angle_step_deg))
    q = np.percentile(peaks, np.asarray(percentiles, dtype=float), axis=-1)  # (n_pct, m)
    q = np.moveaxis(q, 0, -1).reshape(lead + (periods.size, -1))
    return q * ((2.0 * np.pi / periods) ** 2)[:, None]


# ----------------------------------------------------------------------------- Brune corner frequency


def brune_spectrum(freqs, omega0, fc, kind: str = "displacement") -> np.ndarray:
    """Brune (1970) ω² source spectrum ``Ω(f) = Ω0 / (1 + (f/fc)²)``.

    ``kind="acceleration"`` multiplies by ``(2πf)²``. ``omega0`` and ``fc`` broadcast against
    each other; the result has shape ``broadcast(omega0, fc).shape + (n_freqs,)``.
    Units: Ω0 in m·s (displacement spectral level), fc and freqs in Hz.
    """
    f = np.asarray(freqs, dtype=np.float64)
    omega0 = np.asarray(omega0, dtype=np.float64)[..., None]
    fc = np.asarray(fc, dtype=np.float64)[..., None]
    spec = omega0 / (1.0 + (f / fc) ** 2)
    if kind == "acceleration":
        spec = spec * (2.0 * np.pi * f) ** 2
    elif kind != "displacement":
        raise ValueError(f"kind must be 'displacement' or 'acceleration', got {kind!r}")
    return spec


@dataclass
class BruneFit:
    """Result of :func:`fit_brune` (arrays over the leading axes of the input spectra).

    omega0 : low-frequency displacement level Ω0, m·s (for spectra of m/s² records)
    fc : corner frequency, Hz
    misfit : RMS log10 residual of the fit over the band (dimensionless)
    fc_at_bound : True where the best fc is at the edge of the search range (unconstrained)
    """

    omega0: np.ndarray
    fc: np.ndarray
    misfit: np.ndarray
    fc_at_bound: np.ndarray


def fit_brune(
    freqs,
    spectra,
    fmin: float = 1.0,
    fmax: float | None = None,
    kind: str = "acceleration",
    fc_range: tuple[float, float] | None = None,
    n_grid: int = 1000,
    kappa_s: float = 0.0,
) -> BruneFit:
    """Fit ``Ω0, fc`` of a Brune ω² model to amplitude spectra between ``fmin`` and ``fmax``.

    Least squares in log10 amplitude with equal weight per log-frequency interval (weights
    ∝ 1/f on a linear frequency grid). For each trial fc the best log Ω0 is analytic (a
    weighted mean), so the search is an exhaustive, vectorised grid over log fc, refined by a
    parabola through the best grid point and its neighbours.

    Parameters
    ----------
    freqs : (n_freqs,) Hz
    spectra : (..., n_freqs) Fourier amplitude spectra of acceleration (m/s, ``kind=
        "acceleration"``) or displacement (m·s, ``kind="displacement"``)
    fmin, fmax : fitting band, Hz; ``fmax`` default: the highest frequency (use the record's
        band limit, ``trace_band_max_hz``)
    fc_range : search range for fc, Hz; default ``(fmin / 4, 4 * fmax)``
    n_grid : number of log-spaced trial corner frequencies
    kappa_s : known (assumed) high-frequency decay κ, s: the model is multiplied by
        ``exp(−π κ f)``; 0 = none. Unmodelled attenuation biases fc low.

    Returns
    -------
    BruneFit with arrays of shape ``spectra.shape[:-1]``
    """
    f = np.asarray(freqs, dtype=np.float64)
    s = np.asarray(spectra, dtype=np.float64)
    if f.ndim != 1 or s.shape[-1] != f.size:
        raise ValueError(f"spectra (..., {s.shape[-1]}) and freqs {f.shape} do not match")
    fmax = float(f[-1]) if fmax is None else float(fmax)
    band = (f >= fmin) & (f <= fmax) & (f > 0)
    if band.sum() < 3:
        raise ValueError(f"fewer than 3 frequencies between fmin={fmin} and fmax={fmax} Hz")
    fb = f[band]
    sb = s[..., band]
    if np.any(~(sb > 0)):
        raise ValueError("spectra must be positive and finite inside the fitting band")
    lo, hi = fc_range if fc_range is not None else (fmin / 4.0, 4.0 * fmax)
    if not 0 < lo < hi:
        raise ValueError(f"invalid fc_range {(lo, hi)}")
    w = 1.0 / fb
    w = w / w.sum()
    data = np.log10(sb).reshape(-1, fb.size)  # (m, nf)
    base = 2.0 * np.log10(2.0 * np.pi * fb) if kind == "acceleration" else np.zeros_like(fb)
    base = base - np.pi * float(kappa_s) * fb / np.log(10.0)
    if kind not in ("acceleration", "displacement"):
        raise ValueError(f"kind must be 'displacement' or 'acceleration', got {kind!r}")

    # misfit(fc) = Σ w (d̃ − s̃(fc))² with d̃, s̃ the weighted-demeaned data and model shape:
    # expanded, the cross term is one matrix product (m, nf) @ (nf, g), cheap for any m.
    grid = np.linspace(np.log10(lo), np.log10(hi), n_grid)
    shapes = base - np.log10(1.0 + (fb / 10.0 ** grid[:, None]) ** 2)  # (g, nf)
    shape_mean = shapes @ w
    shapes_c = shapes - shape_mean[:, None]
    data_mean = data @ w
    data_c = data - data_mean[:, None]
    mis = ((data_c**2) @ w)[:, None] - 2.0 * data_c @ (w * shapes_c).T + ((shapes_c**2) @ w)[None, :]  # (m, g)
    m = data.shape[0]
    rows = np.arange(m)
    j = np.clip(np.argmin(mis, axis=1), 1, n_grid - 2)
    # parabolic refinement of the minimum between the neighbouring grid points
    y0, y1, y2 = mis[rows, j - 1], mis[rows, j], mis[rows, j + 1]
    denom = y0 - 2.0 * y1 + y2
    offset = np.where(denom > 0, 0.5 * (y0 - y2) / np.where(denom > 0, denom, 1.0), 0.0)
    step = grid[1] - grid[0]
    log_fc = grid[j] + np.clip(offset, -1.0, 1.0) * step
    shape_best = base - np.log10(1.0 + (fb / 10.0 ** log_fc[:, None]) ** 2)  # (m, nf)
    resid = data - shape_best
    log_o = resid @ w
    misfit = np.sqrt(np.maximum(((resid - log_o[:, None]) ** 2) @ w, 0.0))
    out_shape = s.shape[:-1]
    return BruneFit(
        omega0=(10.0**log_o).reshape(out_shape),
        fc=(10.0**log_fc).reshape(out_shape),
        misfit=misfit.reshape(out_shape),
        fc_at_bound=((log_fc <= grid[0] + step) | (log_fc >= grid[-1] - step)).reshape(out_shape),
    )
