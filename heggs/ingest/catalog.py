"""Stage 1 — event catalogs: reading, matching and merging earthquake metadata.

Readers turn the catalog formats found in real archives into :class:`heggs.ingest.records.EventInfo`:

* QuakeML (and anything else ``obspy.read_events`` reads) — :func:`read_quakeml`;
* Nordic S-files (SEISAN REA) via ObsPy's NORDIC reader, with analyst P/S picks —
  :func:`read_nordic`;
* CSV tables — :func:`read_csv_catalog`, with flexible column names (see ``CSV_COLUMNS``).

:class:`Catalog` associates a header origin with the closest catalog origin (a sorted search
by origin time, then WGS84 distances, :func:`heggs.traveltimes.epicentral_distance_km`, to the
few candidates in the time window) and
:func:`merge_duplicates` collapses several locations of one earthquake (the same event located
twice in two S-files, Ridgecrest M7.1 in several gmprocess folders) into one canonical
``source_id`` so that splits by event stay leak-free.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from obspy import UTCDateTime

from ..traveltimes import epicentral_distance_km
from .records import EventInfo

#: Accepted CSV column names (case-insensitive), first match wins. ``time`` is required and may
#: be any string ``UTCDateTime`` parses (ISO 8601, with or without ``Z``); depth is in km,
#: positive down; a ``depth_m`` column is converted. ``id`` falls back to the origin time.
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "time": ("time", "origin_time", "origintime", "datetime", "source_origin_time"),
    "latitude": ("latitude", "lat", "evla", "source_latitude_deg"),
    "longitude": ("longitude", "lon", "long", "evlo", "source_longitude_deg"),
    "depth_km": ("depth", "depth_km", "evdp", "source_depth_km"),
    "depth_m": ("depth_m",),
    "magnitude": ("mag", "magnitude", "ml", "mw", "source_magnitude"),
    "magnitude_type": ("magtype", "mag_type", "magnitude_type", "source_magnitude_type"),
    "event_id": ("id", "event_id", "eventid", "evid", "source_id"),
}


# --- readers --------------------------------------------------------------------------------


def _from_obspy_event(ev, provenance: str, fallback_id: str) -> EventInfo | None:
    origin = ev.preferred_origin() or (ev.origins[0] if ev.origins else None)
    if origin is None or origin.latitude is None or origin.longitude is None:
        return None
    mag = ev.preferred_magnitude() or (ev.magnitudes[0] if ev.magnitudes else None)
    rid = str(ev.resource_id.id) if ev.resource_id is not None else ""
    event_id = rid.rstrip("/").split("/")[-1].split("=")[-1] if rid and "local/" not in rid else fallback_id
    picks: dict[str, dict[str, UTCDateTime]] = {}
    for p in ev.picks:
        phase = (p.phase_hint or "").strip().upper()[:1]
        if phase not in ("P", "S") or p.waveform_id is None:
            continue
        net = p.waveform_id.network_code or ""
        key = f"{net}.{p.waveform_id.station_code}" if net else str(p.waveform_id.station_code)
        # keep the first (earliest) pick per phase and station
        cur = picks.setdefault(key, {})
        if phase not in cur or p.time < cur[phase]:
            cur[phase] = p.time
    depth_km = (origin.depth or 0.0) / 1000.0
    return EventInfo(
        event_id=event_id,
        origin_time=origin.time,
        latitude=float(origin.latitude),
        longitude=float(origin.longitude),
        depth_km=float(depth_km),
        magnitude=None if mag is None or mag.mag is None else float(mag.mag),
        magnitude_type=None if mag is None else mag.magnitude_type,
        picks=picks,
        provenance=provenance,
    )


def read_quakeml(path: str | Path, format: str | None = None) -> list[EventInfo]:
    """Events of a QuakeML file (or any ``obspy.read_events`` format), picks included."""
    from obspy import read_events

    cat = read_events(str(path), format=format) if format else read_events(str(path))
    out = []
    for i, ev in enumerate(cat):
        info = _from_obspy_event(ev, str(path), f"{Path(path).stem}_{i}")
        if info is not None:
            out.append(info)
    return out


def read_nordic(path: str | Path) -> list[EventInfo]:
    """Events of a Nordic (SEISAN) S-file with origin, hypocentre, magnitude and P/S picks.

    The event id is the S-file ``ID:`` line (e.g. ``20130926151705``) when present, else the
    file name. Nordic picks carry no network: their keys are station codes only.
    """
    from obspy.io.nordic.core import read_nordic as _read

    cat = _read(str(path))
    ids = _nordic_ids(Path(path))
    out = []
    for i, ev in enumerate(cat):
        fallback = ids[i] if i < len(ids) else f"{Path(path).name}_{i}"
        info = _from_obspy_event(ev, str(path), fallback)
        if info is not None:
            info.event_id = fallback
            out.append(info)
    return out


def _nordic_ids(path: Path) -> list[str]:
    ids = []
    try:
        for line in path.read_text(errors="replace").splitlines():
            if len(line) >= 80 and line[79] == "I" and "ID:" in line:
                ids.append(line[line.index("ID:") + 3 :].split()[0][:14])
    except OSError:
        pass
    return ids


def _pick_column(columns: Sequence[str], names: Sequence[str]) -> str | None:
    lower = {c.lower().strip(): c for c in columns}
    for n in names:
        if n in lower:
            return lower[n]
    return None


def read_csv_catalog(path: str | Path, **read_csv_kwargs) -> list[EventInfo]:
    """Events of a CSV table; column names are matched as documented in ``CSV_COLUMNS``.

    Rows without a parsable time or coordinates raise ``ValueError`` naming the row; a missing
    magnitude is kept as ``None`` (ingest reports such records as "no magnitude").
    """
    df = pd.read_csv(path, **read_csv_kwargs)
    col = {k: _pick_column(list(df.columns), v) for k, v in CSV_COLUMNS.items()}
    missing = [k for k in ("time", "latitude", "longitude") if col[k] is None]
    if missing:
        raise ValueError(
            f"{path}: catalog CSV lacks column(s) {missing}; accepted names: "
            + "; ".join(f"{k}: {'/'.join(CSV_COLUMNS[k])}" for k in missing)
        )
    out = []
    for i, row in enumerate(df.itertuples(index=False)):
        r = dict(zip(df.columns, row))
        try:
            t = UTCDateTime(str(r[col["time"]]))
            lat, lon = float(r[col["latitude"]]), float(r[col["longitude"]])
        except Exception as e:  # noqa: BLE001 - report the row
            raise ValueError(f"{path}: row {i + 2}: cannot parse time/coordinates ({e})") from e
        if col["depth_km"] is not None and pd.notna(r[col["depth_km"]]):
            depth = float(r[col["depth_km"]])
        elif col["depth_m"] is not None and pd.notna(r[col["depth_m"]]):
            depth = float(r[col["depth_m"]]) / 1000.0
        else:
            depth = 0.0
        mag = r[col["magnitude"]] if col["magnitude"] is not None else None
        mag = None if mag is None or pd.isna(mag) else float(mag)
        mtype = r[col["magnitude_type"]] if col["magnitude_type"] is not None else None
        mtype = None if mtype is None or (isinstance(mtype, float) and math.isnan(mtype)) else str(mtype)
        eid = r[col["event_id"]] if col["event_id"] is not None else None
        if eid is None or (isinstance(eid, float) and math.isnan(eid)):
            eid = t.strftime("%Y%m%dT%H%M%S.%f")
        eid = str(eid)
        out.append(EventInfo(eid, t, lat, lon, depth, mag, mtype, provenance=str(path)))
    return out


def read_event_json(path: str | Path) -> EventInfo:
    """A gmprocess-style ``event.json`` (id, time, lat, lon, depth km, magnitude[, magnitude_type])
    or a USGS ComCat GeoJSON ``Feature``."""
    d = json.loads(Path(path).read_text())
    if d.get("type") == "Feature":  # USGS ComCat GeoJSON (time in ms since 1970)
        props, (lon, lat, depth) = d.get("properties", {}), d["geometry"]["coordinates"][:3]
        return EventInfo(
            event_id=str(d.get("id", Path(path).parent.name)),
            origin_time=UTCDateTime(float(props["time"]) / 1000.0),
            latitude=float(lat), longitude=float(lon), depth_km=float(depth or 0.0),
            magnitude=None if props.get("mag") is None else float(props["mag"]),
            magnitude_type=props.get("magType"), provenance=str(path),
        )
    if "time" not in d or "lat" not in d or "lon" not in d:
        raise ValueError(f"{path}: event.json needs time, lat, lon")
    return EventInfo(
        event_id=str(d.get("id", Path(path).parent.name)),
        origin_time=UTCDateTime(str(d["time"])),
        latitude=float(d["lat"]),
        longitude=float(d["lon"]),
        depth_km=float(d.get("depth", 0.0) or 0.0),
        magnitude=None if d.get("magnitude") is None else float(d["magnitude"]),
        magnitude_type=d.get("magnitude_type") or d.get("magtype"),
        origin_uncertainty_s=1.0,  # event.json times are given to the second
        provenance=str(path),
    )


def read_catalog(path: str | Path) -> list[EventInfo]:
    """Read any supported catalog file, choosing the reader by content.

    ``.json`` -> :func:`read_event_json`; ``.csv`` -> :func:`read_csv_catalog`; Nordic S-files (``*.S######`` names, or a first line
    whose column 80 is ``1``) -> :func:`read_nordic`; anything else -> :func:`read_quakeml`.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"catalog file not found: {p}")
    if p.suffix.lower() == ".json":
        return [read_event_json(p)]
    if p.suffix.lower() in (".csv", ".txt") and _looks_csv(p):
        return read_csv_catalog(p)
    if is_nordic(p):
        return read_nordic(p)
    return read_quakeml(p)


def _looks_csv(p: Path) -> bool:
    with open(p, errors="replace") as f:
        head = f.readline()
    return "," in head


def is_nordic(path: str | Path) -> bool:
    """True when ``path`` looks like a Nordic S-file (``*.S######`` name or a type-1 line)."""
    p = Path(path)
    if ".S" in p.name and p.name.rsplit(".S", 1)[-1][:6].isdigit() and len(p.name.rsplit(".S", 1)[-1]) == 6:
        return True
    try:
        with open(p, "rb") as f:
            first = f.read(82)
    except OSError:
        return False
    if not first[:80].isascii() or any(b < 32 for b in first[:80]):
        return False
    line = first.decode("ascii", errors="replace")
    return len(line) >= 80 and line[79] == "1" and line[0] == " " and line[1:5].isdigit()


# --- matching -------------------------------------------------------------------------------


class Catalog:
    """A set of events with vectorised association by origin time and epicentre.

    events : list of :class:`EventInfo`; kept sorted by origin time.
    """

    def __init__(self, events: Iterable[EventInfo] = ()):
        self.events: list[EventInfo] = sorted(events, key=lambda e: float(e.origin_time.timestamp))
        self._t = np.array([float(e.origin_time.timestamp) for e in self.events], dtype=np.float64)
        self._lat = np.array([e.latitude for e in self.events], dtype=np.float64)
        self._lon = np.array([e.longitude for e in self.events], dtype=np.float64)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path]) -> "Catalog":
        """Catalog of all events in ``paths`` (any mix of formats :func:`read_catalog` reads).

        A file that cannot be read raises ``ValueError`` naming it (whatever the parser raised).
        """
        events: list[EventInfo] = []
        for p in paths:
            try:
                events.extend(read_catalog(p))
            except Exception as e:  # ObsPy / pandas raise many types for a malformed file
                raise ValueError(f"{p}: not a readable catalog (QuakeML, Nordic S-file or CSV): "
                                 f"{' '.join(str(e).split())}") from None
        return cls(events)

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self):
        return iter(self.events)

    def between(self, t0: UTCDateTime, t1: UTCDateTime) -> list[EventInfo]:
        """Events with origin time in [t0, t1], in time order."""
        lo = np.searchsorted(self._t, float(UTCDateTime(t0).timestamp), side="left")
        hi = np.searchsorted(self._t, float(UTCDateTime(t1).timestamp), side="right")
        return self.events[lo:hi]

    def match(
        self,
        origin_time: UTCDateTime,
        latitude: float | None,
        longitude: float | None,
        max_dt_s: float = 60.0,
        max_km: float = 50.0,
    ) -> EventInfo | None:
        """The event closest in origin time within ``max_dt_s`` seconds and ``max_km`` km.

        ``latitude``/``longitude`` None: time only (a header without a location).
        """
        if not self.events:
            return None
        t = float(UTCDateTime(origin_time).timestamp)
        lo = np.searchsorted(self._t, t - max_dt_s, side="left")
        hi = np.searchsorted(self._t, t + max_dt_s, side="right")
        if hi <= lo:
            return None
        idx = np.arange(lo, hi)
        dt = np.abs(self._t[idx] - t)
        if latitude is not None and longitude is not None:
            km = epicentral_distance_km(latitude, longitude, self._lat[idx], self._lon[idx])
            ok = km <= max_km
            idx, dt = idx[ok], dt[ok]
        if idx.size == 0:
            return None
        return self.events[int(idx[np.argmin(dt)])]


def merge_duplicates(
    events: Iterable[EventInfo], max_dt_s: float = 3.0, max_km: float = 20.0, max_dmag: float = 1.0
) -> dict[str, str]:
    """Map every ``event_id`` to a canonical ``source_id`` shared by duplicate locations.

    Two events are duplicates when their origins differ by at most ``max_dt_s`` seconds and
    ``max_km`` km and (when both have one) their magnitudes by at most ``max_dmag``, and they
    come from different files (``provenance``: one catalog never lists an event twice, and an
    aftershock sequence has distinct events seconds apart); clusters are transitive. The
    defaults merge the Alpine Fault events located twice (0.3 s, ~1.6 km apart) and agency
    relocations of one event, but not swarm events ~10 s apart.
    The canonical id of a cluster is the id of its most precise member (smallest
    ``origin_uncertainty_s``), ties broken by the event with picks, then the smallest id, so
    the result does not depend on input order.
    """
    evs = sorted({e.event_id: e for e in events}.values(), key=lambda e: float(e.origin_time.timestamp))
    n = len(evs)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    t = np.array([float(e.origin_time.timestamp) for e in evs])
    for i in range(n):
        j = i + 1
        while j < n and t[j] - t[i] <= max_dt_s:
            a, b = evs[i], evs[j]
            close = epicentral_distance_km(a.latitude, a.longitude, b.latitude, b.longitude) <= max_km
            mag_ok = a.magnitude is None or b.magnitude is None or abs(a.magnitude - b.magnitude) <= max_dmag
            # one catalog never lists an event twice: rows of one file are distinct events
            same_file = bool(a.provenance) and a.provenance == b.provenance
            if close and mag_ok and not same_file:
                parent[find(j)] = find(i)
            j += 1
    clusters: dict[int, list[EventInfo]] = {}
    for i, e in enumerate(evs):
        clusters.setdefault(find(i), []).append(e)
    out: dict[str, str] = {}
    for members in clusters.values():
        best = min(members, key=lambda e: (e.origin_uncertainty_s, not e.picks, e.event_id))
        for e in members:
            out[e.event_id] = best.event_id
    return out
