"""Stage 1 (archive adapters) — ISOLA / BayesISOLA moment-tensor inputs.

ISOLA folders hold SAC files without coordinates, ``event.isl`` (epicentre, depth, magnitude,
origin), ``network.stn`` (station coordinates) and ``pzfiles/<STA><CHA>.pz`` poles-and-zeros
files. The PZ files are turned into an ObsPy Inventory (:func:`isola_response`) so ingest can
remove the response and store the records in m/s².
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from obspy import Inventory, UTCDateTime
from obspy.core.inventory import Channel, Network, Response, Station

from ..traveltimes import epicentral_distance_km
from .formats import is_regular_file, read_files, read_or_skip, read_quiet
from .instruments import instrument_id, split_instruments
from .records import EventInfo, Item, RawRecord, Skip, StationInfo


def parse_isola_stations(path: str | Path) -> dict[str, StationInfo]:
    """ISOLA ``network.stn``: ``NET:STA:LOC:BAND  lat  lon`` per line -> {station: StationInfo}."""
    out = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) < 3 or ":" not in parts[0]:
            continue
        ids = parts[0].split(":")
        net, sta = ids[0], ids[1]
        loc = ids[2] if len(ids) > 2 else ""
        out[sta] = StationInfo(net, sta, loc, float(parts[1]), float(parts[2]))
    return out


def parse_isola_event(path: str | Path, stations: dict[str, StationInfo] | None = None) -> EventInfo:
    """ISOLA ``event.isl``: epicentre (two numbers), depth km, magnitude, date YYYYMMDD, hour,
    minute, seconds, agency — one value per line.

    The order of the two epicentre numbers differs between ISOLA versions; when ``stations``
    are given, the order that puts the epicentre closer to the stations' mean position is used
    (otherwise latitude first unless the first value is out of [-90, 90]).
    """
    lines = [l.strip() for l in Path(path).read_text(errors="replace").splitlines() if l.strip()]
    if len(lines) < 7:
        raise ValueError(f"{path}: event.isl needs 7+ lines (epicentre, depth, mag, date, h, m, s)")
    a, b = (float(x) for x in lines[0].split()[:2])
    lat, lon = a, b
    if stations:
        mlat = float(np.mean([s.latitude for s in stations.values()]))
        mlon = float(np.mean([s.longitude for s in stations.values()]))
        if epicentral_distance_km(b, a, mlat, mlon) < epicentral_distance_km(a, b, mlat, mlon):
            lat, lon = b, a
    elif abs(a) > 90:
        lat, lon = b, a
    date = lines[3]
    t = UTCDateTime(f"{date[:4]}-{date[4:6]}-{date[6:8]}T{int(lines[4]):02d}:{int(lines[5]):02d}:00") + float(lines[6])
    agency = lines[7] if len(lines) > 7 else ""
    return EventInfo(
        event_id=f"{agency.lower() or 'isola'}{t.strftime('%Y%m%dT%H%M%S')}", origin_time=t,
        latitude=lat, longitude=lon, depth_km=float(lines[1]), magnitude=float(lines[2]),
        magnitude_type=None, provenance=f"ISOLA {Path(path)}" + (f" ({agency})" if agency else ""),
    )


def parse_isola_pz(path: str | Path) -> dict:
    """ISOLA poles-and-zeros file -> {"a0", "constant", "units_label", "zeros", "poles"}.

    Layout: ``A0`` / value / ``count-->m/sec[2]`` / constant / ``zeros`` / n / n lines /
    ``poles`` / n / n lines (rad/s). See :func:`isola_response` for how it is interpreted.
    """
    lines = [l.strip() for l in Path(path).read_text(errors="replace").splitlines()]
    lines = [l for l in lines if l]
    try:
        a0 = float(lines[1])
        label = lines[2]
        const = float(lines[3])
        nz = int(lines[5])
        zeros = [complex(*map(float, lines[6 + i].split()[:2])) for i in range(nz)]
        npo = int(lines[7 + nz])
        poles = [complex(*map(float, lines[8 + nz + i].split()[:2])) for i in range(npo)]
    except (IndexError, ValueError) as e:
        raise ValueError(f"{path}: not an ISOLA poles-and-zeros file ({e})") from e
    return {"a0": a0, "constant": const, "units_label": label, "zeros": zeros, "poles": poles}


def isola_response(pz: dict, ref_freq_hz: float = 1.0) -> Response:
    """ObsPy Response (ground velocity m/s -> counts) from an ISOLA PZ dict.

    Interpretation (documented because the files' label is misleading): ``A0·Π(s−z)/Π(s−p)`` is
    the full transfer function in counts per m/s, divided by ``constant`` (ISOLA's
    "count-->m/sec" factor, 1.0 in the BayesISOLA example). The poles at −0.037±0.037i and the
    two zeros at the origin are those of an STS-2-type velocity sensor and the passband gain
    (6.0e8 at 1 Hz for the STS-2 stations) equals 1500 V/(m/s) × 4e5 counts/V, so the input is
    ground velocity even though the files say ``count-->m/sec2``. Ingest converts to m/s².
    """
    s = 2j * np.pi * ref_freq_hz
    h = np.prod([s - z for z in pz["zeros"]]) / np.prod([s - p for p in pz["poles"]])
    gain = abs(pz["a0"] * h) / pz["constant"]
    resp = Response.from_paz(
        zeros=list(pz["zeros"]), poles=list(pz["poles"]), stage_gain=gain, stage_gain_frequency=ref_freq_hz,
        input_units="M/S", output_units="COUNTS", normalization_frequency=ref_freq_hz,
        normalization_factor=float(1.0 / abs(h)),
    )
    resp.recalculate_overall_sensitivity(ref_freq_hz)
    return resp


_ORIENT = {"E": (90.0, 0.0), "N": (0.0, 0.0), "Z": (0.0, -90.0)}


def bayesisola_records(root: str | Path) -> Iterator[Item]:
    """Records of ISOLA/BayesISOLA inputs (``event.isl``, ``network.stn``, ``pzfiles/STA+CHA.pz``,
    ``sac/STA+CHA.sac``; searched recursively under ``root``, one event per folder).

    SAC headers here carry no coordinates: stations come from ``network.stn``. For every channel
    with a PZ file an Inventory channel is built (:func:`isola_response`), so the record is in
    counts with a known response; an instrument lacking any PZ file gets no inventory and is
    reported by ingest ("no response") or kept in counts, as ingest decides.

    Every file goes through :func:`heggs.ingest.formats.read_or_skip`: an unreadable SAC file
    -> ``"unreadable file"``, ``event.isl`` -> ``"unreadable event file"``, ``network.stn`` ->
    ``"unreadable station file"``, PZ file -> ``"unreadable response file"`` (that channel then
    has no response); a folder without ``network.stn`` -> ``"no station coordinates"``.
    """
    root = Path(root)
    isl_files = sorted(root.rglob("event.isl"))
    if not isl_files:
        raise FileNotFoundError(f"{root}: no event.isl found")
    for isl in isl_files:
        folder = isl.parent
        stn = folder / "network.stn"
        if not stn.exists():
            yield Skip(str(isl), "no station coordinates", f"{folder}: event.isl without network.stn")
            continue
        stations = read_or_skip(stn, parse_isola_stations, reason="unreadable station file")
        if isinstance(stations, Skip):
            yield stations
            continue
        event = read_or_skip(isl, parse_isola_event, stations, reason="unreadable event file")
        if isinstance(event, Skip):
            yield event
            continue
        pz_dir = folder / "pzfiles"
        st, _, skips = read_files([p for p in sorted(folder.rglob("*.sac")) if is_regular_file(p)], read_quiet,
                                  format="SAC")
        yield from skips
        for key, sub in split_instruments(st).items():
            origin = f"{folder}#{instrument_id(key)}"
            sta = stations.get(key[1])
            if sta is None:
                yield Skip(origin, "no station coordinates", f"{key[1]} not in network.stn")
                continue
            net = key[0] or sta.network
            chans = []
            for tr in sub:
                tr.stats.network = net
                pzf = pz_dir / f"{key[1]}{tr.stats.channel}.pz"
                if not pzf.exists():
                    continue
                pz = read_or_skip(pzf, parse_isola_pz, reason="unreadable response file")
                if isinstance(pz, Skip):
                    yield pz  # the instrument then has no inventory: ingest keeps or reports it
                    continue
                az, dip = _ORIENT.get(tr.stats.channel[-1], (0.0, 0.0))
                chans.append(Channel(
                    code=tr.stats.channel, location_code=key[2], latitude=sta.latitude, longitude=sta.longitude,
                    elevation=sta.elevation_m, depth=0.0, azimuth=az, dip=dip,
                    sample_rate=tr.stats.sampling_rate, response=isola_response(pz),
                ))
            inv = None
            if len(chans) == len(sub):
                inv = Inventory(networks=[Network(net, stations=[Station(key[1], sta.latitude, sta.longitude, sta.elevation_m, channels=chans)])], source="heggs ISOLA PZ")
            station = StationInfo(net, key[1], key[2], sta.latitude, sta.longitude, sta.elevation_m)
            yield RawRecord(stream=sub, units="counts", origin=origin, inventory=inv, station=station, event=event)
