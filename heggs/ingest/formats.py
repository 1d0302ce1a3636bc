"""Stage 1 (archive adapters) — file-format readers shared by every adapter.

:func:`read_waveform_file` is the one dispatcher from a file to an ObsPy Stream, whatever
adapter asks: miniSEED and SAC by suffix, the strong-motion text formats by content (CWB ASCII
:mod:`heggs.ingest.cwb`, AFAD/NSMN :mod:`heggs.ingest.nsmn`, GeoNet V1A :mod:`heggs.ingest.geonet`,
K-NET/KiK-net through ObsPy), everything else through ``obspy.read``'s own format detection
(SEISAN, GSE2, ...). Units and header metadata travel on the traces:

* ``stats._format`` names the format; :func:`file_units` maps it to ``RawRecord.units``
  (counts, except K-NET/KiK-net, CWB and NSMN in ``cm/s2`` and GeoNet V1A in ``m/s2``);
* the text formats put their header's event and station on every trace
  (``stats.header_event``, ``stats.header_station``; GeoNet 1/2 bearings as
  ``stats.header_azimuth_deg``), read back by :mod:`heggs.ingest.headers`.

K-NET/KiK-net conventions: ObsPy's KNET reader gives counts with ``stats.calib`` = 0.01 × the
header scale factor (counts -> m/s²); the samples returned here are gal (counts × calib × 100,
equal to the header's "Max. Acc. (gal)" after demeaning) and channel codes ``EW/NS/UD`` become
``HNE/HNN/HNZ`` (KiK-net ``*1`` borehole -> location ``01``, ``*2`` surface -> ``02``).

Fault isolation: :func:`read_or_skip` turns any failure of a reader on one file into a
:class:`~heggs.ingest.records.Skip` naming the file and the error, so one bad file never stops
an archive; :func:`is_regular_file` keeps adapters from opening FIFOs or devices (opening a
FIFO blocks forever), and :func:`special_files` lists them for the registry to report.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import numpy as np
from obspy import Stream, read

from .cwb import is_cwb, read_cwb
from .geonet import is_geonet_v1a, read_geonet_v1a
from .nsmn import is_nsmn, read_nsmn
from .records import Skip

#: waveform formats by suffix (saves ObsPy's format sniffing); others are detected by content
FORMAT_BY_SUFFIX = {".mseed": "MSEED", ".miniseed": "MSEED", ".ms": "MSEED", ".sac": "SAC"}
#: RawRecord units of the samples :func:`read_waveform_file` returns, by ``stats._format``
UNITS_BY_FORMAT = {"KNET": "cm/s2", "CWB": "cm/s2", "NSMN": "cm/s2", "GEONET_V1A": "m/s2"}

T = TypeVar("T")


# --- files that must not be opened ------------------------------------------------------------


def is_regular_file(path: str | Path) -> bool:
    """True for a regular file (following symlinks); False for folders, FIFOs, sockets,
    devices, dangling links and unreadable entries. Never opens the file."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def special_files(root: str | Path) -> Iterator[Path]:
    """Entries under ``root`` (walked recursively, not into linked folders) that are neither
    folders nor regular files: FIFOs, sockets, devices, dangling links. Sorted per folder."""
    root = Path(root)
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if not is_regular_file(p):
                yield p


def read_or_skip(path: str | Path, reader: Callable[..., T], *args, reason: str = "unreadable file", **kw) -> T | Skip:
    """``reader(path, *args, **kw)``, or a Skip(path, ``reason``, error) when it raises or
    ``path`` is not a regular file (reason ``"special file"``; never opened).

    The one per-file fault wrapper of the adapters: a truncated, empty, random-bytes or
    malformed file (waveform or side file) becomes a reported skip and the archive goes on.
    """
    if not is_regular_file(path):
        return Skip(str(path), "special file", "not a regular file (FIFO, socket, device or missing); not opened")
    try:
        return reader(path, *args, **kw)
    except Exception as e:  # noqa: BLE001 - every reader failure is a reported skip
        return Skip(str(path), reason, f"{type(e).__name__}: {e}"[:300])


def read_files(paths, reader: Callable[..., Stream] | None = None, **kw) -> tuple[Stream, dict[str, list[str]], list[Skip]]:
    """Read every file of ``paths`` into one Stream, each through :func:`read_or_skip`.

    reader : ``read_waveform_file`` by default; ``kw`` are passed to it.
    Returns ``(stream, files, skips)``: ``files`` maps an instrument id without its component
    letter (``"NET.STA.LOC.HN"``) to the files its traces came from, in reading order; ``skips``
    are the files that could not be read.
    """
    reader = reader or read_waveform_file
    st, files, skips = Stream(), {}, []
    for p in paths:
        part = read_or_skip(p, reader, **kw)
        if isinstance(part, Skip):
            skips.append(part)
            continue
        for tr in part:
            files.setdefault(tr.id[:-1], []).append(str(p))
        st += part
    return st, files, skips


# --- readers ----------------------------------------------------------------------------------


def read_quiet(path: str | Path, **kw) -> Stream:
    """``obspy.read`` with ObsPy's format warnings (SAC sample-spacing rounding etc.) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read(str(path), **kw)


def sniff_format(path: str | Path) -> str | None:
    """Format of ``path`` when it is one this module reads itself or by name (``MSEED``,
    ``SAC`` by suffix; ``CWB``, ``NSMN``, ``GEONET_V1A``, ``KNET`` by their first line); None:
    left to ObsPy's detection."""
    p = Path(path)
    fmt = FORMAT_BY_SUFFIX.get(p.suffix.lower())
    if fmt is not None:
        return fmt
    if is_cwb(p):
        return "CWB"
    if is_nsmn(p):
        return "NSMN"
    if is_geonet_v1a(p):
        return "GEONET_V1A"
    try:
        with open(p, "rb") as f:
            if f.read(11) == b"Origin Time":
                return "KNET"
    except OSError:
        pass
    return None


def _text_format(path: Path, fmt: str) -> Stream:
    """A strong-motion text file -> Stream with its header event/station on the traces."""
    az: dict[str, float] = {}
    if fmt == "CWB":
        st, ev, sta = read_cwb(path)
    elif fmt == "NSMN":
        st, ev, sta = read_nsmn(path)
    else:
        st, ev, sta, az = read_geonet_v1a(path)
    for tr in st:
        tr.stats._format = fmt
        tr.stats.header_event = ev
        tr.stats.header_station = sta
        if tr.stats.channel in az:
            tr.stats.header_azimuth_deg = float(az[tr.stats.channel])
    return st


def read_waveform_file(path: str | Path) -> Stream:
    """Any supported waveform file -> Stream (see the module docstring for formats and units).

    ObsPy reads a truncated miniSEED up to the last whole record, silently or with a warning;
    such a file is not trusted (``ValueError``), so it is reported instead of silently
    shortened. Raises on anything unreadable (callers wrap it in :func:`read_or_skip`).
    """
    p = Path(path)
    fmt = sniff_format(p)
    if fmt in ("CWB", "NSMN", "GEONET_V1A"):
        return _text_format(p, fmt)
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


def file_units(trace) -> str:
    """``RawRecord.units`` of a trace read by :func:`read_waveform_file` (by its format)."""
    return UNITS_BY_FORMAT.get(str(trace.stats.get("_format", "")), "counts")


def header_azimuths(stream: Stream) -> dict[str, float]:
    """Azimuths (deg from north) of the horizontal channels not named E/N, from the file
    headers: SAC ``cmpaz``, GeoNet V1A component bearings. {channel code: azimuth}."""
    az = {}
    for tr in stream:
        if tr.stats.channel[-1:] in "ZENzen":
            continue
        if "header_azimuth_deg" in tr.stats:
            az[tr.stats.channel] = float(tr.stats.header_azimuth_deg)
        h = tr.stats.get("sac")
        if h is not None and "cmpaz" in h:
            az[tr.stats.channel] = float(h["cmpaz"])
    return az


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
        # the header's own unit is gal, which is what this module returns (× 100)
        tr.data = tr.data.astype(np.float64) * float(tr.stats.calib) * 100.0
        tr.stats.calib = 1.0


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
