"""Stage inspect — what is in a store, in numbers and pictures (``heggs inspect``).

:func:`summarize` counts events, records, paired events, stations, units, splits, arrival
sources and ingest skips, and gives the ranges of magnitude, distance and depth.
:func:`event_map` and :func:`event_record_section` draw one event of a store with the plain
array functions of :mod:`heggs.plots`; :func:`inspect_store` writes all of it to a folder.
Works on any SeisBench-format folder (missing HEGGS columns are reported as missing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .data import condition_features, station_keys, training_ranges
from .plots import UNIT_LABELS, plot_map, plot_record_section, thin_by_distance
from .store import Store


def _counts(meta: pd.DataFrame, col: str) -> dict[str, int] | None:
    if col not in meta.columns:
        return None
    return {str(k): int(v) for k, v in meta[col].fillna("missing").astype(str).value_counts().items()}


def _skips(path: Path) -> dict[str, Any]:
    """Skip counts by reason from the ingest side files, when the store has them."""
    out: dict[str, Any] = {}
    summary = path / "ingest_summary.json"
    if summary.exists():
        try:
            data = json.loads(summary.read_text())
        except json.JSONDecodeError as e:
            out["ingest_summary_error"] = f"unreadable ingest_summary.json: {e}"
        else:
            out["ingest_summary"] = data
            for key in ("skips_by_reason", "skipped_by_reason", "skips", "skipped"):
                if isinstance(data.get(key), dict):
                    out["skips_by_reason"] = {str(k): int(v) for k, v in data[key].items()}
                    break
    report = path / "ingest_report.csv"
    if report.exists() and "skips_by_reason" not in out:
        rep = pd.read_csv(report)
        if "reason" in rep.columns:
            rows = rep
            for status_col in ("status", "outcome", "result"):
                if status_col in rep.columns:
                    rows = rep[rep[status_col].astype(str).str.lower().str.startswith("skip")]
                    break
            out["skips_by_reason"] = {
                str(k): int(v) for k, v in rows["reason"].dropna().astype(str).value_counts().items()
            }
    return out


def summarize(store: Store | str | Path) -> dict[str, Any]:
    """Counts and ranges of a store, JSON-serialisable.

    Keys: path, records, events, paired_events (≥ 2 stations), stations, stations_per_event
    (mean, max), sampling_rate_hz, n_samples, component_order, units, magnitude_types,
    magnitude / distance_km / depth_km ranges ([min, max]), splits (records and events per
    split), arrivals_source, missing_arrivals (P, S), padded_records (valid range shorter than
    the trace), band_max_hz (value -> records) and, where the store has ingest side files,
    skips_by_reason and ingest_summary.
    """
    st = store if isinstance(store, Store) else Store(store)
    meta = st.metadata
    n = len(meta)
    stations = station_keys(meta) if n else np.array([])
    sid = meta["source_id"].astype(str) if "source_id" in meta.columns else pd.Series(np.arange(n).astype(str))
    per_event = pd.Series(stations).groupby(sid.to_numpy()).nunique() if n else pd.Series(dtype=int)
    ranges = training_ranges(meta) if n and "source_magnitude" in meta.columns else {}
    try:
        fmt = st.data_format
    except Exception:  # noqa: BLE001 - SeisBench folders without data_format
        fmt = {}
    npts = meta["trace_npts"] if "trace_npts" in meta.columns else pd.Series(dtype=float)
    out: dict[str, Any] = {
        "path": str(st.path),
        "records": n,
        "events": int(sid.nunique()),
        "paired_events": int((per_event >= 2).sum()),
        "records_in_paired_events": int(sid.isin(per_event.index[per_event >= 2]).sum()),
        "stations": int(len(set(stations.tolist()))),
        "stations_per_event": {"mean": float(per_event.mean()) if len(per_event) else 0.0,
                               "max": int(per_event.max()) if len(per_event) else 0},
        "sampling_rate_hz": sorted({float(v) for v in meta.get("trace_sampling_rate_hz", pd.Series(
            [fmt.get("sampling_rate", np.nan)])).dropna()}),
        "n_samples": sorted({int(v) for v in npts.dropna()}),
        "component_order": str(fmt.get("component_order", "")) or None,
        "units": _counts(meta, "trace_units"),
        "magnitude_types": _counts(meta, "source_magnitude_type"),
        "magnitude": ranges.get("magnitude"),
        "distance_km": ranges.get("distance_km"),
        "depth_km": ranges.get("depth_km"),
        "splits": None,
        "arrivals_source": _counts(meta, "trace_arrivals_source"),
        "missing_arrivals": {ph: int(meta[c].isna().sum()) if c in meta.columns else n
                             for ph, c in (("P", "trace_P_arrival_sample"), ("S", "trace_S_arrival_sample"))},
        "padded_records": None,
        "band_max_hz": None,
    }
    if "split" in meta.columns:
        out["splits"] = {str(k): {"records": int(len(g)), "events": int(g["source_id"].nunique())}
                         for k, g in meta.assign(source_id=sid.to_numpy()).groupby(meta["split"].fillna("missing"))}
    if {"trace_valid_start_sample", "trace_valid_end_sample", "trace_npts"} <= set(meta.columns):
        short = (meta["trace_valid_start_sample"] > 0) | (meta["trace_valid_end_sample"] < meta["trace_npts"])
        out["padded_records"] = int(short.sum())
    if "trace_band_max_hz" in meta.columns:
        out["band_max_hz"] = {f"{k:g}": int(v) for k, v in meta["trace_band_max_hz"].round(2).value_counts().sort_index().items()}
    out.update(_skips(st.path))
    return out


def format_summary(s: dict[str, Any]) -> str:
    """Human-readable text of :func:`summarize`'s dict."""

    def rng(key: str, unit: str) -> str:
        r = s.get(key)
        return f"{r[0]:.3g} – {r[1]:.3g}{unit}" if r else "n/a"

    def cnt(d: dict | None) -> str:
        return ", ".join(f"{k}: {v}" for k, v in d.items()) if d else "n/a"

    lines = [
        f"store        {s['path']}",
        f"records      {s['records']}  ({s['records_in_paired_events']} in paired events)",
        f"events       {s['events']}  ({s['paired_events']} with >= 2 stations; "
        f"stations/event mean {s['stations_per_event']['mean']:.1f}, max {s['stations_per_event']['max']})",
        f"stations     {s['stations']}",
        f"sampling     {cnt({'Hz': ', '.join(f'{v:g}' for v in s['sampling_rate_hz'])})}; samples "
        f"{', '.join(map(str, s['n_samples'])) or 'n/a'}; components {s['component_order'] or 'n/a'}",
        f"units        {cnt(s['units'])}",
        f"magnitude    {rng('magnitude', '')}  ({cnt(s['magnitude_types'])})",
        f"distance     {rng('distance_km', ' km')}",
        f"depth        {rng('depth_km', ' km')}",
        "splits       " + (", ".join(f"{k}: {v['records']} records / {v['events']} events"
                                     for k, v in s["splits"].items()) if s["splits"] else "n/a (no split column)"),
        f"arrivals     {cnt(s['arrivals_source'])}; missing P {s['missing_arrivals']['P']}, "
        f"missing S {s['missing_arrivals']['S']}",
        f"padded       {s['padded_records'] if s['padded_records'] is not None else 'n/a'} records "
        "(valid range shorter than the window)",
        f"band max Hz  {cnt(s['band_max_hz'])}",
    ]
    if "skips_by_reason" in s:
        total = sum(s["skips_by_reason"].values())
        lines.append(f"skipped      {total} inputs at ingest")
        lines += [f"  {v:6d}  {k}" for k, v in sorted(s["skips_by_reason"].items(), key=lambda kv: -kv[1])]
    elif "ingest_summary_error" in s:
        lines.append(f"skipped      {s['ingest_summary_error']}")
    else:
        lines.append("skipped      n/a (no ingest_summary.json / ingest_report.csv in the store)")
    return "\n".join(lines)


def default_event(meta: pd.DataFrame) -> str:
    """source_id of the event with the most stations (ties: the larger magnitude)."""
    if len(meta) == 0:
        raise ValueError("the store is empty")
    sid = meta["source_id"].astype(str)
    n_sta = pd.Series(station_keys(meta)).groupby(sid.to_numpy()).nunique()
    mag = pd.to_numeric(meta.get("source_magnitude", pd.Series(0.0, index=meta.index)), errors="coerce")
    mag = mag.groupby(sid.to_numpy()).max().reindex(n_sta.index).fillna(-10)
    order = sorted(n_sta.index, key=lambda e: (-n_sta[e], -mag[e], e))
    return order[0]


def _event_rows(meta: pd.DataFrame, event: str) -> np.ndarray:
    rows = np.flatnonzero(meta["source_id"].astype(str).to_numpy() == str(event))
    if len(rows) == 0:
        some = ", ".join(meta["source_id"].astype(str).drop_duplicates().head(5))
        raise ValueError(f"no records of event {event!r} in the store (events include: {some})")
    return rows


def trace_labels(meta: pd.DataFrame) -> list[str]:
    """``NET.STA.CHA`` of each row (the parts the metadata has), as record sections label traces."""
    parts = [meta[c].fillna("").astype(str) if c in meta.columns else pd.Series("", index=meta.index)
             for c in ("station_network_code", "station_code", "trace_channel")]
    return [".".join(p for p in t if p) for t in zip(*parts)]


def time_after_origin_s(meta: pd.DataFrame) -> float:
    """Time of sample 0 after the origin (s): the median of ``trace_start_time`` −
    ``source_origin_time`` over the rows; 0 where the metadata lacks them."""
    if {"trace_start_time", "source_origin_time"} <= set(meta.columns):
        dt = pd.to_datetime(meta["trace_start_time"], utc=True, errors="coerce") - pd.to_datetime(
            meta["source_origin_time"], utc=True, errors="coerce")
        if dt.notna().any():
            return float(dt.dt.total_seconds().median())
    return 0.0


def event_map(store: Store, event: str) -> Figure:
    """Map of all events and stations of ``store`` with ``event`` and its stations zoomed."""
    meta = store.metadata
    rows = _event_rows(meta, event)
    ev = meta.drop_duplicates("source_id").reset_index(drop=True)
    keys = station_keys(meta)
    first = pd.Series(np.arange(len(meta))).groupby(keys).first()
    st = meta.iloc[first.to_numpy()].reset_index(drop=True)
    st_index = {k: i for i, k in enumerate(first.index)}
    mags = pd.to_numeric(ev["source_magnitude"], errors="coerce").to_numpy() if "source_magnitude" in ev else None
    mtype = str(meta["source_magnitude_type"].iloc[rows[0]]) if "source_magnitude_type" in meta.columns else "M"
    e = int(np.flatnonzero(ev["source_id"].astype(str).to_numpy() == str(event))[0])
    r0 = meta.iloc[rows[0]]
    return plot_map(
        ev["source_latitude_deg"], ev["source_longitude_deg"],
        st["station_latitude_deg"], st["station_longitude_deg"],
        magnitudes=mags, depths_km=pd.to_numeric(ev["source_depth_km"], errors="coerce"),
        highlight_event=e, highlight_stations=sorted({st_index[k] for k in keys[rows]}),
        station_names=[k.strip(".") for k in first.index],
        title=f"{store.path.name}: event {event}  ({mtype} {r0.get('source_magnitude', np.nan):.1f}, "
              f"depth {r0.get('source_depth_km', np.nan):.1f} km, {len(set(keys[rows]))} stations)",
    )


def event_record_section(store: Store, event: str, show: str = "Z", max_traces: int = 60) -> Figure:
    """Record section of ``event``: traces by epicentral distance with P/S and valid ranges.

    show : components to draw ("Z", "ENZ", ...). max_traces : above this, records are thinned
    evenly in distance (the title says how many are shown).
    """
    meta = store.metadata
    rows = _event_rows(meta, event)
    sub = meta.iloc[rows]
    dist = condition_features(sub)[:, 6]
    n_all = len(rows)
    order = thin_by_distance(dist, max_traces)
    sub, dist, rows = sub.iloc[order], dist[order], rows[order]
    fmt = store.data_format
    comps = str(sub["trace_component_order"].iloc[0]) if "trace_component_order" in sub.columns else str(
        fmt.get("component_order", "ENZ"))
    sr = float(sub["trace_sampling_rate_hz"].iloc[0]) if "trace_sampling_rate_hz" in sub.columns else float(
        fmt["sampling_rate"])
    waves = store.waveforms(rows)
    ns = waves.shape[-1]

    def col(name: str, default: float) -> np.ndarray:
        return pd.to_numeric(sub[name], errors="coerce").to_numpy(float) if name in sub.columns else np.full(len(sub), default)

    valid = np.stack([np.nan_to_num(col("trace_valid_start_sample", 0), nan=0),
                      np.nan_to_num(col("trace_valid_end_sample", ns), nan=ns)], axis=1).astype(int)
    offset = time_after_origin_s(sub)
    units = sub["trace_units"].fillna("unknown").astype(str).tolist() if "trace_units" in sub.columns else "unknown"
    r0 = sub.iloc[0]
    mag = f"{r0.get('source_magnitude_type', 'M')} {r0.get('source_magnitude', np.nan):.1f}"
    shown = f"{len(rows)} of {n_all} records" if len(rows) < n_all else f"{n_all} records"
    ulist = sorted(set(units)) if isinstance(units, list) else [units]
    return plot_record_section(
        waves, dist, sr, components=comps, show=show,
        p_samples=col("trace_P_arrival_sample", np.nan), s_samples=col("trace_S_arrival_sample", np.nan),
        valid=valid, labels=trace_labels(sub), units=units, time_offset_s=offset,
        label="recorded",
        title=f"{store.path.name}: event {event} ({mag}, depth {r0.get('source_depth_km', np.nan):.1f} km) — "
              f"{shown}; units: {', '.join(UNIT_LABELS.get(u, u) for u in ulist)}",
    )


def inspect_store(
    store: Store | str | Path,
    out_dir: str | Path,
    event: str | None = None,
    show: str = "Z",
    max_traces: int = 60,
    plots: bool = True,
) -> dict[str, Any]:
    """Summarise ``store`` and write ``summary.json``, ``map.png``, ``record_section.png``.

    event : source_id to draw (default: :func:`default_event`). Returns
    ``{"summary": dict, "event": str, "files": [paths]}``.
    """
    st = store if isinstance(store, Store) else Store(store)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(st)
    files = [out / "summary.json"]
    files[0].write_text(json.dumps(summary, indent=2) + "\n")
    ev = None
    if plots and len(st):
        ev = str(event) if event is not None else default_event(st.metadata)
        summary["event"] = ev
        for name, make in (("map.png", lambda: event_map(st, ev)),
                           ("record_section.png", lambda: event_record_section(st, ev, show, max_traces))):
            fig = make()
            fig.savefig(out / name, dpi=120)
            files.append(out / name)
    return {"summary": summary, "event": ev, "files": [str(f) for f in files]}
