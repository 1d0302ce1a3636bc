"""Stage generation (inputs) — scenario targets and their guard rails.

A *target* is one record to generate: where the station is, where/when/how large the event is,
how many records (ensemble members, ``n_records``) and which seed. Targets come from command-line flags, a
scenario CSV (one row each) or a section layout (virtual stations along a line or on a grid).
Everything a user types is validated here, with errors that name the row and the field, before
any model runs. Validity against a model's training ranges is checked by
:func:`check_training_ranges` (warn, or refuse with ``strict``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
from obspy import UTCDateTime
from obspy.geodetics import kilometers2degrees

from .traveltimes import epicentral_distance_km

from .config import DEFAULT_ORIGIN_TIME, MAX_GENERATED_RECORDS

#: Columns a scenario CSV must have (case-insensitive); optional ones follow.
REQUIRED_COLUMNS = ("station_lat", "station_lon", "event_lat", "event_lon", "event_depth_km", "magnitude")
OPTIONAL_COLUMNS = ("origin_time", "n_records", "seed", "network", "station", "event_id", "magnitude_type")
#: Accepted alternative spellings of CSV columns.
ALIASES = {
    "stla": "station_lat", "stlo": "station_lon", "evla": "event_lat", "evlo": "event_lon",
    "evdp": "event_depth_km", "depth_km": "event_depth_km", "depth": "event_depth_km",
    "mag": "magnitude", "m": "magnitude", "time": "origin_time", "records": "n_records",
}
#: Old column names still read, with a DeprecationWarning: old name -> column.
DEPRECATED_COLUMNS = {"n_samples": "n_records", "samples": "n_records"}


class ScenarioError(ValueError):
    """Invalid scenario input; the message names the row (if any) and the field."""


class OutOfRangeWarning(UserWarning):
    """A target lies outside the ranges of the model's training data."""


@dataclass
class Target:
    """One scenario record to generate.

    station_lat, station_lon, event_lat, event_lon : degrees.
    event_depth_km : km, positive down (≥ −10).
    magnitude : as the model was trained (its magnitude type is stored in the checkpoint).
    origin_time : UTC; generated records start at origin_time + the model's window offset.
    n_records : ensemble members (records) for this target. seed : first member's seed (member k uses seed + k).
    """

    station_lat: float
    station_lon: float
    event_lat: float
    event_lon: float
    event_depth_km: float
    magnitude: float
    origin_time: UTCDateTime = field(default_factory=lambda: UTCDateTime(DEFAULT_ORIGIN_TIME))
    n_records: int = 1
    seed: int = 0
    network: str = "XX"
    station: str = "S0001"
    event_id: str = "scenario"
    magnitude_type: str = ""

    @property
    def distance_km(self) -> float:
        return float(epicentral_distance_km(self.event_lat, self.event_lon, self.station_lat, self.station_lon))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["origin_time"] = str(self.origin_time)
        return d


def _where(row: int | None, name: str) -> str:
    return f"row {row}, field {name!r}" if row is not None else f"field {name!r}"


def _number(value: Any, name: str, row: int | None) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ScenarioError(f"{_where(row, name)}: {value!r} is not a number") from None
    if not math.isfinite(x):
        raise ScenarioError(f"{_where(row, name)}: {value!r} is not a finite number")
    return x


def make_target(row: int | None = None, **values: Any) -> Target:
    """Validate plain values into a :class:`Target`; ``row`` only labels error messages."""
    missing = [c for c in REQUIRED_COLUMNS if values.get(c) is None or (isinstance(values.get(c), float) and math.isnan(values[c]))]
    if missing:
        raise ScenarioError(f"{'row ' + str(row) + ': ' if row is not None else ''}missing {', '.join(missing)}")
    v = {c: _number(values[c], c, row) for c in REQUIRED_COLUMNS}
    for c in ("station_lat", "event_lat"):
        if not -90.0 <= v[c] <= 90.0:
            raise ScenarioError(f"{_where(row, c)}: latitude {v[c]} outside [-90, 90]")
    for c in ("station_lon", "event_lon"):
        if not -180.0 <= v[c] <= 360.0:
            raise ScenarioError(f"{_where(row, c)}: longitude {v[c]} outside [-180, 360]")
        if v[c] > 180.0:
            v[c] -= 360.0
    if v["event_depth_km"] < -10.0:
        raise ScenarioError(f"{_where(row, 'event_depth_km')}: depth {v['event_depth_km']} km is below -10 km (depth is positive down)")
    if v["event_depth_km"] > 700.0:
        raise ScenarioError(f"{_where(row, 'event_depth_km')}: depth {v['event_depth_km']} km is deeper than any earthquake")
    if not -3.0 <= v["magnitude"] <= 10.0:
        raise ScenarioError(f"{_where(row, 'magnitude')}: magnitude {v['magnitude']} outside [-3, 10]")
    t = Target(**v)
    ot = values.get("origin_time")
    if ot is not None and not (isinstance(ot, float) and math.isnan(ot)) and str(ot).strip():
        try:
            t.origin_time = UTCDateTime(str(ot))
        except Exception:
            raise ScenarioError(f"{_where(row, 'origin_time')}: {ot!r} is not a date-time (use ISO 8601, e.g. 2024-01-01T00:00:00)") from None
    for name in ("n_records", "seed"):
        val = values.get(name)
        if val is None or (isinstance(val, float) and math.isnan(val)):
            continue
        x = _number(val, name, row)
        if x != int(x) or (name == "n_records" and x < 1) or (name == "seed" and x < 0):
            raise ScenarioError(f"{_where(row, name)}: {val!r} must be a {'positive' if name == 'n_records' else 'non-negative'} integer")
        setattr(t, name, int(x))
    for name in ("network", "station", "event_id", "magnitude_type"):
        val = values.get(name)
        if val is not None and not (isinstance(val, float) and math.isnan(val)) and str(val).strip():
            setattr(t, name, str(val).strip())
    if len(t.network) > 2 or len(t.station) > 5:
        raise ScenarioError(f"{_where(row, 'network/station')}: SEED codes are at most 2 (network) and 5 (station) characters")
    return t


def read_scenarios(path: str | Path, default_records: int = 1, default_seed: int = 0) -> list[Target | ScenarioError]:
    """Read a scenario CSV: one target per row (columns: :data:`REQUIRED_COLUMNS`,
    :data:`OPTIONAL_COLUMNS`, :data:`ALIASES`; described in docs/generate.md).

    Returns one entry per row: a :class:`Target` or the :class:`ScenarioError` of that row, so a
    caller can generate the good rows and report the bad ones (a bad row never loses the others).
    Missing *columns* raise at once, naming them. Rows without ``seed`` get
    ``default_seed + 1000 * row`` so rows never share noise.
    """
    try:
        df = pd.read_csv(path, comment="#", skipinitialspace=True)
    except Exception as e:  # unreadable, empty, not CSV
        raise ScenarioError(f"cannot read scenario CSV {path}: {e}") from None
    df.columns = [ALIASES.get(c.strip().lower(), c.strip().lower()) for c in df.columns]
    for old, new in DEPRECATED_COLUMNS.items():
        if old in df.columns:
            warnings.warn(f"scenario CSV {path}: column {old!r} is deprecated, name it {new!r} "
                          "(records per target)", DeprecationWarning, stacklevel=2)
            if new in df.columns:
                raise ScenarioError(f"scenario CSV {path} has both {old!r} and {new!r}; keep {new!r}")
            df = df.rename(columns={old: new})
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ScenarioError(f"scenario CSV {path} lacks column(s) {', '.join(missing)}; required: {', '.join(REQUIRED_COLUMNS)}")
    if df.empty:  # a header alone wrote "0 file(s)" with exit status 0
        raise ScenarioError(f"scenario CSV {path} has a header but no scenario rows")
    out: list[Target | ScenarioError] = []
    for i, rec in enumerate(df.to_dict("records"), start=1):
        rec.setdefault("n_records", default_records)
        if rec.get("seed") is None or (isinstance(rec.get("seed"), float) and math.isnan(rec["seed"])):
            rec["seed"] = default_seed + 1000 * i
        if rec.get("station") is None or (isinstance(rec.get("station"), float) and math.isnan(rec["station"])):
            rec["station"] = f"S{i:04d}"
        try:
            out.append(make_target(row=i, **rec))
        except ScenarioError as e:
            out.append(e)
    return out


def section_targets(
    event: Target,
    azimuth_deg: float = 0.0,
    max_distance_km: float = 100.0,
    n_stations: int = 10,
    min_distance_km: float | None = None,
    grid: bool = False,
) -> list[Target]:
    """Virtual stations for a scenario event: a line from the epicentre along ``azimuth_deg``
    (``n_stations`` equally spaced out to ``max_distance_km``), or with ``grid=True`` an
    ``n_stations × n_stations`` grid of half-width ``max_distance_km`` centred on the epicentre.

    Station coordinates use obspy's spherical geodesy; each gets its own station code and seed.
    """
    if n_stations < 1:
        raise ScenarioError("section needs at least one station")
    n_targets = n_stations ** 2 if grid else n_stations
    if n_targets > MAX_GENERATED_RECORDS:  # checked before any station is placed (a 5000² grid hung)
        raise ScenarioError(f"section of {n_targets:,} virtual stations (--n-stations {n_stations}"
                            f"{', --grid' if grid else ''}) is above the limit of {MAX_GENERATED_RECORDS:,} "
                            "(MAX_GENERATED_RECORDS)")
    if not 0 < max_distance_km < math.inf:
        raise ScenarioError(f"section max distance (--max-distance) must be a finite number of km > 0, got "
                            f"{max_distance_km}")
    if not math.isfinite(azimuth_deg):
        raise ScenarioError(f"section azimuth (--azimuth) must be a finite number of degrees, got {azimuth_deg}")
    targets = []

    def shifted(lat: float, lon: float, code: int) -> Target:
        t = Target(**{**asdict(event), "origin_time": event.origin_time})
        t.station_lat, t.station_lon = float(lat), float(lon)
        t.station = f"V{code:04d}"
        t.seed = event.seed + code
        return t

    if grid:
        half = kilometers2degrees(max_distance_km)
        lats = np.linspace(event.event_lat - half, event.event_lat + half, n_stations)
        coslat = max(math.cos(math.radians(event.event_lat)), 1e-3)
        lons = np.linspace(event.event_lon - half / coslat, event.event_lon + half / coslat, n_stations)
        for i, la in enumerate(lats):
            for j, lo in enumerate(lons):
                targets.append(shifted(np.clip(la, -90, 90), (lo + 180) % 360 - 180, i * n_stations + j))
        return targets
    d0 = max_distance_km / n_stations if min_distance_km is None else min_distance_km
    for k, d in enumerate(np.linspace(d0, max_distance_km, n_stations)):
        lat, lon = _destination(event.event_lat, event.event_lon, azimuth_deg, d)
        targets.append(shifted(lat, lon, k))
    return targets


def _destination(lat: float, lon: float, azimuth_deg: float, distance_km: float) -> tuple[float, float]:
    """Point at ``distance_km`` from (lat, lon) along ``azimuth_deg`` on a sphere (R = 6371 km)."""
    r = distance_km / 6371.0
    a, p1, l1 = math.radians(azimuth_deg), math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(r) + math.cos(p1) * math.sin(r) * math.cos(a))
    l2 = l1 + math.atan2(math.sin(a) * math.sin(r) * math.cos(p1), math.cos(r) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 180.0) % 360.0 - 180.0


#: quantities compared with a model's training ranges: name -> (Target attribute, label, unit)
RANGE_QUANTITIES = {
    "magnitude": ("magnitude", "magnitude", ""),
    "distance_km": ("distance_km", "distance", " km"),
    "depth_km": ("event_depth_km", "depth", " km"),
    "latitude": ("event_lat", "event latitude", "°"),
    "longitude": ("event_lon", "event longitude", "°"),
}


def range_violations(target: Target, ranges: dict[str, Any]) -> list[dict[str, Any]]:
    """Where one target lies outside a model's training ranges (see :func:`check_training_ranges`).

    Returns ``[{"quantity": "distance_km", "value": 2450.0, "range": [0.4, 39.0]}, ...]`` (plain
    floats, JSON-ready; quantity names of :data:`RANGE_QUANTITIES`), empty when in range.
    """
    out = []
    for key, (attr, _, _) in RANGE_QUANTITIES.items():
        lim = ranges.get(key)
        if lim is None:
            continue
        value, lo, hi = float(getattr(target, attr)), float(lim[0]), float(lim[1])
        if not lo <= value <= hi:
            out.append({"quantity": key, "value": value, "range": [lo, hi]})
    return out


def describe_violation(v: dict[str, Any]) -> str:
    """``"distance 2450 km > 39 km"`` for one entry of :func:`range_violations`."""
    _, label, unit = RANGE_QUANTITIES[v["quantity"]]
    lo, hi = v["range"]
    side, bound = (">", hi) if v["value"] > hi else ("<", lo)
    return f"{label} {v['value']:.3g}{unit} {side} {bound:.3g}{unit}"


def check_training_ranges(targets: Iterable[Target], ranges: dict[str, Any], strict: bool = False) -> list[str]:
    """Compare targets with a model's training ranges.

    ranges : dict with optional keys ``magnitude``, ``distance_km``, ``depth_km`` (each
        ``[min, max]``), ``latitude``/``longitude`` (event box, ``[min, max]``).
    Returns the messages; each is also issued as :class:`OutOfRangeWarning`, or, with
    ``strict``, the first one raises :class:`ScenarioError`. The same comparison as data:
    :func:`range_violations`.
    """
    msgs = []
    for t in targets:
        for v in range_violations(t, ranges):
            lo, hi = v["range"]
            msgs.append(
                f"target {t.network}.{t.station} (event {t.event_id}): {v['quantity']} = {v['value']:.3g} outside "
                f"the model's training range [{lo:.3g}, {hi:.3g}]"
            )
    for m in msgs:
        if strict:
            raise ScenarioError(m + " (refused: --strict)")
        warnings.warn(m, OutOfRangeWarning, stacklevel=2)
    return msgs
