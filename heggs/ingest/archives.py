"""Stage 1 — the archive registry: which adapter reads which archive layout.

An adapter is a plain function ``(root, **options) -> Iterator[Item]`` that walks one archive
(a folder laid out the way its source publishes it) and yields, lazily,
:class:`heggs.ingest.records.RawRecord` (one instrument at one station for one event, raw
channels in the file's units, with whatever station / response / event metadata the source
has) or :class:`heggs.ingest.records.Skip` (an input that cannot become a record, with its
reason). Adapters never process waveforms: units, rotation, band, resampling, window,
validity, arrivals, catalog association and the report belong to :func:`heggs.ingest.run.ingest`.
They share the file readers of :mod:`heggs.ingest.formats`, the header parsers of
:mod:`heggs.ingest.headers` and the instrument helpers of :mod:`heggs.ingest.instruments`, and
read every file through :func:`heggs.ingest.formats.read_or_skip` (one bad file is a reported
skip, never the end of the archive).

``ADAPTERS`` maps a source kind to its adapter; :func:`detect_kind` recognises a layout from
its files; :func:`iter_archive` runs one (``kind`` None or ``"auto"``: detected, else
``generic``) and reports FIFOs, sockets and devices in the archive as ``"special file"`` skips
(adapters never open them). Kinds:

``generic``           any folder of files ObsPy or :mod:`heggs.ingest.formats` reads
                      (:mod:`heggs.ingest.generic`; options ``station_files``, ``event_files``).
``gmprocess``         gmprocess-style event folders (MSEED+StationXML, SAC, K-NET/KiK-net, CWB,
                      NSMN, GeoNet V1A; other strong-motion formats are reported "format not
                      supported"; :mod:`heggs.ingest.gmprocess`). :func:`source_catalog` gives
                      the catalog to match headers against.
``eqcorrscan_alpine`` SEISAN: Nordic S-files (``REA/``) naming WAV files (``WAV/``), station
                      coordinates from ``STATION0.HYP``; plus SAC files with full headers
                      (:mod:`heggs.ingest.seisan`).
``iceland_dike``      QuakeMigrate output: ``<id>.m`` MSEED, ``<id>.event``, ``<id>.picks``,
                      ``*_stations.txt`` (:mod:`heggs.ingest.quakemigrate`).
``bayesisola``        ISOLA inputs: SAC + ``event.isl`` + ``network.stn`` + ``pzfiles/*.pz``
                      (:mod:`heggs.ingest.isola`; PZ files -> Inventory, records in m/s²).
``pysep``             MSEED + StationXML + QuakeML in one folder (recursively;
                      :mod:`heggs.ingest.pysep`).
``seisbench``         an existing SeisBench-format dataset (``metadata.csv`` + ``waveforms.hdf5``;
                      :mod:`heggs.ingest.seisbench`).

Adding an archive layout: write ``heggs/ingest/<layout>.py`` with one adapter function, add it
to ``ADAPTERS`` (and, if its files are recognisable, to :func:`detect_kind`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

from .formats import special_files
from .generic import generic_records
from .gmprocess import gmprocess_catalog, gmprocess_records
from .isola import bayesisola_records
from .pysep import pysep_records
from .quakemigrate import iceland_dike_records
from .records import EventInfo, Item, Skip
from .seisan import eqcorrscan_alpine_records
from .seisbench import seisbench_records

ADAPTERS: dict[str, Callable[..., Iterator[Item]]] = {
    "generic": generic_records,
    "gmprocess": gmprocess_records,
    "eqcorrscan_alpine": eqcorrscan_alpine_records,
    "iceland_dike": iceland_dike_records,
    "bayesisola": bayesisola_records,
    "pysep": pysep_records,
    "seisbench": seisbench_records,
}


def detect_kind(path: str | Path) -> str | None:
    """Recognise a source's archive layout from its file names; None when nothing specific
    fits (:func:`resolve_kind` then uses ``generic``). Never opens a file.

    seisbench: ``metadata*.csv`` + ``waveforms*.hdf5``; eqcorrscan_alpine: ``STATION0.HYP`` or
    ``REA/`` with S-files; iceland_dike: ``*.event`` + ``*.m``; bayesisola: ``event.isl``;
    gmprocess: ``event.json`` in sub-folders; pysep: MSEED + XML.
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


def resolve_kind(path: str | Path, kind: str | None = "auto") -> str:
    """The adapter kind for ``path``: ``kind`` itself when it names an adapter; ``"auto"`` or
    None: :func:`detect_kind`, else ``"generic"``. Raises ``ValueError`` on an unknown kind."""
    if kind in (None, "auto"):
        return detect_kind(path) or "generic"
    if kind not in ADAPTERS:
        raise ValueError(f"unknown archive kind {kind!r}; known: auto, {', '.join(sorted(ADAPTERS))}")
    return kind


def iter_archive(path: str | Path, kind: str | None = None, **options) -> Iterator[Item]:
    """Records and skips of the archive at ``path``: ``ADAPTERS[kind](path, **options)``
    (``kind`` None / ``"auto"``: :func:`resolve_kind`), preceded by one ``"special file"`` Skip
    per FIFO, socket or device under ``path`` (which no adapter opens). Lazy."""
    kind = resolve_kind(path, kind)
    adapter = ADAPTERS[kind]

    def items() -> Iterator[Item]:
        for p in special_files(path):
            yield Skip(str(p), "special file", "not a regular file (FIFO, socket, device or dangling link); not opened")
        yield from adapter(Path(path), **options)

    return items()


def source_catalog(path: str | Path, kind: str | None = None) -> list[EventInfo]:
    """Events an archive carries besides its file headers (for ingest's catalog matching).

    gmprocess: every ``event.json`` plus catalog CSVs in the tree; other kinds: events come
    with their records, so the list is empty.
    """
    kind = resolve_kind(path, kind)
    if kind == "gmprocess":
        return gmprocess_catalog(path)
    return []
