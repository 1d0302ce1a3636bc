"""Stage 1 (archive adapters) — reader for the Taiwan CWB (Central Weather Bureau) ASCII format.

CWB strong-motion files (as distributed with gmprocess' test data) are plain text: a ``#``
header naming the earthquake (origin in UTC+8, epicentre, depth, local magnitude ML) and the
station (code, coordinates, start time in UTC+8, sampling rate, amplitude unit ``gal``), then
four columns ``time U N E``. :func:`read_cwb` turns one file into an ObsPy Stream (channels
``HNZ/HNN/HNE``, or ``BN?`` below 80 Hz as SEED band codes require) in cm/s², the header
event and the station. Nothing else is done here: ingest converts units and windows the record.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from obspy import Stream, UTCDateTime

from .records import EventInfo, StationInfo, stream_from_columns

#: CWB header times are local time in Taiwan (UTC+8).
CWB_UTC_OFFSET_S = 8 * 3600.0

_HEADER_KEYS = {
    "origin time": "origin",
    "epicenterlongitude": "evlo",
    "epicenterlatitude": "evla",
    "depth": "evdp",
    "magnitude": "mag",
    "stationcode": "station",
    "stationname": "station_name",
    "stationlongitude": "stlo",
    "stationlatitude": "stla",
    "instrumentkind": "instrument",
    "starttime": "start",
    "recordlength": "length",
    "samplerate": "rate",
    "amplitudeunit": "unit",
    "datasequence": "sequence",
}


def is_cwb(path: str | Path) -> bool:
    """True when ``path`` starts like a CWB ASCII file (``#Earthquake Information``)."""
    try:
        with open(path, errors="replace") as f:
            return f.readline().strip().lower().startswith("#earthquake information")
    except OSError:
        return False


def parse_cwb_time(text: str) -> UTCDateTime:
    """``"2021/04/18-22:11:39"`` (UTC+8, optional fraction) -> UTC."""
    text = text.strip()
    fmt = "%Y/%m/%d-%H:%M:%S.%f" if "." in text else "%Y/%m/%d-%H:%M:%S"
    return UTCDateTime.strptime(text, fmt) - CWB_UTC_OFFSET_S


def parse_cwb_header(lines: list[str]) -> dict[str, str]:
    """Header lines (``#Key(unit): value``) -> {normalised key: value string}.

    Keys are lower-cased with the unit in parentheses removed, then mapped to short names
    (``origin``, ``evla``, ``evlo``, ``evdp``, ``mag``, ``station``, ``stla``, ``stlo``,
    ``start``, ``rate``, ``unit`` …); unknown keys are kept under their normalised name.
    """
    out: dict[str, str] = {}
    for line in lines:
        if not line.startswith("#") or ":" not in line:
            continue
        key, value = line[1:].split(":", 1)
        key = key.split("(")[0].strip().lower()
        out[_HEADER_KEYS.get(key, key)] = value.strip()
    return out


def read_cwb(path: str | Path, network: str = "TW") -> tuple[Stream, EventInfo, StationInfo]:
    """Read one CWB ASCII file.

    Returns ``(stream, event, station)``: stream of 3 traces (Z, N, E) in cm/s² (the file's
    ``gal``), start time converted from UTC+8 to UTC; the header event (id ``cwb`` + local
    origin ``YYYYmmddHHMM``, magnitude type ``ML``); the station coordinates.
    Raises ``ValueError`` naming the file on a malformed header or data block.
    """
    path = Path(path)
    header_lines: list[str] = []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            if not line.startswith("#"):
                break
            header_lines.append(line.rstrip("\n"))
            if line.lower().startswith("#data:"):
                break
    h = parse_cwb_header(header_lines)
    need = ("origin", "evla", "evlo", "evdp", "station", "stla", "stlo", "start", "rate")
    missing = [k for k in need if k not in h]
    if missing:
        raise ValueError(f"{path}: CWB header lacks {missing}")
    unit = h.get("unit", "gal").split(".")[0].strip().lower()
    if unit != "gal":
        raise ValueError(f"{path}: CWB amplitude unit {unit!r} not understood (expected gal)")
    data = np.loadtxt(path, comments="#", dtype=np.float64, ndmin=2)
    if data.shape[1] < 4:
        raise ValueError(f"{path}: expected 4 data columns (time U N E), got {data.shape[1]}")
    rate = float(h["rate"])
    start = parse_cwb_time(h["start"])
    sta = h["station"].strip()
    stream = stream_from_columns(data, {"Z": 1, "N": 2, "E": 3}, network, sta, rate, start)
    local_origin = UTCDateTime.strptime(h["origin"].strip(), "%Y/%m/%d-%H:%M:%S")
    mag = h.get("mag", "").strip()
    event = EventInfo(
        event_id="cwb" + local_origin.strftime("%Y%m%d%H%M"),
        origin_time=local_origin - CWB_UTC_OFFSET_S,
        latitude=float(h["evla"]),
        longitude=float(h["evlo"]),
        depth_km=float(h["evdp"]),
        magnitude=float(mag) if mag else None,
        magnitude_type="ML",
        origin_uncertainty_s=1.0,  # header origin is given to the second
        provenance=f"CWB header {path.name}",
    )
    station = StationInfo(network, sta, "", float(h["stla"]), float(h["stlo"]), 0.0)
    return stream, event, station
