"""Stage: evaluation metrics — picker-free P and S onset times from the signal envelope.

A deep picker (heggs.evaluate.picking) scores generated records with a network trained on real
seismograms; where it fails, the arrival metric measures the picker, not the record (on a
simulated store EQTransformer's P error against the exact arrivals is dominated by gross
mispicks, docs/metrics.md). The onsets here need no model and are the same plain operation on
every record:

- **P onset** (:func:`p_onset`): the 3-component envelope ``sqrt(sum_c |hilbert(x_c)|²)`` is
  smoothed with a centred moving average of ``smooth_s``; its floor is a low quantile of the
  smoothed envelope over the record (the pre-event level, robust to where P lies); the onset is
  the first sample where the envelope exceeds ``floor + fraction · (max − floor)``. Using the
  floor makes the threshold a fraction of the signal ABOVE the noise, so a noisy real record
  and a clean simulated one are measured alike.
- **S onset** (:func:`s_onset`): the same construction on the two horizontal components, after
  the P onset plus ``min_gap_s``: the first sample where the horizontal envelope reaches
  ``s_fraction`` of its maximum above the floor after P. S carries most of the horizontal
  energy at local and regional distances, so the S onset is where the horizontal envelope
  climbs to its main level.

Both are plain functions of ``(n, C, n_samples)`` arrays and a sampling rate, returning seconds
from the record start (NaN where a record is all zeros, or no S rise follows P). Their own
errors against analyst picks (real NCEDC records) and exact arrivals (simulated records) are
stated in docs/metrics.md ("Picker-free onsets") and pinned by tests/test_onset.py.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

__all__ = ["ONSET_DEFAULTS", "envelope3", "smoothed_envelope", "p_onset", "s_onset", "onsets", "onset_errors",
           "validate_real", "validate_simulated"]

#: the parameters validated in docs/metrics.md ("Picker-free onsets")
ONSET_DEFAULTS = {"smooth_s": 0.5, "floor_quantile": 0.1, "p_fraction": 0.1, "s_fraction": 0.5, "min_gap_s": 0.5}


def _records(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"records must be (n, components, n_samples), got shape {a.shape}")
    return np.nan_to_num(a - a.mean(axis=-1, keepdims=True))


def envelope3(x) -> np.ndarray:
    """Root-sum-square Hilbert envelope over components: (n, C, ns) -> (n, ns), record units."""
    a = _records(x)
    return np.sqrt((np.abs(signal.hilbert(a, axis=-1)) ** 2).sum(axis=1))


def smoothed_envelope(x, sampling_rate: float, smooth_s: float = ONSET_DEFAULTS["smooth_s"]) -> np.ndarray:
    """:func:`envelope3` smoothed by a centred moving average of ``smooth_s`` seconds: (n, ns)."""
    env = envelope3(x)
    width = max(1, int(round(smooth_s * float(sampling_rate))))
    return ndimage.uniform_filter1d(env, width, axis=-1, mode="nearest")


def _first_crossing(env: np.ndarray, start: np.ndarray, fraction: float, floor_quantile: float) -> np.ndarray:
    """First sample >= start[i] where env rises above floor + fraction·(max after start − floor);
    floor = the ``floor_quantile`` of the whole envelope. NaN for flat rows. env : (n, ns)."""
    n, ns = env.shape
    out = np.full(n, np.nan)
    idx = np.arange(ns)
    floor = np.quantile(env, floor_quantile, axis=-1)
    for i in range(n):
        if not np.isfinite(start[i]):
            continue
        after = idx >= start[i]
        if not after.any():
            continue
        peak = env[i, after].max()
        if not peak > floor[i]:
            continue
        hit = np.flatnonzero(after & (env[i] >= floor[i] + fraction * (peak - floor[i])))
        if hit.size:
            out[i] = hit[0]
    return out


def p_onset(x, sampling_rate: float, smooth_s: float = ONSET_DEFAULTS["smooth_s"],
            fraction: float = ONSET_DEFAULTS["p_fraction"],
            floor_quantile: float = ONSET_DEFAULTS["floor_quantile"]) -> np.ndarray:
    """P onset: first time the smoothed 3-component envelope exceeds ``fraction`` of its range
    above the floor (module docstring). x : (n, C, ns) any unit; sampling_rate : Hz.
    Returns (n,) seconds from the record start, NaN for an all-zero record."""
    env = smoothed_envelope(x, sampling_rate, smooth_s)
    return _first_crossing(env, np.zeros(env.shape[0]), fraction, floor_quantile) / float(sampling_rate)


def s_onset(x, sampling_rate: float, p_s=None, components: str = "ENZ",
            smooth_s: float = ONSET_DEFAULTS["smooth_s"], fraction: float = ONSET_DEFAULTS["s_fraction"],
            min_gap_s: float = ONSET_DEFAULTS["min_gap_s"],
            floor_quantile: float = ONSET_DEFAULTS["floor_quantile"]) -> np.ndarray:
    """S onset: first time after ``p_s + min_gap_s`` that the smoothed HORIZONTAL envelope
    reaches ``fraction`` of its range above the floor (module docstring).

    x : (n, C, ns); components : names of the C components (horizontals are all but "Z");
    p_s : (n,) P onsets in s (default :func:`p_onset`). Returns (n,) s, NaN where P is NaN.
    """
    a = _records(x)
    horizontal = [i for i, c in enumerate(components) if c.upper() != "Z"]
    if len(components) != a.shape[1] or not horizontal:
        raise ValueError(f"components {components!r} must name the {a.shape[1]} components and include a horizontal")
    fs = float(sampling_rate)
    p = p_onset(a, fs, smooth_s, floor_quantile=floor_quantile) if p_s is None else np.asarray(p_s, dtype=np.float64)
    env = smoothed_envelope(a[:, horizontal], fs, smooth_s)
    return _first_crossing(env, np.ceil((p + min_gap_s) * fs), fraction, floor_quantile) / fs


def onsets(x, sampling_rate: float, components: str = "ENZ", **params) -> tuple[np.ndarray, np.ndarray]:
    """(P, S) onsets (n,) in s of :func:`p_onset` and :func:`s_onset` with ``ONSET_DEFAULTS``
    overridden by ``params``."""
    p_ = {**ONSET_DEFAULTS, **params}
    p = p_onset(x, sampling_rate, p_["smooth_s"], p_["p_fraction"], p_["floor_quantile"])
    s = s_onset(x, sampling_rate, p, components, p_["smooth_s"], p_["s_fraction"], p_["min_gap_s"], p_["floor_quantile"])
    return p, s


# ----------------------------------------------------------------------------- validation


def onset_errors(got, truth) -> dict[str, float]:
    """Errors of onsets ``got`` against ``truth`` (both (n,) s, NaN = none), over records with a
    truth: ``mae_s``, ``median_abs_s``, ``p95_abs_s`` (over detected ones), ``median_signed_s``
    (got − truth), ``detection_rate`` (fraction with an onset) and ``n``."""
    g, t = np.asarray(got, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    has = np.isfinite(t)
    e = (g - t)[has]
    ok = np.isfinite(e)
    a = np.abs(e[ok])
    nan = float("nan")
    return {"n": int(has.sum()), "detection_rate": float(ok.mean()) if has.any() else nan,
            "mae_s": float(a.mean()) if a.size else nan, "median_abs_s": float(np.median(a)) if a.size else nan,
            "p95_abs_s": float(np.quantile(a, 0.95)) if a.size else nan,
            "median_signed_s": float(np.median(e[ok])) if a.size else nan}


def validate_real(path, window_s: float = 60.0, p_range_s: tuple[float, float] = (2.0, 30.0), seed: int = 0,
                  band_hz: tuple[float, float] = (1.0, 45.0)) -> dict[str, dict[str, float]]:
    """Onset errors against the analyst picks of the PhaseNet NCEDC set (100 Hz, counts) on the
    seeded random crops of :func:`heggs.evaluate.picking.random_crops`, band-passed like a store
    (zero-phase 4-pole Butterworth ``band_hz``). Returns ``{"P": onset_errors, "S": ...}``."""
    from .picking import load_ncedc_picks, random_crops

    fs = 100.0
    waves, itp, its, _ = load_ncedc_picks(path)
    crops, tp, ts = random_crops(waves, itp, its, int(round(window_s * fs)),
                                 (int(p_range_s[0] * fs), int(p_range_s[1] * fs)), seed)
    sos = signal.butter(4, list(band_hz), btype="band", fs=fs, output="sos")
    crops = signal.sosfiltfilt(sos, crops - crops.mean(axis=-1, keepdims=True), axis=-1)
    p, s = onsets(crops, fs, "ENZ")
    return {"P": onset_errors(p, tp / fs), "S": onset_errors(s, ts / fs)}


def validate_simulated(n: int = 300, seed: int = 1, cfg=None) -> dict[str, dict[str, float]]:
    """Onset errors against the exact arrivals of ``n`` records of the stochastic simulator
    (heggs.simulate.simulator.simulate_records; default window 60 s at 100 Hz): epicentral
    distance uniform 5–150 km, depth 2–20 km, Mw 3–6, seeded. Returns ``{"P": ..., "S": ...}``."""
    from ..simulate.simulator import simulate_records

    rng = np.random.default_rng(seed)
    d, az = rng.uniform(5.0, 150.0, n), rng.uniform(0.0, 2 * np.pi, n)
    lat0, lon0 = 35.0, -117.0
    lat = lat0 + d * np.cos(az) / 111.195
    lon = lon0 + d * np.sin(az) / (111.195 * np.cos(np.radians(lat0)))
    waves, arr = simulate_records(np.full(n, lat0), np.full(n, lon0), rng.uniform(2.0, 20.0, n), rng.uniform(3.0, 6.0, n),
                                  lat, lon, seeds=list(range(seed * 100_000, seed * 100_000 + n)), cfg=cfg)
    fs = (cfg.window.sampling_rate_hz if cfg is not None else 100.0)
    comps = cfg.window.components if cfg is not None else "ENZ"
    p, s = onsets(waves, fs, comps)
    return {"P": onset_errors(p, arr.p_sample / fs), "S": onset_errors(s, arr.s_sample / fs)}


def main(argv: list[str] | None = None) -> int:
    """``python -m heggs.evaluate.onset [--real PATH] [--simulated N]``: print the onset errors."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m heggs.evaluate.onset", description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", metavar="PATH", help="phasenet_ncedc_picks folder (analyst picks)")
    parser.add_argument("--simulated", metavar="N", type=int, default=300, help="simulated records (0: none)")
    args = parser.parse_args(argv)
    results = {}
    if args.real:
        results["real (NCEDC analyst picks)"] = validate_real(args.real)
    if args.simulated:
        results[f"simulated ({args.simulated}, exact arrivals)"] = validate_simulated(args.simulated)
    for name, r in results.items():
        for ph, e in r.items():
            print(f"{name:>34} {ph}: " + "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in e.items()))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
