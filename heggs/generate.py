"""Stage generation — the user-facing API: load a trained model and generate records.

>>> from heggs import HEGGS
>>> model = HEGGS.load("runs/mymodel")          # a checkpoint or run folder; None = default model
>>> target = make_target(station_lat=35.7, station_lon=-117.5, event_lat=35.77,
...                      event_lon=-117.6, event_depth_km=8, magnitude=4.2, n_records=5)
>>> streams = model.generate(target)           # 5 ObsPy Streams (E, N, Z) in m/s²
>>> streams = model.generate(target, source=obspy.read("src.mseed"), source_station=(35.9, -117.7))

Without a source, generation starts from pure noise with the target condition (a fictitious
event or a station nobody recorded). With a source record of the SAME event (imputation), the
record is processed exactly as at ingest (units, rotation, band, resampling, window), encoded,
noised to the model's start level and denoised with the target condition. Each ensemble member
``k`` of a target uses seed ``target.seed + k``; outputs do not depend on batch composition.

Every path from conditions to waveforms — :meth:`HEGGS.generate`, :func:`run_scenarios`, the
evaluation (:class:`heggs.evaluate.scoring.ModelGenerator`) and the amplitude calibration
(:func:`heggs.evaluate.calibration.fit_output_gain`) — goes through :meth:`HEGGS.waveforms`:
normalise the raw conditions, batch, run the network, apply the output gain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from obspy import Inventory, Stream, UTCDateTime, read
from tqdm.auto import tqdm

from .condition import condition_vector
from .config import MAX_PHYSICAL_ACCELERATION_M_S2, IngestConfig, WindowConfig
from .ingest.run import Processed, process_record
from .ingest.records import EventInfo, RawRecord, StationInfo
from .scenario import ScenarioError, Target, check_training_ranges, describe_violation, range_violations
from .output import to_stream
from .checkpoint import load_checkpoint
from .folders import claim, mark
from .traveltimes import epicentral_distance_km

#: where the bundled default model lives (package data)
DEFAULT_MODEL = Path(__file__).resolve().parent / "weights" / "default"


@dataclass
class SourceRecord:
    """A real record used for imputation, processed into the model's window.

    waveform : (n_components, n_samples) float32 in store units; valid : [start, end) samples;
    band_max_hz : upper band edge; station : its coordinates; units : ``m/s2`` or ``counts``.
    """

    waveform: np.ndarray
    valid: tuple[int, int]
    band_max_hz: float
    station: StationInfo
    units: str


@dataclass
class SourceBatch:
    """Source records for :meth:`HEGGS.waveforms`, row by row or one row for every target.

    Each array has a leading axis of length n (one source per generated record) or 1 (the same
    source for every record). waveforms : (n|1, n_components, n_samples) float32 in store units;
    conditions : (n|1, 11) RAW condition features (:func:`heggs.condition.condition_vector`) of
    the source station with the target event; valid : (n|1, 2) int valid ``[start, end)``
    samples; band_max_hz : (n|1,) upper band edges, Hz.
    """

    waveforms: np.ndarray
    conditions: np.ndarray
    valid: np.ndarray
    band_max_hz: np.ndarray

    @classmethod
    def from_record(cls, record: SourceRecord, condition: np.ndarray) -> "SourceBatch":
        """One processed source record (``condition``: its (11,) raw features) for every row."""
        return cls(np.asarray(record.waveform, dtype=np.float32)[None], np.asarray(condition, dtype=np.float64)[None],
                   np.asarray([record.valid], dtype=np.int64), np.asarray([record.band_max_hz], dtype=np.float32))

    def rows(self, start: int, stop: int) -> "SourceBatch":
        """Rows ``start:stop`` (a one-row batch is repeated to ``stop - start`` rows)."""
        def take(a: np.ndarray) -> np.ndarray:
            return np.repeat(a, stop - start, 0) if len(a) == 1 else a[start:stop]

        return SourceBatch(take(self.waveforms), take(self.conditions), take(self.valid), take(self.band_max_hz))


class HEGGS:
    """A trained HEGGS model ready to generate (weights + condition normaliser + ranges).

    Load with :meth:`load`. ``info`` is the checkpoint's JSON (configs, provenance, training
    ranges). Generation runs on ``device`` (``"auto"``: CUDA when available).
    """

    def __init__(self, net: torch.nn.Module, normalizer, info: dict[str, Any]):
        self.net = net
        self.normalizer = normalizer
        self.info = info
        cfg = net.cfg
        self.sampling_rate_hz = float(cfg.sampling_rate_hz)
        self.n_samples = int(cfg.n_samples)
        win = (info.get("data") or {}).get("window") or {}
        self.offset_s = float(win.get("offset_s", 0.0))
        self.components = str(win.get("components", "ENZ"))
        self.units = net.output_units
        self.training_ranges: dict[str, Any] = info.get("training_ranges") or {}
        #: amplitude calibration factor applied to every generated record (1 = none); see
        #: :func:`heggs.evaluate.calibration.fit_output_gain` (the default model's card says how it was fitted)
        self.output_gain = float(info.get("output_gain", 1.0))

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None, device: str = "auto", ema: bool = True) -> "HEGGS":
        """Load a checkpoint folder, a run folder (newest checkpoint) or, with ``None``, the
        default model shipped with HEGGS."""
        if path is None:
            path = DEFAULT_MODEL
            if not Path(path).exists():
                raise FileNotFoundError(f"the default model is not installed at {path}; pass a checkpoint path")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        net, normalizer, info = load_checkpoint(path, ema=ema, device=device)
        return cls(net, normalizer, info)

    @property
    def window(self) -> WindowConfig:
        return WindowConfig(offset_s=self.offset_s, length_s=self.n_samples / self.sampling_rate_hz,
                            sampling_rate_hz=self.sampling_rate_hz, components=self.components)

    def describe(self) -> str:
        cfg = self.net.cfg
        return (f"HEGGS model {self.info.get('path', '')}: {self.n_samples / self.sampling_rate_hz:g} s at "
                f"{self.sampling_rate_hz:g} Hz, {self.components}, {sum(p.numel() for p in self.net.parameters()):,} "
                f"parameters, {cfg.sampler_steps} sampler steps; trained on {self.training_ranges}")

    # ------------------------------------------------------------------ sources
    def prepare_source(
        self,
        source: Stream | str | Path,
        target: Target,
        station: tuple[float, float] | StationInfo | None = None,
        units: str | None = None,
        inventory: Inventory | str | Path | None = None,
    ) -> SourceRecord:
        """Process a real record of the target's event into the model's window, as ingest does.

        source : ObsPy Stream or a file ObsPy reads (all channels of one instrument).
        station : (lat, lon) of the source station, unless the file's headers (SAC) or
            ``inventory`` give them.
        units : what the data are in (``counts`` when an inventory with a response is given,
            ``m/s2`` for already-corrected acceleration; default: ``counts`` with an inventory,
            else ``m/s2``).
        Raises :class:`ScenarioError` when the file cannot be read, the station is unknown, the
        record does not contain the target's origin (another event), or ingest rejects it.
        """
        if not isinstance(source, Stream):
            try:
                source = read(str(source))
            except Exception as e:
                raise ScenarioError(f"cannot read source file {source}: {e}") from None
        if len(source) == 0:
            raise ScenarioError("source stream is empty")
        rates = {tr.stats.sampling_rate for tr in source}
        if len(rates) > 1:
            raise ScenarioError(f"source channels have different sampling rates {sorted(rates)}")
        if isinstance(inventory, (str, Path)):
            from obspy import read_inventory

            try:
                inventory = read_inventory(str(inventory))
            except Exception as e:  # ObsPy raises many types for a malformed file
                raise ScenarioError(f"cannot read source inventory {inventory}: {' '.join(str(e).split())}") from None
        st_info = self._source_station(source, station, inventory)
        t0, t1 = min(tr.stats.starttime for tr in source), max(tr.stats.endtime for tr in source)
        origin = UTCDateTime(target.origin_time)
        if not (t0 - 120.0 <= origin <= t1):
            raise ScenarioError(
                f"source record ({t0} – {t1}) cannot contain the target event's origin {origin}: "
                "a source must be a recording of the SAME event (set the target's origin_time)")
        sac = getattr(source[0].stats, "sac", None)
        if sac is not None and "evla" in sac and "evlo" in sac and abs(sac.evla) <= 90:
            d_km = float(epicentral_distance_km(sac.evla, sac.evlo, target.event_lat, target.event_lon))
            if d_km > 50.0:
                raise ScenarioError(f"source header names an event {d_km:.0f} km from the target event: not the same event")
        if units is None and inventory is None:
            # no declared units and no response: the record is taken for m/s², so a peak far
            # beyond any recorded acceleration means the file holds counts
            peak = max(float(np.nanmax(np.abs(tr.data))) if tr.stats.npts else 0.0 for tr in source)
            if peak > MAX_PHYSICAL_ACCELERATION_M_S2:
                raise ScenarioError(
                    f"source {source[0].id}: peak {peak:.3g} is far beyond any recorded acceleration "
                    f"(> {MAX_PHYSICAL_ACCELERATION_M_S2:g} m/s², MAX_PHYSICAL_ACCELERATION_M_S2) for m/s²: it looks "
                    "like counts; give its units (CLI: --source-units) or its response (--source-inventory)")
        units = units or ("counts" if inventory is not None else "m/s2")
        raw = RawRecord(stream=source, units=units, origin="source", inventory=inventory, station=st_info)
        ev = EventInfo(event_id=target.event_id, origin_time=origin, latitude=target.event_lat,
                       longitude=target.event_lon, depth_km=target.event_depth_km,
                       magnitude=target.magnitude, magnitude_type=target.magnitude_type or None)
        res = process_record(raw, ev, IngestConfig(window=self.window))
        if not isinstance(res, Processed):
            raise ScenarioError(f"source record rejected: {res.reason} {res.detail}".strip())
        m = res.meta
        return SourceRecord(res.waveform.astype(np.float32),
                            (int(m["trace_valid_start_sample"]), int(m["trace_valid_end_sample"])),
                            float(m["trace_band_max_hz"]), st_info, str(m["trace_units"]))

    @staticmethod
    def _source_station(source: Stream, station, inventory) -> StationInfo:
        tr = source[0]
        if isinstance(station, StationInfo):
            return station
        if station is not None:
            lat, lon = (float(x) for x in station)
        elif inventory is not None:
            coords = inventory.get_coordinates(tr.id, tr.stats.starttime)
            lat, lon = coords["latitude"], coords["longitude"]
        elif getattr(tr.stats, "sac", None) is not None and "stla" in tr.stats.sac:
            lat, lon = float(tr.stats.sac.stla), float(tr.stats.sac.stlo)
        else:
            raise ScenarioError("the source station's coordinates are unknown: give source_station=(lat, lon) "
                                "(CLI: --source-station LAT,LON), an inventory, or SAC headers stla/stlo")
        if not (-90 <= lat <= 90 and -180 <= lon <= 360):
            raise ScenarioError(f"source station coordinates ({lat}, {lon}) out of range")
        return StationInfo(tr.stats.network, tr.stats.station, tr.stats.location, lat, lon)

    # ------------------------------------------------------------------ generation
    def waveforms(
        self,
        conditions: np.ndarray,
        seeds: Sequence[int],
        source: SourceBatch | None = None,
        steps: int | None = None,
        t_start: int | None = None,
        batch_size: int = 16,
        progress: bool = False,
    ) -> np.ndarray:
        """The one path from conditions to waveforms: normalise, batch, run the network, apply the gain.

        conditions : (n, 11) RAW condition features (:func:`heggs.condition.condition_vector` /
            :func:`heggs.condition.condition_features`); the model's normaliser is applied here.
        seeds : n ints, one per record; a record depends only on its inputs and seed, never on
            the batch it is generated in.
        source : source records (imputation) or None (pure noise with the target condition).
        steps : sampler steps (None: the model's); t_start : start level with a source (None:
            the model's; ignored without source).
        Returns (n, n_components, n_samples) float32 in the model's units (m/s² for
        physical-unit models), multiplied by :attr:`output_gain`.
        """
        raw = np.asarray(conditions, dtype=np.float64).reshape(-1, 11)
        seeds = [int(s) for s in seeds]
        if len(seeds) != len(raw):
            raise ValueError(f"need one seed per condition row: {len(seeds)} seeds for {len(raw)} rows")
        n_t = self.net.cfg.n_timesteps  # more sampler steps than diffusion steps only run longer
        for flag, v in (("--steps", steps), ("--t-start", t_start)):
            if v is not None and not 1 <= v <= n_t:
                raise ValueError(f"{flag} {v} is out of range: must be within [1, {n_t}] (the model's diffusion steps)")
        c_all = self.normalizer.transform(raw).astype(np.float32)
        out = np.empty((len(raw), len(self.components), self.n_samples), dtype=np.float32)
        bar = tqdm(total=len(raw), desc="generating", unit="rec", disable=not progress)
        step = max(1, int(batch_size))
        for i in range(0, len(raw), step):
            b = min(step, len(raw) - i)
            kw: dict[str, Any] = {}
            if source is not None:
                rows = source.rows(i, i + b)
                kw = dict(
                    src=torch.from_numpy(np.ascontiguousarray(rows.waveforms, dtype=np.float32)),
                    c_src=torch.from_numpy(self.normalizer.transform(rows.conditions).astype(np.float32)),
                    src_valid=torch.from_numpy(np.ascontiguousarray(rows.valid, dtype=np.int64)),
                    src_band_max_hz=torch.from_numpy(np.ascontiguousarray(rows.band_max_hz, dtype=np.float32)),
                    t_start=t_start,
                )
            w = self.net.generate(torch.from_numpy(c_all[i:i + b]), seeds[i:i + b], steps=steps, **kw)
            out[i:i + b] = w.cpu().numpy() * self.output_gain
            bar.update(b)
        bar.close()
        return out

    def generate_arrays(
        self,
        targets: Target | Sequence[Target],
        source: SourceRecord | None = None,
        steps: int | None = None,
        t_start: int | None = None,
        batch_size: int = 16,
        strict: bool = False,
        progress: bool = True,
        check_ranges: bool = True,
    ) -> tuple[np.ndarray, list[Target], list[int]]:
        """Generate all ensemble members of all targets (:meth:`waveforms` on the targets' conditions).

        Returns ``(waveforms (N, n_components, n_samples) float32 m/s², targets (N,), members (N,))``
        with one row per member (``target.n_records`` per target), in target order.
        """
        targets = [targets] if isinstance(targets, Target) else list(targets)
        if check_ranges:
            check_training_ranges(targets, self.training_ranges, strict=strict)
        rows = [(t, k) for t in targets for k in range(t.n_records)]
        raw = np.stack([_condition(t) for t, _ in rows]) if rows else np.zeros((0, 11))
        src = None
        if source is not None:
            s, t0 = source.station, targets[0]
            src = SourceBatch.from_record(source, condition_vector(s.latitude, s.longitude, t0.event_lat, t0.event_lon,
                                                                   t0.event_depth_km, t0.magnitude))
        out = self.waveforms(raw, [t.seed + k for t, k in rows], src, steps, t_start, batch_size, progress)
        return out, [t for t, _ in rows], [k for _, k in rows]

    def generate(
        self,
        targets: Target | Sequence[Target],
        source: Stream | str | Path | SourceRecord | None = None,
        source_station: tuple[float, float] | None = None,
        source_units: str | None = None,
        source_inventory: Inventory | str | Path | None = None,
        steps: int | None = None,
        t_start: int | None = None,
        batch_size: int = 16,
        strict: bool = False,
        progress: bool = True,
    ) -> list[Stream]:
        """Generate and return one ObsPy Stream per ensemble member (targets in order).

        Traces carry units (``stats.heggs.units``), E/N/Z channels ``HNE/HNN/HNZ``, the
        sampling rate, start time = origin + window offset, SAC-style station/event headers
        (``stats.sac``) and the generation parameters (``stats.heggs``), with
        ``stats.heggs.out_of_range``: where the target lies outside the model's training ranges
        (:func:`heggs.scenario.range_violations`; empty when in range).
        """
        targets = [targets] if isinstance(targets, Target) else list(targets)
        src = source
        if source is not None and not isinstance(source, SourceRecord):
            src = self.prepare_source(source, targets[0], source_station, source_units, source_inventory)
        waves, rows, members = self.generate_arrays(targets, src, steps, t_start, batch_size, strict, progress)
        params = self.generation_params(steps, t_start, src)
        return [to_stream(w, t, self.sampling_rate_hz, self.components, self.units, self.offset_s, m,
                          params={**params, "seed": t.seed + m,
                                  "out_of_range": range_violations(t, self.training_ranges)})
                for w, t, m in zip(waves, rows, members)]

    def generation_params(self, steps: int | None, t_start: int | None, source: SourceRecord | None) -> dict[str, Any]:
        """What was asked for, for the output files' metadata."""
        cfg = self.net.cfg
        p: dict[str, Any] = {
            "model": str(self.info.get("path", "")),
            "heggs_version": self.info.get("heggs_version", ""),
            "sampler_steps": int(steps or cfg.sampler_steps),
            "with_source": source is not None,
        }
        if source is not None:
            p["t_start"] = int(t_start if t_start is not None else round(cfg.t_start_fraction * cfg.n_timesteps))
            p["source_station"] = f"{source.station.network}.{source.station.station}"
        return p



def _condition(t: Target) -> np.ndarray:
    """(11,) raw condition features of a target."""
    return condition_vector(t.station_lat, t.station_lon, t.event_lat, t.event_lon, t.event_depth_km, t.magnitude)


def run_scenarios(
    model: HEGGS,
    rows: Sequence[Target | Exception],
    out_dir: str | Path,
    fmt: str = "mseed",
    source: SourceRecord | None = None,
    steps: int | None = None,
    t_start: int | None = None,
    batch_size: int = 16,
    strict: bool = False,
    png: bool = True,
    section: bool = False,
    progress: bool = True,
    shard: str = "",
    overwrite: bool = False,
    inputs: Sequence[str | Path | None] = (),
    extra_outputs: Callable[[np.ndarray, list[Target], list[int], Path], list[Path]] | None = None,
) -> tuple[list[Path], list[str]]:
    """Generate every good row and write its files; collect the errors of bad rows.

    rows : targets, or the exceptions of rows that failed validation (reported, not fatal).
    fmt : ``mseed`` / ``sac`` (files per member, written as each batch finishes, so a later
        failure never loses earlier rows), ``hdf5`` (``generated.h5``) or ``seisbench``
        (``generated/`` dataset).
    png : a figure per target (3 components + spectrograms of member 0) or, with ``section``,
        one record section of all targets. A target outside the model's training ranges is
        generated (unless ``strict``) with a warning, and marked: "OUT OF TRAINING RANGE: ..." in
        its figure's title and ``out_of_range`` (a list of ``{"quantity", "value", "range"}``,
        :func:`heggs.scenario.range_violations`) in its miniSEED sidecar JSON.
    shard : suffix of the collected outputs (``generated{shard}.h5``) when several processes
        write into one folder (``heggs generate`` under torchrun).
    overwrite, inputs : ``out_dir`` is claimed with :func:`heggs.folders.claim` (a folder that
        is neither empty nor a generation folder is refused unless ``overwrite``; one that is,
        holds or lies inside an input path, e.g. the model or the scenario CSV, always).
    extra_outputs : called once with every generated record, ``(waveforms (N, n_components,
        n_samples) in the model's units, targets (N,), members (N,), out_dir)``, while ``out_dir``
        is claimed; returns the files it wrote (``heggs generate`` writes the intensity-measure
        table here, :mod:`heggs.evaluate.intensity`, which this stage may not import).
    Returns ``(files written, error messages)``; every file is written atomically, and no two
    targets share a file: a repeated (event, network, station) gets ``-2``, ``-3``, ... after
    the station code in its file names.
    """
    with claim(out_dir, "generation", inputs, overwrite, tag=shard):
        return _run_scenarios(model, rows, mark(out_dir, "generation"), fmt, source, steps, t_start, batch_size,
                              strict, png, section, progress, shard, extra_outputs)


def _run_scenarios(model: HEGGS, rows: Sequence[Target | Exception], out_dir: Path, fmt: str,
                   source: SourceRecord | None, steps: int | None, t_start: int | None, batch_size: int, strict: bool,
                   png: bool, section: bool, progress: bool, shard: str,
                   extra_outputs: Callable[..., list[Path]] | None = None) -> tuple[list[Path], list[str]]:
    """:func:`run_scenarios` once ``out_dir`` is claimed."""
    import warnings

    from .output import write_hdf5, write_seisbench, write_stream
    from .scenario import OutOfRangeWarning

    errors = [str(r) for r in rows if isinstance(r, Exception)]
    good: list[Target] = []
    for t in (r for r in rows if isinstance(r, Target)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OutOfRangeWarning)
                msgs = check_training_ranges([t], model.training_ranges, strict=strict)
            for m in msgs:
                warnings.warn(m, OutOfRangeWarning, stacklevel=2)
            good.append(t)
        except ScenarioError as e:
            errors.append(str(e))
    stems = _file_stems(good)
    out_of_range = {id(t): range_violations(t, model.training_ranges) for t in good}
    files: list[Path] = []
    all_w, all_t, all_m = [], [], []
    bar = tqdm(total=sum(t.n_records for t in good), desc="generating", unit="rec", disable=not progress)
    per_batch = max(1, batch_size)
    i = 0
    while i < len(good):
        chunk, n = [], 0
        while i < len(good) and (not chunk or n + good[i].n_records <= per_batch):
            chunk.append(good[i]); n += good[i].n_records; i += 1
        try:
            w, ts, ms = model.generate_arrays(chunk, source, steps, t_start, batch_size, progress=False,
                                              check_ranges=False)  # checked above, once per target
        except Exception as e:  # a failing batch is reported; the rows already written stay
            errors.append(f"targets {', '.join(t.station for t in chunk)}: generation failed: {e}")
            continue
        params = model.generation_params(steps, t_start, source)
        if fmt in ("mseed", "sac"):
            for wave, t, m in zip(w, ts, ms):
                st = to_stream(wave, t, model.sampling_rate_hz, model.components, model.units, model.offset_s, m,
                               params={**params, "seed": t.seed + m, "out_of_range": out_of_range[id(t)]})
                stem = f"{stems[id(t)]}.{m:02d}"
                files += write_stream(st, out_dir / (stem + (".mseed" if fmt == "mseed" else "")), fmt)
        all_w.append(w); all_t += ts; all_m += ms
        bar.update(len(ts))
    bar.close()
    if not all_t:
        return list(dict.fromkeys(files)), errors
    waves = np.concatenate(all_w)
    params = model.generation_params(steps, t_start, source)
    if fmt == "hdf5":
        files.append(write_hdf5(out_dir / f"generated{shard}.h5", waves, all_t, all_m, model.sampling_rate_hz,
                                model.components, model.units, params))
    elif fmt == "seisbench":
        files.append(write_seisbench(out_dir / f"generated{shard}", waves, all_t, all_m, model.sampling_rate_hz,
                                     model.components, model.units, params, model.offset_s))
    if png:
        files += _figures(model, waves, all_t, all_m, out_dir, section, stems, out_of_range)
    if extra_outputs is not None:
        files += extra_outputs(waves, all_t, all_m, out_dir)
    return list(dict.fromkeys(files)), errors  # each file once (a target listed twice writes it twice)


def _file_stems(targets: Sequence[Target]) -> dict[int, str]:
    """``id(target) -> "<event_id>.<network>.<station>"``, unique: the k-th repeat of a name
    gets ``-k`` after the station code (two rows with one station code never overwrite)."""
    seen: dict[str, int] = {}
    out = {}
    for t in targets:
        stem = f"{t.event_id}.{t.network}.{t.station}"
        seen[stem] = seen.get(stem, 0) + 1
        out[id(t)] = stem if seen[stem] == 1 else f"{stem}-{seen[stem]}"
    return out


def _out_of_range_label(violations: Sequence[dict[str, Any]]) -> str:
    """``"OUT OF TRAINING RANGE: distance 2450 km > 39 km"`` (empty string when in range)."""
    return "OUT OF TRAINING RANGE: " + ", ".join(describe_violation(v) for v in violations) if violations else ""


def _figures(model: HEGGS, waves: np.ndarray, targets: list[Target], members: list[int], out_dir: Path,
             section: bool, stems: dict[int, str], out_of_range: dict[int, list[dict[str, Any]]]) -> list[Path]:
    from .plots import plot_generated_record, plot_record_section

    out = []
    first = [i for i, m in enumerate(members) if m == 0]
    if section:
        t0 = targets[first[0]]
        dist = np.array([targets[i].distance_km for i in first])
        outside = [i for i in first if out_of_range[id(targets[i])]]
        title = f"HEGGS section: M{t0.magnitude:g} at {t0.event_depth_km:g} km"
        if outside:
            worst = ", ".join(describe_violation(v) for v in out_of_range[id(targets[outside[-1]])])
            title = f"OUT OF TRAINING RANGE: {len(outside)} of {len(first)} stations (e.g. {worst}) — {title}"
        fig = plot_record_section(waves[first], dist, model.sampling_rate_hz, title=title, units=model.units)
        p = out_dir / f"{t0.event_id}_section.png"
        fig.savefig(p, dpi=110)
        return [p]
    for i in first:
        t = targets[i]
        fig = plot_generated_record(waves[i], model.sampling_rate_hz, model.components, units=model.units,
                                    time_offset_s=model.offset_s,
                                    title=f"{t.network}.{t.station}: M{t.magnitude:g} at depth {t.event_depth_km:g} km, "
                                          f"epicentral distance {t.distance_km:.1f} km (seed {t.seed})",
                                    warning=_out_of_range_label(out_of_range[id(t)]) or None)
        p = out_dir / f"{stems[id(t)]}.png"
        fig.savefig(p, dpi=110)
        out.append(p)
    return out
