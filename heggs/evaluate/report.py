"""Stage: evaluation report — run the evaluation of several generators and write it down.

``run_evaluation(generators, store, cfg, out)`` is what ``heggs evaluate`` does: one test set
(:func:`heggs.evaluate.scoring.load_test_set`), the real records picked once, then for each generator
(HEGGS models, baselines trained by ``heggs train``, the stochastic method) the scored rows
(:func:`heggs.evaluate.scoring.evaluate_generator`), a magnitude sweep (:mod:`heggs.evaluate.sweep`) and record
sections. Everything goes to ``out``:

- ``<name>/rows.csv`` (one row per target, mode and sample), ``<name>/spectral_ratios.npz``,
  ``<name>/summary.json`` (estimates with bootstrap CIs over events), ``<name>/sections/*.png``;
- ``summary.csv`` (all generators side by side, one line per generator and mode),
  ``report.md`` with the tables and the figures ``metrics.png``, ``fas_ratio.png``,
  ``psa_ratio.png``, ``pga_distance.png``, ``sweep.png``.

A generator already evaluated in ``out`` (its ``summary.json`` exists) is reused with
``reuse=True``, so a new baseline can be added to an existing report — only if it was computed
on the same store content (``summary.json`` and ``store.json`` record the store's identity,
:meth:`heggs.store.Store.identity`); results of another store are recomputed with a warning.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..config import EvalConfig, to_dict
from .scoring import (
    FAS_FREQS_HZ,
    PSA_PERIODS_S,
    EvalResult,
    Generator,
    TestSet,
    curve_summary,
    evaluate_generator,
    gmpe_medians,
    load_test_set,
    paired_source_effect,
    real_gmpe_residuals,
    real_picks,
    summarize,
)
from ..store import UNITS_PHYSICAL, Store

__all__ = ["run_evaluation", "write_report", "sweep_generate_fn", "plot_section_triptych"]

#: the columns of the side-by-side table: (summary key, header, number format)
TABLE = (
    ("p_mae_s", "P MAE (s)", "{:.2f}"), ("p_pick_rate", "P picked", "{:.0%}"),
    ("s_mae_s", "S MAE (s)", "{:.2f}"), ("s_pick_rate", "S picked", "{:.0%}"),
    ("p_mae_store_s", "P MAE vs store (s)", "{:.2f}"), ("s_mae_store_s", "S MAE vs store (s)", "{:.2f}"),
    ("env_corr", "env. corr", "{:.3f}"), ("snr_db", "SNR (dB)", "{:.2f}"), ("psnr_db", "PSNR (dB)", "{:.1f}"),
    ("spec_mse", "spec. MSE", "{:.3f}"), ("ln_pga", "ln PGA res.", "{:+.2f}"), ("ln_pgv", "ln PGV res.", "{:+.2f}"),
)


def _fmt(entry: Any, fmt: str) -> str:
    if not isinstance(entry, dict) or not entry.get("n"):
        return "n/a"
    e, lo, hi = entry["estimate"], entry["low"], entry["high"]
    if not all(math.isfinite(x) for x in (e, lo, hi)):
        return fmt.format(e) if math.isfinite(e) else "n/a"
    return f"{fmt.format(e)} [{fmt.format(lo)}, {fmt.format(hi)}]"


# ----------------------------------------------------------------------------- figures


def plot_section_triptych(real: np.ndarray, panels: dict[str, np.ndarray | None], distances_km: np.ndarray,
                          fs: float, components: str = "ENZ", show: str = "Z", labels: Sequence[str] | None = None,
                          valid: np.ndarray | None = None, title: str = ""):
    """Record sections side by side: the real records, then one panel per generated set.

    real : (n, C, ns) store units; panels : name -> (n, C, ns) generated (m/s²) or None (mode
    not available, drawn empty with a note); distances_km : (n,). Each trace is normalised to
    its own peak and drawn at its epicentral distance; with ``valid`` (n, 2) samples outside
    each record's valid range are left blank.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = components.index(show)
    sets = {"real": real, **panels}
    order = np.argsort(distances_km)
    d = np.asarray(distances_km, dtype=float)
    span = max(float(d.max() - d.min()), 1.0)
    h = 0.6 * span / max(len(d), 1) if len(d) > 1 else 1.0
    t = np.arange(real.shape[-1]) / fs
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 1.2 + 0.45 * len(d) + 2), sharey=True,
                             squeeze=False)
    for ax, (name, w) in zip(axes[0], sets.items()):
        ax.set_title(name)
        ax.set_xlabel("time after origin (s)")
        if w is None:
            ax.text(0.5, 0.5, "not available\n(no source for this model)", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
            continue
        for i in order:
            x = np.asarray(w[i, c], dtype=float)
            peak = np.abs(x).max() or 1.0
            if valid is not None:  # padding of the real record: drawn grey
                x = np.where((np.arange(x.size) >= valid[i, 0]) & (np.arange(x.size) < valid[i, 1]), x, np.nan)
            ax.plot(t, d[i] + h * x / peak, lw=0.5, color="k" if name == "real" else "C1")
            if labels is not None and name == "real":
                ax.text(t[-1], d[i], f" {labels[i]}", fontsize=6, va="center")
    axes[0, 0].set_ylabel("epicentral distance (km)")
    fig.suptitle(title, fontsize=10, wrap=True)
    fig.tight_layout()
    return fig


def _plot_metric_bars(summaries: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = (("p_mae_s", "P MAE (s)"), ("s_mae_s", "S MAE (s)"), ("env_corr", "envelope correlation"),
            ("spec_mse", "spectrogram MSE"), ("snr_db", "SNR (dB)"), ("ln_pga", "ln PGA residual"))
    labels = [f"{name}\n{mode}" for name, s in summaries.items() for mode in s["modes"]]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (k, title) in zip(axes.ravel(), keys):
        est, lo, hi = [], [], []
        for name, s in summaries.items():
            for mode, m in s["modes"].items():
                e = m.get(k, {})
                est.append(e.get("estimate", np.nan))
                lo.append(e.get("low", np.nan))
                hi.append(e.get("high", np.nan))
        est, lo, hi = map(np.asarray, (est, lo, hi))
        y = np.arange(len(est))
        err = np.vstack([np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)])
        ax.barh(y, np.nan_to_num(est), xerr=np.nan_to_num(err), color="C0", alpha=0.7, capsize=2)
        ax.set_yticks(y, labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.axvline(0, color="k", lw=0.5)
    fig.suptitle("mean over test targets; bars: 95 % bootstrap CI over events", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_curves(curves: dict[str, dict], x: np.ndarray, xlabel: str, ylabel: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, c) in enumerate(curves.items()):
        if not np.isfinite(c["mean"]).any():
            continue
        ax.plot(x, c["mean"], color=f"C{i}", label=label)
        ax.fill_between(x, c["low"], c["high"], color=f"C{i}", alpha=0.15)
    ax.axhline(0, color="k", lw=0.7)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10, wrap=True)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_pga_distance(test: TestSet, results: dict[str, pd.DataFrame], cfg: EvalConfig, path: Path) -> bool:
    """PGA (RotD50, g) against distance per test event with physical records, GMPE curves over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .gmpe import pga_vs_distance

    phys = test.meta[test.physical]
    if phys.empty:
        return False
    events = phys.groupby("source_id").size().sort_values(ascending=False).index[:4]
    fig, axes = plt.subplots(1, len(events), figsize=(5 * len(events), 4.2), squeeze=False)
    for ax, ev in zip(axes[0], events):
        em = phys[phys["source_id"] == ev]
        mag, dep = float(em["source_magnitude"].iloc[0]), float(max(em["source_depth_km"].iloc[0], 0.0))
        mtype = str(em.get("source_magnitude_type", pd.Series([""])).iloc[0])
        d = np.geomspace(max(1.0, em["path_ep_distance_km"].min() / 2), em["path_ep_distance_km"].max() * 2, 40)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            curves = pga_vs_distance(mag, d, v_s30=cfg.v_s30_m_s, depth_km=dep, models=cfg.gmpe_models,
                                     magnitude_type="Mw")
        for j, cv in enumerate(curves):
            ax.plot(d, cv.median_g, color="0.3", lw=1, ls=["-", "--", ":", "-."][j % 4], label=cv.model)
            if j == 0:
                ax.fill_between(d, cv.lower_g, cv.upper_g, color="0.85", label=f"{cv.model} ±1σ")
        first = next(iter(results.values()))
        real = first[(first["source_id"] == ev) & first["amplitude"]].drop_duplicates("target")
        ax.scatter(real["distance_km"], real["pga_real_g"], color="k", marker="s", s=25, label="real", zorder=3)
        for i, (name, rows) in enumerate(results.items()):
            r = rows[(rows["source_id"] == ev) & rows["amplitude"]]
            for mode, mk in (("with_source", "o"), ("without_source", "^")):
                g = r[r["mode"] == mode].groupby("target").agg(d=("distance_km", "first"), p=("pga_gen_g", "median"))
                if len(g):
                    ax.scatter(g["d"], g["p"], marker=mk, s=22, color=f"C{i}", alpha=0.8,
                               label=f"{name} ({mode.replace('_', ' ')})", zorder=2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("epicentral distance (km)")
        ax.set_ylabel("PGA RotD50 (g)")
        ax.set_title(f"{ev}: {mtype or 'M'} {mag:.1f} (as Mw), depth {dep:.0f} km, Vs30 {cfg.v_s30_m_s:g}", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    axes[0, -1].legend(fontsize=6, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _plot_sweeps(sweeps: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for i, (name, s) in enumerate(sweeps.items()):
        m = np.asarray(s.magnitudes)
        for ax, v, lab in ((axes[0], s.omega0, "log10 Ω0 (m·s)"), (axes[1], s.fc, "log10 fc (Hz)")):
            lv = np.log10(np.asarray(v, dtype=float))
            ax.plot(m, np.nanmedian(lv, axis=1), "o-", color=f"C{i}", label=name)
            ax.fill_between(m, np.nanmin(lv, axis=1), np.nanmax(lv, axis=1), color=f"C{i}", alpha=0.15)
            ax.set_xlabel("magnitude")
            ax.set_ylabel(lab)
        for j, mag in enumerate(m):
            axes[2].plot(s.freqs, s.mean_log_spectra[j], color=f"C{i}", alpha=0.3 + 0.7 * j / max(len(m) - 1, 1),
                         label=f"{name} M{mag:g}" if j in (0, len(m) - 1) else None)
    axes[2].set_xscale("log")
    axes[2].set_xlabel("frequency (Hz)")
    axes[2].set_ylabel("mean log10 horizontal FAS (m/s)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("magnitude sweep (same target, magnitude raised): Brune fit of the horizontal spectrum; "
                 "band = min–max over samples", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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


# ----------------------------------------------------------------------------- the run


def _write_sections(res: EvalResult, test: TestSet, cfg: EvalConfig, folder: Path) -> list[str]:
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    ev = test.events
    names = pd.Series(ev).value_counts()
    names = names[names >= 2].index[: cfg.max_sections]
    files = []
    for e in names:
        rows = np.flatnonzero(ev == e)
        panels = {f"generated, {m.replace('_', ' ')}": (res.first_samples[m][rows] if m in res.first_samples else None)
                  for m in ("with_source", "without_source")}
        m = test.meta.iloc[rows]
        fig = plot_section_triptych(
            test.waveforms[rows], panels, m["path_ep_distance_km"].to_numpy(float), test.sampling_rate_hz,
            test.components, labels=m["station_code"].astype(str).tolist(), valid=test.valid[rows],
            title=f"{res.name}: event {e}, M {float(m['source_magnitude'].iloc[0]):.1f}, Z component, each trace "
                  "normalised to its peak; sample 0 of each target")
        p = folder / f"section_{e}.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        files.append(str(p))
    return files


def run_evaluation(generators: Sequence[Generator], store: Store | str | Path, cfg: EvalConfig, out: str | Path,
                   reuse: bool = False, progress: bool = True, sweep: bool = True) -> Path:
    """Evaluate every generator on the same test targets and write the report; returns ``report.md``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
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
                       "modes": summarize(rows, cfg), "source_effect": paired_source_effect(rows, cfg),
                       "sections": _write_sections(res, test, cfg, folder / "sections")}
            if sweep and gen.units == UNITS_PHYSICAL:
                from .sweep import magnitude_sweep

                tgt = sweep_target(test)
                s = magnitude_sweep(sweep_generate_fn(gen, test, tgt, cfg), list(cfg.sweep_magnitudes),
                                    cfg.sweep_samples, test.sampling_rate_hz, fmax=float(0.9 * test.band_max_hz.max()),
                                    seed=cfg.seed, response=_store_band_response(test))
                summary["sweep"] = _sweep_dict(s, test, tgt)
                np.savez_compressed(folder / "sweep.npz", **{k: np.asarray(v) for k, v in (
                    ("magnitudes", s.magnitudes), ("omega0", s.omega0), ("fc", s.fc), ("freqs", s.freqs),
                    ("mean_log_spectra", s.mean_log_spectra))})
            (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
        summaries[gen.name] = summary
        rows_all[gen.name] = rows
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
        _plot_metric_bars(summaries, out / "metrics.png")
        figures["metrics"] = "metrics.png"
    if curves["fas"]:
        _plot_curves(curves["fas"], FAS_FREQS_HZ, "frequency (Hz)", "log10 FAS ratio generated / real",
                     out / "fas_ratio.png", "Fourier amplitude spectra (horizontal geometric mean, Konno–Ohmachi b=40): "
                     "mean log ratio, 95 % bootstrap CI over events")
        _plot_curves(curves["psa"], PSA_PERIODS_S, "period (s)", "log10 PSA ratio generated / real (RotD50, 5 %)",
                     out / "psa_ratio.png", "5 %-damped RotD50 response spectra: mean log ratio, 95 % bootstrap CI over events")
        figures.update(fas="fas_ratio.png", psa="psa_ratio.png")
    if _plot_pga_distance(test, rows_all, cfg, out / "pga_distance.png"):
        figures["pga"] = "pga_distance.png"
    if sweeps:
        _plot_sweeps(sweeps, out / "sweep.png")
        figures["sweep"] = "sweep.png"
    table = summary_table(summaries)
    table.to_csv(out / "summary.csv", index=False)
    report = write_report(summaries, test, cfg, out, figures, time.time() - t0, store.path)
    return report


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


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


def summary_table(summaries: dict[str, dict]) -> pd.DataFrame:
    """One line per generator and mode: estimates and CI bounds of every metric (CSV form)."""
    lines = []
    for name, s in summaries.items():
        for mode, m in s["modes"].items():
            line: dict[str, Any] = {"model": name, "mode": mode, "n_targets": m["n_targets"], "n_events": m["n_events"]}
            for k, v in m.items():
                if isinstance(v, dict):
                    line[k], line[k + "_low"], line[k + "_high"] = v["estimate"], v["low"], v["high"]
                elif k.endswith("_sigma"):
                    line[k] = v
            sw = s.get("sweep") or {}
            line["sweep_level_rises"], line["sweep_corner_falls"] = sw.get("level_rises"), sw.get("corner_falls")
            lines.append(line)
    return pd.DataFrame(lines)


def _arrival_sources(meta: pd.DataFrame) -> str:
    if "trace_arrivals_source" not in meta:
        return "of unknown origin"
    return ", ".join(f"{k} {v}" for k, v in meta["trace_arrivals_source"].fillna("unknown").value_counts().items())


def write_report(summaries: dict[str, dict], test: TestSet, cfg: EvalConfig, out: Path, figures: dict[str, str],
                 seconds: float, store_path: Path) -> Path:
    """The Markdown report: test set, side-by-side tables with CIs, GMPE residuals, sweep, figures."""
    meta = test.meta
    n_phys = int(test.physical.sum())
    types = meta.get("source_magnitude_type", pd.Series("", index=meta.index)).fillna("unknown").astype(str).value_counts()
    lines = [
        "# HEGGS evaluation report", "",
        f"Store `{store_path}`, split `{cfg.split}`: {len(test)} target records of {meta['source_id'].nunique()} "
        f"events ({n_phys} in m/s², {len(test) - n_phys} in counts: shape metrics only), "
        f"{int((test.source >= 0).sum())} with a source record of the same event. "
        f"{cfg.n_samples} generated records per target and mode; sampler steps "
        f"{cfg.steps or 'model default'}; picker `{cfg.picker}` ({cfg.picker_weights or 'default weights'}) on "
        f"real and generated records alike. Magnitude types: "
        + ", ".join(f"{k} {v}" for k, v in types.items()) + " (all used as Mw proxies for the GMPEs). "
        f"Every number is the mean over rows; [low, high] is the {cfg.level:.0%} percentile bootstrap interval "
        f"over events ({cfg.n_boot} replicates). Definitions: docs/metrics.md. Run time {seconds:.0f} s.", "",
        "## Side by side", "",
        "| model | mode | targets / events | " + " | ".join(h for _, h, _ in TABLE) + " |",
        "|---|---|---|" + "---|" * len(TABLE),
    ]
    for name, s in summaries.items():
        for mode, m in s["modes"].items():
            cells = [_fmt(m.get(k), f) for k, _, f in TABLE]
            lines.append(f"| {name} | {mode.replace('_', ' ')} | {m['n_targets']} / {m['n_events']} | " + " | ".join(cells) + " |")
    lines += ["", "P/S MAE: the picker on generated vs the picker on the real record (the paper's metric); "
              "'vs store': the generated pick against the store's arrival (exact in a simulated store, "
              f"{_arrival_sources(meta)} here).", "", "Amplitude metrics (ln residuals of PGA, PGV; SNR/PSNR on absolute values) use only targets in "
              "m/s² and generators with physical output; 'n/a' where none. SNR/PSNR/spectrogram MSE of counts "
              "targets compare records divided by their own RMS.", ""]
    if n_phys:
        lines += ["## PGA against GMPEs", "",
                  f"Mean ln(PGA / median) of RotD50 PGA against each GMPE (Vs30 = {cfg.v_s30_m_s:g} m/s, point source, "
                  "magnitude as Mw), with the bootstrap CI over events and the standard deviation σ over records.", "",
                  "| model | mode | " + " | ".join(f"{g} mean [CI] (σ)" for g in cfg.gmpe_models) + " |",
                  "|---|---|" + "---|" * len(cfg.gmpe_models)]
        real = real_gmpe_residuals(test, cfg)
        lines.append("| real records | — | " + " | ".join(
            f"{_fmt(real.get(g), '{:+.2f}')} ({real.get(g, {}).get('sigma', float('nan')):.2f})"
            for g in cfg.gmpe_models) + " |")
        for name, s in summaries.items():
            for mode, m in s["modes"].items():
                lines.append(f"| {name} | {mode.replace('_', ' ')} | " + " | ".join(
                    f"{_fmt(m.get(f'gmpe_{g}_gen'), '{:+.2f}')} ({m.get(f'gmpe_{g}_gen_sigma', float('nan')):.2f})"
                    for g in cfg.gmpe_models) + " |")
        lines.append("")
    effects = {n: s["source_effect"] for n, s in summaries.items() if s.get("source_effect")}
    if effects:
        lines += ["## Does the source record help? (paired, with − without source)", "",
                  "Per target (mean over samples) with-source minus without-source value, on the targets scored in "
                  "both modes; mean with the bootstrap CI over events. 'better'/'worse' only where the CI excludes 0; "
                  "otherwise inconclusive.", "",
                  "| model | Δ P |error| (s) | Δ S |error| (s) | Δ env. corr | Δ spec. MSE |", "|---|---|---|---|---|"]
        for n, e in effects.items():
            cells = []
            for k in ("p_abs_err_s", "s_abs_err_s", "env_corr", "spec_mse"):
                c = e.get(k, {})
                verdict = "better" if c.get("better") else "worse" if c.get("worse") else "inconclusive"
                cells.append(f"{_fmt(c, '{:+.3f}')} {verdict}" if c.get("n") else "n/a")
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
    sw = {n: s["sweep"] for n, s in summaries.items() if s.get("sweep")}
    if sw:
        lines += ["## Magnitude sweep", "",
                  "Same target, magnitude raised step by step, no source; Brune ω² fit of the horizontal Fourier "
                  "spectrum (heggs.evaluate.sweep). Brune scaling at constant stress drop: d log10 Ω0 / dM = 1.5, "
                  "d log10 fc / dM = −0.5. 'rises'/'falls' need the 95 % CI of the slope (bootstrap over samples) "
                  "to exclude 0.", "",
                  "| model | target | magnitudes | d log10 Ω0 / dM [CI] | level rises | d log10 fc / dM [CI] | corner falls | fc (Hz) per magnitude |",
                  "|---|---|---|---|---|---|---|---|"]
        for n, d in sw.items():
            ci = d.get("omega0_slope_ci", (float("nan"),) * 2)
            cf = d.get("fc_slope_ci", (float("nan"),) * 2)
            lines.append(f"| {n} | {d['target']['trace_name']} ({d['target']['distance_km']:.0f} km) | "
                         f"{', '.join(f'{x:g}' for x in d['magnitudes'])} | {d.get('omega0_slope', float('nan')):.2f} "
                         f"[{ci[0]:.2f}, {ci[1]:.2f}] | {d.get('level_rises')} | {d.get('fc_slope', float('nan')):.2f} "
                         f"[{cf[0]:.2f}, {cf[1]:.2f}] | {d.get('corner_falls')} | "
                         + ", ".join(f"{x:.2f}" for x in d["fc_median_hz"]) + " |")
        lines.append("")
    captions = {"metrics": "Metrics side by side (95 % bootstrap CI over events)",
                "fas": "Fourier amplitude spectra, generated / real", "psa": "RotD50 response spectra, generated / real",
                "pga": "PGA against distance with GMPE medians (±1σ of the first)", "sweep": "Magnitude sweep"}
    if figures:
        lines += ["## Figures", ""]
        for k, f in figures.items():
            lines += [f"**{captions.get(k, k)}**", "", f"![{k}]({f})", ""]
    sections = [(n, p) for n, s in summaries.items() for p in s.get("sections", [])]
    if sections:
        lines += ["## Record sections", "", "Real records, generated with and without source (sample 0), per test event:", ""]
        for n, p in sections:
            lines.append(f"- {n}: [{Path(p).stem}]({os.path.relpath(p, out)})")
        lines.append("")
    lines += ["## Configuration", "", "```json", json.dumps(to_dict(cfg), indent=1, default=_json_default), "```", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
