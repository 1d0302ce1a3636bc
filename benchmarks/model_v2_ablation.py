"""Benchmark: the generator-physics ablation of docs/model_v2.md (phase, level, time).

For one trained run (a checkpoint folder or run folder) on a SIMULATED store, generate the test
targets without a source and with a source (another station of the same event), and report,
each as a mean with a 95 % bootstrap interval over EVENTS:

- ``lnpga_bias``: mean of ln PGA_real - ln PGA_gen (PGA: peak |a| over the 3 components);
- ``slope_M`` / ``slope_lnR``: OLS coefficients of ln PGA on (M, ln R) for the generated
  records, beside the same fit on the store's own records (``real_slope_*``);
- ``env_corr``: Hilbert-envelope correlation per component (heggs.evaluate.metrics), mean;
- ``onset_err``: picker-free onset (first time the 1-s-smoothed 3-component envelope reaches
  10 % of its maximum) minus the store's exact P (TauP, the simulator's own arrival), s;
  mean absolute error, and the same for the real records (the measure's own error);
- ``valid_*``: fraction of records passing each heggs.evaluate.validity check and all of them.

``--speed`` also times the decode path (decoder + ACM + the model's phase step) against 128
Griffin-Lim iterations from random phase on the same decoded spectrograms (same STFT).
``--plots DIR`` writes PNGs of a few generated records (heggs.plots.plot_generated_record).
``--table A.json B.json ...`` prints the markdown table of docs/model_v2.md from result files.

    OMP_NUM_THREADS=1 python benchmarks/model_v2_ablation.py RUN --data /tmp/sim_abl --n 64 \\
        --out docs/model_v2/RUN.json [--speed] [--plots DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heggs.checkpoint import load_checkpoint  # noqa: E402
from heggs.data import PairDataset  # noqa: E402
from heggs.evaluate.metrics import envelope, envelope_correlation  # noqa: E402
from heggs.evaluate.validity import validity_checks  # noqa: E402
from heggs.model.phase import griffin_lim  # noqa: E402


def onset_times(x: np.ndarray, fs: float, smooth_s: float = 1.0, frac: float = 0.1) -> np.ndarray:
    """Picker-free onset: (n, C, T) records -> (n,) first time (s) the 1-s-smoothed 3-component
    envelope sqrt(sum_c env_c²) reaches ``frac`` of its maximum."""
    from scipy.ndimage import uniform_filter1d

    env = np.sqrt((envelope(x) ** 2).sum(axis=1))
    env = uniform_filter1d(env, max(1, int(round(smooth_s * fs))), axis=-1)
    above = env >= frac * env.max(axis=-1, keepdims=True)
    return above.argmax(axis=-1) / fs


def ols(y: np.ndarray, m: np.ndarray, lnr: np.ndarray) -> np.ndarray:
    """[intercept, d/dM, d/dlnR] of y on (M, ln R)."""
    a = np.stack([np.ones_like(m), m, lnr], axis=1)
    return np.linalg.lstsq(a, y, rcond=None)[0]


def between_sd(resid: np.ndarray, events: np.ndarray) -> float:
    """Standard deviation over events of the per-event mean residual (events with >= 2 records)."""
    uniq, inv, counts = np.unique(events, return_inverse=True, return_counts=True)
    means = np.bincount(inv, weights=resid) / counts
    return float(np.std(means[counts >= 2])) if np.sum(counts >= 2) > 1 else float("nan")


def boot(fn, events: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """fn(index array) on all records, and its 95 % percentile interval resampling events."""
    uniq, inv = np.unique(events, return_inverse=True)
    members = [np.flatnonzero(inv == k) for k in range(len(uniq))]
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n):
        pick = rng.integers(0, len(members), len(members))
        reps.append(fn(np.concatenate([members[k] for k in pick])))
    lo, hi = np.nanpercentile(reps, [2.5, 97.5])
    return float(fn(np.arange(len(events)))), float(lo), float(hi)


def table(paths: list[str]) -> str:
    """Markdown table (one row per result JSON and mode) of the figures above."""
    def f(v, d=2):
        return f"{v[0]:.{d}f} [{v[1]:.{d}f}, {v[2]:.{d}f}]"

    head = ("| run | source | ln PGA real/gen | d lnPGA/dM (real) | d lnPGA/d lnR (real) | env corr | onset MAE s (r) "
            "| valid: all / mean / band / edges / comb / drift |")
    lines = [head, "|" + "---|" * 8]
    for p in paths:
        d = json.loads(Path(p).read_text())
        for mode in ("nosrc", "src"):
            r = d[mode]
            v = " / ".join(f"{r[f'valid_{k}'][0]:.2f}" for k in ("all", "mean", "band", "edges", "comb", "drift"))
            lines.append(f"| {Path(p).stem} | {'with' if mode == 'src' else 'none'} | {f(r['lnpga_bias'])} "
                         f"| {f(r['slope_M'])} ({r['real_slope_M'][0]:.2f}) | {f(r['slope_lnR'])} ({r['real_slope_lnR'][0]:.2f}) "
                         f"| {f(r['env_corr'], 3)} | {f(r['onset_mae'], 1)} ({r['onset_r']:.2f}) | {v} |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--table":
        print(table(sys.argv[2:]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=64, help="test targets (spread over events)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--out", default=None)
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--plots", default=None)
    ap.add_argument("--phase-iterations", type=int, default=None, help="override cfg.phase_iterations")
    ap.add_argument("--phase-init", default=None, choices=["model", "random"], help="override cfg.phase_init")
    ap.add_argument("--output-band-min-hz", type=float, default=None, help="override cfg.output_band_min_hz")
    args = ap.parse_args()
    torch.set_num_threads(1)

    net, normalizer, info = load_checkpoint(args.run)
    if args.phase_iterations is not None:
        net.cfg.phase_iterations = args.phase_iterations
    if args.output_band_min_hz is not None:
        net.cfg.output_band_min_hz = args.output_band_min_hz
    if args.phase_init is not None:
        net.cfg.phase_init = args.phase_init
    ds = PairDataset(args.data, "test", normalizer=normalizer, p_same=0.0, seed=123)
    meta = ds.store.metadata
    rng = np.random.default_rng(0)
    items = np.sort(rng.choice(len(ds), size=min(args.n, len(ds)), replace=False))
    fs = net.cfg.sampling_rate_hz
    rows = [ds[int(i)] for i in items]
    tgt = torch.stack([r["tgt"] for r in rows]).numpy()
    tidx = np.array([int(r["tgt_index"]) for r in rows])
    m = meta.iloc[tidx]
    events = m["source_id"].astype(str).to_numpy()
    mag = m["source_magnitude"].to_numpy(float)
    lnr = np.log(np.hypot(m["path_ep_distance_km"].to_numpy(float), m["source_depth_km"].to_numpy(float)))
    p_exact = m["trace_P_arrival_sample"].to_numpy(float) / fs
    band = m["trace_band_max_hz"].to_numpy(float)
    band_min = float(m["trace_band_min_hz"].iloc[0]) if "trace_band_min_hz" in m else 1.0

    out: dict = {"run": str(args.run), "step": info.get("step"), "n_targets": len(items), "n_events": len(set(events)),
                 "model": {k: v for k, v in net.config_dict().items() if k in (
                     "complex_loss_weight", "mrstft_loss_weight", "phase_iterations", "level_head",
                     "level_uses_source", "time_channels", "phase_init", "output_band_min_hz")}}
    ln_pga_real = np.log(np.abs(tgt).max(axis=(1, 2)))
    onset_real = onset_times(tgt, fs)
    out["real"] = {
        "slope": ols(ln_pga_real, mag, lnr)[1:].tolist(),
        "onset_mae": boot(lambda i: np.mean(np.abs(onset_real[i] - p_exact[i])), events),
    }
    vr = validity_checks(tgt, fs, band_min, band, net.cfg.hop_length)
    for name in ("mean", "band", "edges", "comb", "drift", "all"):
        out["real"][f"valid_{name}"] = float(getattr(vr, f"passes_{name}").mean())
    gens = {}
    for mode in ("nosrc", "src"):
        t0 = time.perf_counter()
        ws = []
        for s in range(0, len(rows), args.batch):
            chunk = rows[s:s + args.batch]
            c_tgt = torch.stack([r["c_tgt"] for r in chunk])
            seeds = [int(r["tgt_index"]) for r in chunk]
            kw = {}
            if mode == "src":
                kw = dict(src=torch.stack([r["src"] for r in chunk]), c_src=torch.stack([r["c_src"] for r in chunk]),
                          src_valid=torch.stack([r["src_valid"] for r in chunk]),
                          src_band_max_hz=torch.stack([r["src_band_max_hz"] for r in chunk]))
            ws.append(net.generate(c_tgt, seeds, **kw).numpy())
        gen = np.concatenate(ws)
        gens[mode] = gen
        sec = time.perf_counter() - t0
        ln_pga = np.log(np.abs(gen).max(axis=(1, 2)) + 1e-30)
        ec = np.nanmean(envelope_correlation(gen, tgt), axis=1)
        on = onset_times(gen, fs)
        v = validity_checks(gen, fs, band_min, band, net.cfg.hop_length)
        res = {
            "s_per_record": sec / len(items),
            "lnpga_bias": boot(lambda i: np.mean(ln_pga_real[i] - ln_pga[i]), events),
            "lnpga_resid_sd": boot(lambda i: np.std(ln_pga_real[i] - ln_pga[i]), events),
            "lnpga_between_sd": boot(lambda i: between_sd(ln_pga_real[i] - ln_pga[i], events[i]), events),
            "slope_M": boot(lambda i: ols(ln_pga[i], mag[i], lnr[i])[1], events),
            "slope_lnR": boot(lambda i: ols(ln_pga[i], mag[i], lnr[i])[2], events),
            "real_slope_M": boot(lambda i: ols(ln_pga_real[i], mag[i], lnr[i])[1], events),
            "real_slope_lnR": boot(lambda i: ols(ln_pga_real[i], mag[i], lnr[i])[2], events),
            "env_corr": boot(lambda i: np.nanmean(ec[i]), events),
            "onset_mae": boot(lambda i: np.mean(np.abs(on[i] - p_exact[i])), events),
            "onset_r": float(np.corrcoef(on, p_exact)[0, 1]),
            "onset_bias": boot(lambda i: np.mean(on[i] - p_exact[i]), events),
            "ln_rms_level_r": float(np.corrcoef(np.log(np.sqrt((gen ** 2).mean(axis=(1, 2))) + 1e-30),
                                                np.log(np.sqrt((tgt ** 2).mean(axis=(1, 2)))))[0, 1]),
        }
        for name in ("mean", "band", "edges", "comb", "drift"):
            ok = getattr(v, f"passes_{name}").astype(float)
            res[f"valid_{name}"] = boot(lambda i, ok=ok: ok[i].mean(), events)
        res["valid_all"] = boot(lambda i: v.passes_all.astype(float)[i].mean(), events)
        out[mode] = res
        print(mode, json.dumps({k: (np.round(v_, 3).tolist() if isinstance(v_, (tuple, list)) else v_) for k, v_ in res.items()}),
              flush=True)

    if args.speed:
        with torch.no_grad():
            c_tgt = torch.stack([r["c_tgt"] for r in rows[:16]])
            _, pooled = net.cond(c_tgt)
            z = torch.randn(len(c_tgt), *net.latent_shape)
            spec = net.decode(z, pooled)
            t0 = time.perf_counter()
            for _ in range(3):
                net.decode(z, pooled)
            t_dec = (time.perf_counter() - t0) / 3
            t0 = time.perf_counter()
            for _ in range(3):
                net.synthesize(spec, list(range(len(spec))))
            t_phase = (time.perf_counter() - t0) / 3
            cfg = net.cfg
            b, c2, f, t = spec.shape
            zc = torch.view_as_complex(spec.reshape(b, c2 // 2, 2, f, t).permute(0, 1, 3, 4, 2).contiguous()).reshape(-1, f, t)
            mag_lin = zc.abs().pow(1.0 / cfg.compression_alpha)
            rand = torch.polar(mag_lin, 2 * np.pi * torch.rand(mag_lin.shape, generator=torch.Generator().manual_seed(0)))
            t0 = time.perf_counter()
            griffin_lim(rand, 128, n_samples=cfg.n_samples, n_fft=cfg.n_fft, hop_length=cfg.hop_length, window=cfg.window)
            t_gl = time.perf_counter() - t0
        out["speed"] = {"records": len(c_tgt), "decoder_acm_s": t_dec, "phase_step_s": t_phase, "griffin_lim128_s": t_gl,
                        "ratio_phase_step": t_gl / t_phase, "ratio_decode_path": t_gl / (t_dec + t_phase),
                        "phase_iterations": cfg.phase_iterations}
        print("speed", out["speed"], flush=True)

    if args.plots:
        import matplotlib

        matplotlib.use("Agg")
        from heggs.plots import plot_generated_record

        d = Path(args.plots)
        d.mkdir(parents=True, exist_ok=True)
        for k in range(min(3, len(rows))):
            j = int(np.argsort(lnr)[k * (len(rows) - 1) // 2])  # near, middle, far
            info_s = f"M{mag[j]:.1f} R{np.exp(lnr[j]):.0f} km, exact P {p_exact[j]:.1f} s"
            for name, w in (("real", tgt[j]), ("gen_nosrc", gens["nosrc"][j]), ("gen_src", gens["src"][j])):
                fig = plot_generated_record(w, fs, title=f"{name}: {info_s}")
                fig.savefig(d / f"rec{k}_{name}.png", dpi=70)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
