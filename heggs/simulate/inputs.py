"""Stage simulate (inputs) — scenario events and stations for the simulator.

Random events uniform (in area) in a region with truncated Gutenberg–Richter magnitudes,
random stations, and readers for a user's scenario catalog and station list (CSV), with clear
errors on bad input (latitudes beyond ±90°, missing magnitudes, duplicate codes, ...).
Used by :mod:`heggs.simulate.simulator` and ``heggs simulate``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..config import SimulateConfig


def _check_coords(lat, lon, what: str) -> None:
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    if not np.all(np.isfinite(lat)) or not np.all(np.isfinite(lon)):
        raise ValueError(f"{what} latitude/longitude must be finite numbers")
    if np.any(np.abs(lat) > 90):
        raise ValueError(f"{what} latitude must be within ±90°, got {lat[np.abs(lat) > 90].ravel()[0]}")
    if np.any(np.abs(lon) > 360):
        raise ValueError(f"{what} longitude must be within ±180° (or 0..360°), got {lon[np.abs(lon) > 360].ravel()[0]}")


_BASE_ORIGIN = "2020-01-01T00:00:00"


def _parse_region(region: Sequence[float]) -> tuple[float, float, float, float]:
    if len(region) != 4:
        raise ValueError(f"region must be minlat,maxlat,minlon,maxlon, got {region!r}")
    la0, la1, lo0, lo1 = (float(x) for x in region)
    _check_coords([la0, la1], [lo0, lo1], "region")
    if not (la0 < la1 and lo0 < lo1):
        raise ValueError(f"region must have minlat < maxlat and minlon < maxlon, got {region!r}")
    return la0, la1, lo0, lo1


def _uniform_on_sphere(rng: np.random.Generator, n: int, region) -> tuple[np.ndarray, np.ndarray]:
    la0, la1, lo0, lo1 = region
    s0, s1 = math.sin(math.radians(la0)), math.sin(math.radians(la1))
    lat = np.degrees(np.arcsin(rng.uniform(s0, s1, n)))  # uniform in area, not in latitude
    return lat, rng.uniform(lo0, lo1, n)


def gutenberg_richter(u, mag_min: float, mag_max: float, b_value: float = 1.0) -> np.ndarray:
    """Truncated Gutenberg–Richter magnitudes from uniform numbers ``u`` (n,) in [0, 1)."""
    if not mag_max > mag_min:
        raise ValueError(f"mag_max ({mag_max}) must exceed mag_min ({mag_min})")
    if not (-2.0 <= mag_min and mag_max <= 9.5):  # the simulator's magnitude range (simulator.simulate_records)
        raise ValueError(f"magnitudes must lie within Mw [-2, 9.5] (--mag-min/--mag-max), got [{mag_min}, {mag_max}]")
    if not b_value > 0:
        raise ValueError(f"b-value must be positive, got {b_value}")
    beta = b_value * math.log(10.0)
    c = 1.0 - math.exp(-beta * (mag_max - mag_min))
    return mag_min - np.log(1.0 - np.asarray(u, dtype=float) * c) / beta


def random_events(n: int, region: Sequence[float], mag_min: float = 3.0, mag_max: float = 6.5,
                  b_value: float = 1.0, seed: int = 0, cfg: SimulateConfig | None = None) -> pd.DataFrame:
    """``n`` events uniform (in area) in ``region`` = (minlat, maxlat, minlon, maxlon), depths
    uniform in ``cfg.depth_range_km``, truncated Gutenberg–Richter Mw, origins one hour apart
    from 2020-01-01. Columns: event_id, origin_time, latitude, longitude, depth_km, magnitude,
    magnitude_type."""
    from obspy import UTCDateTime

    cfg = cfg or SimulateConfig()
    if n < 1:
        raise ValueError(f"number of events must be positive, got {n}")
    reg = _parse_region(region)
    rng = np.random.default_rng([int(seed), 10])
    lat, lon = _uniform_on_sphere(rng, n, reg)
    d0, d1 = cfg.depth_range_km
    depth = rng.uniform(d0, d1, n)
    mag = gutenberg_richter(rng.random(n), mag_min, mag_max, b_value)
    t0 = UTCDateTime(_BASE_ORIGIN)
    return pd.DataFrame({
        "event_id": [f"sim{seed}_ev{i:06d}" for i in range(n)],
        "origin_time": [str(t0 + 3600.0 * i) for i in range(n)],
        "latitude": lat, "longitude": lon, "depth_km": depth, "magnitude": np.round(mag, 2),
        "magnitude_type": "Mw"})


def random_stations(k: int, region: Sequence[float], seed: int = 0, cfg: SimulateConfig | None = None) -> pd.DataFrame:
    """``k`` stations uniform (in area) in ``region``: network "SY", codes S0000..., Vs30
    ``cfg.vs30_m_s``. Columns: network, station, location, latitude, longitude, elevation_m, vs30_m_s."""
    cfg = cfg or SimulateConfig()
    if k < 1:
        raise ValueError(f"number of stations must be positive, got {k}")
    rng = np.random.default_rng([int(seed), 20])
    lat, lon = _uniform_on_sphere(rng, k, _parse_region(region))
    return pd.DataFrame({"network": "SY", "station": [f"S{i:04d}" for i in range(k)], "location": "",
                         "latitude": lat, "longitude": lon, "elevation_m": 0.0, "vs30_m_s": cfg.vs30_m_s})


_ALIASES = {
    "latitude": ("latitude", "lat", "source_latitude_deg", "station_latitude_deg"),
    "longitude": ("longitude", "lon", "source_longitude_deg", "station_longitude_deg"),
    "depth_km": ("depth_km", "depth", "source_depth_km"),
    "magnitude": ("magnitude", "mag", "mw", "source_magnitude"),
    "event_id": ("event_id", "source_id", "id"),
    "origin_time": ("origin_time", "time", "source_origin_time"),
    "magnitude_type": ("magnitude_type", "source_magnitude_type"),
    "network": ("network", "net", "station_network_code"),
    "station": ("station", "sta", "code", "station_code"),
    "location": ("location", "loc", "station_location_code"),
    "elevation_m": ("elevation_m", "elevation", "station_elevation_m"),
    "vs30_m_s": ("vs30_m_s", "vs30"),
}


def _rename(df: pd.DataFrame, wanted: Sequence[str]) -> pd.DataFrame:
    low = {c.lower().strip(): c for c in df.columns}
    out = pd.DataFrame(index=df.index)
    for key in wanted:
        for alias in _ALIASES.get(key, (key,)):
            if alias in low:
                out[key] = df[low[alias]]
                break
    for c in ("strike_deg", "dip_deg", "rake_deg", "stress_drop_bar"):
        if c in low:
            out[c] = pd.to_numeric(df[low[c]], errors="coerce")
    return out


def read_catalog(path: str | Path) -> pd.DataFrame:
    """Scenario catalog CSV: latitude, longitude, depth_km, magnitude (Mw) required; event_id,
    origin_time, strike_deg, dip_deg, rake_deg, stress_drop_bar optional (SeisBench names such
    as source_latitude_deg are accepted too). Invalid rows raise ValueError with the row."""
    from obspy import UTCDateTime

    df = _rename(pd.read_csv(path), ["latitude", "longitude", "depth_km", "magnitude", "event_id", "origin_time",
                                     "magnitude_type"])
    missing = [c for c in ("latitude", "longitude", "depth_km", "magnitude") if c not in df]
    if missing:
        raise ValueError(f"catalog {path}: missing column(s) {missing}")
    if df.empty:
        raise ValueError(f"catalog {path} has no events")
    for c in ("latitude", "longitude", "depth_km", "magnitude"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
        bad = df[c].isna()
        if bad.any():
            raise ValueError(f"catalog {path}: row {int(np.argmax(bad.to_numpy())) + 1} has no valid {c}")
    _check_coords(df["latitude"], df["longitude"], f"catalog {path}: event")
    if (df["depth_km"] < -10).any() or (df["depth_km"] > 700).any():
        raise ValueError(f"catalog {path}: depth_km must be within [-10, 700]")
    if (df["magnitude"] < -2).any() or (df["magnitude"] > 9.5).any():
        raise ValueError(f"catalog {path}: magnitude must be within [-2, 9.5]")
    if "event_id" not in df:
        df["event_id"] = [f"ev{i:06d}" for i in range(len(df))]
    df["event_id"] = df["event_id"].astype(str)
    if df["event_id"].duplicated().any():
        raise ValueError(f"catalog {path}: duplicate event_id {df['event_id'][df['event_id'].duplicated()].iloc[0]!r}")
    t0 = UTCDateTime(_BASE_ORIGIN)
    if "origin_time" not in df:
        df["origin_time"] = [str(t0 + 3600.0 * i) for i in range(len(df))]
    df["origin_time"] = [str(UTCDateTime(str(t))) for t in df["origin_time"]]
    if "magnitude_type" in df and (df["magnitude_type"].astype(str).str.lower() != "mw").any():
        import warnings

        warnings.warn(f"catalog {path}: magnitudes are simulated as Mw whatever their given type", stacklevel=2)
    df["magnitude_type"] = "Mw"
    return df.reset_index(drop=True)


def read_stations(path: str | Path, cfg: SimulateConfig | None = None) -> pd.DataFrame:
    """Station CSV: latitude, longitude required; network, station, location, elevation_m,
    vs30_m_s optional (vs30 defaults to ``cfg.vs30_m_s``)."""
    cfg = cfg or SimulateConfig()
    df = _rename(pd.read_csv(path, dtype={"network": str, "station": str, "location": str}),
                 ["latitude", "longitude", "network", "station", "location", "elevation_m", "vs30_m_s"])
    missing = [c for c in ("latitude", "longitude") if c not in df]
    if missing:
        raise ValueError(f"stations {path}: missing column(s) {missing}")
    if df.empty:
        raise ValueError(f"stations {path} has no stations")
    for c in ("latitude", "longitude"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
        if df[c].isna().any():
            raise ValueError(f"stations {path}: row {int(np.argmax(df[c].isna().to_numpy())) + 1} has no valid {c}")
    _check_coords(df["latitude"], df["longitude"], f"stations {path}: station")
    df["network"] = df["network"].fillna("SY").astype(str) if "network" in df else "SY"
    df["station"] = df["station"].astype(str) if "station" in df else [f"S{i:04d}" for i in range(len(df))]
    df["location"] = df["location"].fillna("").astype(str) if "location" in df else ""
    df["elevation_m"] = pd.to_numeric(df["elevation_m"], errors="coerce").fillna(0.0) if "elevation_m" in df else 0.0
    vs = pd.to_numeric(df["vs30_m_s"], errors="coerce") if "vs30_m_s" in df else pd.Series(np.nan, index=df.index)
    df["vs30_m_s"] = vs.fillna(cfg.vs30_m_s)
    if (df["vs30_m_s"] <= 0).any():
        raise ValueError(f"stations {path}: vs30_m_s must be positive")
    key = df["network"] + "." + df["station"] + "." + df["location"]
    if key.duplicated().any():
        raise ValueError(f"stations {path}: duplicate station {key[key.duplicated()].iloc[0]!r}")
    return df.reset_index(drop=True)
