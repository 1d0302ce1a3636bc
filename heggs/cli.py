"""Stage last — the command line (``heggs ...``).

Each sub-command turns flags into configs and calls the Python API; no science lives here.
Sections below are one per command.
"""

from __future__ import annotations

from pathlib import Path

import click

from . import __version__
from .config import DEFAULT_ORIGIN_TIME


class _AliasOption(click.Option):
    """An option whose old spellings (``old_names``) still work but are not listed in ``--help``."""

    def __init__(self, *args, old_names: tuple[str, ...] = (), **kwargs):
        self.old_names = tuple(old_names)
        super().__init__(*args, **kwargs)

    def _without_old(self, method, ctx):
        shown = self.opts
        self.opts = [o for o in shown if o not in self.old_names]
        try:
            return method(ctx)
        finally:
            self.opts = shown

    def get_help_record(self, ctx):
        return self._without_old(super().get_help_record, ctx)

    def get_error_hint(self, ctx):
        return self._without_old(super().get_error_hint, ctx)


def _renamed(new: str):
    """Callback of a hidden option that was renamed: using it is an error naming ``new``."""

    def callback(ctx, param, value):
        if value is not None:
            raise click.UsageError(f"{param.opts[0]} was renamed {new} (in 'heggs {ctx.info_name}')", ctx=ctx)

    return callback


#: the progress-bar flag of every command (``--quiet``: old name in ingest and generate)
NO_PROGRESS_HELP = "No progress bar."


class CommandError(click.ClickException):
    """A user-facing failure: printed as one line ``error: ...``, exit code 1."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=True)


def _one_line(e: BaseException) -> str:
    """One line naming the file or flag and what is wrong (OSError: file and reason)."""
    import errno
    import json

    if isinstance(e, OSError) and e.errno is not None:
        where = e.filename if e.filename is not None else ""
        if not where:  # HDF5 names the file only inside its message
            import re

            m = re.search(r"filename = '([^']+)'", str(e))
            where = m.group(1) if m else ""
        if e.errno == errno.ENOSPC and "no space" in str(e.strerror):
            return f"{where}: {e.strerror}" if where else e.strerror
        why = {errno.ENOSPC: "no space left on device", errno.EROFS: "read-only file system",
               errno.EACCES: "permission denied", errno.ENOTDIR: "a path component is not a folder",
               errno.EDQUOT: "disk quota exceeded"}.get(e.errno, e.strerror or str(e))
        return f"{where}: {why}" if where else why
    if isinstance(e, json.JSONDecodeError):
        return f"not valid JSON ({e})"
    text = e.format_message() if isinstance(e, click.ClickException) else str(e)
    if isinstance(e, KeyError):
        text = f"missing key {text}"
    return " ".join(text.split()) or type(e).__name__


class HeggsGroup(click.Group):
    """The ``heggs`` group: every failure of a sub-command is one line ``error: ...`` (exit 1;
    usage errors exit 2 with click's usage text); ``heggs --debug ...`` shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.UsageError, KeyboardInterrupt, SystemExit, CommandError):
            raise
        except Exception as e:
            if ctx.params.get("debug"):
                raise
            known = (click.ClickException, ValueError, OSError, KeyError)
            msg = _one_line(e)
            if not isinstance(e, known):
                msg = f"{type(e).__name__}: {msg} (run with --debug for the traceback)"
            raise CommandError(msg) from e


@click.group(cls=HeggsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="heggs")
@click.option("--debug", is_flag=True, help="Show the Python traceback of a failure.")
def main(debug: bool) -> None:
    """HEGGS: synthesize and evaluate 3-component earthquake ground motions."""


# --- ingest ---------------------------------------------------------------------------------


def _ingest_kinds(paths, kind):
    """[(path, adapter kind)] through the registry (heggs.ingest.archives.resolve_kind): ``auto``
    detects each archive's layout, else ``generic``."""
    from .ingest.archives import resolve_kind

    try:
        return [(Path(p), resolve_kind(p, kind)) for p in paths]
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--kind") from None


def _ingest_items(kinds, stations, events):
    """Chain the adapters' item streams (lazy: nothing is read up front). ``stations`` /
    ``events`` are options of the generic adapter; other adapters read their own metadata."""
    from .ingest.archives import iter_archive

    for p, k in kinds:
        options = {"station_files": stations, "event_files": events} if k == "generic" else {}
        yield from iter_archive(p, k, **options)


@main.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Store folder to (re)write.")
@click.option("--kind", default="auto", show_default=True,
              help="Archive adapter: auto (detect, else generic) or a kind of heggs.ingest.archives.ADAPTERS.")
@click.option("--catalog", "catalogs", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Catalog file(s) for event association: QuakeML, Nordic S-file, CSV (repeatable).")
@click.option("--stations", "stations", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="StationXML/RESP/dataless file(s) for the generic adapter (repeatable).")
@click.option("--events", "events", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Event file(s) naming the event of every record (generic adapter, repeatable).")
@click.option("--length-s", type=click.FloatRange(min=0, min_open=True), help="Window length in s [60].")
@click.option("--offset-s", type=float, help="Window start relative to the origin in s [0].")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Sampling rate of the store in Hz [100].")
@click.option("--components", help="Component order of the store, letters of ENZ [ENZ].")
@click.option("--band-min", type=click.FloatRange(min=0, min_open=True), help="Band-pass low corner in Hz [1].")
@click.option("--band-max", type=click.FloatRange(min=0, min_open=True),
              help="Band-pass high corner in Hz, capped at 0.9 x each record's Nyquist [45].")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="IngestConfig JSON (window flags given here override its window).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1))
@click.option("--no-progress", "--quiet", "quiet", cls=_AliasOption, old_names=("--quiet",), is_flag=True, help=NO_PROGRESS_HELP)
@click.option("--overwrite", is_flag=True, help="Replace an --out that is not a store (never one holding an input).")
def ingest_cmd(paths, out, kind, catalogs, stations, events, length_s, offset_s, rate, components, band_min,
               band_max, config_file, workers, quiet, overwrite) -> None:
    """Turn raw archives into a canonical HEGGS store (SeisBench format).

    \b
    heggs ingest data/pysep --kind generic --out stores/pysep
    heggs ingest gmprocess/ --catalog multiple_events/catalog.csv --out stores/gm --workers 2
    """
    from . import config as C
    from .ingest.catalog import Catalog
    from .ingest.run import NoRecordsError, ingest

    cfg = C.load(C.IngestConfig, config_file) if config_file else C.IngestConfig()
    w = cfg.window
    for name, value in (("length_s", length_s), ("offset_s", offset_s), ("sampling_rate_hz", rate),
                        ("components", components.upper() if components else None),
                        ("band_min_hz", band_min), ("band_max_hz", band_max)):
        if value is not None:
            setattr(w, name, value)
    C.check_window_bounds(w)  # before any work: --length-s 1e7 must not fill the disk
    if not w.components or set(w.components) - set("ENZ") or len(set(w.components)) != len(w.components):
        raise click.BadParameter(f"components must be distinct letters of ENZ, got {w.components!r}")
    if w.band_max_hz <= w.band_min_hz:
        raise click.BadParameter(f"band max {w.band_max_hz} Hz must exceed band min {w.band_min_hz} Hz")
    try:
        catalog = Catalog.from_files(catalogs) if catalogs else None
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(f"cannot read catalog: {e}") from e
    kinds = _ingest_kinds(paths, kind)
    # adapters know their archive's own catalogs (gmprocess event.json files, catalog CSVs)
    from .ingest.archives import source_catalog

    own = [ev for p, k in kinds for ev in source_catalog(p, k)]
    if own:
        catalog = Catalog(list(catalog.events if catalog is not None else []) + own)
    for p, k in kinds:
        click.echo(f"{p}: adapter {k}", err=True)
        if k != "generic" and (stations or events):
            click.echo(f"warning: --stations/--events are options of the generic adapter and are not used for "
                       f"{p} (adapter {k} reads the archive's own metadata; pass --kind generic to use them)", err=True)
    items = _ingest_items(kinds, stations, events)
    try:
        report = ingest(items, out, cfg, catalog=catalog, progress=not quiet, workers=workers,
                        adapter="+".join(sorted({k for _, k in kinds})), inputs=[*paths, *catalogs, *stations, *events],
                        overwrite=overwrite)
    except NoRecordsError as e:  # one line; with no waveform file at all, say which files are read
        hint = ("; no waveform file was found (files with suffixes such as .npz, .csv, .json, .txt are not read as "
                "waveforms; NumPy archives need converting to miniSEED/SAC or a SeisBench dataset first)"
                if e.report.summary["inputs"] == 0 else "")
        raise CommandError(f"{e}{hint}") from None
    s = report.summary
    click.echo(f"store          {report.store}")
    for k in ("inputs", "records", "events", "paired_events", "stations", "skipped"):
        click.echo(f"{k:<15}{s[k]}")
    click.echo("units          " + ", ".join(f"{u}: {n}" for u, n in s["units"].items()))
    if s["skips_by_reason"]:
        click.echo("skips by reason:")
        for r, n in sorted(s["skips_by_reason"].items(), key=lambda x: -x[1]):
            click.echo(f"  {n:>6}  {r}")
    click.echo(f"report         {report.store / 'ingest_report.csv'} (summary: ingest_summary.json)")


# --- inspect --------------------------------------------------------------------------------


@main.command("inspect")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--event", "event", help="source_id to draw (default: the event with the most stations).")
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="Folder for summary.json and the PNGs (default: ./<store name>-inspect).")
@click.option("--components", default="Z", show_default=True,
              help="Components in the record section, e.g. Z or ENZ.")
@click.option("--max-traces", default=60, show_default=True, type=click.IntRange(1),
              help="Thin the record section evenly in distance above this many records.")
@click.option("--no-plots", is_flag=True, help="Only the summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect_cmd(store, event, out, components, max_traces, no_plots, as_json) -> None:
    """Summarise a store and draw a map and a record section of one event.

    \b
    heggs inspect STORE
    heggs inspect STORE --event ci38457511 --components ENZ --out figs/
    """
    import json
    from pathlib import Path

    from . import inspect as I

    out = Path(out) if out else Path.cwd() / f"{Path(store).resolve().name}-inspect"
    try:
        res = I.inspect_store(store, out, event=event, show=components.upper(), max_traces=max_traces,
                              plots=not no_plots)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(json.dumps(res["summary"], indent=2) if as_json else I.format_summary(res["summary"]))
    if res["event"] is not None:
        click.echo(f"event drawn  {res['event']}", err=as_json)
    for f in res["files"]:
        click.echo(f"wrote        {f}", err=as_json)

# --- simulate -------------------------------------------------------------------------------


def _floats(text: str, n: int, what: str) -> list[float]:
    try:
        vals = [float(x) for x in str(text).split(",")]
    except ValueError:
        raise click.BadParameter(f"{what}: expected {n} comma-separated numbers, got {text!r}") from None
    if len(vals) != n:
        raise click.BadParameter(f"{what}: expected {n} comma-separated numbers, got {text!r}")
    return vals


@main.command("simulate")
@click.option("--out", required=True, type=click.Path(dir_okay=True),
              help="output store folder, or FILE.mseed in single-record mode (--event/--station)")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False),
              help="scenario catalog CSV (latitude, longitude, depth_km, magnitude [Mw], ...)")
@click.option("--n-events", type=int, help="random events (Gutenberg-Richter magnitudes) in --region")
@click.option("--region", help="minlat,maxlat,minlon,maxlon for random events/stations")
@click.option("--mag-min", type=float, default=3.0, show_default=True)
@click.option("--mag-max", type=float, default=6.0, show_default=True)
@click.option("--b-value", type=float, default=1.0, show_default=True)
@click.option("--stations", "stations_csv", type=click.Path(exists=True, dir_okay=False),
              help="station CSV (latitude, longitude [, network, station, location, elevation_m, vs30_m_s])")
@click.option("--n-stations", type=int, help="random stations in --region")
@click.option("--event", help="single record: LAT,LON,DEPTH_KM,MW")
@click.option("--station", help="single record: LAT,LON")
@click.option("--origin-time", default=DEFAULT_ORIGIN_TIME, show_default=True,
              help="single record: origin time (UTC, ISO 8601); the record starts there")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=int, default=1, show_default=True, help="processes")
@click.option("--velocity-model", "velocity_model", default=None,
              help="1-D velocity model: TauP name (iasp91) or a .tvel/.nd file [the config's, iasp91]")
@click.option("--model", hidden=True, expose_value=False, callback=_renamed("--velocity-model"))
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="SimulateConfig JSON (partial; unknown keys are errors)")
@click.option("--no-progress", is_flag=True, help=NO_PROGRESS_HELP)
@click.option("--overwrite", is_flag=True, help="Replace an --out that is not a store (never one holding an input).")
@click.option("--force", is_flag=True, help="Run requests above the size limits of heggs.config (MAX_SIMULATE_*).")
def simulate_cmd(out, catalog, n_events, region, mag_min, mag_max, b_value, stations_csv, n_stations, event, station,
                 origin_time, seed, workers, velocity_model, config_path, no_progress, overwrite, force):
    """Stochastic point-source simulation (Boore 2003): a paired store, or one record.

    \b
    Store:  heggs simulate --out STORE (--catalog CSV | --n-events N --region ...) (--stations CSV | --n-stations K)
    Record: heggs simulate --event LAT,LON,DEPTH,MAG --station LAT,LON --out FILE.mseed
    """
    import json
    from pathlib import Path

    from . import config as C
    from .config import SimulateConfig, load
    from .simulate import simulator as sim

    cfg = load(SimulateConfig, config_path) if config_path else SimulateConfig()
    C.check_window_bounds(cfg.window)
    record_bytes = 4 * len(cfg.window.components) * cfg.window.n_samples
    if n_events is not None:
        C.check_count("--n-events", n_events, C.MAX_SIMULATE_EVENTS, force)
    if n_stations is not None:
        C.check_count("--n-stations", n_stations, C.MAX_SIMULATE_STATIONS, force)
    if n_events and n_stations:
        C.check_count("--n-events x --n-stations", n_events * n_stations, C.MAX_SIMULATE_RECORDS, force, record_bytes)
    if velocity_model:
        cfg.velocity_model = velocity_model
    try:
        if event or station:
            if not (event and station):
                raise click.UsageError("single-record mode needs both --event LAT,LON,DEPTH,MAG and --station LAT,LON")
            if catalog or n_events or stations_csv or n_stations:
                raise click.UsageError("--event/--station cannot be combined with --catalog/--n-events/--stations/--n-stations")
            la, lo, dep, mag = _floats(event, 4, "--event")
            sla, slo = _floats(station, 2, "--station")
            if Path(out).suffix.lower() not in (".mseed", ".miniseed", ".ms"):
                raise click.BadParameter(f"single-record output must be a .mseed file, got {out!r}", param_hint="--out")
            if Path(out).exists() and not (overwrite and Path(out).is_file()):
                raise ValueError(f"--out {out} exists; pass --overwrite to replace it" if Path(out).is_file()
                                 else f"--out {out} exists and is not a file")
            from obspy import UTCDateTime

            try:
                origin = str(UTCDateTime(origin_time))
            except Exception:
                raise click.BadParameter(f"not a time: {origin_time!r}", param_hint="--origin-time") from None
            wave, info = sim.simulate_record(la, lo, dep, mag, sla, slo, seed=seed, cfg=cfg)
            st = sim.to_stream(wave, info, origin_time=origin, cfg=cfg)
            st.write(str(out), format="MSEED", encoding="FLOAT32")
            click.echo(json.dumps({"out": str(out), "origin_time": origin, **info}, default=float))
            return
        if bool(catalog) == bool(n_events):
            raise click.UsageError("give exactly one of --catalog CSV or --n-events N (with --region)")
        if bool(stations_csv) == bool(n_stations):
            raise click.UsageError("give exactly one of --stations CSV or --n-stations K (with --region)")
        reg = _floats(region, 4, "--region") if region else None
        if (n_events or n_stations) and reg is None:
            raise click.UsageError("--n-events/--n-stations need --region minlat,maxlat,minlon,maxlon")
        if catalog:
            events = sim.read_catalog(catalog)
            scenario = {"events": f"catalog {Path(catalog).resolve()}"}
        else:
            events = sim.random_events(n_events, reg, mag_min, mag_max, b_value, seed=seed, cfg=cfg)
            scenario = {"events": "random", "n_events": n_events, "region": reg, "mag_min": mag_min,
                        "mag_max": mag_max, "b_value": b_value}
        if stations_csv:
            stations = sim.read_stations(stations_csv, cfg)
            scenario["stations"] = f"csv {Path(stations_csv).resolve()}"
        else:
            stations = sim.random_stations(n_stations, reg, seed=seed, cfg=cfg)
            scenario.update(stations="random", n_stations=n_stations, station_region=reg)
        summary = sim.simulate_store(out, events, stations, cfg, seed=seed, workers=workers,
                                     progress=not no_progress, scenario=scenario, inputs=(catalog, stations_csv),
                                     overwrite=overwrite)
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e


# --- generate -------------------------------------------------------------------------------


def _latlon(text: str, what: str) -> tuple[float, float]:
    try:
        lat, lon = (float(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{what} must be LAT,LON (degrees), got {text!r}") from None
    return lat, lon


def _check_generate_size(rows, n_records: int, force: bool) -> None:
    """Bounds of a generate request before the model loads: -n >= 1; above
    WARN_GENERATED_RECORDS records a warning with the estimated output size, above
    MAX_GENERATED_RECORDS a refusal without --force (sizes: 3 x 6000 float32 per record)."""
    from . import config as C

    if n_records < 1:
        raise click.BadParameter(f"must be >= 1, got {n_records}", param_hint="-n/--n-records")
    total = sum(int(getattr(r, "n_records", n_records) or n_records) for r in rows if not isinstance(r, Exception))
    per_record = 4 * 3 * 6000
    if total > C.WARN_GENERATED_RECORDS:
        C.check_count("-n/--n-records x targets", total, C.MAX_GENERATED_RECORDS, force, per_record)
        click.echo(f"warning: {total:,} records to generate (about {C.estimate_size(total * per_record)} of output "
                   "at 60 s, 100 Hz, 3 components)", err=True)


@main.command("generate")
@click.option("--model", "model_path", type=click.Path(exists=True), default=None,
              help="Checkpoint or run folder (default: the bundled default model).")
@click.option("--event", "event", default=None, metavar="LAT,LON,DEPTH_KM,MAG", help="Scenario event.")
@click.option("--station", "station", default=None, metavar="LAT,LON", help="Target station.")
@click.option("--origin-time", default=DEFAULT_ORIGIN_TIME, show_default=True,
              help="Origin time (ISO 8601, UTC); records start at origin + the model's window offset.")
@click.option("--scenarios", type=click.Path(dir_okay=False), default=None,
              help="CSV of scenarios, one row each. Columns (header, any case): station_lat, station_lon, event_lat, "
                   "event_lon (deg), event_depth_km (km, down), magnitude; optional origin_time (ISO 8601 UTC), "
                   "n_records, seed, network, station, event_id, magnitude_type. Details: docs/generate.md.")
@click.option("--section", is_flag=True, help="Virtual stations along a line (or grid) for --event.")
@click.option("--azimuth", type=float, default=0.0, show_default=True, help="Section line azimuth (deg from north).")
@click.option("--max-distance", type=float, default=100.0, show_default=True, help="Section length / grid half-width (km).")
@click.option("--n-stations", type=int, default=10, show_default=True, help="Section stations (grid: per side).")
@click.option("--grid", is_flag=True, help="Section on a grid instead of a line.")
@click.option("--source", "source", type=click.Path(), default=None, help="Real record of the same event (imputation).")
@click.option("--source-station", default=None, metavar="LAT,LON", help="Source station coordinates (unless in its headers).")
@click.option("--source-inventory", type=click.Path(exists=True, dir_okay=False), default=None, help="StationXML of the source (response, coordinates).")
@click.option("--source-units", type=click.Choice(["counts", "m/s2", "cm/s2", "m/s", "cm/s"]), default=None)
@click.option("-n", "--n-records", "--samples", "n_records", cls=_AliasOption, old_names=("--samples",),
              type=click.IntRange(min=1), default=1, show_default=True, help="Records (ensemble members) per target.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--steps", type=int, default=None, help="Sampler steps (default: the model's).")
@click.option("--t-start", type=int, default=None, help="Start noise level with --source (default: the model's).")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["mseed", "sac", "hdf5", "seisbench"]), default="mseed", show_default=True)
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--png/--no-png", default=True, show_default=True,
              help="A PNG per scenario (a record section with --section; with --scenarios/--section over several "
                   "stations also psa_vs_gmpe.png).")
@click.option("--intensity/--no-intensity", default=True, show_default=True,
              help="Write intensity_measures.csv: PGA, PGV, RotD50 PSA at standard periods, Arias intensity and "
                   "D5-95 of every record (heggs.evaluate.intensity).")
@click.option("--vs30", type=click.FloatRange(min=0, min_open=True), default=760.0, show_default=True,
              help="Site Vs30 (m/s) of the GMPE (BSSA14) in psa_vs_gmpe.png.")
@click.option("--strict", is_flag=True, help="Refuse targets outside the model's training ranges instead of warning.")
@click.option("--device", default="auto", show_default=True)
@click.option("--no-progress", "--quiet", "no_progress", cls=_AliasOption, old_names=("--quiet",), is_flag=True,
              help=NO_PROGRESS_HELP)
@click.option("--overwrite", is_flag=True, help="Write into an --out that is not a generation folder (never an input's).")
@click.option("--force", is_flag=True, help="Run requests above the size limit (heggs.config.MAX_GENERATED_RECORDS).")
def generate_cmd(model_path, event, station, origin_time, scenarios, section, azimuth, max_distance, n_stations, grid,
                 source, source_station, source_inventory, source_units, n_records, seed, steps, t_start, batch_size,
                 fmt, out, png, intensity, vs30, strict, device, no_progress, overwrite, force):
    """Generate records for scenarios: one (--event/--station), many (--scenarios CSV), a section
    (--section), with or without a real --source record of the same event.

    Writes the records, a PNG per target, intensity_measures.csv (one row per record) and, for
    --scenarios/--section over several stations, psa_vs_gmpe.png (ensemble PSA against BSSA14).
    Targets outside the model's training ranges are generated with a warning and marked in the
    PNG title and the sidecar JSON ("out_of_range"); --strict refuses them.

    \b
    Large CSVs over several processes/GPUs (each takes every N-th row):
    torchrun --nproc_per_node 4 -m heggs.cli generate --scenarios big.csv --format hdf5 --out gen/
    """
    # every argument is checked here, before torch and the model load (seconds)
    from .scenario import ScenarioError, make_target, read_scenarios, section_targets

    out_dir = Path(out)
    try:
        if scenarios:
            if event or station or section:
                raise click.UsageError("--scenarios cannot be combined with --event/--station/--section")
            rows = read_scenarios(scenarios, default_records=n_records, default_seed=seed)
        else:
            if not event:
                raise click.UsageError("give --event LAT,LON,DEPTH_KM,MAG (with --station or --section) or --scenarios CSV")
            try:
                elat, elon, edep, mag = (x.strip() for x in event.split(","))
            except ValueError:
                raise click.BadParameter(f"--event must be LAT,LON,DEPTH_KM,MAG, got {event!r}") from None
            base = dict(event_lat=elat, event_lon=elon, event_depth_km=edep, magnitude=mag, origin_time=origin_time,
                        n_records=n_records, seed=seed)
            if section:
                ev = make_target(station_lat=elat, station_lon=elon, **base)
                rows = section_targets(ev, azimuth_deg=azimuth, max_distance_km=max_distance, n_stations=n_stations, grid=grid)
            else:
                if not station:
                    raise click.UsageError("give --station LAT,LON (or --section)")
                slat, slon = _latlon(station, "--station")
                rows = [make_target(station_lat=slat, station_lon=slon, **base)]
    except ScenarioError as e:
        raise click.ClickException(str(e)) from None
    if source and scenarios:
        raise click.UsageError("--source applies to --event scenarios (one event); use the Python API for several")
    src_station = _latlon(source_station, "--source-station") if source_station else None
    for folder in (out_dir, *out_dir.absolute().parents):  # the first existing one must be a folder
        if folder.exists():
            if not folder.is_dir():
                raise click.BadParameter(f"{folder} exists and is not a folder", param_hint="--out")
            break
    _check_generate_size(rows, n_records, force)

    # under torchrun each process takes every WORLD_SIZE-th target (no collectives needed)
    import os

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    shard = ""
    if world > 1:
        rows = rows[rank::world]
        shard = f".rank{rank:03d}"
        if device == "auto":
            import torch

            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    from .generate import HEGGS

    try:
        model = HEGGS.load(model_path, device=device)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    src = None
    if source:
        try:
            first = next(r for r in rows if not isinstance(r, Exception))
            src = model.prepare_source(source, first, src_station, source_units, source_inventory)
        except ScenarioError as e:
            raise click.ClickException(str(e)) from None
    from .generate import run_scenarios

    def intensity_outputs(waves, targets, members, folder):
        """intensity_measures.csv (and psa_vs_gmpe.png for a scenario over several stations)."""
        if model.units != "m/s2":
            click.echo(f"warning: the model generates {model.units}, not m/s²: no intensity_measures.csv", err=True)
            return []
        from .evaluate.intensity import write_intensity_outputs
        from .scenario import range_violations

        n_stations = len({(t.network, t.station, t.station_lat, t.station_lon) for t in targets})
        return write_intensity_outputs(waves, targets, members, folder, model.sampling_rate_hz, model.components,
                                       out_of_range=[range_violations(t, model.training_ranges) for t in targets],
                                       figure=png and bool(scenarios or section) and n_stations > 1, v_s30=vs30,
                                       suffix=shard)

    files, errors = run_scenarios(model, rows, out_dir, fmt=fmt, source=src, steps=steps, t_start=t_start,
                                  batch_size=batch_size, strict=strict, png=png, section=section,
                                  progress=not no_progress, shard=shard, overwrite=overwrite,
                                  inputs=(model_path, scenarios, source, source_inventory),
                                  extra_outputs=intensity_outputs if intensity else None)
    for e in errors:
        click.echo(f"error: {e}", err=True)
    click.echo(f"wrote {len(files)} file(s) to {out_dir}" + (f"; {len(errors)} target(s) failed" if errors else ""))
    if errors:
        raise SystemExit(1)


# --- train ----------------------------------------------------------------------------------


@main.command("train")
@click.option("--data", "data", type=click.Path(exists=True, file_okay=False), help="Store folder (SeisBench format).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Run folder (checkpoints, log.jsonl).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Training config JSON (e.g. configs/tiny.json); flags override it.")
@click.option("--preset", type=click.Choice(["tiny", "paper"]), help="Replace the config's model block by this preset.")
@click.option("--steps", type=int, help="Total optimizer steps (with --resume: may extend the run).")
@click.option("--batch-size", type=int, help="Global pairs per optimizer step (split over processes).")
@click.option("--lr", type=float, help="Peak learning rate.")
@click.option("--grad-accum", type=int, help="Gradient-accumulation micro-steps per optimizer step.")
@click.option("--checkpoint-interval", type=int, help="Steps between checkpoints.")
@click.option("--log-interval", type=int, help="Steps between log.jsonl lines.")
@click.option("--seed", type=int, help="Seed of initialisation, data order and noise.")
@click.option("--num-workers", type=int, help="DataLoader worker processes per training process.")
@click.option("--amp", type=click.Choice(["auto", "bf16", "off"]), help="bf16 autocast (auto: on CUDA only).")
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in --out.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda (under torchrun: one GPU per process).")
@click.option("--no-progress", is_flag=True, help=NO_PROGRESS_HELP)
@click.option("--overwrite", is_flag=True, help="Start a run in an --out that is not a run (never one holding the store).")
def train_cmd(data, out, config_path, preset, steps, batch_size, lr, grad_accum, checkpoint_interval,
              log_interval, seed, num_workers, amp, resume, device, no_progress, overwrite) -> None:
    """Train a HEGGS model on a store (one process, or many under torchrun).

    \b
    heggs train --data STORE --out runs/tiny --config configs/tiny.json
    torchrun --nproc_per_node 4 -m heggs.cli train --data STORE --out runs/paper --config configs/paper.json
    heggs train --out runs/tiny --resume          # after a crash or kill

    With --resume and a checkpoint in --out, the run continues with the configuration saved in
    the checkpoint; only --steps (extend) and --data (the same store, moved) are taken from the
    command line.
    """
    import os

    from . import config as C
    from . import train as T

    cfg = C.load(C.TrainConfig, config_path) if config_path else C.TrainConfig()
    if preset:
        cfg.preset, cfg.model = preset, C.model_preset(preset)
    overrides = {"data": data, "steps": steps, "batch_size": batch_size, "lr": lr, "grad_accum": grad_accum,
                 "checkpoint_interval": checkpoint_interval, "log_interval": log_interval, "seed": seed,
                 "num_workers": num_workers, "amp": amp}
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    resuming = resume and T.ckpt.latest_checkpoint(out) is not None  # then the checkpoint's config rules
    ignored = [f"--{k.replace('_', '-')}" for k, v in overrides.items() if v is not None and k not in ("data", "steps")]
    if resuming and (ignored or preset):
        click.echo("warning: --resume continues with the checkpoint's configuration; ignored: "
                   + ", ".join(ignored + (["--preset"] if preset else [])), err=True)
    if not cfg.data and not resuming:
        raise click.UsageError("--data STORE is required (or 'data' in --config)")
    try:
        final = T.train(cfg, out, resume=resume, device=device, progress=not no_progress,
                        steps=steps if resuming else None, data=data if resuming else None, overwrite=overwrite)
    except (T.TrainingDiverged, ValueError, FileExistsError, FileNotFoundError) as e:
        T.shutdown(ok=False)
        raise click.ClickException(str(e)) from e
    except BaseException:
        T.shutdown(ok=False)
        raise
    T.shutdown()
    if int(os.environ.get("RANK", "0")) == 0:
        click.echo(f"final checkpoint: {final}")


@main.command("export")
@click.argument("run", type=click.Path(exists=True))
@click.argument("out", type=click.Path())
@click.option("--store-description", default=None, help="Portable text replacing the local store path in the JSON.")
@click.option("--calibrate-on", "calibrate_on", type=click.Path(exists=True, file_okay=False), default=None,
              help="Fit the amplitude calibration (median PGA ratio) on this store's TRAIN split and store it.")
@click.option("--overwrite", is_flag=True, help="Replace an OUT that is not an export (never the run or a folder holding it).")
def export_cmd(run, out, store_description, calibrate_on, overwrite) -> None:
    """Copy a trained model for generation only (EMA weights + JSON, no optimiser state).

    \b
    heggs export runs/mymodel models/mymodel   # then: heggs generate --model models/mymodel ...
    """
    from .checkpoint import export_inference
    from .checkpoint import load_checkpoint

    prov = {"store": store_description} if store_description else None
    dst = export_inference(run, out, prov, overwrite=overwrite, inputs=(calibrate_on,))
    load_checkpoint(dst)  # the copy must load
    if calibrate_on:
        import json

        from .evaluate.calibration import fit_output_gain
        from .generate import HEGGS

        fit = fit_output_gain(HEGGS.load(dst), calibrate_on)
        info_path = Path(dst) / "checkpoint.json"
        info = json.loads(info_path.read_text())
        info["output_gain"] = fit["output_gain"]
        info["output_gain_fit"] = fit
        info_path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        click.echo(f"amplitude calibration: x{fit['output_gain']:.3g} (median ln PGA_real/PGA_gen = {fit['median_ln_ratio']:+.2f}, "
                   f"IQR {fit['iqr_ln_ratio'][0]:+.2f}..{fit['iqr_ln_ratio'][1]:+.2f}, {fit['n_records']} {fit['split']} records)")
    size = sum(f.stat().st_size for f in Path(dst).iterdir()) / 1e6
    click.echo(f"exported {dst} ({size:.1f} MB)")


# --- evaluate -------------------------------------------------------------------------------


def _named_models(specs: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec.rstrip("/")).name, spec
        if not name or not path:
            raise click.UsageError(f"--model {spec!r}: give PATH or NAME=PATH")
        out.append((name, path))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise click.UsageError(f"model names must be unique, got {names}: use NAME=PATH")
    return out


def _check_gmpes(names) -> None:
    """GMPE names known before any work: pygmm's, or any when OpenQuake is installed."""
    import importlib.util

    from .evaluate.gmpe import PYGMM_MODELS

    unknown = [g for g in names if g.upper() not in PYGMM_MODELS]
    if unknown and importlib.util.find_spec("openquake") is None:
        raise ValueError(f"--gmpe {', '.join(unknown)}: not one of the pygmm models {', '.join(PYGMM_MODELS)}; "
                         "OpenQuake GSIMs need pip install 'heggs[openquake]'")


@main.command("evaluate")
@click.option("--model", "models", multiple=True, metavar="[NAME=]PATH",
              help="Checkpoint or run folder (repeatable; NAME labels it in the report; 'default' = the bundled model).")
@click.option("--stochastic/--no-stochastic", default=False, show_default=True,
              help="Add the stochastic point-source method (heggs simulate) as the physics baseline.")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Store with the test split.")
@click.option("--split", default=None,
              help="Split(s) to evaluate: test, dev, train, a comma-separated list (test,dev) or 'all' [test].")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Report folder.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="EvalConfig JSON (flags given here override it).")
@click.option("-n", "--n-records", "--samples", "n_records", cls=_AliasOption, old_names=("--samples",),
              type=click.IntRange(min=1), default=None, help="Generated records per target and mode [3].")
@click.option("--steps", type=int, default=None, help="Sampler steps (default: each model's).")
@click.option("--max-targets", type=int, default=None, help="Cap on test targets, whole events [all].")
@click.option("--picker", type=click.Choice(["phasenet", "eqtransformer", "classical"]), default=None,
              help="Arrival picker for real and generated records [phasenet] (docs/metrics.md).")
@click.option("--picker-weights", default=None, help="SeisBench weights name (default: the picker's default).")
@click.option("--force-picker", is_flag=True,
              help="Use a picker the timing guard refuses (EQTransformer original_nonconservative snaps P to seconds).")
@click.option("--gmpe", "gmpes", multiple=True, help="GMPE for the PGA residuals (repeatable) [BSSA14 ASK14 CB14 CY14].")
@click.option("--vs30", type=float, default=None, help="Site Vs30 for the GMPEs, m/s [760].")
@click.option("--n-boot", type=int, default=None, help="Bootstrap replicates over events [1000].")
@click.option("--seed", type=int, default=None)
@click.option("--no-sweep", is_flag=True, help="Skip the magnitude sweep.")
@click.option("--reuse", is_flag=True, help="Reuse generators already evaluated in --out (add a model to a report).")
@click.option("--device", default="auto", show_default=True)
@click.option("--no-progress", is_flag=True, help=NO_PROGRESS_HELP)
@click.option("--overwrite", is_flag=True, help="Write into an --out that is not an evaluation folder (never an input's).")
def evaluate_cmd(models, stochastic, data, split, out, config_path, n_records, steps, max_targets, picker, picker_weights,
                 force_picker, gmpes, vs30, n_boot, seed, no_sweep, reuse, device, no_progress, overwrite) -> None:
    """Score generated records against the real test records, side by side for several models.

    \b
    heggs evaluate --model heggs=runs/heggs --model ldm=runs/ldm --stochastic --data STORE --out eval/
    Writes eval/report.md (tables with bootstrap CIs over events, figures), eval/summary.csv and
    per model rows.csv / summary.json / record sections. Definitions: docs/metrics.md.
    """
    from . import config as C

    try:
        cfg = C.load(C.EvalConfig, config_path) if config_path else C.EvalConfig()
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--config") from None
    overrides = {"split": split, "n_records": n_records, "steps": steps, "max_targets": max_targets, "picker": picker,
                 "picker_weights": picker_weights, "v_s30_m_s": vs30, "n_boot": n_boot, "seed": seed}
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    if force_picker:
        cfg.picker_force = True
    if gmpes:
        cfg.gmpe_models = tuple(gmpes)
    from .store import parse_splits

    try:
        parse_splits(cfg.split)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--split") from None
    C.check_eval_flags(cfg)
    _check_gmpes(cfg.gmpe_models)
    if not models and not stochastic:
        raise click.UsageError("nothing to evaluate: give --model (repeatable) and/or --stochastic")
    named = _named_models(models)
    from .evaluate.run import evaluate
    from .evaluate.scoring import ModelGenerator, StochasticGenerator
    from .generate import HEGGS

    gens = []
    for name, path in named:
        try:
            gens.append(ModelGenerator(HEGGS.load(None if path == "default" else path, device=device), name))
        except (FileNotFoundError, ValueError) as e:
            raise click.ClickException(f"--model {name}={path}: {e}") from e
    if stochastic:
        gens.append(StochasticGenerator())
    try:
        report = evaluate(gens, data, cfg, out, reuse=reuse, progress=not no_progress, sweep=not no_sweep,
                          overwrite=overwrite, inputs=[p for _, p in _named_models(models) if p != "default"])
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"report: {report}")
    click.echo(f"table:  {Path(out) / 'summary.csv'}")


if __name__ == "__main__":  # pragma: no cover
    main()
