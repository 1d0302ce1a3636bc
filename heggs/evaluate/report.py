"""Stage: evaluation report — the tables, figures and Markdown report of an evaluation.

:func:`heggs.evaluate.run.evaluate` (what ``heggs evaluate`` does; its docstring lists every
file of ``out``) scores the generators and calls these to write ``summary.csv``, ``report.md``
and its figures (``metrics.png``, ``fas_ratio.png``, ``psa_ratio.png``, ``pga_distance.png``,
``sweep.png``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..config import EvalConfig, to_dict
from .scoring import TestSet, real_gmpe_residuals

__all__ = ["write_report", "range_warning", "summary_table", "onset_and_variance_sections", "plot_section_triptych",
           "SECTION_MAX_TRACES", "plot_metric_bars", "plot_curves", "plot_pga_distance", "plot_sweeps"]

#: the columns of the side-by-side table: (summary key, header, number format)
TABLE = (
    ("p_mae_s", "P MAE (s)", "{:.2f}"), ("p_pick_rate", "P picked", "{:.0%}"),
    ("s_mae_s", "S MAE (s)", "{:.2f}"), ("s_pick_rate", "S picked", "{:.0%}"),
    ("p_mae_store_s", "P MAE vs store (s)", "{:.2f}"), ("s_mae_store_s", "S MAE vs store (s)", "{:.2f}"),
    ("p_mae_real_store_s", "P picker on real vs store (s)", "{:.2f}"),
    ("s_mae_real_store_s", "S picker on real vs store (s)", "{:.2f}"),
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


#: record sections of an evaluation: at most this many records of an event, thinned evenly in
#: distance (:func:`heggs.plots.thin_by_distance`, as ``heggs inspect`` does); three panels of
#: 40 traces stay readable at 100 dpi
SECTION_MAX_TRACES = 40


def plot_section_triptych(real: np.ndarray, panels: dict[str, np.ndarray | None], distances_km: np.ndarray,
                          fs: float, components: str = "ENZ", show: str = "Z", labels: Sequence[str] | None = None,
                          valid: np.ndarray | None = None, title: str = "", *, real_units: str | Sequence[str] = "m/s2",
                          generated_units: str = "m/s2", p_samples: np.ndarray | None = None,
                          s_samples: np.ndarray | None = None, arrivals: str = "", time_offset_s: float = 0.0,
                          overlay: bool = False):
    """Record sections of one event: the real records, then one panel per generated set.

    real : (n, C, ns) in ``real_units`` (one unit or (n,)); panels : name -> (n, C, ns) generated
    (``generated_units``) or None (mode not available: an empty frame with a note);
    distances_km : (n,); fs : Hz; valid : (n, 2) valid samples of the real records (outside:
    shaded in every panel); p_samples, s_samples : (n,) arrival samples ticked in every panel
    (``arrivals`` says where they come from); time_offset_s : time of sample 0 after the origin.
    overlay : generated drawn over the real records, one panel per generated set. Drawn by
    :func:`heggs.plots.plot_section_panels` (the same building block as ``heggs inspect``'s
    section); returns the matplotlib Figure.
    """
    from ..plots import plot_section_panels

    sets = {"real": real, **panels}
    units = {"real": real_units, **{k: generated_units for k in panels}}
    return plot_section_panels(sets, distances_km, fs, components=components, show=show, units=units,
                               p_samples=p_samples, s_samples=s_samples, arrivals=arrivals, valid=valid,
                               labels=labels, time_offset_s=time_offset_s, overlay=overlay,
                               missing_note="not available\n(the model takes no source record)", title=title)


def plot_metric_bars(summaries: dict[str, dict], path: Path) -> None:
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


def plot_curves(curves: dict[str, dict], x: np.ndarray, xlabel: str, ylabel: str, path: Path, title: str) -> None:
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


def plot_pga_distance(test: TestSet, results: dict[str, pd.DataFrame], cfg: EvalConfig, path: Path) -> bool:
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


def plot_sweeps(sweeps: dict[str, Any], path: Path) -> None:
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


def json_default(o: Any) -> Any:
    """``json.dumps(default=...)`` for NumPy scalars and arrays."""
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


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


def range_warning(name: str, rs: dict[str, Any]) -> str:
    """'12 of 14 targets lie outside the training ranges of model X: magnitude 12 ([3.2, 7.1]), …'."""
    parts = [f"{k} {n} ([{rs['ranges'][k][0]:.3g}, {rs['ranges'][k][1]:.3g}])" if k in rs.get("ranges", {}) else f"{k} {n}"
             for k, n in sorted(rs.get("by_key", {}).items(), key=lambda kv: -kv[1])]
    return (f"{rs['n_outside']} of {rs['n_targets']} targets lie outside the training ranges of model {name}: "
            + ", ".join(parts) + " (rows.csv: in_training_range, out_of_training_range)")


def _picker_text(cfg: EvalConfig, picker_self: dict[str, dict] | None, arrivals: str) -> list[str]:
    """The picker paragraph: its shift test (docs/metrics.md) and its own error on the real targets."""
    from .picking import DEFAULT_WEIGHTS, SHIFT_TEST_RESULTS

    key = cfg.picker.lower()
    w = None if key == "classical" else (cfg.picker_weights or DEFAULT_WEIGHTS.get(key))
    known = SHIFT_TEST_RESULTS.get((key, w))
    verdict = ("passes the sub-second shift test" if known and known["passes"] else
               "FAILS the sub-second shift test: its P/S errors are not precise to the sample" if known else
               "has no recorded shift test (checked on synthetic records at run time)")
    lines = [f"Picker `{key}`" + (f" (weights `{w}`)" if w else "") + f" {verdict} (docs/metrics.md)."]
    if picker_self:
        cells = []
        for ph in "PS":
            e = picker_self.get(ph, {})
            if e.get("n"):
                cells.append(f"{ph}: MAE {e['mae_s']:.3f} s, median {e['median_abs_s']:.3f} s, 95th percentile "
                             f"{e['p95_abs_s']:.2f} s, picked {e['pick_rate']:.0%} of {e['n']}")
        if cells:
            lines[0] += (f" Its own error on the real targets against the store's arrivals ({arrivals}): "
                         + "; ".join(cells) + ". Column 'picker on real vs store' gives it per model and mode, "
                         "next to the generated records' errors.")
    return lines


def write_report(summaries: dict[str, dict], test: TestSet, cfg: EvalConfig, out: Path, figures: dict[str, str],
                 seconds: float, store_path: Path, picker_self: dict[str, dict] | None = None) -> Path:
    """The Markdown report: test set, side-by-side tables with CIs, GMPE residuals, sweep, figures.

    picker_self : the picker's own error on the real targets
    (:func:`heggs.evaluate.scoring.picker_error`), stated next to the P/S figures."""
    meta = test.meta
    n_phys = int(test.physical.sum())
    n_clip = int(test.clipped.sum()) if test.clipped is not None else 0
    types = meta.get("source_magnitude_type", pd.Series("", index=meta.index)).fillna("unknown").astype(str).value_counts()
    lines = [
        "# HEGGS evaluation report", "",
        f"Store `{store_path}`, split `{','.join(test.splits) if test.splits else 'all'}`: {len(test)} target "
        f"records of {meta['source_id'].nunique()} events ({n_phys} in m/s² and unclipped, {len(test) - n_phys} "
        f"in counts or clipped ({n_clip} clipped): shape metrics only), "
        f"{int((test.source >= 0).sum())} with a source record of the same event. "
        f"{cfg.n_records} generated records per target and mode; sampler steps "
        f"{cfg.steps or 'model default'}; picker `{cfg.picker}` ({cfg.picker_weights or 'default weights'}) on "
        f"real and generated records alike. Magnitude types: "
        + ", ".join(f"{k} {v}" for k, v in types.items()) + " (all used as Mw proxies for the GMPEs). "
        f"Every number is the mean over rows; [low, high] is the {cfg.level:.0%} percentile bootstrap interval "
        f"over events ({cfg.n_boot} replicates). Definitions: docs/metrics.md. Run time {seconds:.0f} s.", "",
    ]
    warn = [range_warning(name, s["training_ranges"]) for name, s in summaries.items()
            if (s.get("training_ranges") or {}).get("n_outside")]
    if warn:
        lines += ["**Warning: targets outside the training ranges.** " + " ".join(w + "." for w in warn), ""]
    lines += _picker_text(cfg, picker_self, _arrival_sources(meta)) + [""]
    lines += [
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
              f"{_arrival_sources(meta)} here); 'picker on real vs store': the picker's own error, its pick on the "
              "real record against the store's arrival (a floor for the other two).", "", "Amplitude metrics (ln residuals of PGA, PGV; SNR/PSNR on absolute values) use only targets in "
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
    lines += onset_and_variance_sections(summaries, cfg)
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
        lines += ["## Record sections", "", "Real records, generated with and without source (record 0), per test event:", ""]
        for n, p in sections:
            lines.append(f"- {n}: [{Path(p).stem}]({os.path.relpath(p, out)})")
        lines.append("")
    lines += ["## Configuration", "", "```json", json.dumps(to_dict(cfg), indent=1, default=json_default), "```", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def onset_and_variance_sections(summaries: dict[str, dict], cfg: EvalConfig) -> list[str]:
    """Markdown lines of two report sections: picker-free onset errors, and the between-event τ
    and within-event φ of ln PGA / ln PSA against the first GMPE of ``cfg.gmpe_models``
    (docs/metrics.md); empty where the summaries carry neither (results of older versions)."""
    lines: list[str] = []
    modes = [(n, mode, m) for n, s in summaries.items() for mode, m in s["modes"].items()]
    if any("p_onset_mae_s" in m for _, _, m in modes):
        lines += ["## Picker-free onsets", "",
                  "First rise of the smoothed envelope (heggs.evaluate.onset; its own error is in docs/metrics.md): "
                  "generated record against the real record, and each against the store's arrival (exact in a "
                  "simulated store). Mean |error| in s [CI over events]; 'found': generated records with an onset.", "",
                  "| model | mode | P vs real | P found | P vs store | real P vs store | S vs real | S found | S vs store | real S vs store |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for n, mode, m in modes:
            if "p_onset_mae_s" not in m:
                continue
            cells = [_fmt(m.get(f"{ph}_onset_{k}"), f) for ph in "ps" for k, f in (
                ("mae_s", "{:.2f}"), ("rate", "{:.0%}"), ("mae_store_s", "{:.2f}"), ("real_mae_store_s", "{:.2f}"))]
            lines.append(f"| {n} | {mode.replace('_', ' ')} | " + " | ".join(cells) + " |")
        lines.append("")
    g = cfg.gmpe_models[0] if cfg.gmpe_models else None
    if g and any(f"tau_pga_{g}_gen" in m for _, _, m in modes):
        ims = [k[len("tau_"):-len(f"_{g}_gen")] for k in next(m for _, _, m in modes if f"tau_pga_{g}_gen" in m)
               if k.startswith("tau_") and k.endswith(f"_{g}_gen")]
        lines += [f"## Between-event τ and within-event φ against {g}", "",
                  f"Residual ln(IM / {g} median) = event term (sd τ) + within-event residual (sd φ), random-effects "
                  "ANOVA (heggs.evaluate.variance); generated records decomposed per record index and averaged. "
                  "'real': the real targets scored in that mode. A source record that carries its event term brings "
                  "the generated τ to the real τ and makes τ of the misfit ln(PGA_gen / PGA_real) small; without a "
                  "source the event term can only come from the condition. [CI]: bootstrap over events.", "",
                  "| model | mode | IM | τ real | τ generated | φ real | φ generated | τ misfit ln PGA | φ misfit ln PGA |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for n, mode, m in modes:
            if not (m.get(f"phi_pga_{g}_gen") or {}).get("n"):
                continue  # no amplitude rows (shape-only generator or counts targets)
            for im in ims:
                misfit = [_fmt(m.get(f"{q}_ln_pga"), "{:.2f}") if im == "pga" else "" for q in ("tau", "phi")]
                lines.append(f"| {n} | {mode.replace('_', ' ')} | {im.upper().replace('PSA', 'PSA ')}"
                             f"{' s' if im.startswith('psa') else ''} | "
                             + " | ".join(_fmt(m.get(f"{q}_{im}_{g}_{who}"), "{:.2f}")
                                          for q in ("tau", "phi") for who in ("real", "gen")) + " | "
                             + " | ".join(misfit) + " |")
        lines.append("")
    return lines
