"""Stage 1 — archive adapters: source-specific glue between real archives and ingest.

An adapter walks one archive (a folder laid out the way its source publishes it) and yields,
lazily, :class:`heggs.ingest.records.RawRecord` (one instrument at one station for one event, raw
channels in the file's units, with whatever station / response / event metadata the source
has) or :class:`heggs.ingest.records.Skip` (an input that cannot become a record, with its reason).
Adapters never process waveforms: units, rotation, band, resampling, window, validity,
arrivals, catalog association and the report belong to :func:`heggs.ingest.run.ingest`.

``ADAPTERS`` maps a source kind to its adapter; :func:`detect_kind` recognises a layout from
its files. Kinds:

``gmprocess``         gmprocess-style event folders (MSEED+StationXML, SAC, K-NET/KiK-net, CWB
                      ASCII; other strong-motion formats are reported "format not supported").
                      :func:`source_catalog` gives the catalog to match headers against.
``eqcorrscan_alpine`` SEISAN: Nordic S-files (``REA/``) naming WAV files (``WAV/``), station
                      coordinates from ``STATION0.HYP``; plus SAC files with full headers.
``iceland_dike``      QuakeMigrate output: ``<id>.m`` MSEED, ``<id>.event``, ``<id>.picks``,
                      ``*_stations.txt``.
``bayesisola``        ISOLA inputs: SAC + ``event.isl`` + ``network.stn`` + ``pzfiles/*.pz``
                      (:mod:`heggs.ingest.isola`; PZ files -> Inventory, records in m/s²).
``pysep``             MSEED + StationXML + QuakeML in one folder (recursively).
``seisbench``         an existing SeisBench-format dataset (``metadata.csv`` + ``waveforms.hdf5``;
                      :mod:`heggs.ingest.seisbench`).

gmprocess lives in :mod:`heggs.ingest.gmprocess` (with the CWB reader :mod:`heggs.ingest.cwb`).
"""

from __future__ import annotations

import re
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from obspy import Stream, UTCDateTime, read

from .catalog import read_nordic
from .records import EventInfo, RawRecord, Skip, StationInfo

Item = RawRecord | Skip

# --- shared helpers ---------------------------------------------------------------------------


def split_instruments(stream: Stream) -> "OrderedDict[tuple[str, str, str, str], Stream]":
    """Group traces by instrument: (network, station, location, first two channel letters).

    Order of first appearance is kept. ``stream`` is not modified (traces are shared).
    """
    groups: OrderedDict[tuple[str, str, str, str], Stream] = OrderedDict()
    for tr in stream:
        s = tr.stats
        key = (s.network, s.station, s.location, s.channel[:2])
        groups.setdefault(key, Stream()).append(tr)
    return groups


def instrument_id(key: tuple[str, str, str, str]) -> str:
    """``("NZ", "WEL", "10", "HH")`` -> ``"NZ.WEL.10.HH?"``."""
    return f"{key[0]}.{key[1]}.{key[2]}.{key[3]}?"


def component_codes(stream: Stream) -> set[str]:
    """Last letters of the channel codes, e.g. ``{"E", "N", "Z"}``."""
    return {tr.stats.channel[-1:] for tr in stream}


def keep_enz(stream: Stream) -> Stream:
    """When one instrument has both E/N/Z and other (1/2/3) channels, keep the E/N/Z ones."""
    if {"E", "N", "Z"} <= component_codes(stream):
        return Stream([tr for tr in stream if tr.stats.channel[-1:] in "ENZ"])
    return stream


def read_quiet(path: Path | str, **kw) -> Stream:
    """``obspy.read`` with ObsPy's format warnings (SAC sample-spacing rounding etc.) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read(str(path), **kw)


def _dms_minutes(deg: str, minutes: str) -> float:
    """SEISAN ``DDMM.mm`` pieces -> degrees; minutes without a point have 3 implied decimals."""
    m = minutes.strip()
    mval = float(m) if "." in m else float(m) / 1000.0
    return int(deg.strip() or 0) + mval / 60.0


# --- SEISAN (eqcorrscan_alpine) ---------------------------------------------------------------


def parse_station0_hyp(path: str | Path) -> dict[str, StationInfo]:
    """Station lines of a SEISAN ``STATION0.HYP`` -> {station code: StationInfo}.

    Fixed columns (0-based): station 1–5 (4-letter codes start at 2), latitude degrees 6–7,
    minutes 8–12 (``F5.2`` or ``F5.3`` with implied decimals), N/S at 13, longitude degrees
    14–16, minutes 17–21, E/W at 22, elevation (m) 23–26. Lines whose station code starts
    with ``.`` (disabled duplicates) and non-station lines (``RESET TEST``, model lines) are
    ignored; the first definition of a code wins. Network is unknown here (``""``).
    """
    out: dict[str, StationInfo] = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        if len(line) < 23 or line[13] not in "NS" or line[22] not in "EW":
            continue
        code = line[1:6].strip()
        if not code or code.startswith(".") or " " in code:
            continue
        try:
            lat = _dms_minutes(line[6:8], line[8:13])
            lon = _dms_minutes(line[14:17], line[17:22])
            elev = float(line[23:27]) if line[23:27].strip() else 0.0
        except ValueError:
            continue
        if line[13] == "S":
            lat = -lat
        if line[22] == "W":
            lon = -lon
        out.setdefault(code, StationInfo("", code, "", lat, lon, elev))
    return out


def sfile_wav_names(path: str | Path) -> list[str]:
    """WAV file names listed on the type-6 lines of a Nordic S-file."""
    names = []
    for line in Path(path).read_text(errors="replace").splitlines():
        if len(line) >= 80 and line[79] == "6":
            names.append(line[1:79].strip())
    return names


def _find_file(root: Path, name: str) -> Path | None:
    for p in root.rglob(name):
        if p.is_file():
            return p
    return None


def _station_for(key: tuple[str, str, str, str], table: dict[str, StationInfo]) -> StationInfo | None:
    info = table.get(key[1])
    if info is None:
        return None
    return StationInfo(key[0], key[1], key[2], info.latitude, info.longitude, info.elevation_m)


def eqcorrscan_alpine_records(root: str | Path, include_sac: bool = True) -> Iterator[Item]:
    """Records of a SEISAN-style archive (EQcorrscan's Alpine Fault test data layout).

    Every Nordic S-file under ``root/REA`` gives the event (origin, hypocentre, magnitude, P/S
    picks, via :func:`heggs.ingest.catalog.read_nordic`) and names its WAV file(s) under ``root/WAV``;
    each instrument in a WAV file becomes one record in counts (no response: the two RESP files
    in the test data cover one channel each, so a three-component record cannot be converted;
    they are not used). An event located twice (two S-files) yields the records of both WAV
    files, each tagged with its own S-file event; ingest merges the duplicate locations.

    Skips: instruments with channels named 1/2 (nothing in a SEISAN archive gives their
    azimuths) -> ``"1/2 channels without azimuth"``; stations missing from ``STATION0.HYP`` ->
    ``"no station coordinates"``; S-files without a WAV file -> ``"no waveform file"``;
    instruments with a constant channel (SEISAN writes -2147483648 for missing data) ->
    ``"dead channel"``.

    ``include_sac``: also read ``root/SAC/<event>/*.sac`` (headers carry coordinates, event,
    component azimuths; reference time = origin when ``iztype`` is IO).
    """
    root = Path(root)
    hyp = root / "STATION0.HYP"
    if not hyp.exists():
        raise FileNotFoundError(f"{root}: no STATION0.HYP (station coordinates) found")
    stations = parse_station0_hyp(hyp)
    sfiles = sorted(p for p in (root / "REA").rglob("*") if p.is_file() and re.search(r"\.S\d{6}$", p.name))
    if not sfiles:
        raise FileNotFoundError(f"{root}: no Nordic S-files under REA/")
    for sfile in sfiles:
        events = read_nordic(sfile)
        if not events:
            yield Skip(str(sfile), "no event", "S-file has no located origin")
            continue
        event = events[0]
        wavs = sfile_wav_names(sfile)
        if not wavs:
            yield Skip(str(sfile), "no waveform file", "S-file names no WAV file")
        for name in wavs:
            wav = _find_file(root / "WAV", name)
            if wav is None:
                yield Skip(f"{sfile}:{name}", "no waveform file", f"{name} not found under WAV/")
                continue
            st = read_quiet(wav)
            for key, sub in split_instruments(st).items():
                origin = f"{wav}#{instrument_id(key)}"
                enz = keep_enz(sub)
                if len(enz) < len(sub):
                    extra = sorted(tr.stats.channel for tr in sub if tr not in enz)
                    yield Skip(f"{origin} {extra}", "duplicate (co-located instrument)", f"{extra} beside E/N/Z channels of the same band; E/N/Z kept")
                sub = enz
                comps = component_codes(sub)
                if comps & {"1", "2"}:
                    yield Skip(origin, "1/2 channels without azimuth", "SEISAN WAV; no azimuth in S-file, STATION0.HYP or RESP")
                    continue
                sta = _station_for(key, stations)
                if sta is None:
                    yield Skip(origin, "no station coordinates", f"{key[1]} not in STATION0.HYP")
                    continue
                dead = [tr.stats.channel for tr in sub if tr.stats.npts and np.all(tr.data == tr.data[0])]
                if dead:
                    yield Skip(origin, "dead channel", f"{dead} constant ({sub[0].data[0]}: SEISAN fill value when -2147483648)")
                    continue
                yield RawRecord(stream=sub, units="counts", origin=origin, station=sta, event=event)
    if include_sac:
        for folder in sorted({p.parent for p in (root / "SAC").rglob("*.sac")} if (root / "SAC").exists() else []):
            yield from sac_folder_records(folder)


def _sac_event(stats, folder: Path) -> EventInfo | None:
    """EventInfo from SAC header fields (origin = reference time + o, or the reference time
    itself when iztype is IO). None when the header has no location or no origin time."""
    sac = stats.sac
    if "evla" not in sac or "evlo" not in sac or (sac.evla == 0 and sac.evlo == 0):
        return None
    ref = stats.starttime - float(sac.get("b", 0.0))
    if "o" in sac:
        t0 = ref + float(sac.o)
    elif int(sac.get("iztype", 0)) == 11:  # IO: reference time is the origin time
        t0 = ref
    else:
        return None
    depth = float(sac.get("evdp", 0.0))
    # SAC's evdp is in km (older files) or m; values from unit-confused writers are scaled down
    while abs(depth) > 1000.0:
        depth /= 1000.0
    mag = float(sac.mag) if "mag" in sac and sac.mag not in (-12345.0,) else None
    return EventInfo(
        event_id=folder.name, origin_time=t0, latitude=float(sac.evla), longitude=float(sac.evlo),
        depth_km=depth, magnitude=mag, magnitude_type=None, provenance=f"SAC header {folder}",
    )


def sac_folder_records(folder: str | Path, units: str = "counts") -> Iterator[Item]:
    """One record per instrument of the SAC files in ``folder``, metadata from the headers.

    Station coordinates from ``stla/stlo/stel``; the event from ``evla/evlo/evdp/mag`` and the
    origin (``o`` marker, or the reference time when ``iztype`` is IO); 1/2 channel azimuths
    from ``cmpaz``. ``units``: what the samples are (SAC headers rarely say reliably).
    """
    folder = Path(folder)
    st = Stream()
    for p in sorted(folder.glob("*.sac")) + sorted(folder.glob("*.SAC")):
        st += read_quiet(p, format="SAC")
    for key, sub in split_instruments(st).items():
        origin = f"{folder}#{instrument_id(key)}"
        s0 = sub[0].stats
        sac = s0.sac
        if "stla" not in sac or "stlo" not in sac:
            yield Skip(origin, "no station coordinates", "SAC header has no stla/stlo")
            continue
        sta = StationInfo(key[0], key[1], key[2], float(sac.stla), float(sac.stlo), float(sac.get("stel", 0.0)))
        az = {tr.stats.channel: float(tr.stats.sac.cmpaz) for tr in sub if tr.stats.channel[-1:] in "123" and "cmpaz" in tr.stats.sac}
        yield RawRecord(stream=sub, units=units, origin=origin, station=sta, event=_sac_event(s0, folder), azimuths_deg=az)


# --- QuakeMigrate (iceland_dike) --------------------------------------------------------------


def parse_qm_event(path: str | Path) -> EventInfo:
    """A QuakeMigrate ``.event`` CSV (one row) -> EventInfo.

    Columns used: ``EventID``, ``DT`` (origin, UTC), ``X`` = longitude, ``Y`` = latitude,
    ``Z`` = depth (km), ``ML`` (empty -> magnitude None). Magnitude type ``ML``.
    """
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != 1:
        raise ValueError(f"{path}: expected one event row, found {len(rows)}")
    r = {k.strip(): (v or "").strip() for k, v in rows[0].items()}
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
    import csv

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
    import csv

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
    reports them as "no magnitude").
    """
    root = Path(root)
    st_files = sorted(root.glob("*stations*.txt"))
    if not st_files:
        raise FileNotFoundError(f"{root}: no *stations*.txt station file found")
    stations: dict[str, StationInfo] = {}
    for p in st_files:
        stations.update(parse_qm_stations(p))
    events = sorted(root.glob("*.event"))
    if not events:
        raise FileNotFoundError(f"{root}: no QuakeMigrate .event files")
    for evf in events:
        event = parse_qm_event(evf)
        picks_f = evf.with_suffix(".picks")
        if picks_f.exists():
            event.picks = parse_qm_picks(picks_f)
        wav = evf.with_suffix(".m")
        if not wav.exists():
            yield Skip(str(evf), "no waveform file", f"{wav.name} missing")
            continue
        st = read_quiet(wav)
        for key, sub in split_instruments(st).items():
            origin = f"{wav}#{instrument_id(key)}"
            sta = stations.get(key[1])
            if sta is None:
                yield Skip(origin, "no station coordinates", f"{key[1]} not in station file")
                continue
            sta = StationInfo(key[0], key[1], key[2], sta.latitude, sta.longitude, sta.elevation_m)
            yield RawRecord(stream=sub, units="counts", origin=origin, station=sta, event=event)


# --- MSEED + StationXML + QuakeML (pysep) -----------------------------------------------------


def pysep_records(root: str | Path) -> Iterator[Item]:
    """Records of folders holding MSEED + StationXML (+ QuakeML) files, as PySEP writes them.

    This is :func:`heggs.ingest.generic.scan_archive` on ``root``: each folder's StationXML gives the
    inventory (counts with response) and its single-event QuakeML the event; a sub-folder
    without its own event file inherits the parent's event only for traces within an hour of
    its origin (PySEP's ``test_12Z_data`` belongs to another day: ``event=None``, so ingest
    associates it by time or reports "no event match").
    """
    from .generic import scan_archive

    root = Path(root)
    if not any(p.suffix.lower() in (".mseed", ".ms", ".miniseed") for p in root.rglob("*")):
        raise FileNotFoundError(f"{root}: no MSEED files")
    yield from scan_archive(root)


# --- registry ---------------------------------------------------------------------------------


def bayesisola_records(root: str | Path, **kw) -> Iterator[Item]:
    """See :func:`heggs.ingest.isola.bayesisola_records`."""
    from .isola import bayesisola_records as impl

    yield from impl(root, **kw)


def gmprocess_records(root: str | Path, **kw) -> Iterator[Item]:
    """See :func:`heggs.ingest.gmprocess.gmprocess_records`."""
    from .gmprocess import gmprocess_records as impl

    yield from impl(root, **kw)


def seisbench_records(root: str | Path, **kw) -> Iterator[Item]:
    """See :func:`heggs.ingest.seisbench.seisbench_records`."""
    from .seisbench import seisbench_records as impl

    yield from impl(root, **kw)


ADAPTERS: dict[str, Callable[..., Iterator[Item]]] = {
    "gmprocess": gmprocess_records,
    "eqcorrscan_alpine": eqcorrscan_alpine_records,
    "iceland_dike": iceland_dike_records,
    "bayesisola": bayesisola_records,
    "pysep": pysep_records,
    "seisbench": seisbench_records,
}


def detect_kind(path: str | Path) -> str | None:
    """Recognise an archive layout from its files; None when nothing fits.

    seisbench: ``metadata*.csv`` + ``waveforms*.hdf5``; eqcorrscan_alpine: ``STATION0.HYP`` or
    ``REA/`` with S-files; iceland_dike: ``*.event`` + ``*.m``; bayesisola: ``event.isl``;
    gmprocess: ``event.json`` in sub-folders or K-NET/CWB files; pysep: MSEED + XML.
    """
    p = Path(path)
    if not p.is_dir():
        return None
    names = {q.name for q in p.iterdir()}
    if any(n.startswith("metadata") and n.endswith(".csv") for n in names) and any(
        n.startswith("waveforms") and n.endswith(".hdf5") for n in names
    ):
        return "seisbench"
    if "STATION0.HYP" in names or ((p / "REA").is_dir() and (p / "WAV").is_dir()):
        return "eqcorrscan_alpine"
    if any(n.endswith(".event") for n in names) and any(n.endswith(".m") for n in names):
        return "iceland_dike"
    if next(p.rglob("event.isl"), None) is not None:
        return "bayesisola"
    if "event.json" in names or any(q.name == "event.json" for q in p.glob("*/event.json")) or any(
        q.name == "event.json" for q in p.glob("*/*/event.json")
    ):
        return "gmprocess"
    exts = {q.suffix.lower() for q in p.rglob("*") if q.is_file()}
    if exts & {".mseed", ".ms", ".miniseed"} and ".xml" in exts:
        return "pysep"
    return None


def iter_archive(path: str | Path, kind: str | None = None, **options) -> Iterator[Item]:
    """Records of the archive at ``path`` (``kind`` detected when None)."""
    kind = kind or detect_kind(path)
    if kind is None:
        raise ValueError(f"{path}: archive layout not recognised; pass kind= one of {sorted(ADAPTERS)}")
    if kind not in ADAPTERS:
        raise ValueError(f"unknown archive kind {kind!r}; known: {sorted(ADAPTERS)}")
    return ADAPTERS[kind](Path(path), **options)


def source_catalog(path: str | Path, kind: str | None = None) -> list[EventInfo]:
    """Events an archive carries besides its file headers (for ingest's catalog matching).

    gmprocess: every ``event.json`` plus catalog CSVs in the tree; other kinds: events come
    with their records, so the list is empty.
    """
    kind = kind or detect_kind(path)
    if kind == "gmprocess":
        from .gmprocess import gmprocess_catalog

        return gmprocess_catalog(path)
    return []
