"""Stage 1 — the generic archive adapter: any folder tree of files HEGGS or ObsPy can read.

:func:`scan_archive` walks waveform folders (every format of
:func:`heggs.ingest.formats.read_waveform_file`: MSEED, SAC, K-NET/KiK-net, CWB, AFAD/NSMN,
GeoNet V1A, and SEISAN, GSE2, ... through ``obspy.read``), reads station metadata (StationXML /
RESP / dataless SEED through ``obspy.read_inventory``; SAC, K-NET and text-format header
coordinates) and event metadata (QuakeML, Nordic S-files, CSV catalogs, gmprocess-style
``event.json``, file-header events of :mod:`heggs.ingest.headers`), and yields one
:class:`heggs.ingest.records.RawRecord` per (event, network, station, location,
band+instrument code) — e.g. ``HN?`` and ``BH?`` at one station are two instruments, and a
multi-station file (a SEISAN WAV) is split per station — or a :class:`heggs.ingest.records.Skip`.
:func:`generic_records` is the same scan behind the adapter contract (kind ``generic`` in
:mod:`heggs.ingest.archives`).

Folders are processed one at a time (memory bounded by the largest folder). Metadata files
found in a folder apply to the waveforms in that folder and its sub-folders; files passed
explicitly (``station_files`` / ``event_files``) apply everywhere. A folder whose event files
name exactly one event gives that event to its records ("header event"); larger catalogs are
for association (``Catalog``) in :func:`heggs.ingest.run.ingest`. An unreadable waveform,
event or station file (an ``.xml`` that is neither StationXML nor QuakeML) is a reported Skip;
FIFOs and devices are never opened (:func:`heggs.ingest.formats.is_regular_file`).

Units (what ``RawRecord.units`` says, :func:`heggs.ingest.formats.file_units`): ``counts`` for
every format except K-NET/KiK-net, CWB and AFAD/NSMN (``cm/s2``) and GeoNet V1A (``m/s2``).
Records in counts are converted by ingest when the inventory has a response; SAC ``idep`` is
not trusted for the scale (real files disagree with the SAC standard), so SAC without a
response stays in counts.
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from obspy import Inventory, Stream, read_inventory

from .catalog import is_nordic, read_catalog
from .formats import file_units, header_azimuths, is_regular_file, read_or_skip, read_waveform_file
from .headers import header_event, header_station
from .instruments import instrument_key
from .nsmn import is_nsmn
from .records import EventInfo, Item, RawRecord, Skip, StationInfo

#: files never tried as waveforms (documentation, code, images, archives)
IGNORED_SUFFIXES = {
    ".txt", ".md", ".rst", ".py", ".png", ".jpg", ".jpeg", ".pdf", ".html", ".zip", ".gz",
    ".tar", ".ipynb", ".yml", ".yaml", ".cfg", ".ini", ".log", ".csv", ".json", ".npz",
}
IGNORED_NAMES = {"SOURCE_COMMIT", "LICENCE", "LICENSE", "README", "NOTICE", "COPYING"}
#: traces of one instrument further apart than this are separate records (different events)
SPLIT_GAP_S = 120.0
#: an event file in a parent folder names a sub-folder's traces only if they start this close
INHERIT_WITHIN_S = 3600.0


def read_event_file(path: str | Path) -> list[EventInfo]:
    """Events of ``event.json``, QuakeML, Nordic or CSV files (see :func:`heggs.ingest.catalog.read_catalog`)."""
    return read_catalog(path)


#: parsed inventories by file content hash: FDSN fetchers (gmprocess, PySEP, obspyDMT) copy
#: the same StationXML into every event folder, and parsing costs 10-50 ms per file
_INVENTORY_CACHE: dict[str, Inventory | None] = {}
_INVENTORY_CACHE_SIZE = 512


def _try_inventory(path: Path) -> Inventory | None:
    import hashlib

    try:
        key = hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError:
        return None
    if key in _INVENTORY_CACHE:
        return _INVENTORY_CACHE[key]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inv = read_inventory(str(path))
    except Exception:  # noqa: BLE001 - not an inventory
        inv = None
    if len(_INVENTORY_CACHE) >= _INVENTORY_CACHE_SIZE:
        _INVENTORY_CACHE.pop(next(iter(_INVENTORY_CACHE)))
    _INVENTORY_CACHE[key] = inv
    return inv


def _try_events(path: Path) -> list[EventInfo] | None:
    try:
        return read_event_file(path)
    except Exception:  # noqa: BLE001 - not an event file
        return None


def _classify(path: Path) -> str:
    name, suf = path.name, path.suffix.lower()
    if name == "event.json":
        return "event"
    if name.split(".")[0].upper() in IGNORED_NAMES or name.startswith("."):
        return "ignore"
    if suf == ".xml" or name.upper().startswith(("RESP.", "RESP_")) or suf in (".dataless", ".resp"):
        return "meta"
    if is_nordic(path):
        return "event"
    if suf in IGNORED_SUFFIXES and not (suf == ".txt" and is_nsmn(path)):
        return "ignore"
    return "waveform"


def _station_from_inventory(inv: Inventory | None, net: str, sta: str) -> StationInfo | None:
    if inv is None:
        return None
    for n in inv:
        if n.code != net and net:
            continue
        for s in n:
            if s.code == sta:
                return StationInfo(n.code, s.code, "", s.latitude, s.longitude, s.elevation or 0.0)
    return None


def _select_inventory(inv: Inventory | None, net: str, sta: str) -> Inventory | None:
    if inv is None:
        return None
    sub = inv.select(network=net or "*", station=sta)
    return sub if len(sub.networks) else None


def scan_archive(
    waveform_dirs: Sequence[str | Path] | str | Path,
    station_files: Iterable[str | Path] = (),
    event_files: Iterable[str | Path] = (),
    recursive: bool = True,
) -> Iterator[Item]:
    """Yield one RawRecord per (event, net, sta, loc, band+instrument) or a Skip per bad input.

    waveform_dirs : folders (walked recursively) or single waveform files.
    station_files : StationXML / RESP / dataless files applying to every waveform.
    event_files : event files (QuakeML, Nordic, CSV, event.json); a single-event file given
        here becomes the header event of every record (a one-event archive such as pysep).
    """
    if isinstance(waveform_dirs, (str, Path)):
        waveform_dirs = [waveform_dirs]
    global_inv = Inventory(networks=[], source="heggs")
    for f in station_files:
        inv = _try_inventory(Path(f))
        if inv is None:
            yield Skip(str(f), "unreadable station file", "obspy.read_inventory failed")
        else:
            global_inv += inv
    global_events: list[EventInfo] = []
    for f in event_files:
        evs = _try_events(Path(f))
        if evs is None:
            yield Skip(str(f), "unreadable event file", "not QuakeML/Nordic/CSV/event.json")
        else:
            global_events.extend(evs)

    for root in waveform_dirs:
        root = Path(root)
        if root.is_file():
            yield from _scan_folder(root.parent, [root], global_inv, global_events, [], [])
            continue
        if not root.is_dir():
            if os.path.lexists(root):  # a FIFO, socket or device given as the input: never opened
                yield Skip(str(root), "special file", "not a regular file (FIFO, socket, device or dangling link); "
                           "not opened")
            else:
                yield Skip(str(root), "unreadable file", "no such file or folder")
            continue
        # folder -> (inventories, events) found in it, inherited by sub-folders
        inherited: dict[Path, tuple[list[Inventory], list[EventInfo]]] = {}
        walker = os.walk(root) if recursive else [(str(root), [], [p.name for p in root.iterdir() if p.is_file()])]
        for dirpath, dirnames, filenames in walker:
            dirnames.sort()
            d = Path(dirpath)
            parent = inherited.get(d.parent, ([], []))
            invs, evs = list(parent[0]), []
            waves: list[Path] = []
            for name in sorted(filenames):
                p = d / name
                if not is_regular_file(p):  # FIFOs, devices: reported by the registry, never opened
                    continue
                kind = _classify(p)
                if kind == "meta":
                    inv = _try_inventory(p)
                    if inv is not None:
                        invs.append(inv)
                        continue
                    more = _try_events(p)
                    if more is not None:
                        evs.extend(more)
                    else:
                        yield Skip(str(p), "unreadable station file", "neither StationXML/RESP/dataless nor QuakeML")
                    continue
                if kind == "event":
                    more = _try_events(p)
                    if more is None:
                        yield Skip(str(p), "unreadable event file", "")
                    else:
                        evs.extend(more)
                elif kind == "waveform":
                    waves.append(p)
            own = bool(evs)
            folder_events = evs if own else parent[1]
            inherited[d] = (invs, folder_events)
            if waves:
                yield from _scan_folder(d, waves, global_inv, global_events, invs, folder_events, own)


def _scan_folder(
    folder: Path,
    files: list[Path],
    global_inv: Inventory,
    global_events: list[EventInfo],
    invs: list[Inventory],
    folder_events: list[EventInfo],
    own_events: bool = True,
) -> Iterator[Item]:
    inv = Inventory(networks=list(global_inv.networks), source="heggs")
    for i in invs:
        inv.networks.extend(i.networks)
    if not inv.networks:
        inv = None
    events = folder_events or global_events
    folder_event = events[0] if len(events) == 1 else None
    # group traces: (event id, net, sta, loc, band+instrument) -> [(trace, file, header event)]
    groups: dict[tuple, list] = defaultdict(list)
    for p in files:
        st = read_or_skip(p, read_waveform_file)
        if isinstance(st, Skip):
            yield st
            continue
        for tr in st:
            hev = header_event(tr)
            if hev is None and folder_event is not None:
                # an event file of this folder names its records; one inherited from a parent
                # folder only applies to traces recorded within an hour of its origin
                near = abs(tr.stats.starttime - folder_event.origin_time) < INHERIT_WITHIN_S
                hev = folder_event if own_events or near else None
            units = file_units(tr)
            groups[(hev.event_id if hev else "", units, *instrument_key(tr))].append((tr, p, hev))
    sel_cache: dict[tuple[str, str], Inventory | None] = {}
    for key in sorted(groups):
        items = sorted(groups[key], key=lambda x: (x[0].stats.starttime, x[0].stats.channel))
        for cluster in _time_clusters(items):
            tr0, _, hev = cluster[0]
            net, sta = tr0.stats.network, tr0.stats.station
            if (net, sta) not in sel_cache:
                sel_cache[(net, sta)] = _select_inventory(inv, net, sta)
            sub = sel_cache[(net, sta)]
            station = _station_from_inventory(sub, net, sta) or header_station(tr0)
            if station is not None:
                station.location = tr0.stats.location
            az = header_azimuths(Stream([tr for tr, _, _ in cluster]))
            origin = ";".join(sorted({str(p) for _, p, _ in cluster}))
            yield RawRecord(
                stream=Stream([tr for tr, _, _ in cluster]),
                units=key[1],
                origin=origin,
                inventory=sub,
                station=station,
                event=hev,
                azimuths_deg=az,
            )


def _time_clusters(items: list) -> Iterator[list]:
    """Split time-sorted traces of one instrument where they are > SPLIT_GAP_S apart."""
    cur: list = []
    end = None
    for it in items:
        tr = it[0]
        if cur and tr.stats.starttime > end + SPLIT_GAP_S:
            yield cur
            cur, end = [], None
        cur.append(it)
        end = tr.stats.endtime if end is None else max(end, tr.stats.endtime)
    if cur:
        yield cur


def generic_records(
    root: str | Path, station_files: Iterable[str | Path] = (), event_files: Iterable[str | Path] = ()
) -> Iterator[Item]:
    """The generic adapter (kind ``generic``): :func:`scan_archive` of the folder (or file)
    ``root``, with optional station / event files applying to every waveform (the CLI's
    ``--stations`` / ``--events``)."""
    yield from scan_archive([root], station_files=station_files, event_files=event_files)
