"""Stage 1 (archive adapters) — QuakeMigrate outputs (kind ``iceland_dike``).

QuakeMigrate writes per event ``<id>.m`` (MSEED, counts, no response), ``<id>.event`` (one CSV
row: origin, hypocentre, ML) and ``<id>.picks`` (CSV), with stations in ``*stations*.txt``.
:func:`iceland_dike_records` is the adapter; every file is read through
:func:`heggs.ingest.formats.read_or_skip`, so a malformed ``.event``, ``.picks`` or ``.m`` is a
reported skip and the other events are ingested.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from obspy import UTCDateTime

from .formats import is_regular_file, read_or_skip, read_waveform_file
from .instruments import instrument_id, split_instruments
from .records import EventInfo, Item, RawRecord, Skip, StationInfo


def parse_qm_event(path: str | Path) -> EventInfo:
    """A QuakeMigrate ``.event`` CSV (one row) -> EventInfo.

    Columns used: ``EventID``, ``DT`` (origin, UTC), ``X`` = longitude, ``Y`` = latitude,
    ``Z`` = depth (km), ``ML`` (empty -> magnitude None). Magnitude type ``ML``.
    Raises ``ValueError`` on a malformed file.
    """
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != 1:
        raise ValueError(f"{path}: expected one event row, found {len(rows)}")
    r = {str(k).strip(): (v or "").strip() for k, v in rows[0].items() if isinstance(v, str) or v is None}
    for k in ("EventID", "DT", "X", "Y", "Z"):
        if not r.get(k):
            raise ValueError(f"{path}: column {k} missing or empty")
    ml = r.get("ML", "")
    return EventInfo(
        event_id=r["EventID"], origin_time=UTCDateTime(r["DT"]), latitude=float(r["Y"]),
        longitude=float(r["X"]), depth_km=float(r["Z"]), magnitude=float(ml) if ml else None,
        magnitude_type="ML", provenance=f"QuakeMigrate {Path(path).name}",
    )


def parse_qm_picks(path: str | Path) -> dict[str, dict[str, UTCDateTime]]:
    """A QuakeMigrate ``.picks`` CSV -> {station: {"P": t, "S": t}} (only real picks:
    rows whose ``PickTime`` is ``-1`` are modelled times, not picks, and are left out)."""
    out: dict[str, dict[str, UTCDateTime]] = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            t = (r.get("PickTime") or "").strip()
            phase = (r.get("Phase") or "").strip().upper()[:1]
            if not t or t == "-1" or phase not in ("P", "S"):
                continue
            out.setdefault(r["Station"].strip(), {})[phase] = UTCDateTime(t)
    return out


def parse_qm_stations(path: str | Path, network: str = "") -> dict[str, StationInfo]:
    """QuakeMigrate station file (``Latitude,Longitude,Elevation,Name``; elevation in km)."""
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            name = r["Name"].strip()
            out[name] = StationInfo(network, name, "", float(r["Latitude"]), float(r["Longitude"]), 1000.0 * float(r["Elevation"]))
    return out


def iceland_dike_records(root: str | Path) -> Iterator[Item]:
    """Records of QuakeMigrate outputs: per event ``<id>.m`` (MSEED, counts, no response),
    ``<id>.event``, ``<id>.picks``; stations from ``*stations*.txt``.

    Every instrument of the event's MSEED file is a record with the event (picks attached,
    keyed by station code). Events without ML are passed on with ``magnitude=None`` (ingest
    reports them as "no magnitude"). Skips: an unreadable station file -> ``"unreadable
    station file"``; an unreadable ``.event`` -> ``"unreadable event file"`` (its ``.m`` is
    not read); an unreadable ``.picks`` -> ``"unreadable pick file"`` (the event is kept
    without picks; ingest uses modelled arrivals); a missing ``.m`` -> ``"no waveform file"``;
    an unreadable ``.m`` -> ``"unreadable file"``.
    """
    root = Path(root)
    st_files = sorted(p for p in root.glob("*stations*.txt") if is_regular_file(p))
    if not st_files:
        raise FileNotFoundError(f"{root}: no *stations*.txt station file found")
    stations: dict[str, StationInfo] = {}
    for p in st_files:
        table = read_or_skip(p, parse_qm_stations, reason="unreadable station file")
        if isinstance(table, Skip):
            yield table
            continue
        stations.update(table)
    events = sorted(p for p in root.glob("*.event") if is_regular_file(p))
    if not events:
        raise FileNotFoundError(f"{root}: no QuakeMigrate .event files")
    for evf in events:
        event = read_or_skip(evf, parse_qm_event, reason="unreadable event file")
        if isinstance(event, Skip):
            yield event
            continue
        picks_f = evf.with_suffix(".picks")
        if picks_f.exists():
            picks = read_or_skip(picks_f, parse_qm_picks, reason="unreadable pick file")
            if isinstance(picks, Skip):
                yield picks
            else:
                event.picks = picks
        wav = evf.with_suffix(".m")
        if not wav.exists():
            yield Skip(str(evf), "no waveform file", f"{wav.name} missing")
            continue
        st = read_or_skip(wav, read_waveform_file)  # a truncated MSEED is a skip, not a short record
        if isinstance(st, Skip):
            yield st
            continue
        for key, sub in split_instruments(st).items():
            origin = f"{wav}#{instrument_id(key)}"
            sta = stations.get(key[1])
            if sta is None:
                yield Skip(origin, "no station coordinates", f"{key[1]} not in station file")
                continue
            sta = StationInfo(key[0], key[1], key[2], sta.latitude, sta.longitude, sta.elevation_m)
            yield RawRecord(stream=sub, units="counts", origin=origin, station=sta, event=event)
