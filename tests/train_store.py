"""Helper for the training tests: a small REAL store from ../shared/data/iceland_dike.

Runs the project's own reader and ingest (``heggs.archives.iceland_dike_records`` ->
``heggs.ingest.ingest``) on the first ``n_events`` events that have a magnitude and the first
``n_stations`` stations of each (alphabetical): Bárðarbunga dike earthquakes, counts (no
response, flagged ``trace_units = counts``), window ``length_s`` from the origin at ``rate_hz``,
band 1 Hz – ``band_max_hz``, every event in the train split.
"""

from __future__ import annotations

from pathlib import Path

from heggs.archives import iceland_dike_records
from heggs.config import IngestConfig, WindowConfig
from heggs.ingest import ingest
from heggs.records import RawRecord


def build_iceland_store(
    data_root: Path, out: Path, n_events: int = 2, n_stations: int = 2, length_s: float = 10.0,
    rate_hz: float = 25.0, band_max_hz: float = 10.0,
) -> Path:
    events: dict[str, list[RawRecord]] = {}
    for item in iceland_dike_records(Path(data_root) / "iceland_dike"):
        if not isinstance(item, RawRecord) or item.event is None or item.event.magnitude is None:
            continue
        eid = item.event.event_id
        if eid not in events and len(events) == n_events:
            continue
        events.setdefault(eid, []).append(item)
    chosen = []
    for recs in events.values():
        names = sorted({r.station.station for r in recs})[:n_stations]
        chosen += [r for r in recs if r.station.station in names]
    cfg = IngestConfig(window=WindowConfig(length_s=length_s, sampling_rate_hz=rate_hz, band_max_hz=band_max_hz),
                       split_fractions=(1.0, 0.0, 0.0))
    report = ingest(chosen, out, cfg, progress=False, adapter="iceland_dike")
    if report.summary["records"] != n_events * n_stations:
        raise RuntimeError(f"expected {n_events * n_stations} records, ingest gave {report.summary}")
    return Path(out)
