"""Stage 1 (archive adapters) — SEISAN archives (kind ``eqcorrscan_alpine``).

A SEISAN archive (EQcorrscan's Alpine Fault test data layout) holds Nordic S-files under
``REA/`` naming WAV files under ``WAV/``, station coordinates in ``STATION0.HYP``, and here also
``SAC/<event>/*.sac`` files with full headers. :func:`eqcorrscan_alpine_records` is the adapter;
the S-file events come from :func:`heggs.ingest.catalog.read_nordic`, SAC header events from
:func:`heggs.ingest.headers.sac_event`. Every file is read through
:func:`heggs.ingest.formats.read_or_skip`: a bad S-file, WAV or SAC file is a reported skip.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np

from .catalog import read_nordic
from .formats import is_regular_file, read_files, read_or_skip, read_quiet, read_waveform_file
from .headers import header_station, sac_event
from .instruments import component_codes, instrument_id, keep_enz, split_instruments
from .records import Item, RawRecord, Skip, StationInfo


def _dms_minutes(deg: str, minutes: str) -> float:
    """SEISAN ``DDMM.mm`` pieces -> degrees; minutes without a point have 3 implied decimals."""
    m = minutes.strip()
    mval = float(m) if "." in m else float(m) / 1000.0
    return int(deg.strip() or 0) + mval / 60.0


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


def _read_sfile(path: Path):
    """(events, WAV names) of one S-file (raises on a file ObsPy's NORDIC reader rejects)."""
    return read_nordic(path), sfile_wav_names(path)


def _find_file(root: Path, name: str) -> Path | None:
    for p in root.rglob(name):
        if is_regular_file(p):
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
    ``"dead channel"``; an S-file ObsPy cannot read -> ``"unreadable event file"``, an empty
    one -> ``"no event"``; a WAV or SAC file ObsPy cannot read -> ``"unreadable file"``.

    ``include_sac``: also read ``root/SAC/<event>/*.sac`` (:func:`sac_folder_records`).
    """
    root = Path(root)
    hyp = root / "STATION0.HYP"
    if not is_regular_file(hyp):
        raise FileNotFoundError(f"{root}: no STATION0.HYP (station coordinates) found")
    stations = parse_station0_hyp(hyp)
    sfiles = sorted(p for p in (root / "REA").rglob("*") if is_regular_file(p) and re.search(r"\.S\d{6}$", p.name))
    if not sfiles:
        raise FileNotFoundError(f"{root}: no Nordic S-files under REA/")
    for sfile in sfiles:
        parsed = read_or_skip(sfile, _read_sfile, reason="unreadable event file")
        if isinstance(parsed, Skip):
            yield parsed
            continue
        events, wavs = parsed
        if not events:
            yield Skip(str(sfile), "no event", "S-file has no located origin")
            continue
        event = events[0]
        if not wavs:
            yield Skip(str(sfile), "no waveform file", "S-file names no WAV file")
        for name in wavs:
            wav = _find_file(root / "WAV", name)
            if wav is None:
                yield Skip(f"{sfile}:{name}", "no waveform file", f"{name} not found under WAV/")
                continue
            st = read_or_skip(wav, read_waveform_file)
            if isinstance(st, Skip):
                yield st
                continue
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
    if include_sac and (root / "SAC").is_dir():
        for folder in sorted({p.parent for p in (root / "SAC").rglob("*.sac")}):
            yield from sac_folder_records(folder)


def sac_folder_records(folder: str | Path, units: str = "counts") -> Iterator[Item]:
    """One record per instrument of the SAC files in ``folder``, metadata from the headers.

    Station coordinates from ``stla/stlo/stel``; the event from the header
    (:func:`heggs.ingest.headers.sac_event`, id = the folder's name); 1/2 channel azimuths
    from ``cmpaz``. ``units``: what the samples are (SAC headers rarely say reliably). A file
    that does not read as SAC is a reported skip.
    """
    folder = Path(folder)
    paths = sorted(folder.glob("*.sac")) + sorted(folder.glob("*.SAC"))
    st, _, skips = read_files([p for p in paths if is_regular_file(p)], read_quiet, format="SAC")
    yield from skips
    for key, sub in split_instruments(st).items():
        origin = f"{folder}#{instrument_id(key)}"
        s0 = sub[0].stats
        sta = header_station(sub[0])
        if sta is None:
            yield Skip(origin, "no station coordinates", "SAC header has no stla/stlo")
            continue
        az = {tr.stats.channel: float(tr.stats.sac.cmpaz) for tr in sub if tr.stats.channel[-1:] in "123" and "cmpaz" in tr.stats.sac}
        yield RawRecord(stream=sub, units=units, origin=origin, station=sta, event=sac_event(s0, event_id=folder.name, provenance=f"SAC header {folder}"), azimuths_deg=az)
