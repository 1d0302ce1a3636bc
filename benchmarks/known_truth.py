"""Benchmark: the known-truth benchmark of issue 13 (docs/benchmark/README.md), one command.

A FIXED ``heggs simulate`` recipe (the simulator's exact arrivals, magnitudes and stress drops
are the truth), three models trained with the SAME wall-clock budget — HEGGS
(``configs/heggs_v2.json``), the condition-only LDM (``configs/baselines/ldm.json``) and the
paired LDM (``configs/baselines/ldm_paired.json``) — ``heggs evaluate`` of the three and the
stochastic method on the test events, the autoencoder-alone check of HEGGS (encode then decode
the test records), and ``docs/benchmark/report.md`` with every target of the issue as a row:
figure [95 % bootstrap interval over events], pass/miss and gap.

Stages (each skipped when its output exists, so a re-run continues a killed one):

1. ``OUT/store``: the simulated store (RECIPE below; ``heggs.simulate.simulator.simulate_store``).
2. ``OUT/budget.json``: a timing probe per model (``PROBE_STEPS`` steps in ``OUT/probe/<name>``)
   sets ``steps`` so that the cosine schedule ends at the budget; ``max_wall_s`` (TrainConfig) is
   the hard cap, the same for every model.
3. ``OUT/runs/<name>``: training (``heggs.train.train``; a killed run is resumed from its newest
   checkpoint; a run that finished or spent its budget is skipped).
4. ``OUT/eval``: ``heggs.evaluate.run.evaluate`` with the stochastic method (``reuse=True``: a
   generator already scored is kept).
5. ``OUT/ae_alone.json``: the autoencoder-alone figures of HEGGS.
6. the report (``--report``, default ``docs/benchmark/report.md``; ``OUT/report.md`` in smoke mode).

    OMP_NUM_THREADS=2 python benchmarks/known_truth.py --out runs/known_truth       # full (~5 h on 2 cores)
    python benchmarks/known_truth.py --smoke --out /tmp/kt_smoke                     # every stage, minutes
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


# ----------------------------------------------------------------------------- the recipe


@dataclass(frozen=True)
class Recipe:
    """Everything fixed about one benchmark run (stated in docs/benchmark/README.md)."""

    n_events: int
    n_stations: int
    #: minlat, maxlat, minlon, maxlon of the random events AND stations
    region: tuple[float, float, float, float]
    mag_min: float
    mag_max: float
    b_value: float
    seed: int
    #: SimulateConfig overrides (window length/rate: the defaults in the full recipe)
    simulate: dict = field(default_factory=dict)
    #: wall-clock training budget per model (s), threads, probe steps, step bounds
    budget_s: float = 5400.0
    threads: int = 2
    probe_steps: int = 20
    min_steps: int = 50
    max_steps: int = 1_000_000
    #: evaluation: records per target and mode, cap on test targets (whole events), bootstrap
    n_records: int = 2
    max_targets: int = 480
    n_boot: int = 1000
    gmpes: tuple[str, ...] = ("BSSA14", "ASK14", "CB14", "CY14")
    sweep: bool = True
    max_sections: int = 4


#: The full benchmark. Region 1.6 x 1.8 degrees (~178 x 164 km): every event has most of the 16
#: stations within 150 km. Depths 5-20 km and epicentral distances <= 150 km give hypocentral
#: distances 5-151 km. b = 0.5 so that M4.5-5.5 events are not rare (the magnitude slope needs
#: them); window 60 s at 100 Hz, 1-45 Hz, rate and every physical setting: the defaults.
FULL = Recipe(
    n_events=1000, n_stations=16, region=(34.0, 35.6, -118.0, -116.2), mag_min=3.0, mag_max=5.5, b_value=0.5,
    seed=13, simulate={"max_distance_km": 150.0, "depth_range_km": [5.0, 20.0]},
)

#: Smoke: every stage end to end in a few minutes (figures meaningless).
SMOKE = Recipe(
    n_events=12, n_stations=6, region=(34.0, 34.8, -118.0, -117.2), mag_min=3.0, mag_max=5.0, b_value=0.5, seed=13,
    simulate={"max_distance_km": 150.0, "depth_range_km": [5.0, 20.0],
              "window": {"length_s": 30.0, "sampling_rate_hz": 50.0, "band_max_hz": 20.0}},
    budget_s=120.0, probe_steps=2, min_steps=5, max_steps=5, n_records=1, max_targets=0, n_boot=50,
    gmpes=("BSSA14",), sweep=False, max_sections=0,
)

MODELS = {"heggs": "configs/heggs_v2.json", "ldm": "configs/baselines/ldm.json",
          "ldm_paired": "configs/baselines/ldm_paired.json"}


def simulate_config(recipe: Recipe):
    """The recipe's :class:`heggs.config.SimulateConfig` (defaults + ``recipe.simulate``)."""
    from heggs.config import SimulateConfig, from_dict, to_dict

    d = to_dict(SimulateConfig())
    for k, v in recipe.simulate.items():
        d[k] = {**d[k], **v} if isinstance(v, dict) else v
    return from_dict(SimulateConfig, d)


def log(msg: str) -> None:
    print(f"[known_truth {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- stages


def stage_store(recipe: Recipe, out: Path) -> Path:
    """Stage 1: the simulated store ``out/store`` (kept when it opens)."""
    from heggs.simulate import simulator as sim
    from heggs.store import Store

    path = out / "store"
    try:
        n = len(Store(path).metadata)
        log(f"store: {path} exists ({n} records), kept")
        return path
    except Exception:  # absent or half-written: simulate (again)
        pass
    cfg = simulate_config(recipe)
    events = sim.random_events(recipe.n_events, recipe.region, recipe.mag_min, recipe.mag_max, recipe.b_value,
                               seed=recipe.seed, cfg=cfg)
    stations = sim.random_stations(recipe.n_stations, recipe.region, seed=recipe.seed, cfg=cfg)
    scenario = {"events": "random", "n_events": recipe.n_events, "region": list(recipe.region),
                "mag_min": recipe.mag_min, "mag_max": recipe.mag_max, "b_value": recipe.b_value,
                "stations": "random", "n_stations": recipe.n_stations, "station_region": list(recipe.region),
                "benchmark": "benchmarks/known_truth.py"}
    log(f"store: simulating {recipe.n_events} events x {recipe.n_stations} stations into {path}")
    summary = sim.simulate_store(path, events, stations, cfg, seed=recipe.seed, workers=recipe.threads,
                                 progress=False, scenario=scenario, overwrite=True)
    log(f"store: {json.dumps(summary, default=str)[:300]}")
    return path


def _train_config(name: str, store: Path, recipe: Recipe, steps: int, max_wall_s: float):
    from heggs import config as C

    cfg = C.load(C.TrainConfig, REPO / MODELS[name])
    cfg.data, cfg.steps, cfg.max_wall_s, cfg.num_workers = str(store), int(steps), float(max_wall_s), 0
    cfg.checkpoint_interval = max(1, min(cfg.checkpoint_interval, steps // 20 or 1))
    cfg.warmup_steps = min(cfg.warmup_steps, max(1, steps // 10))
    cfg.log_interval = max(1, min(cfg.log_interval, steps))
    return cfg


def probe_seconds_per_step(run: Path, info: dict) -> float:
    """Seconds per optimizer step of a probe run: from its log.jsonl windows after the first
    (which holds start-up costs; checkpoint writes fall outside the windows), else from the
    checkpoint's ``train_wall_s`` / ``step``."""
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if x.strip()] \
        if (run / "log.jsonl").exists() else []
    batch = int(info["train_config"]["batch_size"])
    rates = [float(r["pairs_per_s"]) for r in lines[1:] if float(r.get("pairs_per_s", 0)) > 0]
    if rates:
        return float(np.mean([batch / r for r in rates]))
    return float(info["train_wall_s"]) / max(1, int(info["step"]))


def stage_budget(recipe: Recipe, store: Path, out: Path, device: str) -> dict[str, Any]:
    """Stage 2: seconds per step of each model (a short probe run) -> steps within the budget."""
    import heggs.checkpoint as ckpt
    import heggs.train as T

    path = out / "budget.json"
    budget = json.loads(path.read_text()) if path.exists() else {}
    for name in MODELS:
        if name in budget:
            continue
        probe = out / "probe" / name
        final = ckpt.latest_checkpoint(probe)
        if final is None or not ckpt.read_info(final).get("finished"):
            cfg = _train_config(name, store, recipe, recipe.probe_steps, 0.0)
            cfg.checkpoint_interval = recipe.probe_steps
            cfg.log_interval = max(1, recipe.probe_steps // 4)
            final = T.train(cfg, probe, device=device, progress=False, overwrite=True)
        info = ckpt.read_info(final)
        s_per_step = probe_seconds_per_step(probe, info)
        steps = int(np.clip(math.floor(0.95 * recipe.budget_s / s_per_step), recipe.min_steps, recipe.max_steps))
        budget[name] = {"probe_steps": int(info["step"]), "s_per_step": s_per_step, "steps": steps,
                        "max_wall_s": recipe.budget_s, "threads": recipe.threads, "device": device}
        log(f"budget: {name}: {s_per_step:.3f} s/step -> {steps} steps, cap {recipe.budget_s:.0f} s")
        path.write_text(json.dumps(budget, indent=1) + "\n")
    return budget


def stage_train(recipe: Recipe, store: Path, out: Path, budget: dict, device: str) -> dict[str, Path]:
    """Stage 3: each model trained (resumed when killed; skipped when finished or out of budget)."""
    import heggs.checkpoint as ckpt
    import heggs.train as T

    runs = {}
    for name in MODELS:
        run = out / "runs" / name
        last = ckpt.latest_checkpoint(run)
        info = ckpt.read_info(last) if last is not None else {}
        if info.get("finished") or info.get("budget_spent"):
            log(f"train: {name}: done at step {info['step']} ({info.get('train_wall_s', float('nan')):.0f} s), kept")
        elif last is not None:
            log(f"train: {name}: resuming from step {info['step']}")
            T.train(None, run, resume=True, device=device, progress=False)
        else:
            b = budget[name]
            log(f"train: {name}: {b['steps']} steps, at most {b['max_wall_s']:.0f} s")
            T.train(_train_config(name, store, recipe, b["steps"], b["max_wall_s"]), run, device=device,
                    progress=False, overwrite=True)
        runs[name] = run
    return runs


def eval_config(recipe: Recipe):
    from heggs.config import EvalConfig

    return EvalConfig(split="test", n_records=recipe.n_records, max_targets=recipe.max_targets, n_boot=recipe.n_boot,
                      gmpe_models=tuple(recipe.gmpes), max_sections=recipe.max_sections, seed=0)


def _newer(run: Path, result: Path) -> bool:
    """Whether the newest checkpoint of ``run`` was written after ``result``."""
    import heggs.checkpoint as ckpt

    last = ckpt.latest_checkpoint(run)
    return last is not None and last.stat().st_mtime > result.stat().st_mtime


def stage_evaluate(recipe: Recipe, store: Path, out: Path, runs: dict[str, Path], device: str) -> Path:
    """Stage 4: ``heggs evaluate`` of the three models and the stochastic method (same recipe)."""
    from heggs.evaluate.run import evaluate
    from heggs.evaluate.scoring import ModelGenerator, StochasticGenerator
    from heggs.generate import HEGGS

    folder = out / "eval"
    names = [*runs, "stochastic"]
    for name, run in runs.items():  # a model trained (again) after it was scored is scored again
        summary = folder / name / "summary.json"
        if summary.exists() and _newer(run, summary):
            log(f"evaluate: {name} was trained after {summary}: scoring it again")
            summary.unlink()
    if (folder / "summary.csv").exists() and all((folder / n / "summary.json").exists() for n in names):
        log(f"evaluate: {folder} complete, kept")
        return folder
    gens = [ModelGenerator(HEGGS.load(run, device=device), name) for name, run in runs.items()]
    gens.append(StochasticGenerator(cfg=simulate_config(recipe)))
    log(f"evaluate: {', '.join(names)} -> {folder}")
    evaluate(gens, store, eval_config(recipe), folder, reuse=True, progress=False, sweep=recipe.sweep,
             overwrite=True, inputs=[str(r) for r in runs.values()])
    return folder


def ae_roundtrip(net, waveforms, valid, band_max_hz, c_tgt, seeds):
    """Encode then decode records with a HEGGSNet, as generation decodes a latent.

    waveforms : (B, C, n) store units; valid (B, 2) samples; band_max_hz (B,) Hz; c_tgt (B, 11)
    normalised conditions; seeds : B ints (random phase init). The latent carries no level (the
    encoder divides it out), so the output level is the model's own: the level head's from the
    condition (``cfg.level_head``) or the ACM's gain. Returns (B, C, n) float32 numpy.
    """
    import torch

    with torch.no_grad():
        x, m = net.spectrogram_and_mask(torch.as_tensor(waveforms, dtype=torch.float32),
                                        torch.as_tensor(valid, dtype=torch.int64),
                                        torch.as_tensor(band_max_hz, dtype=torch.float32))
        _, pooled = net.cond(torch.as_tensor(c_tgt, dtype=torch.float32))
        w = net.synthesize(net.decode(net.encode(x, m), pooled), list(seeds)).float()
        if net.level is not None:
            w = net.apply_level(w, net.predicted_level(pooled))
    return w.numpy()


def stage_ae(recipe: Recipe, store: Path, out: Path, run: Path, device: str) -> dict[str, Any]:
    """Stage 5: autoencoder alone on the evaluated test targets: envelope correlation, ln RMS
    slope and bias across records (decoded vs real), P onset (picker-free) vs the exact P."""
    from heggs.condition import condition_features
    from heggs.evaluate.metrics import envelope_correlation
    from heggs.evaluate.onset import p_onset
    from heggs.evaluate.scoring import load_test_set
    from heggs.generate import HEGGS

    path = out / "ae_alone.json"
    if path.exists() and _newer(run, path):
        path.unlink()
    if path.exists():
        log(f"ae: {path} exists, kept")
        return json.loads(path.read_text())
    cfg = eval_config(recipe)
    test = load_test_set(store, cfg.split, cfg.max_targets, cfg.seed)
    model = HEGGS.load(run, device="cpu")
    net = model.net
    c = model.normalizer.transform(condition_features(test.meta)).astype(np.float32)
    n = len(test)
    dec = np.concatenate([
        ae_roundtrip(net, test.waveforms[s:s + 16], test.valid[s:s + 16], test.band_max_hz[s:s + 16], c[s:s + 16],
                     range(s, min(n, s + 16))) for s in range(0, n, 16)])
    real = test.waveforms.astype(np.float64)
    fs = test.sampling_rate_hz
    events = test.meta["source_id"].astype(str).to_numpy()
    ec = np.nanmean(envelope_correlation(dec, real), axis=1)
    ln_rms = lambda w: np.log(np.sqrt(np.mean(np.asarray(w, np.float64) ** 2, axis=(1, 2))) + 1e-30)  # noqa: E731
    lr_real, lr_dec = ln_rms(real), ln_rms(dec)
    p_exact = test.meta["trace_P_arrival_sample"].to_numpy(float) / fs
    p_err = np.abs(p_onset(dec, fs) - p_exact)
    phys = test.physical

    def slope(i):
        i = i[phys[i]]
        return float(np.polyfit(lr_real[i], lr_dec[i], 1)[0]) if len(np.unique(lr_real[i])) > 1 else float("nan")

    res = {
        "n_targets": int(n), "n_events": int(len(set(events))), "level_from": "level head" if net.level is not None else "ACM",
        "env_corr": boot(lambda i: float(np.nanmean(ec[i])), events, recipe.n_boot),
        "ln_rms_slope": boot(slope, events, recipe.n_boot),
        "ln_rms_bias": boot(lambda i: float(np.mean((lr_dec - lr_real)[i[phys[i]]])), events, recipe.n_boot),
        "p_onset_mae_s": boot(lambda i: float(np.nanmean(p_err[i])), events, recipe.n_boot),
    }
    path.write_text(json.dumps(res, indent=1) + "\n")
    log(f"ae: {res}")
    return res


# ----------------------------------------------------------------------------- statistics


def boot(fn, events: np.ndarray, n: int = 1000, seed: int = 0) -> list[float]:
    """[fn(all), low, high]: ``fn`` of an index array on all records and its 95 % percentile
    interval resampling EVENTS with replacement (NaN where fn is NaN on every replicate)."""
    uniq, inv = np.unique(events, return_inverse=True)
    members = [np.flatnonzero(inv == k) for k in range(len(uniq))]
    rng = np.random.default_rng(seed)
    reps = np.array([fn(np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))]))
                     for _ in range(n)], dtype=float)
    est = float(fn(np.arange(len(events))))
    if not np.isfinite(reps).any():
        return [est, float("nan"), float("nan")]
    lo, hi = np.nanpercentile(reps, [2.5, 97.5])
    return [est, float(lo), float(hi)]


def ols_slopes(y: np.ndarray, mag: np.ndarray, ln_r: np.ndarray) -> np.ndarray:
    """[d y/dM, d y/d lnR] of the least-squares fit y ~ 1 + M + ln R (NaN when singular)."""
    ok = np.isfinite(y)
    a = np.stack([np.ones(ok.sum()), mag[ok], ln_r[ok]], axis=1)
    if ok.sum() < 4 or np.linalg.matrix_rank(a) < 3:
        return np.full(2, np.nan)
    return np.linalg.lstsq(a, y[ok], rcond=None)[0][1:]


def row_figures(rows, stochastic_rows, n_boot: int) -> dict[str, list[float]]:
    """Figures computed from one generator-mode's ``rows.csv`` rows (the summary lacks them):
    total sigma of ln(PGA_gen/PGA_real) (``sigma_ln_pga``) and its ratio to the stochastic
    method's rows (``sigma_ratio_stochastic``), and the slopes of ln PGA on (M, ln R_hyp) of the
    generated records, of the real records (each target once) and gen/real - 1 (``slope_*_rel``),
    each [estimate, low, high] with a bootstrap over events. R_hyp = hypot(distance_km, depth_km)."""
    ev = rows["source_id"].astype(str).to_numpy()
    mag = rows["magnitude"].to_numpy(float)
    ln_r = np.log(np.hypot(rows["distance_km"].to_numpy(float), rows["depth_km"].to_numpy(float)))
    ln_gen = np.log(rows["pga_gen_g"].to_numpy(float))
    ln_real = np.log(rows["pga_real_g"].to_numpy(float))
    first = (rows["sample"].to_numpy() == 0) if "sample" in rows else np.ones(len(rows), bool)
    out: dict[str, list[float]] = {}
    for k, name in enumerate(("slope_M", "slope_lnR")):
        def ratio(i, k=k):
            g = ols_slopes(ln_gen[i], mag[i], ln_r[i])[k]
            j = i[first[i]]
            r = ols_slopes(ln_real[j], mag[j], ln_r[j])[k]
            return g / r - 1.0
        out[f"{name}_rel"] = boot(ratio, ev, n_boot)
        out[f"{name}_gen"] = boot(lambda i, k=k: ols_slopes(ln_gen[i], mag[i], ln_r[i])[k], ev, n_boot)
        out[f"{name}_real"] = boot(lambda i, k=k: ols_slopes(ln_real[i[first[i]]], mag[i[first[i]]],
                                                            ln_r[i[first[i]]])[k], ev, n_boot)
    res = rows["ln_pga"].to_numpy(float)
    sd = lambda v: float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else float("nan")  # noqa: E731
    out["sigma_ln_pga"] = boot(lambda i: sd(res[i]), ev, n_boot)
    if stochastic_rows is not None:
        # paired by event: the same events are drawn for both generators in each replicate
        sres = stochastic_rows["ln_pga"].to_numpy(float)
        sev = stochastic_rows["source_id"].astype(str).to_numpy()
        allev = np.concatenate([ev, sev])
        both = np.concatenate([res, sres])
        mine = np.concatenate([np.ones(len(res), bool), np.zeros(len(sres), bool)])
        out["sigma_ratio_stochastic"] = boot(lambda i: sd(both[i[mine[i]]]) / sd(both[i[~mine[i]]]), allev, n_boot)
    return out


# ----------------------------------------------------------------------------- report

#: (id, target, key, comparison, threshold): key names a figure of :func:`collect`
TARGETS = [
    ("P-onset", "P onset (picker-free) MAE vs exact P <= 0.5 s", "p_onset_mae_store_s", "<=", 0.5),
    ("P-pick", "P pick (picker) MAE vs exact P <= 0.5 s", "p_mae_store_s", "<=", 0.5),
    ("S-onset", "S onset (picker-free) MAE vs exact S <= 1.0 s", "s_onset_mae_store_s", "<=", 1.0),
    ("S-pick", "S pick (picker) MAE vs exact S <= 1.0 s", "s_mae_store_s", "<=", 1.0),
    ("PGA-bias", "ln PGA |mean residual| (gen/real) <= 0.3", "abs_ln_pga", "<=", 0.3),
    ("PGA-sigma", "total sigma of ln PGA residual <= 1.2 x stochastic's (ratio)", "sigma_ratio_stochastic", "<=", 1.2),
    ("slope-M", "d lnPGA/dM within 25 % of the store's (gen/real - 1)", "slope_M_rel", "abs<=", 0.25),
    ("slope-lnR", "d lnPGA/d lnR within 25 % of the store's (gen/real - 1)", "slope_lnR_rel", "abs<=", 0.25),
    ("env-corr", "envelope correlation >= 0.6", "env_corr", ">=", 0.6),
    ("source-tau", "with vs without source: between-event sigma (tau) of ln PGA residual lower by >= 30 %",
     "tau_reduction", ">=", 0.30),
    ("source-P", "with vs without source: P onset MAE not worse (with - without, s)", "p_onset_diff", "<=", 0.0),
    ("source-S", "with vs without source: S onset MAE not worse (with - without, s)", "s_onset_diff", "<=", 0.0),
    ("AE-env", "autoencoder alone: envelope correlation >= 0.9", "ae_env_corr", ">=", 0.9),
    ("AE-slope", "autoencoder alone: ln RMS slope across records >= 0.9", "ae_ln_rms_slope", ">=", 0.9),
    ("AE-bias", "autoencoder alone: |ln RMS bias| <= 0.2", "ae_abs_ln_rms_bias", "<=", 0.2),
    ("AE-P", "autoencoder alone: P onset MAE vs exact P <= 0.3 s", "ae_p_onset_mae_s", "<=", 0.3),
    ("validity", "validity: fraction of generated records passing every check >= 0.95", "valid_all", ">=", 0.95),
]
#: targets judged on the source comparison / the autoencoder (one row each); the others per mode
SINGLE = {"source-tau", "source-P", "source-S", "AE-env", "AE-slope", "AE-bias", "AE-P"}


def _ci(d: dict | None) -> list[float]:
    if not isinstance(d, dict):
        return [float("nan")] * 3
    return [float(d.get("estimate", float("nan"))), float(d.get("low", float("nan"))), float(d.get("high", float("nan")))]


def collect(eval_dir: Path, recipe: Recipe, ae: dict | None, model: str = "heggs") -> dict[str, Any]:
    """Every figure of the targets for ``model``: ``{mode: {key: [est, low, high]}, "single": {...}}``
    plus ``"reasons"`` ``{key: text}`` where a figure cannot be computed.

    eval_dir : the ``heggs evaluate`` folder (``<model>/summary.json``, ``<model>/rows.csv``,
    ``stochastic/rows.csv``); ae : :func:`stage_ae`'s figures or None."""
    import pandas as pd

    summ = json.loads((eval_dir / model / "summary.json").read_text())
    rows = pd.read_csv(eval_dir / model / "rows.csv")
    srows_path = eval_dir / "stochastic" / "rows.csv"
    srows = pd.read_csv(srows_path) if srows_path.exists() else None
    out: dict[str, Any] = {"reasons": {}}
    for mode, s in summ["modes"].items():
        f = {k: _ci(s.get(k)) for k in ("p_onset_mae_store_s", "p_mae_store_s", "s_onset_mae_store_s", "s_mae_store_s",
                                        "env_corr", "valid_all", "tau_ln_pga", "ln_pga")}
        est, lo, hi = f["ln_pga"]
        f["abs_ln_pga"] = [abs(est), *(sorted([abs(lo), abs(hi)]) if lo * hi > 0 else [0.0, max(abs(lo), abs(hi))])]
        f.update(row_figures(rows[rows["mode"] == mode].reset_index(drop=True),
                             None if srows is None else srows[srows["mode"] == "without_source"].reset_index(drop=True),
                             recipe.n_boot))
        out[mode] = f
    single: dict[str, list[float]] = {}
    w, wo = out.get("with_source"), out.get("without_source")
    if w and wo:
        (tw, tw_lo, tw_hi), (t0, t0_lo, t0_hi) = np.asarray(w["tau_ln_pga"]), np.asarray(wo["tau_ln_pga"])
        with np.errstate(divide="ignore", invalid="ignore"):  # tau 0 (too few events): inf/NaN, reported as such
            single["tau_reduction"] = [float(1 - tw / t0), float(1 - tw_hi / t0_lo), float(1 - tw_lo / t0_hi)]
        if not np.isfinite(single["tau_reduction"][0]):
            out["reasons"]["tau_reduction"] = f"tau without source is {t0:.3g}: too few events with >= 2 records"
        for ph in "ps":
            (a, a_lo, a_hi), (b, b_lo, b_hi) = w[f"{ph}_onset_mae_store_s"], wo[f"{ph}_onset_mae_store_s"]
            single[f"{ph}_onset_diff"] = [a - b, a_lo - b_hi, a_hi - b_lo]
    else:
        for k in ("tau_reduction", "p_onset_diff", "s_onset_diff"):
            single[k] = [float("nan")] * 3
            out["reasons"][k] = "the model was not scored in both modes"
    if ae:
        single["ae_env_corr"] = ae["env_corr"]
        single["ae_ln_rms_slope"] = ae["ln_rms_slope"]
        b, lo, hi = ae["ln_rms_bias"]
        single["ae_abs_ln_rms_bias"] = [abs(b), *(sorted([abs(lo), abs(hi)]) if lo * hi > 0 else [0.0, max(abs(lo), abs(hi))])]
        single["ae_p_onset_mae_s"] = ae["p_onset_mae_s"]
    else:
        for k in ("ae_env_corr", "ae_ln_rms_slope", "ae_abs_ln_rms_bias", "ae_p_onset_mae_s"):
            single[k] = [float("nan")] * 3
            out["reasons"][k] = "autoencoder-alone stage not run"
    out["single"] = single
    return out


def judge(value: float, comparison: str, threshold: float) -> tuple[str, float]:
    """("pass" | "miss" | "n/a", gap): the gap is how far the estimate lies on the wrong side."""
    if not np.isfinite(value):
        return "n/a", float("nan")
    if comparison == "<=":
        gap = value - threshold
    elif comparison == ">=":
        gap = threshold - value
    else:  # abs<=
        gap = abs(value) - threshold
    return ("pass" if gap <= 0 else "miss"), max(0.0, gap)


def fmt(v: list[float], d: int = 3) -> str:
    est, lo, hi = v
    if not np.isfinite(est):
        return "NaN"
    lo_s = f"{lo:.{d}f}" if np.isfinite(lo) else "NaN"
    hi_s = f"{hi:.{d}f}" if np.isfinite(hi) else "NaN"
    return f"{est:.{d}f} [{lo_s}, {hi_s}]"


def _nan_reason(key: str, figs: dict, reasons: dict) -> str:
    if key in reasons:
        return reasons[key]
    if key.startswith(("p_mae", "s_mae")):
        return "no picks (the picker found no phase on the generated or real records)"
    if key.startswith(("p_onset", "s_onset")):
        return "no onset found on the generated records"
    if "slope" in key:
        return "too few records or no spread in M / ln R to fit the slopes"
    if "sigma" in key or "tau" in key:
        return "too few events with >= 2 records"
    return "no finite value on the test rows"


def report_rows(figs: dict[str, Any], modes: tuple[str, ...] = ("without_source", "with_source")) -> list[dict[str, Any]]:
    """One dict per report row: id, target, mode, figure [est, low, high], verdict, gap, note."""
    out = []
    for tid, text, key, cmp, thr in TARGETS:
        for mode in (("single",) if tid in SINGLE else modes):
            f = figs.get(mode, {}).get(key, [float("nan")] * 3)
            verdict, gap = judge(f[0], cmp, thr)
            note = "" if np.isfinite(f[0]) else _nan_reason(key, figs.get(mode, {}), figs.get("reasons", {}))
            out.append({"id": tid, "target": text, "mode": "-" if mode == "single" else mode.replace("_", " "),
                        "figure": f, "verdict": verdict, "gap": gap, "note": note})
    return out


def write_report(path: Path, figs: dict[str, Any], recipe: Recipe, budget: dict, smoke: bool,
                 context: dict[str, dict] | None = None) -> Path:
    """``report.md``: the target table (HEGGS) and, for context, the same figures of the baselines."""
    rows = report_rows(figs)
    lines = ["# Known-truth benchmark (issue 13): report", ""]
    if smoke:
        lines += ["**SMOKE RUN** (tiny recipe, a few training steps): the figures test the machinery only and say",
                  "nothing about the models.", ""]
    lines += [f"Recipe: {recipe.n_events} events x {recipe.n_stations} stations, region {list(recipe.region)}, "
              f"M{recipe.mag_min}-{recipe.mag_max} (b={recipe.b_value}), seed {recipe.seed}, SimulateConfig overrides "
              f"{json.dumps(recipe.simulate)}. Evaluation: -n {recipe.n_records}, max targets {recipe.max_targets or 'all'}, "
              f"{recipe.n_boot} bootstrap replicates over events (95 % intervals).", "",
              "Training budget per model: " + "; ".join(
                  f"{k}: {v['steps']} steps planned at {v['s_per_step']:.3f} s/step, cap {v['max_wall_s']:.0f} s "
                  f"on {v['threads']} thread(s), {v['device']}" for k, v in budget.items()), ""]
    if "trained" in figs:
        lines += ["Trained: " + "; ".join(f"{k}: step {v['step']} in {v['train_wall_s']:.0f} s"
                                          + (" (budget spent)" if v.get("budget_spent") else "")
                                          for k, v in figs["trained"].items()), ""]
    lines += ["## Targets (HEGGS, configs/heggs_v2.json)", "",
              "| target | mode | figure [95 % CI] | pass/miss | gap | note |", "|---|---|---|---|---|---|"]
    for r in rows:
        gap = f"{r['gap']:.3f}" if np.isfinite(r["gap"]) else "NaN"
        text = r["target"].replace("|", "\\|")  # a literal | would end the cell
        lines.append(f"| {r['id']}: {text} | {r['mode']} | {fmt(r['figure'])} | {r['verdict']} | {gap} | {r['note']} |")
    if context:
        lines += ["", "## The same figures for every generator (context, no verdict)", "",
                  f"| generator | mode | P onset MAE s | S onset MAE s | ln PGA mean | sigma ln PGA | env corr | tau ln PGA "
                  f"| tau ln PGA/{recipe.gmpes[0]} | valid_all |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, modes in context.items():
            for mode, f in modes.items():
                lines.append(f"| {name} | {mode.replace('_', ' ')} | {fmt(f['p_onset_mae_store_s'], 2)} | "
                             f"{fmt(f['s_onset_mae_store_s'], 2)} | {fmt(f['ln_pga'], 2)} | {fmt(f['sigma_ln_pga'], 2)} | "
                             f"{fmt(f['env_corr'], 3)} | {fmt(f['tau_ln_pga'], 2)} | "
                             f"{fmt(f.get('tau_pga_gmpe_gen', [float('nan')] * 3), 2)} | {fmt(f['valid_all'], 2)} |")
    lines += ["", "Definitions: docs/benchmark/README.md and docs/metrics.md. Where a target is missed, the",
              "reading of why belongs below this table (written by whoever ran the benchmark).", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def stage_report(recipe: Recipe, store: Path, out: Path, eval_dir: Path, ae: dict | None, budget: dict,
                 runs: dict[str, Path], report: Path, smoke: bool) -> Path:
    """Stage 6: figures -> ``report`` (and ``out/figures.json``)."""
    import pandas as pd

    import heggs.checkpoint as ckpt

    figs = collect(eval_dir, recipe, ae)
    figs["trained"] = {k: {key: ckpt.read_info(ckpt.latest_checkpoint(r)).get(key) for key in
                           ("step", "train_wall_s", "budget_spent", "finished")} for k, r in runs.items()}
    context = {}
    for name in [*runs, "stochastic"]:
        summ = json.loads((eval_dir / name / "summary.json").read_text())
        rows = pd.read_csv(eval_dir / name / "rows.csv")
        context[name] = {}
        for mode, s in summ["modes"].items():
            f = {k: _ci(s.get(k)) for k in ("p_onset_mae_store_s", "s_onset_mae_store_s", "ln_pga", "env_corr",
                                            "tau_ln_pga", "valid_all")}
            f["tau_pga_gmpe_gen"] = _ci(s.get(f"tau_pga_{recipe.gmpes[0]}_gen"))
            f.update(row_figures(rows[rows["mode"] == mode].reset_index(drop=True), None, recipe.n_boot))
            context[name][mode] = f
    (out / "figures.json").write_text(json.dumps({"heggs": figs, "context": context}, indent=1, default=float) + "\n")
    path = write_report(report, figs, recipe, budget, smoke, context)
    log(f"report: {path}")
    return path


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/known_truth", help="work folder (store, runs, evaluation); re-run to resume")
    ap.add_argument("--smoke", action="store_true", help="tiny recipe, 5 steps per model: exercises every stage")
    ap.add_argument("--report", default=None, help="report path [docs/benchmark/report.md; OUT/report.md with --smoke]")
    ap.add_argument("--device", default="cpu", help="cpu (the stated budget) or cuda")
    ap.add_argument("--budget-s", type=float, default=None, help="override the training budget per model (s)")
    args = ap.parse_args(argv)
    import torch

    recipe = SMOKE if args.smoke else FULL
    if args.budget_s is not None:
        recipe = replace(recipe, budget_s=float(args.budget_s))
    torch.set_num_threads(recipe.threads)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    report = Path(args.report) if args.report else (out / "report.md" if args.smoke else REPO / "docs/benchmark/report.md")
    t0 = time.time()
    store = stage_store(recipe, out)
    budget = stage_budget(recipe, store, out, args.device)
    runs = stage_train(recipe, store, out, budget, args.device)
    eval_dir = stage_evaluate(recipe, store, out, runs, args.device)
    ae = stage_ae(recipe, store, out, runs["heggs"], args.device)
    stage_report(recipe, store, out, eval_dir, ae, budget, runs, report, args.smoke)
    log(f"done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
