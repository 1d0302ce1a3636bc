"""Stage 1 — the generic archive adapter: any folder tree of files ObsPy can read.

:func:`scan_archive` walks waveform folders (MSEED, SAC, K-NET, SEISAN, GSE2, ... through
``obspy.read``), reads station metadata (StationXML / RESP / dataless SEED through
``obspy.read_inventory``; SAC and K-NET header coordinates) and event metadata (QuakeML,
Nordic S-files, CSV catalogs, gmprocess-style ``event.json``, SAC/K-NET header events), and
yields one :class:`heggs.ingest.records.RawRecord` per (event, network, station, location,
band+instrument code) — e.g. ``HN?`` and ``BH?`` at one station are two instruments, and a
multi-station file (a SEISAN WAV) is split per station — or a :class:`heggs.ingest.records.Skip`.

Folders are processed one at a time (memory bounded by the largest folder). Metadata files
found in a folder apply to the waveforms in that folder and its sub-folders; files passed
explicitly (``station_files`` / ``event_files``) apply everywhere. A folder whose event files
name exactly one event gives that event to its records ("header event"); larger catalogs are
for association (``Catalog``) in :func:`heggs.ingest.run.ingest`.

Units (what ``RawRecord.units`` says):

* ``counts`` for every format, except
* K-NET/KiK-net (ObsPy's KNET reader): the data are counts with ``stats.calib`` = 0.01 × the
  header scale factor (counts -> m/s²); the adapter returns gal (counts × calib × 100, equal
  to the header's "Max. Acc. (gal)" after demeaning) and reports ``cm/s2``; channel
  codes ``EW/NS/UD`` become ``HNE/HNN/HNZ`` (KiK-net ``*1`` borehole -> location ``01``,
  ``*2`` surface -> ``02``).

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

import numpy as np
from obspy import Inventory, Stream, read, read_inventory

from .catalog import is_nordic, read_catalog, read_event_json  # noqa: F401 - re-exported
from .records import EventInfo, RawRecord, Skip, StationInfo

#: files never tried as waveforms (documentation, code, images, archives)
IGNORED_SUFFIXES = {
    ".txt", ".md", ".rst", ".py", ".png", ".jpg", ".jpeg", ".pdf", ".html", ".zip", ".gz",
    ".tar", ".ipynb", ".yml", ".yaml", ".cfg", ".ini", ".log", ".csv", ".json", ".npz",
}
IGNORED_NAMES = {"SOURCE_COMMIT", "LICENCE", "LICENSE", "README", "NOTICE", "COPYING"}
#: waveform formats by suffix (saves ObsPy's format sniffing); others are auto-detected
FORMAT_BY_SUFFIX = {".mseed": "MSEED", ".miniseed": "MSEED", ".ms": "MSEED", ".sac": "SAC"}
#: traces of one instrument further apart than this are separate records (different events)
SPLIT_GAP_S = 120.0
#: an event file in a parent folder names a sub-folder's traces only if they start this close
INHERIT_WITHIN_S = 3600.0


def instrument_key(trace) -> tuple[str, str, str, str]:
    """(network, station, location, band+instrument code) of an ObsPy trace."""
    s = trace.stats
    return (s.network, s.station, s.location, s.channel[:2] if len(s.channel) >= 3 else s.channel[:-1])


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
    if suf in IGNORED_SUFFIXES:
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


def _knet_fix(st: Stream) -> None:
    """K-NET/KiK-net: counts * calib * 100 -> gal; EW/NS/UD -> HNE/HNN/HNZ (KiK-net 1/2 -> loc 01/02)."""
    comp = {"EW": "E", "NS": "N", "UD": "Z"}
    for tr in st:
        ch = tr.stats.channel
        if ch[:2] in comp:
            if len(ch) == 3 and ch[2] in "12":
                tr.stats.location = "0" + ch[2]
            tr.stats.channel = "HN" + comp[ch[:2]]
        # ObsPy's KNET reader sets calib = 0.01 × header scale factor, i.e. counts -> m/s²;
        # the header's own unit is gal, which is what this adapter reports (× 100)
        tr.data = tr.data.astype(np.float64) * float(tr.stats.calib) * 100.0
        tr.stats.calib = 1.0


def _header_event(tr) -> EventInfo | None:
    """Event named by a SAC or K-NET header, if complete enough."""
    s = tr.stats
    if "knet" in s:
        k = s.knet
        if "evot" in k and "evla" in k:
            return EventInfo(
                f"knet_{k.evot.strftime('%Y%m%dT%H%M')}_{k.evla:.2f}_{k.evlo:.2f}", k.evot, float(k.evla),
                float(k.evlo), float(k.evdp), float(k.mag) if "mag" in k else None, "Mj",
                origin_uncertainty_s=60.0, provenance="K-NET header",
            )
        return None
    if "sac" in s:
        h = s.sac
        if "evla" not in h or "evlo" not in h or "o" not in h:
            return None
        dep = float(h.get("evdp", 0.0))
        if dep > 1000.0:  # metres in older SAC writers
            dep /= 1000.0
        if not (-10.0 <= dep <= 800.0):
            dep = float("nan")  # unusable: a catalog match must supply it
        t0 = s.starttime - float(h.get("b", 0.0)) + float(h["o"])
        mag = h.get("mag")
        return EventInfo(
            f"sac_{t0.strftime('%Y%m%dT%H%M%S')}_{float(h['evla']):.2f}_{float(h['evlo']):.2f}", t0,
            float(h["evla"]), float(h["evlo"]), dep, None if mag is None else float(mag), None,
            origin_uncertainty_s=0.01, provenance="SAC header",
        )
    return None


def _header_station(tr) -> StationInfo | None:
    s = tr.stats
    h = s.get("sac") or s.get("knet")
    if h and "stla" in h and "stlo" in h:
        return StationInfo(s.network, s.station, s.location, float(h["stla"]), float(h["stlo"]),
                           float(h.get("stel", 0.0)))
    return None


def read_waveform_file(path: str | Path) -> Stream:
    """``obspy.read`` with the format taken from the suffix when known; raises on truncation.

    ObsPy reads a truncated miniSEED up to the last whole record, silently or with a warning;
    such a file is not trusted (``ValueError``), so it is reported instead of silently shortened.
    """
    p = Path(path)
    fmt = FORMAT_BY_SUFFIX.get(p.suffix.lower())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            st = read(str(p), format=fmt) if fmt else read(str(p))
        except TypeError:
            if fmt is None:
                raise
            st = read(str(p))
    for w in caught:
        msg = str(w.message)
        if any(k in msg.lower() for k in ("exceeds buflen", "truncat", "not a valid", "corrupt")):
            raise ValueError(f"damaged file: {msg}")
    if st and st[0].stats.get("_format") == "MSEED":
        _check_mseed_size(p)
    if st and st[0].stats.get("_format") == "KNET":
        _knet_fix(st)
    return st


def _check_mseed_size(path: Path) -> None:
    """A miniSEED file is whole records: a size that is not a multiple of the record length means
    the file was cut (ObsPy silently drops the partial last record)."""
    from obspy.io.mseed.util import get_record_information

    try:
        reclen = int(get_record_information(str(path))["record_length"])
    except Exception:  # noqa: BLE001 - mixed record lengths etc.: ObsPy's read succeeded, trust it
        return
    size = path.stat().st_size
    if reclen > 0 and size % reclen:
        raise ValueError(f"truncated miniSEED: {size} bytes is not a multiple of the {reclen}-byte record length")


def scan_archive(
    waveform_dirs: Sequence[str | Path] | str | Path,
    station_files: Iterable[str | Path] = (),
    event_files: Iterable[str | Path] = (),
    recursive: bool = True,
) -> Iterator[RawRecord | Skip]:
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
                kind = _classify(p)
                if kind == "meta":
                    inv = _try_inventory(p)
                    if inv is not None:
                        invs.append(inv)
                        continue
                    more = _try_events(p)
                    if more is not None:
                        evs.extend(more)
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
) -> Iterator[RawRecord | Skip]:
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
        try:
            st = read_waveform_file(p)
        except Exception as e:  # noqa: BLE001 - every reader failure is a reported skip
            yield Skip(str(p), "unreadable file", f"{type(e).__name__}: {e}"[:300])
            continue
        for tr in st:
            hev = _header_event(tr)
            if hev is None and folder_event is not None:
                # an event file of this folder names its records; one inherited from a parent
                # folder only applies to traces recorded within an hour of its origin
                near = abs(tr.stats.starttime - folder_event.origin_time) < INHERIT_WITHIN_S
                hev = folder_event if own_events or near else None
            units = "cm/s2" if tr.stats.get("_format") == "KNET" else "counts"
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
            station = _station_from_inventory(sub, net, sta) or _header_station(tr0)
            if station is not None:
                station.location = tr0.stats.location
            az = {}
            for tr, _, _ in cluster:
                h = tr.stats.get("sac")
                if h is not None and "cmpaz" in h and tr.stats.channel[-1:] not in "ZENzen":
                    az[tr.stats.channel] = float(h["cmpaz"])
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
