"""Stage 1 — ingest: raw records of any archive -> the canonical store (docs/data-contract.md).

:func:`ingest` streams an adapter's :class:`heggs.ingest.records.RawRecord` / :class:`heggs.ingest.records.Skip`
items: it associates each record with its event (:func:`resolve_event`), turns it into one
canonical window (:func:`heggs.ingest.canonical.process_record`: units, rotation, band, resampling,
window, validity, arrivals), resolves duplicates (the same data reached twice, co-located
instruments, events located twice) and writes the store atomically with its report
(``ingest_report.csv``, ``ingest_summary.json``, ``ingest_config.json``).

Event association: the record's header event identifies it; the closest catalog origin within
``match_time_s`` / ``match_distance_km`` refines it (origin, hypocentre, picks; the header
magnitude is kept when the catalog has none). A header origin coarser than ``coarse_origin_s``
(K-NET: to the minute) needs a catalog match. A header event the record's times cannot contain
(a wrong event.json) falls back to time matching against the catalog. No event ->
"no event match"; no magnitude -> "no magnitude".
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import multiprocessing as mp
import shutil
import tempfile
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import h5py
import numpy as np

from .canonical import Processed, process_record, theoretical_travel_times, travel_time_table
from .catalog import Catalog, merge_duplicates
from ..config import IngestConfig, check_workers, to_dict
from ..folders import FolderError, claim
from .records import EventInfo, RawRecord, Skip
from ..store import StoreWriter, assign_splits
from ..traveltimes import geodesics

__all__ = ["IngestReport", "NoRecordsError", "Processed", "ingest", "process_record", "record_fingerprint", "resolve_event",
           "travel_time_table"]


# --- event association ------------------------------------------------------------------------


def resolve_event(raw: RawRecord, catalog: Catalog | None, cfg: IngestConfig) -> EventInfo | Skip:
    """The record's event: header event refined by the closest catalog origin, or a Skip."""
    hev = raw.event
    if catalog is not None and len(catalog):
        if hev is not None:
            tol_t = max(cfg.match_time_s, hev.origin_uncertainty_s)
            m = catalog.match(hev.origin_time, hev.latitude, hev.longitude, tol_t, cfg.match_distance_km)
            if m is not None and not _fits(raw, m, cfg):
                m = None
            if m is None and not _fits(raw, hev, cfg):
                # the header names an event the record cannot contain (a wrong event.json):
                # fall back to time matching against the catalog
                m = _match_by_record(raw, catalog, cfg)
                hev = None if m is not None else hev
        else:
            m = _match_by_record(raw, catalog, cfg)
        if m is not None:
            if hev is not None and m.magnitude is None and hev.magnitude is not None:
                m = EventInfo(**{**m.__dict__, "magnitude": hev.magnitude, "magnitude_type": hev.magnitude_type})
            hev = m
    if hev is None:
        return Skip(raw.origin, "no event match", "no header event and no catalog origin near the record")
    if hev is raw.event and hev.origin_uncertainty_s > cfg.coarse_origin_s:
        return Skip(raw.origin, "no event match", f"header origin {hev.origin_time} is only known to "
                    f"{hev.origin_uncertainty_s:g} s and no catalog origin matches (pass --catalog)")
    if hev.magnitude is None or not np.isfinite(hev.magnitude):
        return Skip(raw.origin, "no magnitude", f"event {hev.event_id}")
    if not np.isfinite(hev.depth_km):
        return Skip(raw.origin, "no event depth", f"event {hev.event_id}: unusable header depth, no catalog match")
    return hev


def _fits(raw: RawRecord, ev: EventInfo, cfg: IngestConfig) -> bool:
    """True when the record's time span overlaps the event's window."""
    t0 = ev.origin_time + cfg.window.offset_s
    rs = min(tr.stats.starttime for tr in raw.stream)
    re_ = max(tr.stats.endtime for tr in raw.stream)
    return re_ >= t0 and rs <= t0 + cfg.window.length_s


def _match_by_record(raw: RawRecord, catalog: Catalog, cfg: IngestConfig) -> EventInfo | None:
    """Without a header event: the catalog event with this station's picks inside the record,
    else the only origin between (start - match_time_s) and the record end."""
    t0 = min(tr.stats.starttime for tr in raw.stream)
    t1 = max(tr.stats.endtime for tr in raw.stream)
    tr0 = raw.stream[0].stats
    keys = (f"{tr0.network}.{tr0.station}", tr0.station)
    cands = catalog.between(t0 - cfg.match_time_s, t1)
    picked = [e for e in cands if any(k in e.picks and t0 <= e.picks[k].get("P", t1 + 1) <= t1 for k in keys)]
    pool = picked or cands
    if len(pool) == 1:
        return pool[0]
    if len(pool) > 1:  # several: the earliest origin after the record start (records start before)
        after = [e for e in pool if e.origin_time >= t0]
        return min(after, key=lambda e: e.origin_time) if after else None
    return None



# --- the whole archive ----------------------------------------------------------------------


@dataclass
class IngestReport:
    """What :func:`ingest` did. ``skips``: every input that did not become a record."""

    store: Path
    summary: dict[str, Any]
    skips: list[Skip] = field(default_factory=list)

    @property
    def n_records(self) -> int:
        return int(self.summary["records"])


class NoRecordsError(FolderError):
    """An ingest that yielded no records: nothing is written (a store without records cannot be
    opened by ``heggs train`` / ``heggs inspect``). The message is one line naming the output
    folder, the inputs and the skip reasons; ``report`` holds the summary and every skip."""

    def __init__(self, message: str, report: "IngestReport"):
        super().__init__(message)
        self.report = report


def _no_records_message(out: Path, inputs: list[str], summary: dict[str, Any]) -> str:
    """One line: which folder was not written, from which inputs, and why each input was skipped."""
    reasons = sorted(summary["skips_by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))
    why = "; ".join(f"{n} {r}" for r, n in reasons) if reasons else "none"
    kept = ("the existing folder was left as it is" if out.is_dir() and any(out.iterdir())
            else "nothing was written")
    return (f"{out}: the ingest of {', '.join(inputs) if inputs else 'the given items'} yielded no records, so "
            f"{kept} ({summary['inputs']} input(s) read; skipped by reason: {why})")


def record_fingerprint(raw: RawRecord) -> str:
    """Content hash of a raw record's channels (ids, times, rates, samples)."""
    h = hashlib.sha1()
    for tr in sorted(raw.stream, key=lambda t: (t.id, t.stats.starttime)):
        h.update(f"{tr.id}|{tr.stats.starttime}|{tr.stats.sampling_rate}|{tr.stats.npts}|".encode())
        h.update(np.ascontiguousarray(tr.data).tobytes())
    return h.hexdigest()


def _work(task: tuple) -> Processed | Skip:
    raw, ev, cfg, adapter, tt = task
    try:
        return process_record(raw, ev, cfg, adapter, travel_times=tt)
    except Exception as e:  # noqa: BLE001 - a processing bug must not lose the whole archive
        return Skip(raw.origin, "processing error", f"{type(e).__name__}: {e}"[:300])


def _slim(raw: RawRecord) -> RawRecord:
    """The record with its inventory cut to its own channels at its time (cheap to pickle)."""
    if raw.inventory is None:
        return raw
    s = raw.stream[0].stats
    sub = raw.inventory.select(network=s.network, station=s.station, location=s.location,
                               channel=s.channel[:-1] + "?", time=s.starttime)
    return dataclasses.replace(raw, inventory=sub)


def _batches(it: Iterable, size: int) -> Iterator[list]:
    buf: list = []
    for x in it:
        buf.append(x)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def ingest(
    items: Iterable[RawRecord | Skip],
    out: str | Path,
    cfg: IngestConfig | None = None,
    catalog: Catalog | None = None,
    progress: bool = True,
    workers: int = 1,
    adapter: str = "",
    inputs: Iterable[str | Path] = (),
    overwrite: bool = False,
) -> IngestReport:
    """Stream an adapter's RawRecord/Skip items into the canonical store at ``out``.

    items : an adapter's stream (``heggs.ingest.archives.ADAPTERS[kind](path)`` or
        :func:`heggs.ingest.generic.scan_archive`); consumed once, lazily.
    out : store folder, replaced as a whole on success.
    catalog : origins for association (see :func:`resolve_event`); None: header events only.
    workers : > 1 processes records in a process pool (8 × workers records per batch, at most
        three batches in flight, so reading overlaps processing and memory stays bounded).
    adapter : name written into each row's ``provenance`` (``"<adapter>:<file paths>"``).
    inputs : the paths the items are read from (archives, catalogs, station files); ``out``
        may not be, hold or lie inside one of them.
    overwrite : allow replacing an ``out`` that is neither empty nor a store (see
        :func:`heggs.folders.claim`: the folder is locked against a second writer, and scratch
        left by a killed ingest into it is removed first). An empty result never replaces a
        non-empty ``out``.

    An ingest that yields no records raises :class:`NoRecordsError` (one line naming ``out``,
    ``inputs`` and the skip reasons; its ``report`` holds the summary and skips) and writes
    nothing: neither a new store nor over an existing one.

    Memory is bounded: processed windows go to a scratch HDF5 file beside ``out`` while only
    their metadata rows (~2 KB each) stay in memory; duplicates (same data reached twice,
    co-located instruments, events located twice) are resolved at the end and the chosen
    windows are copied into a :class:`heggs.store.StoreWriter` (atomic: a failure leaves an
    older store intact and no temporary folder). The output is deterministic (rows sorted by
    source_id, station, instrument; report rows by origin), so re-running gives the same store.
    Co-located instruments (one kept per event and station): physical units over counts,
    acceleration sensors (HN/HL/BN/HG) over velocity sensors, higher original rate, longer
    valid range, then provenance order.

    Side files in the store: ``ingest_report.csv`` (origin, reason, detail per skipped input),
    ``ingest_summary.json`` (counts) and ``ingest_config.json``.
    """
    cfg = cfg or IngestConfig()
    check_workers("--workers", workers)  # before any work: 100,000 forked workers hang the machine
    out = Path(out)
    inputs = [str(p) for p in inputs if p is not None]
    with claim(out, "store", inputs, overwrite):
        report = _ingest_into(items, out, cfg, catalog, progress, workers, adapter)
        if report.n_records == 0:
            raise NoRecordsError(_no_records_message(out, inputs, report.summary), report)
        return report


def _ingest_into(items: Iterable[RawRecord | Skip], out: Path, cfg: IngestConfig, catalog: Catalog | None,
                 progress: bool, workers: int, adapter: str) -> IngestReport:
    """:func:`ingest` once ``out`` is claimed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.scratch-", dir=out.parent))
    skips: list[Skip] = []
    cands: list[dict[str, Any]] = []  # meta + rank + scratch index, no waveforms
    events: dict[str, EventInfo] = {}
    seen: dict[str, str] = {}
    n_inputs = 0
    pool = None
    try:
        if workers > 1:  # started before any HDF5 file is open in this process
            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
            gc.freeze()  # forked workers' garbage collection then leaves the inherited pages shared
            pool = ctx.Pool(workers)
            gc.unfreeze()
        h5 = h5py.File(scratch_dir / "scratch.hdf5", "w")
        bar = _tqdm(progress)
        pending: deque = deque()  # batches in flight: reading overlaps processing, memory bounded

        def collect(results):
            for r in results:
                if isinstance(r, Skip):
                    skips.append(r)
                    continue
                idx = len(cands)
                h5.create_dataset(str(idx), data=r.waveform)
                cands.append({"meta": r.meta, "rank": r.rank, "idx": idx, "origin": r.origin})

        for batch in _batches(items, 8 * max(workers, 1)):
            tasks = []
            for it in batch:
                n_inputs += 1
                bar.update(1)
                if isinstance(it, Skip):
                    skips.append(it)
                    continue
                if not isinstance(it, RawRecord):
                    raise TypeError(f"adapter yielded {type(it).__name__}, expected RawRecord or Skip")
                fp = record_fingerprint(it)
                if fp in seen:
                    skips.append(Skip(it.origin, "duplicate record", f"same data as {seen[fp]}"))
                    continue
                seen[fp] = it.origin
                ev = resolve_event(it, catalog, cfg)
                if isinstance(ev, Skip):
                    skips.append(ev)
                    continue
                events.setdefault(ev.event_id, ev)
                tasks.append((it, ev, cfg, adapter, theoretical_travel_times(it, ev, cfg)))
            if pool is None:
                collect([_work(t) for t in tasks])
                continue
            pending.append(pool.map_async(_work, [(_slim(t[0]), *t[1:]) for t in tasks]))
            while len(pending) > 2:
                collect(pending.popleft().get())
        while pending:
            collect(pending.popleft().get())
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
            pool = None
        h5.close()
        kept, dup_skips = _resolve_duplicates(cands, events, cfg)
        skips.extend(dup_skips)
        skips.sort(key=lambda k: (k.origin, k.reason, k.detail))  # independent of worker timing
        summary = _summary(kept, skips, n_inputs, cfg)
        if kept:  # no records: nothing is written (ingest raises NoRecordsError)
            _write_store(out, kept, skips, summary, scratch_dir / "scratch.hdf5", cfg, progress)
    finally:
        if pool is not None:
            pool.terminate()
        shutil.rmtree(scratch_dir, ignore_errors=True)
    return IngestReport(out, summary, skips)


def _tqdm(progress: bool):
    from tqdm.auto import tqdm

    return tqdm(disable=not progress, unit=" input", desc="ingest", mininterval=1.0)


def _resolve_duplicates(cands: list[dict], events: dict[str, EventInfo], cfg: IngestConfig):
    """Merge duplicate event locations, then keep one record per (source_id, station)."""
    canon = merge_duplicates(events.values(), cfg.merge_time_s, cfg.merge_distance_km, cfg.merge_magnitude_diff)
    groups: dict[tuple, list[dict]] = {}
    for c in cands:
        m = c["meta"]
        sid = canon.get(m["source_id"], m["source_id"])
        if sid != m["source_id"]:
            ce = events[sid]
            d, az, baz = (float(v) for v in geodesics(ce.latitude, ce.longitude, m["station_latitude_deg"],
                                                      m["station_longitude_deg"]))
            m.update(source_id=sid, source_origin_time=str(ce.origin_time), source_latitude_deg=ce.latitude,
                     source_longitude_deg=ce.longitude, source_depth_km=ce.depth_km, source_magnitude=ce.magnitude,
                     source_magnitude_type=ce.magnitude_type or "", path_ep_distance_km=d,
                     path_azimuth_deg=az, path_back_azimuth_deg=baz)
        groups.setdefault((sid, m["station_network_code"], m["station_code"]), []).append(c)
    kept, skips = [], []
    for key in sorted(groups):
        g = sorted(groups[key], key=lambda c: (tuple(-float(x) for x in c["rank"]), c["meta"]["provenance"]))
        best = g[0]
        kept.append(best)
        bm = best["meta"]
        bid = f"{bm['station_network_code']}.{bm['station_code']}.{bm['station_location_code']}.{bm['trace_channel']}"
        for c in g[1:]:
            m = c["meta"]
            same = (m["station_location_code"], m["trace_channel"]) == (bm["station_location_code"],
                                                                        bm["trace_channel"])
            reason = "duplicate record" if same else "duplicate (co-located instrument)"
            skips.append(Skip(c["origin"], reason, f"event {key[0]}: kept {bid} ({bm['trace_units']}, "
                                              f"{bm['trace_original_sampling_rate_hz']:g} Hz) from {bm['provenance']}"))
    kept.sort(key=lambda c: (c["meta"]["source_id"], c["meta"]["station_network_code"], c["meta"]["station_code"],
                             c["meta"]["station_location_code"], c["meta"]["trace_channel"]))
    return kept, skips


def _summary(kept: list[dict], skips: list[Skip], n_inputs: int, cfg: IngestConfig) -> dict[str, Any]:
    per_event: dict[str, set] = {}
    for c in kept:
        m = c["meta"]
        per_event.setdefault(m["source_id"], set()).add((m["station_network_code"], m["station_code"]))
    stations = {s for v in per_event.values() for s in v}
    return {
        "inputs": n_inputs,
        "records": len(kept),
        "events": len(per_event),
        "paired_events": sum(len(v) >= 2 for v in per_event.values()),
        "stations": len(stations),
        "skipped": len(skips),
        "skips_by_reason": dict(sorted(Counter(s.reason for s in skips).items())),
        "units": dict(sorted(Counter(c["meta"]["trace_units"] for c in kept).items())),
        "arrivals_source": dict(sorted(Counter(c["meta"]["trace_arrivals_source"] for c in kept).items())),
        # kept and flagged (trace_clipped): shape only for amplitude metrics and loss terms (docs/ingest.md)
        "clipped": sum(bool(c["meta"].get("trace_clipped")) for c in kept),
        "clipped_records": {c["meta"]["provenance"]: c["meta"]["trace_clipping"] for c in kept
                            if c["meta"].get("trace_clipped")},
        "window": to_dict(cfg.window),
        "short_records": "padded into the configured window; valid range in trace_valid_*_sample",
    }


def _write_store(out: Path, kept: list[dict], skips: list[Skip], summary: dict, scratch: Path,
                 cfg: IngestConfig, progress: bool) -> None:
    import pandas as pd

    w = cfg.window
    splits = assign_splits([c["meta"]["source_id"] for c in kept], cfg.split_fractions, cfg.split_seed)
    attrs = {"heggs_ingest_config": to_dict(cfg)}
    with h5py.File(scratch, "r") as h5, StoreWriter(out, w.components, w.sampling_rate_hz, w.n_samples,
                                                   attrs=attrs) as writer:
        for c, split in zip(kept, splits):
            meta = {k: v for k, v in c["meta"].items() if k != "trace_clipping"}  # the reasons go to the summary
            writer.add(h5[str(c["idx"])][()], {**meta, "split": split})
        rep = pd.DataFrame([{"origin": s.origin, "reason": s.reason, "detail": s.detail} for s in skips],
                           columns=["origin", "reason", "detail"])
        writer.add_file("ingest_report.csv", rep.to_csv(index=False))
        writer.add_file("ingest_summary.json", json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        writer.add_file("ingest_config.json", json.dumps(to_dict(cfg), indent=2, sort_keys=True) + "\n")
