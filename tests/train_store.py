"""Helper for the training tests: a small REAL store from ../shared/data/iceland_dike.

Runs the project's own reader and ingest (``heggs.ingest.archives.iceland_dike_records`` ->
``heggs.ingest.run.ingest``) on the first ``n_events`` events that have a magnitude and the first
``n_stations`` stations of each (alphabetical): Bárðarbunga dike earthquakes, counts (no
response, flagged ``trace_units = counts``), window ``length_s`` from the origin at ``rate_hz``,
band 1 Hz – ``band_max_hz``, every event in the train split.
"""

from __future__ import annotations

from pathlib import Path

from heggs.ingest.archives import iceland_dike_records
from heggs.config import IngestConfig, WindowConfig
from heggs.ingest.run import ingest
from heggs.ingest.records import RawRecord


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


def build_synthetic_store(
    out: Path, n_events: int = 2, n_stations: int = 2, length_s: float = 10.0, rate_hz: float = 25.0,
    band_max_hz: float = 10.0, seed: int = 0,
) -> Path:
    """The same layout as :func:`build_iceland_store` from synthetic counts records (P and S
    bursts at TauP-like times), through the same ingest: for the training-machinery tests
    (DDP, resume, NaN, checkpoints) where ../shared/data is absent."""
    import numpy as np
    from obspy import Stream, Trace, UTCDateTime

    from heggs.ingest.records import EventInfo, StationInfo

    rng = np.random.default_rng(seed)
    fs = 100.0
    t = np.arange(int((length_s + 10) * fs)) / fs
    items = []
    for e in range(n_events):
        origin = UTCDateTime(2014, 8, 24, 0, 10 * e)
        ev = EventInfo(f"syn{e}", origin, 64.7 + 0.01 * e, -17.0, 6.0, 1.0 + 0.3 * e, "ML")
        for s in range(n_stations):
            sta = StationInfo("XX", f"S{s}", "", 64.75 + 0.05 * s, -16.9 + 0.05 * e, 0.0)
            tp, ts = 2.0 + s + 0.5 * e, 3.5 + 1.7 * s + 0.8 * e
            env = (t > tp) * np.exp(-(t - tp).clip(0)) + 3 * (t > ts) * np.exp(-(t - ts).clip(0) / 1.5)
            traces = [Trace(data=(1e4 * env * rng.normal(size=t.size) + 50 * rng.normal(size=t.size)).astype(np.float32),
                            header={"network": "XX", "station": f"S{s}", "channel": f"HH{c}", "sampling_rate": fs,
                                    "starttime": origin - 2.0}) for c in "ENZ"]
            items.append(RawRecord(Stream(traces), "counts", f"synthetic {e}/{s}", station=sta, event=ev))
    cfg = IngestConfig(window=WindowConfig(length_s=length_s, sampling_rate_hz=rate_hz, band_max_hz=band_max_hz),
                       split_fractions=(1.0, 0.0, 0.0))
    report = ingest(items, out, cfg, progress=False, adapter="synthetic")
    if report.summary["records"] != n_events * n_stations:
        raise RuntimeError(f"expected {n_events * n_stations} records, ingest gave {report.summary}")
    return out


def small_store(out: Path, data_root: Path | None, **kw) -> Path:
    """Real iceland_dike records where ../shared/data is present, else synthetic ones."""
    if data_root is not None and Path(data_root).exists():
        return build_iceland_store(data_root, out, **kw)
    return build_synthetic_store(out, **kw)
