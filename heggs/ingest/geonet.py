"""Stage 1 (archive adapters) — reader for GeoNet (New Zealand) Volume 1 "V1A" accelerograms.

A V1A file holds three blocks (two horizontal components and "Up"), each: 16 text lines, 4
integer header lines and 6 real header lines (10 fixed-width fields each), then the samples,
10 per line in 8-character fields, in ``units of X mm/s/s`` (text line 11). Times are UT:

* event origin: integer line 1 fields 1–6 (year, month, day, hour, minute, 10 × second);
* record start: integer line 1 fields 9–10 (year, month), line 2 fields 9–10 (day, hour),
  line 4 fields 9–10 (minute, millisecond of the minute).

Component names are bearings (``N40W``, ``S65E``, ``Up``): horizontals become channels ``HN1``
and ``HN2`` with their azimuths (``RawRecord.azimuths_deg``), the vertical ``HNZ``. V2A files
(processed, band-passed) are not read here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from obspy import Stream, Trace, UTCDateTime

from .records import EventInfo, StationInfo

_TEXT, _INT, _REAL = 16, 4, 6
_DMS = r"(\d+)\s+(\d+)\s+(\d+)\s*([NS])\s+(\d+)\s+(\d+)\s+(\d+)\s*([EW])"


def is_geonet_v1a(path: str | Path) -> bool:
    """True for a GeoNet uncorrected (Volume 1) accelerogram file."""
    try:
        with open(path, errors="replace") as f:
            first = f.readline()
    except OSError:
        return False
    return first.startswith("Uncorrected accelerogram") and "GNS Science" in first


def bearing_to_azimuth(text: str) -> float | None:
    """``"N40W"`` -> 320, ``"S65E"`` -> 115, ``"N10E"`` -> 10, ``"S90E"`` -> 90; None for
    ``"Up"``/``"Down"`` or anything else."""
    m = re.match(r"^\s*([NS])\s*(\d+(?:\.\d+)?)\s*([EW])\s*$", text.upper())
    if m is None:
        return None
    a = float(m[2])
    az = {("N", "E"): a, ("N", "W"): 360.0 - a, ("S", "E"): 180.0 - a, ("S", "W"): 180.0 + a}[(m[1], m[3])]
    return az % 360.0


def _dms(m: re.Match) -> tuple[float, float]:
    lat = int(m[1]) + int(m[2]) / 60 + int(m[3]) / 3600
    lon = int(m[5]) + int(m[6]) / 60 + int(m[7]) / 3600
    return (-lat if m[4] == "S" else lat), (-lon if m[8] == "W" else lon)


def _fields(line: str, width: int = 8) -> list[str]:
    return [line[i : i + width].strip() for i in range(0, len(line.rstrip("\n")), width)]


def read_geonet_v1a(path: str | Path, network: str = "NZ") -> tuple[Stream, EventInfo, StationInfo, dict[str, float]]:
    """Read a V1A file: (stream in m/s², header event, station, {channel: azimuth}).

    Raises ``ValueError`` naming the file when a block is malformed.
    """
    path = Path(path)
    lines = path.read_text(errors="replace").splitlines()
    traces, azimuths = [], {}
    event = station = None
    i, n_horizontal = 0, 0
    while i < len(lines):
        if not lines[i].startswith("Uncorrected accelerogram"):
            i += 1
            continue
        text = lines[i : i + _TEXT]
        ints = [[int(x) for x in lines[i + _TEXT + k].split()] for k in range(_INT)]
        if len(text) < _TEXT or len(ints) < _INT or any(len(r) < 10 for r in ints):
            raise ValueError(f"{path}: truncated V1A header at line {i + 1}")
        npts = ints[3][0]
        unit = re.search(r"units of\s+([\d.]+)\s*mm/s/s\s+at intervals of\s+([\d.]+)\s*s", text[10])
        if unit is None:
            raise ValueError(f"{path}: no 'units of X mm/s/s at intervals of D s' on line {i + 11}")
        delta = float(unit[2])
        scale = float(unit[1]) / 1000.0  # -> m/s²
        start = UTCDateTime(ints[0][8], ints[0][9], ints[1][8], ints[1][9], ints[3][8]) + ints[3][9] / 1000.0
        n_lines = (npts + 9) // 10
        first = i + _TEXT + _INT + _REAL
        vals = [v for ln in lines[first : first + n_lines] for v in _fields(ln) if v]
        if len(vals) < npts:
            raise ValueError(f"{path}: block at line {i + 1} has {len(vals)} samples, header says {npts}")
        data = np.array(vals[:npts], dtype=np.float64) * scale
        comp = text[12].split("Component", 1)[-1].strip()
        az = bearing_to_azimuth(comp)
        if az is None:
            if not comp.lower().startswith("up"):
                raise ValueError(f"{path}: component {comp!r} not understood")
            channel = "HNZ"
        else:
            n_horizontal += 1
            channel = f"HN{n_horizontal}"
            azimuths[channel] = az
        site = re.search(_DMS, text[1])
        if site is None or not text[1].startswith("Site"):
            raise ValueError(f"{path}: cannot parse site line {text[1]!r}")
        if station is None:
            stla, stlo = _dms(site)
            station = StationInfo(network, text[1].split()[1], "", stla, stlo, 0.0)
        if event is None:
            epi = re.search(r"Epicentre\s+" + _DMS, text[8])
            mag = re.search(r"\b(M[A-Za-z]{0,2})\s+([\d.]+)\s*$", text[8])
            if epi is None:
                raise ValueError(f"{path}: cannot parse epicentre line {text[8]!r}")
            evla, evlo = _dms(epi)
            o = ints[0]
            origin = UTCDateTime(o[0], o[1], o[2], o[3], o[4]) + o[5] / 10.0
            event = EventInfo(
                event_id="geonet" + origin.strftime("%Y%m%d%H%M%S"), origin_time=origin, latitude=evla,
                longitude=evlo, depth_km=float(ints[1][6]), magnitude=float(mag[2]) if mag else None,
                magnitude_type=(mag[1] if mag and mag[1] != "M" else None), origin_uncertainty_s=1.0, provenance=f"GeoNet V1A header {path.name}",
            )
        tr = Trace(data=data)
        tr.stats.network, tr.stats.station, tr.stats.location = network, station.station, ""
        tr.stats.channel = channel
        tr.stats.delta = delta
        tr.stats.starttime = start
        traces.append(tr)
        i = first + n_lines
    if not traces:
        raise ValueError(f"{path}: no V1A block found")
    return Stream(traces), event, station, azimuths
