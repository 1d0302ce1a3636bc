"""Stage 1 (archive adapters) — gmprocess-style strong-motion archives.

gmprocess' test data (and archives users build with it) are event folders holding waveforms in
many agency formats plus an ``event.json`` naming the event — sometimes the WRONG one (a
KiK-net folder labelled with an April event holds June records). Trust order, as docs/data-contract.md
asks: the file header's event first (K-NET/KiK-net, CWB), then the folder's ``event.json``
only when its origin falls inside the record, else none (ingest associates the record with
:func:`gmprocess_catalog` by time, or reports "no event match").

Events named by folders: the nearest ``event.json``, then the catalog event whose id is the
folder's name (gmprocess names event folders by ComCat id; ``travel_times/ci37218996`` holds
records starting 30 s before ci37218996's origin, within minutes of other Ridgecrest events);
the first of these whose origin lies in the record is the record's event.

Read here (every file through :func:`heggs.ingest.formats.read_waveform_file`, header events
through :mod:`heggs.ingest.headers`, so the generic scan reads the same files the same way):
MSEED + StationXML (counts with response), SAC (CSN files are in g), K-NET/KiK-net
(KiK-net borehole sensors are reported, the surface one kept), CWB ASCII
(:mod:`heggs.ingest.cwb`, UTC+8 headers), AFAD/NSMN text (:mod:`heggs.ingest.nsmn`, gal), GeoNet V1A
(:mod:`heggs.ingest.geonet`, raw mm/s², 1/2 azimuths from the component bearings). Every other
format (COSMOS, DMG/CSMIP, GeoNet V2A = processed, ESM ASCII, BHRC, UNAM, USC, ASDF) is reported as ``Skip(reason="format not
supported", detail=<format>)``, one per record (files differing only in the component code are
one record); DMG/COSMOS headers naming a building or structure say so in the detail. ESM ASCII
would be easy to read, but its "C" files are processed (band-passed 0.1–30 Hz): ingest would
label them with a 45 Hz band edge, and a RawRecord cannot yet carry a pre-applied band limit.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Iterator

import numpy as np
from obspy import Inventory, Stream, read_events, read_inventory

from .catalog import read_csv_catalog
from .cwb import is_cwb
from .formats import file_units, header_azimuths, is_regular_file, read_files, read_or_skip, read_waveform_file
from .geonet import is_geonet_v1a
from .headers import header_event, header_station, knet_event, read_event_json
from .instruments import instrument_id, split_instruments
from .nsmn import is_nsmn
from .records import EventInfo, Item, RawRecord, Skip, StationInfo

G = 9.80665  # m/s² per g
#: a folder's event.json names a record only if its origin lies in [start - this, end]
EVENT_JSON_LEAD_S = 600.0

_MSEED_EXT = {".mseed", ".ms", ".miniseed"}
_META_EXT = {".json", ".csv", ".xml", ".txt", ".md", ".png", ".pdf"}
_KNET_RE = re.compile(r"^[A-Z]{3}[A-Z0-9]{3}\d{10}\.(EW|NS|UD)[12]?$")
_COMP_RE = re.compile(r"([._-](?:HN|BN|HH|BH|EN|HL|SH|EH))[ENZ123](?=[._-])")


def gmprocess_catalog(root: str | Path) -> list[EventInfo]:
    """All events of a gmprocess tree: every ``event.json`` and every CSV that reads as a
    catalog (``multiple_events/catalog.csv``, ``travel_times/*.csv``). Unreadable files are
    ignored (tutorial CSVs are not catalogs)."""
    root = Path(root)
    out: list[EventInfo] = []
    for p in sorted(root.rglob("event.json")):
        got = read_or_skip(p, read_event_json)  # reported by gmprocess_records
        if not isinstance(got, Skip):
            out.append(got)
    for p in sorted(root.rglob("*.csv")):
        if "reference" in p.relative_to(root).parts:
            continue
        try:
            out.extend(read_csv_catalog(p))
        except Exception:  # noqa: BLE001 - not a catalog
            continue
    return out


def unsupported_format(path: Path) -> str:
    """Name of a strong-motion text format gmprocess reads but we do not (from the content)."""
    if path.suffix.lower() in (".h5", ".hdf5", ".asdf"):
        return "ASDF"
    try:
        with open(path, errors="replace") as f:
            head = [f.readline() for _ in range(8)]
    except OSError:
        return "unreadable"
    text = "".join(head)
    first = head[0]
    up = text.upper()
    if re.match(r"^\d{3}[a-z]\d{2}[a-z]{2}\.[a-z]\d[a-z]$", path.name) or (
        first.upper().startswith("CORRECTED ACCELEROGRAM") and " FILE " in first.upper()
    ):
        fmt = "USC"
    elif "(FORMAT V" in first.upper():
        fmt = "COSMOS"
    elif "GNS SCIENCE" in up or path.suffix.upper() in (".V1A", ".V2A"):
        fmt = "GeoNet " + path.suffix.upper().lstrip(".")
    elif "CSMIP" in up or "ACCELEROGRAM DATA" in up or "CORRECTED ACCELEROGRAM" in first.upper() and "FROM" in first.upper():
        fmt = "DMG (CSMIP)"
    elif "TURKIYE" in up or "AFAD" in up:
        fmt = "AFAD/NSMN"
    elif "VOL1DS" in up or "VOL2DS" in up:
        fmt = "BHRC"
    elif "UNAM" in up:
        fmt = "UNAM"
    elif "EVENT_NAME:" in up or "NETWORK:" in up and "EVENT_ID:" in up:
        fmt = "ESM ASCII"
    else:
        fmt = f"unknown ({path.suffix or path.name})"
    if re.search(r"\bBLDG\b|BUILDING|\d+-STORY|STRUCTURE", up):
        fmt += "; building/structure sensor"
    return fmt


def _is_knet(path: Path) -> bool:
    if not _KNET_RE.match(path.name):
        return False
    with open(path, errors="replace") as f:
        return f.readline().startswith("Origin Time")


def _nearest_event_json(folder: Path, root: Path) -> Path | None:
    d = folder
    while True:
        p = d / "event.json"
        if p.exists():
            return p
        if d == root or d.parent == d:
            return None
        d = d.parent


def _folder_event_for(stream: Stream, event: EventInfo | list[EventInfo] | None) -> EventInfo | None:
    """The first of the folder's candidate events whose origin lies within the record
    (None when none does: the folder is labelled with another event)."""
    if event is None:
        return None
    start = min(tr.stats.starttime for tr in stream)
    end = max(tr.stats.endtime for tr in stream)
    for ev in event if isinstance(event, list) else [event]:
        if start - EVENT_JSON_LEAD_S <= ev.origin_time <= end:
            return ev
    return None


def _folder_candidates(folder: Path, root: Path, catalog: dict[str, EventInfo]) -> list[EventInfo]:
    """Events a folder names: its (nearest) ``event.json``, then catalog events whose id is the
    name of the folder or of a parent folder (gmprocess names event folders by event id)."""
    out = []
    ej = _nearest_event_json(folder, root)
    if ej is not None:
        got = read_or_skip(ej, read_event_json)  # reported once by gmprocess_records
        if not isinstance(got, Skip):
            out.append(got)
    d = folder
    while d != root and d.parent != d:
        if d.name in catalog:
            out.append(catalog[d.name])
        d = d.parent
    return out


def _classify(path: Path) -> str:
    name, suf = path.name, path.suffix.lower()
    if name.startswith(".") or name == "SOURCE_COMMIT":
        return "ignore"
    if suf in _MSEED_EXT:
        return "mseed"
    if suf == ".xml":
        return "stationxml"
    if suf == ".sac":
        return "sac"
    if suf in _META_EXT and not (suf == ".txt" and (is_nsmn(path) or not _is_text_meta(path))):
        return "meta"
    if _is_knet(path):
        return "knet"
    if is_cwb(path):
        return "cwb"
    if is_nsmn(path):
        return "nsmn"
    if is_geonet_v1a(path):
        return "geonet"
    return "other"


def _is_text_meta(path: Path) -> bool:
    """.txt files are metadata unless they hold a strong-motion record (AFAD/NSMN text)."""
    return unsupported_format(path).startswith("unknown")


def gmprocess_records(root: str | Path, sac_units: str = "g") -> Iterator[Item]:
    """Records of a gmprocess-style tree (``reference/`` folders are ignored).

    sac_units : what SAC samples are (``"g"``: CSN strong-motion files, converted to m/s²;
        or any RawRecord unit such as ``"counts"``).
    """
    root = Path(root)
    catalog = {e.event_id: e for e in gmprocess_catalog(root)}
    for p in sorted(root.rglob("event.json")):  # a malformed side file is a reported skip
        got = read_or_skip(p, read_event_json, reason="unreadable event file")
        if isinstance(got, Skip) and "reference" not in p.relative_to(root).parts:
            yield got
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "reference")
        folder = Path(dirpath)
        kinds: dict[str, list[Path]] = {}
        for name in sorted(filenames):
            p = folder / name
            if is_regular_file(p):  # FIFOs, devices: reported by the registry, never opened
                kinds.setdefault(_classify(p), []).append(p)
        if not any(k in kinds for k in ("mseed", "sac", "knet", "cwb", "nsmn", "geonet", "other")):
            continue
        folder_event = _folder_candidates(folder, root, catalog)
        yield from _mseed(kinds.get("mseed", []), kinds.get("stationxml", []), folder_event)
        yield from _sac(kinds.get("sac", []), folder_event, sac_units)
        yield from _knet(kinds.get("knet", []))
        for p in kinds.get("cwb", []) + kinds.get("nsmn", []) + kinds.get("geonet", []):
            st = read_or_skip(p, read_waveform_file)
            if isinstance(st, Skip):
                yield st
                continue
            yield RawRecord(stream=st, units=file_units(st[0]), origin=str(p), station=header_station(st[0]),
                            event=header_event(st[0]), azimuths_deg=header_azimuths(st))
        yield from _unsupported(kinds.get("other", []))


def _mseed(files: list[Path], xmls: list[Path], folder_event: list[EventInfo]) -> Iterator[Item]:
    if not files:
        return
    inv = Inventory(networks=[], source="heggs")
    for p in xmls:
        got = read_or_skip(p, _read_inventory_quiet, reason="unreadable station file")
        if isinstance(got, Skip):
            if isinstance(read_or_skip(p, read_events), Skip):  # neither StationXML nor QuakeML
                yield got
            continue
        inv += got
    st, origins, skips = read_files(files)
    yield from skips
    for key, sub in split_instruments(st).items():
        origin = ";".join(sorted(set(origins.get(f"{key[0]}.{key[1]}.{key[2]}.{key[3]}", [])))) or instrument_id(key)
        sel = inv.select(network=key[0], station=key[1]) if inv.networks else None
        yield RawRecord(
            stream=sub, units="counts", origin=origin, inventory=sel if sel is not None and sel.networks else None,
            event=_folder_event_for(sub, folder_event),
        )


def _sac(files: list[Path], folder_event: list[EventInfo], sac_units: str) -> Iterator[Item]:
    if not files:
        return
    st, src, skips = read_files(files)
    yield from skips
    for key, sub in split_instruments(st).items():
        origin = ";".join(src[f"{key[0]}.{key[1]}.{key[2]}.{key[3]}"])
        h = sub[0].stats.sac
        if "stla" not in h or "stlo" not in h:
            yield Skip(origin, "no station coordinates", "SAC header has no stla/stlo")
            continue
        units = sac_units
        if sac_units == "g":
            for tr in sub:
                tr.data = tr.data.astype(np.float64) * G
            units = "m/s2"
        sta = StationInfo(key[0], key[1], key[2], float(h.stla), float(h.stlo), float(h.get("stel", 0.0)))
        az = {tr.stats.channel: float(tr.stats.sac.cmpaz) for tr in sub if tr.stats.channel[-1:] in "123" and "cmpaz" in tr.stats.sac}
        yield RawRecord(stream=sub, units=units, origin=origin, station=sta, event=_folder_event_for(sub, folder_event), azimuths_deg=az)


def _knet(files: list[Path]) -> Iterator[Item]:
    """K-NET/KiK-net via :func:`heggs.ingest.formats.read_waveform_file` (cm/s², HN? channels; KiK-net
    borehole sensor -> location 01, surface -> 02)."""
    if not files:
        return
    st, src, skips = read_files(files)
    yield from skips
    for key, sub in split_instruments(st).items():
        origin = ";".join(src[f"{key[0]}.{key[1]}.{key[2]}.{key[3]}"])
        if key[2] == "01":
            yield Skip(origin, "borehole sensor", "KiK-net borehole channels; the surface sensor (location 02) is kept")
            continue
        yield RawRecord(stream=sub, units="cm/s2", origin=origin, station=header_station(sub[0]),
                        event=knet_event(sub[0].stats))


def _read_inventory_quiet(path: Path) -> Inventory:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_inventory(str(path))


def _unsupported(files: list[Path]) -> Iterator[Item]:
    """One Skip per record: files whose names differ only in the component code are grouped."""
    groups: OrderedDict[str, list[Path]] = OrderedDict()
    for p in files:
        groups.setdefault(_COMP_RE.sub(r"\1?", p.name), []).append(p)
    for _, ps in groups.items():
        yield Skip(";".join(str(p) for p in ps), "format not supported", unsupported_format(ps[0]))
