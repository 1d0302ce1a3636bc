"""Stage: evaluation — run the evaluation of several generators (what ``heggs evaluate`` does).

``evaluate(generators, store, cfg, out)``: one test set (:func:`heggs.evaluate.scoring.load_test_set`),
the real records picked once, then for each generator (HEGGS models, baselines trained by
``heggs train``, the stochastic method) the scored rows
(:func:`heggs.evaluate.scoring.evaluate_generator`), a magnitude sweep (:mod:`heggs.evaluate.sweep`)
and record sections; the tables, figures and Markdown report are written by
:mod:`heggs.evaluate.report`. Everything goes to ``out``:

- ``<name>/rows.csv`` (one row per target, mode and record), ``<name>/spectral_ratios.npz``,
  ``<name>/summary.json`` (estimates with bootstrap CIs over events), ``<name>/sections/*.png``;
- ``summary.csv`` (all generators side by side, one line per generator and mode),
  ``report.md`` with the tables and the figures ``metrics.png``, ``fas_ratio.png``,
  ``psa_ratio.png``, ``pga_distance.png``, ``sweep.png``.

A generator already evaluated in ``out`` (its ``summary.json`` exists) is reused with
``reuse=True``, so a new baseline can be added to an existing report — only if it was computed
on the same store content (``summary.json`` and ``store.json`` record the store's identity,
:meth:`heggs.store.Store.identity`); results of another store are recomputed with a warning.
Metric definitions: docs/metrics.md.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..config import EvalConfig
from ..folders import claim, mark
from ..store import UNITS_PHYSICAL, Store
from .report import (
    json_default,
    plot_curves,
    plot_metric_bars,
    plot_pga_distance,
    plot_section_triptych,
    plot_sweeps,
    range_warning,
    summary_table,
    write_report,
)
from .scoring import (
    FAS_FREQS_HZ,
    PSA_PERIODS_S,
    EvalResult,
    Generator,
    TestSet,
    curve_summary,
    evaluate_generator,
    load_test_set,
    paired_source_effect,
    picker_error,
    real_picks,
    summarize,
)

__all__ = ["evaluate", "sweep_target", "sweep_generate_fn", "section_figure"]


# ----------------------------------------------------------------------------- sweep


def sweep_target(test: TestSet, distance_km: float = 20.0) -> int:
    """The test row the magnitude sweep varies: the physical target closest to ``distance_km``
    (any target when none is physical)."""
    d = test.meta["path_ep_distance_km"].to_numpy(float)
    pool = np.flatnonzero(test.physical) if test.physical.any() else np.arange(len(test))
    return int(pool[np.argmin(np.abs(d[pool] - distance_km))])


def _store_band_response(test: TestSet):
    """|H(f)|² of the store's zero-phase band-pass (what every training record went through;
    divided out before the Brune fit, as in :func:`heggs.evaluate.sweep.validate_corner_estimator`)."""
    from ..simulate.stochastic import bandpass_response

    lo = float(np.nanmedian(pd.to_numeric(test.meta.get("trace_band_min_hz", pd.Series([1.0])), errors="coerce")))
    hi = float(np.nanmax(test.band_max_hz))
    lo = lo if np.isfinite(lo) and lo > 0 else 1.0
    return lambda f: bandpass_response(f, lo, hi, test.sampling_rate_hz)


def sweep_generate_fn(gen: Generator, test: TestSet, target: int, cfg: EvalConfig):
    """``generate(magnitude, seeds)`` for :func:`heggs.evaluate.sweep.magnitude_sweep`: the test target
    ``target`` (its station, epicentre and depth) with the magnitude replaced, without source."""

    def generate(magnitude: float, seeds: Sequence[int]) -> np.ndarray:
        meta = test.meta.iloc[[target] * len(seeds)].reset_index(drop=True).copy()
        meta["source_magnitude"] = float(magnitude)
        return gen.generate(replace(test, meta=meta), np.arange(len(seeds)), list(seeds), False, cfg)

    return generate




def _section_arrivals(meta: pd.DataFrame, fs: float, offset_s: float) -> tuple[np.ndarray, np.ndarray, str]:
    """P and S samples of the records ``meta`` for the section ticks: the store's arrivals, and
    TauP (iasp91, :mod:`heggs.traveltimes`) first arrivals where the store has none; with the
    legend text saying which."""
    from ..traveltimes import get_table

    p, s = (pd.to_numeric(meta[c], errors="coerce").to_numpy(float, copy=True) if c in meta
            else np.full(len(meta), np.nan)
            for c in ("trace_P_arrival_sample", "trace_S_arrival_sample"))
    src = meta.get("trace_arrivals_source", pd.Series("unknown", index=meta.index)).fillna("unknown").astype(str)
    notes = [f"{k} {v}" for k, v in src[np.isfinite(p)].value_counts().items()]
    need = ~(np.isfinite(p) & np.isfinite(s))
    dist = meta["path_ep_distance_km"].to_numpy(float)
    depth = pd.to_numeric(meta["source_depth_km"], errors="coerce").to_numpy(float)
    fill = need & np.isfinite(dist) & np.isfinite(depth) & (dist <= 1500.0)
    if fill.any():
        tt = get_table("iasp91").lookup(dist[fill], depth[fill])
        p[fill] = np.where(np.isfinite(p[fill]), p[fill], (tt["p_time_s"] - offset_s) * fs)
        s[fill] = np.where(np.isfinite(s[fill]), s[fill], (tt["s_time_s"] - offset_s) * fs)
        notes.append(f"TauP iasp91 {int(fill.sum())}")
    return p, s, f" (store arrivals: {', '.join(notes)})" if notes else ""


def section_figure(res: EvalResult, test: TestSet, event: str, overlay: bool = False):
    """The record section of test event ``event`` (a matplotlib Figure): real | generated with
    source | generated without source (record 0 of each target), or with ``overlay`` the
    generated records over the real ones, one panel per mode; P/S ticks from
    :func:`_section_arrivals` in every panel. More than
    :data:`heggs.evaluate.report.SECTION_MAX_TRACES` records are thinned evenly in distance."""
    from ..inspect import time_after_origin_s, trace_labels
    from ..plots import thin_by_distance
    from .report import SECTION_MAX_TRACES

    rows = np.flatnonzero(test.events == str(event))
    if len(rows) == 0:
        raise ValueError(f"no test records of event {event!r}")
    n_all = len(rows)
    rows = rows[thin_by_distance(test.meta["path_ep_distance_km"].to_numpy(float)[rows], SECTION_MAX_TRACES)]
    panels = {f"generated, {m.replace('_', ' ')}": (res.first_samples[m][rows] if m in res.first_samples else None)
              for m in ("with_source", "without_source")}
    meta = test.meta.iloc[rows]
    show = "Z" if "Z" in test.components else test.components[-1]
    offset = time_after_origin_s(meta)
    p, s, arrivals = _section_arrivals(meta, test.sampling_rate_hz, offset)
    r0 = meta.iloc[0]
    mtype = str(r0.get("source_magnitude_type", "") or "M")
    shown = f"{len(rows)} of {n_all} records" if len(rows) < n_all else f"{n_all} records"
    return plot_section_triptych(
        test.waveforms[rows], panels, meta["path_ep_distance_km"].to_numpy(float), test.sampling_rate_hz,
        test.components, show, labels=trace_labels(meta), valid=test.valid[rows],
        real_units=meta["trace_units"].astype(str).tolist() if "trace_units" in meta else "m/s2",
        generated_units=res.units, p_samples=p, s_samples=s, arrivals=arrivals, time_offset_s=offset,
        overlay=overlay,
        title=f"{res.name}: event {event} ({mtype} {float(r0['source_magnitude']):.1f}, depth "
              f"{float(r0['source_depth_km']):.1f} km), {show} component, {shown}; generated: record 0 of each target")


def _write_sections(res: EvalResult, test: TestSet, cfg: EvalConfig, folder: Path) -> list[str]:
    """``folder/section_<event>.png`` (:func:`section_figure`, ``cfg.section_overlay``) for the
    test events with >= 2 records, at most ``cfg.max_sections``, largest first."""
    folder.mkdir(parents=True, exist_ok=True)
    names = pd.Series(test.events).value_counts()
    files = []
    for e in names[names >= 2].index[: cfg.max_sections]:
        path = folder / f"section_{e}.png"
        section_figure(res, test, e, cfg.section_overlay).savefig(path, dpi=100)
        files.append(str(path))
    return files


def evaluate(generators: Sequence[Generator], store: Store | str | Path, cfg: EvalConfig, out: str | Path,
             reuse: bool = False, progress: bool = True, sweep: bool = True, overwrite: bool = False,
             inputs: Sequence[str | Path | None] = ()) -> Path:
    """Evaluate every generator on the same test targets and write the report; returns ``report.md``.

    generators : :class:`heggs.evaluate.scoring.ModelGenerator` /
        :class:`heggs.evaluate.scoring.StochasticGenerator` (names must be unique: each gets ``out/<name>/``).
    reuse : reuse generators already evaluated in ``out``; sweep : run the magnitude sweep.
    ``out`` is claimed with :func:`heggs.folders.claim`: a folder that is neither empty nor an
    evaluation folder is refused unless ``overwrite``; one that is, holds or lies inside the
    store or another input path (``inputs``, e.g. the models) always.
    """
    store_path = store.path if isinstance(store, Store) else store
    with claim(out, "evaluation", (store_path, *inputs), overwrite):
        return _evaluate(generators, store, cfg, mark(out, "evaluation"), reuse, progress, sweep)


def _evaluate(generators: Sequence[Generator], store: Store | str | Path, cfg: EvalConfig, out: Path,
              reuse: bool, progress: bool, sweep: bool) -> Path:
    """:func:`evaluate` once ``out`` is claimed."""
    from .picking import check_picker_timing

    t0 = time.time()
    check_picker_timing(cfg.picker, cfg.picker_weights, cfg.picker_force)  # refuses pickers that snap P
    store = store if isinstance(store, Store) else Store(store)
    test = load_test_set(store, cfg.split, cfg.max_targets, cfg.seed)
    # results are reused only when they were computed on this store's content (moved is fine)
    identity = store.identity()
    same_store = lambda rec: isinstance(rec, dict) and all(  # noqa: E731
        rec.get(k) == identity[k] for k in ("metadata_sha256", "waveforms_bytes", "waveforms_sha256"))
    ident_path = out / "store.json"
    if reuse and not same_store(json.loads(ident_path.read_text()) if ident_path.exists() else None):
        if ident_path.exists() or any(out.glob("*/summary.json")):
            print(f"heggs evaluate: warning: {out} holds results of another store (or of an unrecorded one) than "
                  f"{store.path}: recomputing instead of reusing them", flush=True)
        reuse_picks = False
    else:
        reuse_picks = reuse
    ident_path.write_text(json.dumps(identity, indent=2, sort_keys=True) + "\n")
    picks_path = out / "real_picks.csv"
    if reuse_picks and picks_path.exists() and len(pd.read_csv(picks_path)) == len(test):
        rp = pd.read_csv(picks_path)
        picks = (rp["p_real_s"].to_numpy(float), rp["s_real_s"].to_numpy(float))
    else:
        picks = real_picks(test, cfg)
        pd.DataFrame({"trace_name": test.meta["trace_name"], "p_real_s": picks[0], "s_real_s": picks[1],
                      "p_store_s": test.meta["trace_P_arrival_sample"] / test.sampling_rate_hz,
                      "s_store_s": test.meta["trace_S_arrival_sample"] / test.sampling_rate_hz}).to_csv(picks_path, index=False)
    summaries: dict[str, dict] = {}
    rows_all: dict[str, pd.DataFrame] = {}
    curves: dict[str, dict[str, dict]] = {"fas": {}, "psa": {}}
    sweeps: dict[str, Any] = {}
    for gen in generators:
        folder = out / gen.name
        old = json.loads((folder / "summary.json").read_text()) if reuse and (folder / "summary.json").exists() else None
        if old is not None and not same_store(old.get("store")):
            print(f"heggs evaluate: warning: {folder / 'summary.json'} was computed on another store than "
                  f"{store.path}: recomputing {gen.name}", flush=True)
            old = None
        if old is not None:
            summary = old
            rows = pd.read_csv(folder / "rows.csv", keep_default_na=True)
            ratios = np.load(folder / "spectral_ratios.npz")
            fas, psa = ratios["fas"], ratios["psa"]
        else:
            res = evaluate_generator(gen, test, cfg, picks, progress=progress)
            rows, fas, psa = res.rows, res.fas_ratio, res.psa_ratio
            folder.mkdir(parents=True, exist_ok=True)
            rows.to_csv(folder / "rows.csv", index=False)
            np.savez_compressed(folder / "spectral_ratios.npz", fas=fas, psa=psa, fas_freqs_hz=FAS_FREQS_HZ,
                                psa_periods_s=PSA_PERIODS_S)
            summary = {"name": gen.name, "units": gen.units, "uses_source": gen.uses_source, "store": identity,
                       "training_ranges": _range_summary(rows, getattr(gen, "training_ranges", None)),
                       "modes": summarize(rows, cfg), "source_effect": paired_source_effect(rows, cfg),
                       "sections": _write_sections(res, test, cfg, folder / "sections")}
            if sweep and gen.units == UNITS_PHYSICAL:
                from .sweep import magnitude_sweep

                tgt = sweep_target(test)
                s = magnitude_sweep(sweep_generate_fn(gen, test, tgt, cfg), list(cfg.sweep_magnitudes),
                                    cfg.sweep_records, test.sampling_rate_hz, fmax=float(0.9 * test.band_max_hz.max()),
                                    seed=cfg.seed, response=_store_band_response(test))
                summary["sweep"] = _sweep_dict(s, test, tgt)
                np.savez_compressed(folder / "sweep.npz", **{k: np.asarray(v) for k, v in (
                    ("magnitudes", s.magnitudes), ("omega0", s.omega0), ("fc", s.fc), ("freqs", s.freqs),
                    ("mean_log_spectra", s.mean_log_spectra))})
            (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=json_default) + "\n")
        summaries[gen.name] = summary
        rows_all[gen.name] = rows
        rs = summary.get("training_ranges") or {}
        if rs.get("n_outside"):
            print(f"heggs evaluate: warning: {range_warning(gen.name, rs)}", flush=True)
        ev = rows["source_id"].astype(str).to_numpy()
        for mode in rows["mode"].unique():
            sel = (rows["mode"] == mode).to_numpy()
            label = f"{gen.name} ({mode.replace('_', ' ')})"
            if np.isfinite(fas[sel]).any():
                curves["fas"][label] = curve_summary(fas[sel], ev[sel], cfg)
                curves["psa"][label] = curve_summary(psa[sel], ev[sel], cfg)
        if (folder / "sweep.npz").exists():
            z = np.load(folder / "sweep.npz")
            sweeps[gen.name] = type("Sweep", (), {k: z[k] for k in z.files})
    figures = {}
    if summaries:
        plot_metric_bars(summaries, out / "metrics.png")
        figures["metrics"] = "metrics.png"
    if curves["fas"]:
        plot_curves(curves["fas"], FAS_FREQS_HZ, "frequency (Hz)", "log10 FAS ratio generated / real",
                     out / "fas_ratio.png", "Fourier amplitude spectra (horizontal geometric mean, Konno–Ohmachi b=40): "
                     "mean log ratio, 95 % bootstrap CI over events")
        plot_curves(curves["psa"], PSA_PERIODS_S, "period (s)", "log10 PSA ratio generated / real (RotD50, 5 %)",
                     out / "psa_ratio.png", "5 %-damped RotD50 response spectra: mean log ratio, 95 % bootstrap CI over events")
        figures.update(fas="fas_ratio.png", psa="psa_ratio.png")
    if plot_pga_distance(test, rows_all, cfg, out / "pga_distance.png"):
        figures["pga"] = "pga_distance.png"
    if sweeps:
        plot_sweeps(sweeps, out / "sweep.png")
        figures["sweep"] = "sweep.png"
    table = summary_table(summaries)
    table.to_csv(out / "summary.csv", index=False)
    report = write_report(summaries, test, cfg, out, figures, time.time() - t0, store.path,
                          picker_self=picker_error(test, picks))
    return report


def _range_summary(rows: pd.DataFrame, ranges: dict | None) -> dict[str, Any]:
    """How many targets of ``rows`` lie outside the generator's training ranges, in all and per
    condition (``{"ranges", "n_targets", "n_outside", "by_key"}``; empty ranges: none known)."""
    per = rows.drop_duplicates("target")
    keys = per["out_of_training_range"].fillna("").astype(str) if "out_of_training_range" in per else pd.Series("", index=per.index)
    by_key: dict[str, int] = {}
    for k in keys:
        for key in filter(None, k.split(";")):
            by_key[key] = by_key.get(key, 0) + 1
    return {"ranges": dict(ranges or {}), "n_targets": int(len(per)), "n_outside": int((keys != "").sum()),
            "by_key": by_key}



def _sweep_dict(s: Any, test: TestSet, target: int) -> dict[str, Any]:
    m = test.meta.iloc[target]
    d = {k: getattr(s, k) for k in ("omega0_slope", "fc_slope", "level_rises", "corner_falls", "omega0_slope_ci",
                                    "fc_slope_ci") if hasattr(s, k)}
    d["magnitudes"] = list(map(float, s.magnitudes))
    d["fc_median_hz"] = np.nanmedian(np.asarray(s.fc, dtype=float), axis=1).tolist()
    d["omega0_median"] = np.nanmedian(np.asarray(s.omega0, dtype=float), axis=1).tolist()
    d["target"] = {"trace_name": str(m["trace_name"]), "distance_km": float(m["path_ep_distance_km"]),
                   "depth_km": float(m["source_depth_km"])}
    return d
