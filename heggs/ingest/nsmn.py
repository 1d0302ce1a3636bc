"""Stage 1 (archive adapters) — reader for Turkish AFAD / NSMN strong-motion text files.

The "STRONG GROUND MOTION RECORDS OF TURKIYE" text format (as in gmprocess' test data): a
header of ``KEY : value`` lines (event origin in GMT, epicentre ``36.91980N-27.44350E``, depth
km, magnitude with its type, station id, coordinates and altitude, record start time in GMT
``dd/mm/yyyy HH:MM:SS.ffffff``, sampling interval), then three columns ``N-S E-W U-D`` in gal
(the header's "RAW PGA VALUES (gal)" equal the columns' maxima). :func:`read_nsmn` gives an
ObsPy Stream (``HN?`` at ≥ 80 Hz) in cm/s², the header event and the station.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from obspy import Stream, UTCDateTime

from .records import EventInfo, StationInfo, stream_from_columns

_FIRST_LINE = "STRONG GROUND MOTION RECORDS OF TURKIYE"


def is_nsmn(path: str | Path) -> bool:
    """True when ``path`` starts like an AFAD/NSMN text record."""
    try:
        with open(path, encoding="latin-1") as f:
            return f.readline().strip().upper().startswith(_FIRST_LINE)
    except OSError:
        return False


def parse_latlon(text: str) -> tuple[float, float]:
    """``"36.91980N-27.44350E"`` -> (36.9198, 27.4435); S and W give negative values."""
    m = re.match(r"^\s*([\d.]+)\s*([NS])\s*-?\s*([\d.]+)\s*([EW])\s*$", text.upper())
    if m is None:
        raise ValueError(f"cannot parse coordinates {text!r}")
    lat = float(m[1]) * (-1 if m[2] == "S" else 1)
    lon = float(m[3]) * (-1 if m[4] == "W" else 1)
    return lat, lon


def read_nsmn(path: str | Path, network: str = "TK") -> tuple[Stream, EventInfo, StationInfo]:
    """Read one AFAD/NSMN text file: (stream Z/N/E in cm/s², header event, station).

    The event id is ``afad`` + origin ``YYYYmmddHHMM`` (UTC). Raises ``ValueError`` naming the
    file when the header lacks a field or the data block is malformed.
    """
    path = Path(path)
    header: dict[str, str] = {}
    n_header = 0
    with open(path, encoding="latin-1") as f:
        for n_header, line in enumerate(f, start=1):
            if re.match(r"^\s*N-S\s+E-W\s+U-D\s*$", line):
                break
            if ":" in line:
                k, v = line.split(":", 1)
                header[k.strip().upper()] = v.strip()
        else:
            raise ValueError(f"{path}: no 'N-S E-W U-D' data header line")

    def get(key: str) -> str:
        for k, v in header.items():
            if k.startswith(key):
                return v
        raise ValueError(f"{path}: NSMN header lacks {key!r}")

    origin = UTCDateTime.strptime(get("EARTHQUAKE DATE").split("(")[0].strip(), "%Y/%m/%d %H:%M:%S")
    evla, evlo = parse_latlon(get("EPICENTER COORDINATES"))
    mag_parts = get("EARTHQUAKE MAGNITUDE").split()
    stla, stlo = parse_latlon(get("STATION COORDINATES"))
    start = UTCDateTime.strptime(get("RECORD TIME").split("(")[0].strip(), "%d/%m/%Y %H:%M:%S.%f")
    delta = float(get("SAMPLING INTERVAL"))
    data = np.loadtxt(path, skiprows=n_header, encoding="latin-1", ndmin=2)
    if data.shape[1] != 3:
        raise ValueError(f"{path}: expected 3 data columns (N-S E-W U-D), got {data.shape[1]}")
    rate = 1.0 / delta
    sta = get("STATION ID").strip()
    stream = stream_from_columns(data, {"Z": 2, "N": 0, "E": 1}, network, sta, rate, start)
    event = EventInfo(
        event_id="afad" + origin.strftime("%Y%m%d%H%M"), origin_time=origin, latitude=evla, longitude=evlo,
        depth_km=float(get("EARTHQUAKE DEPTH")), magnitude=float(mag_parts[0]) if mag_parts else None,
        magnitude_type=mag_parts[1] if len(mag_parts) > 1 else None, origin_uncertainty_s=1.0,
        provenance=f"NSMN header {path.name}",
    )
    alt = header.get("STATION ALTITUDE (M)", "0").strip() or "0"
    station = StationInfo(network, sta, "", stla, stlo, float(alt))
    return stream, event, station
