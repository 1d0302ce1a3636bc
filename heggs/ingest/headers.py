"""Stage 1 (archive adapters) — one parser per header kind, shared by every adapter.

Event and station metadata that travel inside an archive's files are read here and nowhere
else, so a K-NET file, a SAC file or an ``event.json`` names the same event whichever adapter
(:mod:`heggs.ingest.generic`, :mod:`heggs.ingest.gmprocess`, :mod:`heggs.ingest.seisan`, ...)
reads it:

* ``event.json`` (gmprocess' flat form or a USGS ComCat GeoJSON ``Feature``) —
  :func:`read_event_json`;
* K-NET/KiK-net headers (ObsPy's ``stats.knet``) — :func:`knet_event`;
* SAC headers (``stats.sac``) — :func:`sac_event`, with the depth cleaning of
  :func:`sac_depth_km`;
* the strong-motion text formats (CWB, AFAD/NSMN, GeoNet V1A) whose readers put the header's
  event and station on the traces (``stats.header_event`` / ``stats.header_station``, see
  :mod:`heggs.ingest.formats`).

:func:`header_event` and :func:`header_station` pick the right one for any trace.
``origin_uncertainty_s`` always states how coarse the header's origin time is (K-NET: the JMA
origin to the minute, 60 s; SAC: to the millisecond, 0.01 s; event.json: see
:func:`read_event_json`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from obspy import UTCDateTime

from .records import EventInfo, StationInfo

#: K-NET/KiK-net headers give the JMA origin in Japan Standard Time (UTC+9) to the minute
JST_OFFSET_S = 9 * 3600.0
#: SAC's "undefined" value
SAC_UNDEFINED = -12345.0
#: header depths outside this range (km) are unusable (a catalog match must supply the depth)
DEPTH_RANGE_KM = (-10.0, 800.0)


def read_event_json(path: str | Path) -> EventInfo:
    """A gmprocess-style ``event.json`` (``id``, ``time``, ``lat``, ``lon``, ``depth`` km,
    ``magnitude`` [, ``magnitude_type`` / ``magType``]) or a USGS ComCat GeoJSON ``Feature``
    (time in ms since 1970, coordinates lon, lat, depth km).

    ``event_id``: the file's ``id`` (GeoJSON: ``id`` or ``properties.code``), else the name of
    the folder holding the file (gmprocess names event folders by event id).

    ``origin_uncertainty_s`` follows the resolution of the time actually written, so that a
    catalog origin within the match tolerance refines only origins that need it: a flat time
    string without a fraction of a second is known to 1.0 s, one with a fraction and a GeoJSON
    millisecond timestamp to 0.01 s. (Two readers disagreed before: 1.0 s for every flat file,
    or 0.01 s; a constant 1.0 s understated the precision of ComCat origins.)

    Raises ``ValueError`` (or ``KeyError`` / ``json.JSONDecodeError``) on a malformed file.
    """
    path = Path(path)
    d = json.loads(path.read_text())
    if not isinstance(d, dict):
        raise ValueError(f"{path}: event.json is not a JSON object")
    if d.get("type") == "Feature":
        p, g = d.get("properties") or {}, d["geometry"]["coordinates"]
        return EventInfo(
            event_id=str(d.get("id") or p.get("code") or path.parent.name),
            origin_time=UTCDateTime(float(p["time"]) / 1000.0), latitude=float(g[1]), longitude=float(g[0]),
            depth_km=float(g[2] or 0.0), magnitude=None if p.get("mag") is None else float(p["mag"]),
            magnitude_type=p.get("magType"), origin_uncertainty_s=0.01, provenance=str(path),
        )
    for k in ("time", "lat", "lon"):
        if k not in d:
            raise ValueError(f"{path}: event.json lacks {k!r}")
    return EventInfo(
        event_id=str(d.get("id") or path.parent.name), origin_time=UTCDateTime(str(d["time"])),
        latitude=float(d["lat"]), longitude=float(d["lon"]), depth_km=float(d.get("depth") or 0.0),
        magnitude=None if d.get("magnitude") is None else float(d["magnitude"]),
        magnitude_type=d.get("magnitude_type") or d.get("magType") or d.get("magtype"),
        origin_uncertainty_s=0.01 if "." in str(d["time"]) else 1.0, provenance=str(path),
    )


def knet_event(stats) -> EventInfo | None:
    """The event of a K-NET/KiK-net header (ObsPy ``stats.knet``), None when it names none.

    Id ``jma`` + the JST origin minute (``jmaYYYYmmddHHMM``), the way JMA names its events;
    magnitude type ``Mj``; ``origin_uncertainty_s`` 60 (the origin is given to the minute, so
    ingest refines it from a catalog or reports the record).
    """
    k = stats.get("knet")
    if k is None or "evot" not in k or "evla" not in k or "evlo" not in k:
        return None
    jst = k.evot + JST_OFFSET_S
    return EventInfo(
        event_id="jma" + jst.strftime("%Y%m%d%H%M"), origin_time=k.evot, latitude=float(k.evla),
        longitude=float(k.evlo), depth_km=float(k.get("evdp", 0.0)),
        magnitude=float(k.mag) if "mag" in k else None, magnitude_type="Mj",
        origin_uncertainty_s=60.0, provenance="K-NET header",
    )


def sac_depth_km(evdp: float | None) -> float:
    """SAC ``evdp`` -> depth in km: the SAC standard says km, but some writers store m (or mm):
    values beyond 1000 are divided by 1000 until they are not; a result outside
    ``DEPTH_RANGE_KM`` is NaN (unusable: a catalog match must supply it). A header without
    ``evdp`` gives 0 km (as every adapter did before)."""
    dep = 0.0 if evdp is None else float(evdp)
    if not math.isfinite(dep) or dep == SAC_UNDEFINED:
        return float("nan")
    while abs(dep) > 1000.0:
        dep /= 1000.0
    return dep if DEPTH_RANGE_KM[0] <= dep <= DEPTH_RANGE_KM[1] else float("nan")


def sac_event(stats, event_id: str | None = None, provenance: str = "SAC header") -> EventInfo | None:
    """The event of a SAC header (ObsPy ``stats.sac``), None when it lacks a location or an origin.

    Location ``evla``/``evlo`` (0, 0 is SAC writers' "unset"); origin = reference time + ``o``,
    or the reference time itself when ``iztype`` is IO (11); depth :func:`sac_depth_km`;
    magnitude ``mag`` unless undefined (-12345). ``event_id``: given by the adapter (e.g. the
    event folder's name), else ``sac_<origin>_<lat>_<lon>``. Origin known to 0.01 s.
    ``provenance``: where the header is; give each event folder its own (events of one
    provenance are never merged as duplicates, :func:`heggs.ingest.catalog.merge_duplicates`).
    """
    h = stats.get("sac")
    if h is None or "evla" not in h or "evlo" not in h:
        return None
    lat, lon = float(h["evla"]), float(h["evlo"])
    if lat == 0.0 and lon == 0.0 or SAC_UNDEFINED in (lat, lon):
        return None
    ref = stats.starttime - float(h.get("b", 0.0))
    if "o" in h and float(h["o"]) != SAC_UNDEFINED:
        t0 = ref + float(h["o"])
    elif int(h.get("iztype", 0)) == 11:  # IO: the reference time is the origin time
        t0 = ref
    else:
        return None
    mag = h.get("mag")
    mag = None if mag is None or float(mag) == SAC_UNDEFINED else float(mag)
    return EventInfo(
        event_id=event_id or f"sac_{t0.strftime('%Y%m%dT%H%M%S')}_{lat:.2f}_{lon:.2f}", origin_time=t0,
        latitude=lat, longitude=lon, depth_km=sac_depth_km(h.get("evdp")), magnitude=mag, magnitude_type=None,
        origin_uncertainty_s=0.01, provenance=provenance,
    )


def header_event(trace) -> EventInfo | None:
    """The event a trace's own file header names (K-NET, SAC, or a strong-motion text format
    whose reader set ``stats.header_event``), None when it names none."""
    s = trace.stats
    if "header_event" in s:
        return s.header_event
    if "knet" in s:
        return knet_event(s)
    if "sac" in s:
        return sac_event(s)
    return None


def header_station(trace) -> StationInfo | None:
    """Station coordinates from a trace's file header (SAC / K-NET ``stla``, ``stlo``,
    ``stel`` m; text formats: ``stats.header_station``), None when the header has none."""
    s = trace.stats
    if "header_station" in s:
        h = s.header_station
        return StationInfo(h.network, h.station, h.location, h.latitude, h.longitude, h.elevation_m)
    h = s.get("sac") or s.get("knet")
    if h and "stla" in h and "stlo" in h:
        return StationInfo(s.network, s.station, s.location, float(h["stla"]), float(h["stlo"]),
                           float(h.get("stel", 0.0)))
    return None
