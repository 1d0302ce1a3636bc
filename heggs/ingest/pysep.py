"""Stage 1 (archive adapters) — PySEP outputs (kind ``pysep``): MSEED + StationXML + QuakeML.

PySEP writes one folder per event with miniSEED waveforms, a StationXML inventory and a
QuakeML event; the generic scan (:func:`heggs.ingest.generic.scan_archive`) reads exactly that,
so this adapter only checks the layout and hands over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .generic import scan_archive
from .records import Item


def pysep_records(root: str | Path) -> Iterator[Item]:
    """Records of folders holding MSEED + StationXML (+ QuakeML) files, as PySEP writes them.

    This is :func:`heggs.ingest.generic.scan_archive` on ``root``: each folder's StationXML gives the
    inventory (counts with response) and its single-event QuakeML the event; a sub-folder
    without its own event file inherits the parent's event only for traces within an hour of
    its origin (PySEP's ``test_12Z_data`` belongs to another day: ``event=None``, so ingest
    associates it by time or reports "no event match").
    """
    root = Path(root)
    if not any(p.suffix.lower() in (".mseed", ".ms", ".miniseed") for p in root.rglob("*")):
        raise FileNotFoundError(f"{root}: no MSEED files")
    yield from scan_archive(root)
