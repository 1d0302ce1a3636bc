"""Stage 1 (archive adapters) — import an existing SeisBench-format dataset.

Users who already downloaded INSTANCE / SCEDC / STEAD (or wrote their own SeisBench dataset)
point HEGGS at the folder (``metadata.csv`` + ``waveforms.hdf5``); nothing is re-downloaded.
Each row becomes a :class:`heggs.ingest.records.RawRecord`: an ObsPy Stream starting at
``trace_start_time``, channels named from the band code (``trace_channel``, e.g. ``HH``) and
the dataset's component order, in the dataset's units (``trace_units`` or a per-component
``trace_*_units`` column, else the ``data_format/unit`` attribute; counts when nothing says
otherwise), the event from the ``source_*`` columns and the analyst / catalog picks from
``trace_P_arrival_sample`` / ``trace_S_arrival_sample`` (SeisBench datasets differ in case:
``trace_p_arrival_sample`` works too; among several P-type columns, e.g. ``trace_Pg`` and
``trace_Pn``, the earliest pick is taken). Ingest then windows and resamples as usual.

Both trace-name layouts are read: bucketed (``"bucket3$17,:3,:6000"``, the layout of large
SeisBench datasets and of HEGGS stores) and plain (one HDF5 dataset per trace under ``data/``).
Metadata is read in chunks and waveforms one row at a time (streaming; memory bounded by
one metadata chunk and one trace). Chunked datasets
(``metadata_<chunk>.csv`` + ``waveforms_<chunk>.hdf5``) are read chunk by chunk.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
import pandas as pd
from obspy import Stream, Trace, UTCDateTime

from .formats import is_regular_file
from .records import EventInfo, Item, RawRecord, Skip, StationInfo

_BUCKET_RE = re.compile(r"^(?P<bucket>[^$]+)\$(?P<row>\d+),:(?P<nc>\d+),:(?P<ns>\d+)$")

#: spellings of units in SeisBench datasets -> RawRecord units
UNIT_ALIASES = {
    "counts": "counts", "count": "counts", "cnt": "counts", "raw": "counts",
    "m/s2": "m/s2", "m/s^2": "m/s2", "m/s**2": "m/s2", "mps2": "m/s2", "m/s/s": "m/s2",
    "cm/s2": "cm/s2", "cm/s^2": "cm/s2", "gal": "cm/s2", "cm/s/s": "cm/s2",
    "m/s": "m/s", "mps": "m/s", "cm/s": "cm/s",
}


def normalise_units(text: str | None) -> str | None:
    """A unit string as SeisBench datasets spell it -> RawRecord units; None when unknown."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    t = str(text).strip().lower().split(" ")[0].strip("()[],;")
    return UNIT_ALIASES.get(t)


def _chunks(root: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for meta in sorted(p for p in root.glob("metadata*.csv") if is_regular_file(p)):
        suffix = meta.stem[len("metadata"):]
        wave = root / f"waveforms{suffix}.hdf5"
        if is_regular_file(wave):
            pairs.append((meta, wave))
    if not pairs:
        raise FileNotFoundError(f"{root}: not a SeisBench dataset (no metadata*.csv with matching waveforms*.hdf5)")
    return pairs


def _col(columns, *names: str) -> str | None:
    lower = {c.lower(): c for c in columns}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def _value(row: dict, col: str | None):
    if col is None:
        return None
    v = row.get(col)
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    return v


def _phase_columns(columns, phase: str) -> list[str]:
    """``trace_P_arrival_sample``-like columns for ``phase`` ("P" or "S"), any case / subtype."""
    pat = re.compile(rf"^trace_{phase}[a-z0-9]*_arrival_sample$", re.IGNORECASE)
    return [c for c in columns if pat.match(c)]


def _read_waveform(h5: h5py.File, name: str) -> np.ndarray:
    m = _BUCKET_RE.match(name)
    data = h5["data"]
    if m is None:
        if name not in data:
            raise KeyError(f"trace {name!r} not in waveforms file")
        return np.asarray(data[name])
    return np.asarray(data[m["bucket"]][int(m["row"]), : int(m["nc"]), : int(m["ns"])])


def _band_code(sampling_rate: float, measurement: str) -> str:
    band = "H" if sampling_rate >= 80 else ("B" if sampling_rate >= 10 else "L")
    inst = "N" if "acc" in measurement.lower() else "H"
    return band + inst


def seisbench_records(
    root: str | Path, units: str | None = None, component_order: str | None = None, chunksize: int = 10_000
) -> Iterator[Item]:
    """RawRecords of a SeisBench-format dataset folder, row by row.

    units : override for every trace (e.g. ``"m/s"``) when the dataset documents its units
        elsewhere; otherwise per-row ``trace_units`` / ``trace_*_units`` columns, then
        ``data_format/unit``, then ``"counts"``.
    component_order : override of ``data_format/component_order`` (SeisBench default ``"ZNE"``).
    chunksize : metadata rows read at a time (INSTANCE's metadata is ~1 GB: never loaded whole).

    Rows without an origin time or station coordinates are skipped with that reason.
    """
    root = Path(root)
    for meta_path, wave_path in _chunks(root):
        cols = list(pd.read_csv(meta_path, nrows=0).columns)
        c = {
            "name": _col(cols, "trace_name"),
            "sid": _col(cols, "source_id", "source_event_id"),
            "t0": _col(cols, "source_origin_time"),
            "elat": _col(cols, "source_latitude_deg", "source_latitude"),
            "elon": _col(cols, "source_longitude_deg", "source_longitude"),
            "edep": _col(cols, "source_depth_km"),
            "edep_m": _col(cols, "source_depth_m"),
            "mag": _col(cols, "source_magnitude"),
            "mtype": _col(cols, "source_magnitude_type"),
            "net": _col(cols, "station_network_code"),
            "sta": _col(cols, "station_code"),
            "loc": _col(cols, "station_location_code"),
            "slat": _col(cols, "station_latitude_deg", "station_latitude"),
            "slon": _col(cols, "station_longitude_deg", "station_longitude"),
            "selev": _col(cols, "station_elevation_m"),
            "start": _col(cols, "trace_start_time"),
            "sr": _col(cols, "trace_sampling_rate_hz", "trace_sampling_rate"),
            "order": _col(cols, "trace_component_order"),
            "chan": _col(cols, "trace_channel"),
            "units": _col(cols, "trace_units"),
        }
        if c["name"] is None or c["start"] is None:
            raise ValueError(f"{meta_path}: SeisBench metadata needs trace_name and trace_start_time columns")
        unit_cols = [x for x in cols if re.match(r"^trace_\w*_units?$", x, re.IGNORECASE) and x != c["units"]]
        p_cols, s_cols = _phase_columns(cols, "P"), _phase_columns(cols, "S")
        with h5py.File(wave_path, "r") as h5:
            fmt = dict(h5["data_format"].attrs) if "data_format" in h5 else {}
            order_default = component_order or str(fmt.get("component_order", "ZNE"))
            dim_order = str(fmt.get("dimension_order", "CW"))
            sr_default = fmt.get("sampling_rate")
            unit_default = normalise_units(fmt.get("unit"))
            measurement = str(fmt.get("measurement", "velocity"))
            rows = (row for part in pd.read_csv(meta_path, low_memory=False, chunksize=chunksize) for row in part.to_dict("records"))
            for row in rows:
                name = str(row[c["name"]])
                origin = f"{wave_path}#{name}"
                order = component_order or _value(row, c["order"]) or order_default
                sr = _value(row, c["sr"]) or sr_default
                if sr is None:
                    yield Skip(origin, "no sampling rate", "neither trace_sampling_rate_hz nor data_format/sampling_rate")
                    continue
                sr = float(sr)
                try:
                    w = _read_waveform(h5, name)
                except KeyError as e:
                    yield Skip(origin, "unreadable file", str(e))
                    continue
                if w.ndim == 1:
                    w = w[None, :]
                if dim_order.upper().startswith("W"):
                    w = w.T
                if w.shape[0] != len(order):
                    yield Skip(origin, "missing component", f"{w.shape[0]} channels for component order {order!r}")
                    continue
                u = units or normalise_units(_value(row, c["units"]))
                if u is None:
                    u = next((normalise_units(_value(row, x)) for x in unit_cols if normalise_units(_value(row, x))), None)
                u = u or unit_default or "counts"
                start = UTCDateTime(str(row[c["start"]]))
                net = str(_value(row, c["net"]) or "")
                sta = str(_value(row, c["sta"]) or "")
                loc = _value(row, c["loc"])
                loc = "" if loc is None else (f"{int(loc):02d}" if isinstance(loc, float) else str(loc))
                chan = _value(row, c["chan"])
                band = str(chan)[:2] if chan is not None else _band_code(sr, measurement)
                st = Stream()
                for i, comp in enumerate(order):
                    tr = Trace(data=np.ascontiguousarray(w[i], dtype=np.float64))
                    tr.stats.network, tr.stats.station, tr.stats.location = net, sta, loc
                    tr.stats.channel = band + comp
                    tr.stats.sampling_rate = sr
                    tr.stats.starttime = start
                    st.append(tr)
                slat, slon = _value(row, c["slat"]), _value(row, c["slon"])
                if slat is None or slon is None:
                    yield Skip(origin, "no station coordinates", "station_latitude_deg/longitude_deg empty")
                    continue
                station = StationInfo(net, sta, loc, float(slat), float(slon), float(_value(row, c["selev"]) or 0.0))
                t0 = _value(row, c["t0"])
                if t0 is None or _value(row, c["elat"]) is None or _value(row, c["elon"]) is None:
                    yield Skip(origin, "no event origin", "source_origin_time/latitude/longitude empty")
                    continue
                depth = _value(row, c["edep"])
                if depth is None and _value(row, c["edep_m"]) is not None:
                    depth = float(row[c["edep_m"]]) / 1000.0
                mag = _value(row, c["mag"])
                picks = {}
                for phase, pc in (("P", p_cols), ("S", s_cols)):
                    samples = [float(_value(row, x)) for x in pc if _value(row, x) is not None]
                    if samples:
                        picks[phase] = start + min(samples) / sr
                event = EventInfo(
                    event_id=str(_value(row, c["sid"]) or f"{t0}"), origin_time=UTCDateTime(str(t0)),
                    latitude=float(row[c["elat"]]), longitude=float(row[c["elon"]]),
                    depth_km=float(depth) if depth is not None else 0.0,
                    magnitude=None if mag is None else float(mag),
                    magnitude_type=None if _value(row, c["mtype"]) is None else str(row[c["mtype"]]),
                    picks={(f"{net}.{sta}" if net else sta): picks} if picks else {},
                    provenance=f"SeisBench {root.name}",
                )
                yield RawRecord(stream=st, units=u, origin=origin, station=station, event=event)
