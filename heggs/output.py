"""Stage generation (outputs) — generated records as ObsPy Streams and standard seismic files.

A generated record is a ``(3, n_samples)`` array in the model's store units (acceleration in
m/s² for physical-unit models) with its :class:`heggs.scenario.Target`. Here it becomes an ObsPy
Stream whose traces carry network/station codes, channels ``HNE/HNN/HNZ`` (orientation E, N, Z),
the sampling rate, start time = origin time + window offset, units, station/event coordinates and
the generation parameters; and files: miniSEED (+ a JSON sidecar with what miniSEED cannot hold),
SAC (headers stla, stlo, evla, evlo, evdp, mag, o, cmpaz, cmpinc, idep), HDF5, or a
SeisBench-format dataset. Every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np
from obspy import Stream, Trace, UTCDateTime
from obspy.core.util import AttribDict
from obspy.geodetics import gps2dist_azimuth

from .scenario import Target
from .store import StoreWriter

#: SAC component orientation: (cmpaz, cmpinc) in degrees.
SAC_ORIENTATION = {"E": (90.0, 90.0), "N": (0.0, 90.0), "Z": (0.0, 0.0)}
FORMATS = ("mseed", "sac", "hdf5", "seisbench")


def to_stream(
    waveform: np.ndarray,
    target: Target,
    sampling_rate_hz: float,
    components: str = "ENZ",
    units: str = "m/s2",
    offset_s: float = 0.0,
    member: int = 0,
    band_code: str = "H",
    params: dict[str, Any] | None = None,
) -> Stream:
    """One generated record as an ObsPy Stream.

    waveform : (n_components, n_samples) float, ``units`` (m/s² or counts).
    target : the scenario; its station/event fill the stats. member : ensemble index; it becomes
    the location code (``"00"``, ``"01"`` …) so members of one target do not collide.
    params : generation parameters (model, seed, steps, source …) stored in ``stats.heggs``.
    """
    w = np.asarray(waveform, dtype=np.float32)
    if w.ndim != 2 or w.shape[0] != len(components):
        raise ValueError(f"waveform shape {w.shape} does not match components {components!r}")
    dist_m, az, baz = gps2dist_azimuth(target.event_lat, target.event_lon, target.station_lat, target.station_lon)
    start = UTCDateTime(target.origin_time) + offset_s
    inst = "N" if units == "m/s2" else "H"
    st = Stream()
    for comp, data in zip(components, w):
        tr = Trace(data=data.copy())
        tr.stats.network = target.network
        tr.stats.station = target.station
        tr.stats.location = f"{member:02d}"
        tr.stats.channel = f"{band_code}{inst}{comp}"
        tr.stats.sampling_rate = float(sampling_rate_hz)
        tr.stats.starttime = start
        cmpaz, cmpinc = SAC_ORIENTATION.get(comp, (0.0, 0.0))
        tr.stats.sac = AttribDict(
            stla=target.station_lat, stlo=target.station_lon,
            evla=target.event_lat, evlo=target.event_lon, evdp=target.event_depth_km,
            mag=target.magnitude, o=-offset_s, dist=dist_m / 1e3, az=az, baz=baz,
            cmpaz=cmpaz, cmpinc=cmpinc, idep=8 if units == "m/s2" else 5,
            kuser0="M/S**2" if units == "m/s2" else "COUNTS", kevnm=target.event_id[:16],
            lcalda=0,
        )
        tr.stats.heggs = AttribDict(units=units, target=target.as_dict(), member=member, **(params or {}))
        st.append(tr)
    return st


def _atomic_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"


def write_stream(st: Stream, path: str | Path, fmt: str) -> list[Path]:
    """Write one record atomically. ``fmt``: ``mseed`` (FLOAT32 + ``.json`` sidecar) or ``sac``
    (one file per component: ``path`` with ``.HNE.sac`` etc.). Returns the files written."""
    path = Path(path)
    if fmt == "mseed":
        tmp = _atomic_path(path)
        st.write(str(tmp), format="MSEED", encoding="FLOAT32")
        os.replace(tmp, path)
        side = path.with_suffix(path.suffix + ".json")
        tmp = _atomic_path(side)
        tmp.write_text(json.dumps(_sidecar(st), indent=2, default=str))
        os.replace(tmp, side)
        return [path, side]
    if fmt == "sac":
        written = []
        for tr in st:
            p = path.with_name(f"{path.stem}.{tr.stats.location}.{tr.stats.channel}.sac")
            tmp = _atomic_path(p)
            tr.write(str(tmp), format="SAC")
            os.replace(tmp, p)
            written.append(p)
        return written
    raise ValueError(f"unknown single-record format {fmt!r}; use mseed or sac")


def _plain(value: Any) -> Any:
    """Nested AttribDicts (ObsPy stats) as plain dicts, so they are JSON objects, not repr strings."""
    if isinstance(value, (dict, AttribDict)):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _sidecar(st: Stream) -> dict[str, Any]:
    """What miniSEED cannot hold: units, channel orientations, ``out_of_range`` and ``stats.heggs``
    (target, member, generation parameters) as JSON objects.

    ``out_of_range`` : where the target lies outside the model's training ranges, a list of
    ``{"quantity": "distance_km", "value": 2450.0, "range": [lo, hi]}``
    (:func:`heggs.scenario.range_violations`), ``[]`` when in range (or not checked)."""
    tr = st[0]
    heggs = _plain(tr.stats.heggs)
    return {
        "units": tr.stats.heggs.units,
        "channels": {t.stats.channel: {"orientation": t.stats.channel[-1], "cmpaz": t.stats.sac.cmpaz, "cmpinc": t.stats.sac.cmpinc} for t in st},
        "out_of_range": heggs.pop("out_of_range", []),
        "heggs": heggs,
    }


def write_csv(table, path: str | Path) -> Path:
    """A pandas DataFrame as CSV, atomically (temporary name, then renamed into place)."""
    path = Path(path)
    tmp = _atomic_path(path)
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


def write_hdf5(path: str | Path, waveforms: np.ndarray, targets: Sequence[Target], members: Sequence[int],
               sampling_rate_hz: float, components: str, units: str, params: dict[str, Any]) -> Path:
    """All records in one HDF5 file: dataset ``waveforms`` (n, n_components, n_samples) in
    ``units`` and a ``targets`` JSON attribute (one dict per record, with its member index)."""
    path = Path(path)
    tmp = _atomic_path(path)
    with h5py.File(tmp, "w") as f:
        d = f.create_dataset("waveforms", data=np.asarray(waveforms, dtype=np.float32))
        d.attrs.update(units=units, sampling_rate_hz=sampling_rate_hz, component_order=components)
        f.attrs["targets"] = json.dumps([{**t.as_dict(), "member": int(m)} for t, m in zip(targets, members)])
        f.attrs["params"] = json.dumps(params, default=str)
    os.replace(tmp, path)
    return path


def write_seisbench(path: str | Path, waveforms: np.ndarray, targets: Sequence[Target], members: Sequence[int],
                    sampling_rate_hz: float, components: str, units: str, params: dict[str, Any],
                    offset_s: float = 0.0) -> Path:
    """All records as a SeisBench-format dataset (our store layout; atomic as a whole)."""
    w = np.asarray(waveforms, dtype=np.float32)
    with StoreWriter(path, components, sampling_rate_hz, w.shape[-1], attrs={"generation": params}) as sw:
        for wave, t, m in zip(w, targets, members):
            dist_m, az, baz = gps2dist_azimuth(t.event_lat, t.event_lon, t.station_lat, t.station_lon)
            sw.add(wave, {
                "source_id": t.event_id, "source_origin_time": str(t.origin_time),
                "source_latitude_deg": t.event_lat, "source_longitude_deg": t.event_lon,
                "source_depth_km": t.event_depth_km, "source_magnitude": t.magnitude,
                "source_magnitude_type": t.magnitude_type, "station_network_code": t.network,
                "station_code": t.station, "station_location_code": f"{m:02d}",
                "station_latitude_deg": t.station_lat, "station_longitude_deg": t.station_lon,
                "trace_start_time": str(UTCDateTime(t.origin_time) + offset_s), "trace_units": units,
                "trace_valid_start_sample": 0, "trace_valid_end_sample": w.shape[-1],
                "path_ep_distance_km": dist_m / 1e3, "path_azimuth_deg": az, "path_back_azimuth_deg": baz,
                "trace_arrivals_source": "", "split": "generated",
                "provenance": json.dumps({"seed": t.seed + m, **{k: v for k, v in params.items() if k != "targets"}}, default=str),
            })
    return Path(path)

