"""Stage simulate — scenario records and paired stores from the stochastic point-source method.

The physics lives in :mod:`heggs.simulate.stochastic` (Boore 2003); P/S onsets come from
:mod:`heggs.traveltimes` (TauP tables). This module turns scenarios into records:

* :func:`simulate_record` / :func:`simulate_records` — the baseline generator: one or a batch
  of 3-component acceleration records (m/s²) for given epicentres, depths, magnitudes (Mw)
  and stations, with their exact P/S arrival samples. Deterministic for a seed.
* :func:`random_events` (uniform in a region, Gutenberg–Richter magnitudes),
  :func:`random_stations`, :func:`read_catalog`, :func:`read_stations` — scenario inputs
  (from :mod:`heggs.simulate.inputs`, re-exported here).
* :func:`simulate_store` — every event × station pair within range, written as a canonical
  store (SeisBench format, :class:`heggs.store.StoreWriter`) with ``trace_arrivals_source =
  "simulated"`` (exact by construction), one split per event and the provenance (simulator
  version, seed, configuration) in the ``data_format`` attributes. Runs vectorised batches on
  a process pool; the output does not depend on the number of workers.

Randomness is keyed, never sequential: event parameters (stress drop, focal mechanism) come
from ``default_rng([seed, 1, event_index])``, station parameters (site factor, noise level)
from ``[seed, 2, station_index]`` and a record's noise from ``[seed, 3, event_index,
station_index]``, so a record is the same whatever else is simulated with it.
"""

from __future__ import annotations

import json
import math
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .. import __version__
from ..config import SimulateConfig, check_workers, to_dict
from ..folders import check_output, claim
from ..store import UNITS_PHYSICAL, StoreWriter, assign_splits
from .stochastic import corner_frequency_hz, effective_radiation, radiation_pattern, synthesize
from .inputs import (  # noqa: F401  (re-exported: the simulator's scenario API)
    _BASE_ORIGIN, _check_coords, gutenberg_richter, random_events, random_stations, read_catalog, read_stations)
from ..traveltimes import KM_PER_DEG, geodesics, get_table

_EVENT, _STATION, _RECORD = 1, 2, 3
SIMULATOR = f"heggs.simulate.simulator {__version__} (stochastic point source, Boore 2003)"


# --- geometry ---------------------------------------------------------------------------------

def geometry(ev_lat, ev_lon, st_lat, st_lon) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epicentral distance (km, WGS84 as in real stores: :func:`heggs.traveltimes.geodesics`),
    azimuth (station seen from the epicentre) and back azimuth (epicentre seen from the
    station), degrees.

    All arguments (n,) or broadcastable, degrees. Returns three (n,) float64 arrays.
    """
    return geodesics(ev_lat, ev_lon, st_lat, st_lon)


# --- random parameters --------------------------------------------------------------------------

def median_stress_drop_bar(magnitude, cfg: SimulateConfig) -> np.ndarray:
    """Median stress drop (bar) for Mw ``magnitude`` (n,) — see ``SimulateConfig``."""
    lo, hi = cfg.stress_drop_hinges
    m = np.clip(np.asarray(magnitude, dtype=float), lo, hi)
    return cfg.stress_drop_median_bar * 10.0 ** (cfg.stress_drop_magnitude_slope * (m - 5.0))


def event_parameters(event_index, magnitude, seed: int, cfg: SimulateConfig) -> dict[str, np.ndarray]:
    """Per-event random parameters: stress drop (bar, log-normal about the magnitude-dependent
    median), strike/dip/rake (deg).

    event_index, magnitude : (n,). Dip is uniform in cos over 15–90° (a random fault
    orientation), strike uniform in [0, 360), rake uniform in [-180, 180).
    """
    idx = np.atleast_1d(np.asarray(event_index, dtype=np.int64))
    med = np.broadcast_to(median_stress_drop_bar(magnitude, cfg), idx.shape)
    out = {k: np.empty(idx.size) for k in ("stress_drop_bar", "strike_deg", "dip_deg", "rake_deg")}
    cmin = math.cos(math.radians(90.0))
    cmax = math.cos(math.radians(15.0))
    for k, i in enumerate(idx):
        rng = np.random.default_rng([int(seed), _EVENT, int(i)])
        u = rng.random(4)
        z = rng.standard_normal()
        out["stress_drop_bar"][k] = med[k] * math.exp(cfg.stress_drop_sigma_ln * z)
        out["strike_deg"][k] = 360.0 * u[0]
        out["dip_deg"][k] = math.degrees(math.acos(cmin + (cmax - cmin) * u[1]))
        out["rake_deg"][k] = 360.0 * u[2] - 180.0
    return out


def station_parameters(station_index, seed: int, cfg: SimulateConfig) -> dict[str, np.ndarray]:
    """Per-station random parameters: site factor (log-normal, median 1) and noise level."""
    idx = np.atleast_1d(np.asarray(station_index, dtype=np.int64))
    site = np.empty(idx.size)
    level = np.empty(idx.size)
    for k, i in enumerate(idx):
        rng = np.random.default_rng([int(seed), _STATION, int(i)])
        site[k] = math.exp(cfg.site_sigma_ln * rng.standard_normal())
        level[k] = np.clip(cfg.noise_level + cfg.noise_level_spread * (2 * rng.random() - 1), 0.0, 1.0)
    return {"site_factor": site, "noise_level": level}


# --- the generator -------------------------------------------------------------------------------

@dataclass
class Arrivals:
    """Exact onsets of a batch: samples from the window start (NaN outside the window),
    travel times from the origin (s), and the path geometry."""

    p_sample: np.ndarray
    s_sample: np.ndarray
    p_time_s: np.ndarray
    s_time_s: np.ndarray
    distance_km: np.ndarray
    azimuth_deg: np.ndarray
    back_azimuth_deg: np.ndarray
    hypocentral_distance_km: np.ndarray


def arrivals(ev_lat, ev_lon, depth_km, st_lat, st_lon, cfg: SimulateConfig | None = None) -> tuple[Arrivals, dict]:
    """TauP first P/S onsets for a batch (all arguments (n,), degrees / km)."""
    cfg = cfg or SimulateConfig()
    _check_coords(ev_lat, ev_lon, "event")
    _check_coords(st_lat, st_lon, "station")
    dist, az, baz = geometry(ev_lat, ev_lon, st_lat, st_lon)
    depth = np.broadcast_to(np.asarray(depth_km, dtype=float), dist.shape)
    if dist.size and np.max(dist) > 20 * KM_PER_DEG:
        raise ValueError(f"epicentral distance {np.max(dist):.0f} km is beyond the regional range of the "
                         f"simulator (20°, {20 * KM_PER_DEG:.0f} km)")
    tab = get_table(cfg.velocity_model, max(1500.0, float(np.max(dist, initial=0.0)) + 1.0))
    tt = tab.lookup(dist, depth)
    w = cfg.window
    fs = w.sampling_rate_hz

    def sample(t: np.ndarray) -> np.ndarray:
        s = np.round((t - w.offset_s) * fs)
        return np.where((s >= 0) & (s < w.n_samples), s, np.nan)

    arr = Arrivals(sample(tt["p_time_s"]), sample(tt["s_time_s"]), tt["p_time_s"], tt["s_time_s"], dist, az, baz,
                   np.sqrt(dist**2 + np.maximum(depth, 0.0) ** 2))
    return arr, tt


def simulate_records(
    event_lat, event_lon, depth_km, magnitude, station_lat, station_lon, *,
    seeds: Sequence[Any] | None = None,
    cfg: SimulateConfig | None = None,
    stress_drop_bar=None, strike_deg=None, dip_deg=None, rake_deg=None,
    vs30_m_s=None, site_factor=None, noise_level=None,
) -> tuple[np.ndarray, Arrivals]:
    """Simulate a batch of records (the baseline generator, vectorised).

    event_lat, event_lon : (n,) deg. depth_km : (n,) km. magnitude : (n,) Mw.
    station_lat, station_lon : (n,) deg. seeds : (n,) seeds (int or list of ints each);
    default ``range(n)``. Event/station parameters left as None are drawn per record from its
    seed (stress drop log-normal, random mechanism, log-normal site factor, noise level);
    vs30_m_s defaults to ``cfg.vs30_m_s``.

    Returns waveforms (n, n_components, n_samples) float32, m/s² (window and components of
    ``cfg.window``), and :class:`Arrivals` (exact onsets; NaN where outside the window).
    """
    cfg = cfg or SimulateConfig()
    n = int(np.broadcast(*(np.atleast_1d(np.asarray(a, dtype=float)) for a in (
        event_lat, event_lon, depth_km, magnitude, station_lat, station_lon))).size)

    def vec(a, default=None) -> np.ndarray:
        if a is None:
            a = default
        return np.broadcast_to(np.asarray(a, dtype=float), (n,)).copy()

    ev_lat, ev_lon, dep, mag, st_lat, st_lon = (vec(a) for a in (event_lat, event_lon, depth_km, magnitude,
                                                                 station_lat, station_lon))
    if not np.all(np.isfinite(mag)) or np.any(mag < -2) or np.any(mag > 9.5):
        raise ValueError("magnitude must be a finite Mw in [-2, 9.5]")
    if not np.all(np.isfinite(dep)) or np.any(dep < -10) or np.any(dep > 700):
        raise ValueError("depth_km must be within [-10, 700] km")
    seeds = list(range(n)) if seeds is None else list(seeds)
    if len(seeds) != n:
        raise ValueError(f"need one seed per record ({n}), got {len(seeds)}")
    keys = [list(np.atleast_1d(np.asarray(s, dtype=np.int64)).tolist()) for s in seeds]
    # per-record parameter draws where the caller gave none
    drawn = {k: np.empty(n) for k in ("stress_drop_bar", "strike_deg", "dip_deg", "rake_deg", "site_factor",
                                      "noise_level")}
    if any(a is None for a in (stress_drop_bar, strike_deg, dip_deg, rake_deg, site_factor, noise_level)):
        for k, key in enumerate(keys):
            r = np.random.default_rng(key + [0])
            s = int(r.integers(2**62))
            e = event_parameters([0], mag[k], s, cfg)
            st = station_parameters([0], s, cfg)
            for name in ("stress_drop_bar", "strike_deg", "dip_deg", "rake_deg"):
                drawn[name][k] = e[name][0]
            drawn["site_factor"][k] = st["site_factor"][0]
            drawn["noise_level"][k] = st["noise_level"][0]
    dsig = vec(stress_drop_bar, drawn["stress_drop_bar"])
    strike, dip, rake = vec(strike_deg, drawn["strike_deg"]), vec(dip_deg, drawn["dip_deg"]), vec(rake_deg, drawn["rake_deg"])
    vs30 = vec(vs30_m_s, cfg.vs30_m_s)
    sfac, nlev = vec(site_factor, drawn["site_factor"]), vec(noise_level, drawn["noise_level"])
    if np.any(dsig <= 0) or np.any(vs30 <= 0) or np.any(sfac <= 0):
        raise ValueError("stress drop, Vs30 and site factor must be positive")
    arr, tt = arrivals(ev_lat, ev_lon, dep, st_lat, st_lon, cfg)
    # P radiation for the P take-off angle, SV/SH for the S take-off angle
    fp, _, _ = radiation_pattern(strike, dip, rake, tt["p_takeoff_deg"], arr.azimuth_deg)
    _, fsv, fsh = radiation_pattern(strike, dip, rake, tt["s_takeoff_deg"], arr.azimuth_deg)
    g = cfg.radiation_isotropic_fraction
    vs_surf = vs30 / 1000.0
    inc_p = np.degrees(np.arcsin(np.clip(tt["p_slowness_s_per_km"] * math.sqrt(3.0) * vs_surf, 0, 1)))
    inc_s = np.degrees(np.arcsin(np.clip(tt["s_slowness_s_per_km"] * vs_surf, 0, 1)))
    rngs = [np.random.default_rng(key + [1]) for key in keys]
    waves = synthesize(
        magnitude=mag, stress_drop_bar=dsig, r_hyp_km=arr.hypocentral_distance_km,
        t_p_s=arr.p_time_s - cfg.window.offset_s, t_s_s=arr.s_time_s - cfg.window.offset_s,
        rad_p=effective_radiation(fp, "P", g), rad_sv=effective_radiation(fsv, "SV", g),
        rad_sh=effective_radiation(fsh, "SH", g), incidence_p_deg=inc_p, incidence_s_deg=inc_s,
        back_azimuth_deg=arr.back_azimuth_deg, vs30_m_s=vs30, site_factor=sfac, noise_level=nlev,
        rngs=rngs, cfg=cfg)
    return waves, arr


def simulate_record(event_lat: float, event_lon: float, depth_km: float, magnitude: float, station_lat: float,
                    station_lon: float, *, seed: int = 0, cfg: SimulateConfig | None = None,
                    **params: Any) -> tuple[np.ndarray, dict[str, float]]:
    """One scenario record: (n_components, n_samples) float32 m/s² and its arrivals.

    Arguments in degrees, km and Mw; ``params`` as in :func:`simulate_records` (stress_drop_bar,
    strike_deg, dip_deg, rake_deg, vs30_m_s, site_factor, noise_level). The dict holds
    ``p_sample``, ``s_sample`` (from the window start; NaN outside), ``p_time_s``, ``s_time_s``
    (from the origin), ``distance_km``, ``azimuth_deg``, ``back_azimuth_deg``.
    """
    waves, arr = simulate_records([event_lat], [event_lon], [depth_km], [magnitude], [station_lat], [station_lon],
                                  seeds=[seed], cfg=cfg, **params)
    info = {k: float(getattr(arr, k)[0]) for k in ("p_sample", "s_sample", "p_time_s", "s_time_s", "distance_km",
                                                   "azimuth_deg", "back_azimuth_deg", "hypocentral_distance_km")}
    return waves[0], info


# --- stores ------------------------------------------------------------------------------------

def select_pairs(events: pd.DataFrame, stations: pd.DataFrame, cfg: SimulateConfig) -> tuple[pd.DataFrame, dict]:
    """All event × station pairs that make a record: epicentral distance ≤ ``cfg.max_distance_km``,
    P after the window start and S + ``window.s_margin_s`` before its end (the validity rule
    of ingest). Returns one row per record (event_index, station_index, geometry, onsets),
    ordered by event then station, and counts of the pairs left out by reason."""
    ei, si = np.meshgrid(np.arange(len(events)), np.arange(len(stations)), indexing="ij")
    ei, si = ei.ravel(), si.ravel()
    dist, az, baz = geometry(events["latitude"].to_numpy()[ei], events["longitude"].to_numpy()[ei],
                             stations["latitude"].to_numpy()[si], stations["longitude"].to_numpy()[si])
    near = dist <= cfg.max_distance_km
    ei, si, dist, az, baz = ei[near], si[near], dist[near], az[near], baz[near]
    depth = events["depth_km"].to_numpy(dtype=float)[ei]
    tab = get_table(cfg.velocity_model, max(1500.0, float(np.max(dist, initial=0.0)) + 1.0))
    tt = tab.lookup(dist, depth) if dist.size else {"p_time_s": np.empty(0), "s_time_s": np.empty(0)}
    w = cfg.window
    end = w.offset_s + w.length_s
    ok_p = tt["p_time_s"] >= w.offset_s
    ok_s = tt["s_time_s"] + w.s_margin_s <= end
    keep = ok_p & ok_s
    skipped = {"beyond_max_distance": int((~near).sum()), "p_before_window": int((~ok_p).sum()),
               "s_plus_margin_after_window": int((ok_p & ~ok_s).sum())}
    pairs = pd.DataFrame({"event_index": ei[keep], "station_index": si[keep], "distance_km": dist[keep],
                          "azimuth_deg": az[keep], "back_azimuth_deg": baz[keep],
                          "p_time_s": tt["p_time_s"][keep], "s_time_s": tt["s_time_s"][keep]})
    return pairs, skipped


def _simulate_chunk(task: dict) -> tuple[np.ndarray, dict]:
    """Worker: one batch of records (plain arrays in, waveforms and arrivals out)."""
    from ..config import from_dict

    cfg = from_dict(SimulateConfig, task["cfg"])
    seeds = [[task["seed"], _RECORD, int(e), int(s)] for e, s in zip(task["event_index"], task["station_index"])]
    waves, arr = simulate_records(
        task["ev_lat"], task["ev_lon"], task["depth_km"], task["magnitude"], task["st_lat"], task["st_lon"],
        seeds=seeds, cfg=cfg, stress_drop_bar=task["stress_drop_bar"], strike_deg=task["strike_deg"],
        dip_deg=task["dip_deg"], rake_deg=task["rake_deg"], vs30_m_s=task["vs30_m_s"],
        site_factor=task["site_factor"], noise_level=task["noise_level"])
    return waves, {"p_sample": arr.p_sample, "s_sample": arr.s_sample}


def simulate_store(
    out: str | Path,
    events: pd.DataFrame,
    stations: pd.DataFrame,
    cfg: SimulateConfig | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    scenario: dict | None = None,
    inputs: Sequence[str | Path | None] = (),
    overwrite: bool = False,
) -> dict:
    """Simulate every valid event × station record into the store ``out`` (atomic write).

    events : as from :func:`read_catalog` / :func:`random_events`; stations : as from
    :func:`read_stations` / :func:`random_stations`. workers : processes (1 = in process); the
    store is identical for any number. scenario : free-form description kept in the provenance.
    inputs : files the events/stations were read from (``out`` may not hold them).
    overwrite : allow replacing an ``out`` that is neither empty nor a store
    (:func:`heggs.folders.claim`; checked before any simulation work).
    Returns a summary dict (records, events, stations, skipped pairs by reason, path).
    """
    from tqdm.auto import tqdm

    cfg = cfg or SimulateConfig()
    check_workers("--workers", workers)
    w = cfg.window
    check_output(out, "store", inputs, overwrite)
    pairs, skipped = select_pairs(events, stations, cfg)
    if pairs.empty:
        raise ValueError("no event-station pair is within max_distance_km with P and S + margin inside the window; "
                         f"skipped: {skipped}")
    ev_idx = np.arange(len(events))
    mags = events["magnitude"].to_numpy(dtype=float)
    ep = event_parameters(ev_idx, mags, seed, cfg)
    for c in ("stress_drop_bar", "strike_deg", "dip_deg", "rake_deg"):  # a catalog may fix them
        if c in events:
            given = pd.to_numeric(events[c], errors="coerce").to_numpy(dtype=float)
            ep[c] = np.where(np.isfinite(given), given, ep[c])
    sp = station_parameters(np.arange(len(stations)), seed, cfg)
    e, s = pairs["event_index"].to_numpy(), pairs["station_index"].to_numpy()
    cfg_dict = to_dict(cfg)
    bs = max(1, int(cfg.batch_size))
    tasks = []
    for a in range(0, len(pairs), bs):
        sl = slice(a, a + bs)
        ee, ss = e[sl], s[sl]
        tasks.append({
            "cfg": cfg_dict, "seed": int(seed), "event_index": ee, "station_index": ss,
            "ev_lat": events["latitude"].to_numpy(dtype=float)[ee], "ev_lon": events["longitude"].to_numpy(dtype=float)[ee],
            "depth_km": events["depth_km"].to_numpy(dtype=float)[ee], "magnitude": mags[ee],
            "st_lat": stations["latitude"].to_numpy(dtype=float)[ss], "st_lon": stations["longitude"].to_numpy(dtype=float)[ss],
            "stress_drop_bar": ep["stress_drop_bar"][ee], "strike_deg": ep["strike_deg"][ee],
            "dip_deg": ep["dip_deg"][ee], "rake_deg": ep["rake_deg"][ee],
            "vs30_m_s": stations["vs30_m_s"].to_numpy(dtype=float)[ss],
            "site_factor": sp["site_factor"][ss], "noise_level": sp["noise_level"][ss]})
    source_ids = events["event_id"].astype(str).to_numpy()
    splits = assign_splits(source_ids[e], cfg.split_fractions, cfg.split_seed)
    f_max = min(w.band_max_hz, w.nyquist_fraction * w.sampling_rate_hz / 2.0)
    fc = corner_frequency_hz(mags, ep["stress_drop_bar"], cfg.beta_km_s)
    provenance = f"simulated:{SIMULATOR};seed={seed};model={cfg.velocity_model}"
    attrs = {"heggs_simulator": SIMULATOR, "heggs_simulate_seed": int(seed),
             "heggs_simulate_config": cfg_dict, "heggs_simulate_scenario": scenario or {}}
    summary = {"records": int(len(pairs)), "events": int(len(events)),
               "events_with_records": int(np.unique(e).size), "stations": int(len(stations)),
               "skipped_pairs": skipped, "seed": int(seed), "simulator": SIMULATOR, "path": str(out),
               "splits": {k: int(v) for k, v in pd.Series(splits).value_counts().items()}}
    from obspy import UTCDateTime

    hold = ExitStack()  # the claim is taken before the pool starts: a refusal starts no work
    hold.enter_context(claim(out, "store", inputs, overwrite))
    if workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("spawn" if mp.get_start_method(allow_none=True) == "spawn" else "fork").Pool(workers)
        results = pool.imap(_simulate_chunk, tasks)
    else:
        pool = None
        results = map(_simulate_chunk, tasks)
    try:
        with StoreWriter(out, w.components, w.sampling_rate_hz, w.n_samples, attrs=attrs) as writer:
            bar = tqdm(total=len(pairs), desc="simulate", unit="rec", disable=not progress)
            row = 0
            ev_rows = events.to_dict("records")
            p_dist, p_az, p_baz, p_tp, p_ts = (pairs[c].to_numpy() for c in (
                "distance_km", "azimuth_deg", "back_azimuth_deg", "p_time_s", "s_time_s"))
            st_rows = stations.to_dict("records")
            for waves, arr in results:
                for k in range(waves.shape[0]):
                    i, j = int(e[row]), int(s[row])
                    ev, st = ev_rows[i], st_rows[j]
                    t0 = UTCDateTime(ev["origin_time"]) + w.offset_s
                    writer.add(waves[k], {
                        "source_id": source_ids[i], "source_origin_time": str(UTCDateTime(ev["origin_time"])),
                        "source_latitude_deg": float(ev["latitude"]), "source_longitude_deg": float(ev["longitude"]),
                        "source_depth_km": float(ev["depth_km"]), "source_magnitude": float(ev["magnitude"]),
                        "source_magnitude_type": "Mw",
                        "station_network_code": st["network"], "station_code": st["station"],
                        "station_location_code": st["location"], "station_latitude_deg": float(st["latitude"]),
                        "station_longitude_deg": float(st["longitude"]), "station_elevation_m": float(st["elevation_m"]),
                        "trace_channel": "HN", "trace_start_time": str(t0), "trace_units": UNITS_PHYSICAL,
                        "trace_P_arrival_sample": arr["p_sample"][k], "trace_S_arrival_sample": arr["s_sample"][k],
                        "trace_arrivals_source": "simulated", "trace_valid_start_sample": 0,
                        "trace_valid_end_sample": w.n_samples, "trace_band_min_hz": w.band_min_hz if cfg.bandpass else 0.0,
                        "trace_band_max_hz": f_max if cfg.bandpass else w.sampling_rate_hz / 2.0,
                        "path_ep_distance_km": float(p_dist[row]), "path_azimuth_deg": float(p_az[row]),
                        "path_back_azimuth_deg": float(p_baz[row]),
                        "split": splits[row], "provenance": provenance,
                        "source_stress_drop_bar": float(ep["stress_drop_bar"][i]),
                        "source_corner_frequency_hz": float(fc[i]),
                        "source_strike_deg": float(ep["strike_deg"][i]), "source_dip_deg": float(ep["dip_deg"][i]),
                        "source_rake_deg": float(ep["rake_deg"][i]),
                        "station_vs30_m_s": float(st["vs30_m_s"]), "station_site_factor": float(sp["site_factor"][j]),
                        "station_noise_level": float(sp["noise_level"][j]),
                        "trace_P_arrival_time_s": float(p_tp[row]), "trace_S_arrival_time_s": float(p_ts[row]),
                    })
                    row += 1
                bar.update(waves.shape[0])
            bar.close()
            writer.add_file("simulate_summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
            writer.add_file("simulate_config.json", json.dumps(cfg_dict, indent=2, sort_keys=True) + "\n")
            writer.add_file("simulate_events.csv", events.to_csv(index=False))
            writer.add_file("simulate_stations.csv", stations.to_csv(index=False))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        hold.close()
    return summary


def to_stream(waveform: np.ndarray, info: dict, origin_time: str = _BASE_ORIGIN, cfg: SimulateConfig | None = None,
              network: str = "SY", station: str = "SIM"):
    """An ObsPy Stream (channels HN<E/N/Z>, m/s², start = origin + window offset) of one record.

    waveform : (n_components, n_samples) float32, m/s². info : from :func:`simulate_record`;
    its P/S onsets go into ``stats.heggs``.
    """
    from obspy import Stream, Trace, UTCDateTime

    cfg = cfg or SimulateConfig()
    w = cfg.window
    t0 = UTCDateTime(origin_time) + w.offset_s
    st = Stream()
    for k, comp in enumerate(w.components.upper()):
        tr = Trace(np.asarray(waveform[k], dtype=np.float32))
        tr.stats.network, tr.stats.station, tr.stats.channel = network, station, f"HN{comp}"
        tr.stats.sampling_rate = w.sampling_rate_hz
        tr.stats.starttime = t0
        tr.stats.heggs = {"units": UNITS_PHYSICAL, **info}
        st.append(tr)
    return st
