"""Benchmark: the figures of the shipped default model (heggs/weights/default) on this machine.

Prints, with the thread count given (default 2):

1. matmul peak (float32 torch.mm), the reference for FLOP efficiency;
2. FLOPs per record of the default model: one training step (forward + backward of the loss)
   and one generation (its default sampler steps), counted with FlopCounterMode;
3. the U-Net x_θ fwd+bwd: achieved FLOP/s and fraction of the matmul peak (batch 8);
4. training pairs/s of ``heggs train`` itself (data loading included) with 1 and 2 torchrun
   processes on a simulated store in the default window (60 s at 100 Hz), same global batch,
   read from the runs' logs;
5. generation records/s at the default steps (batch 8, no source and with a source) and the
   decode path (decoder + ACM + inverse STFT) against 128 Griffin-Lim iterations;
6. ingest records/s is measured by ``benchmarks/bench_ingest.py`` (not repeated here).

Timings on this machine swing 2-10x between runs: compare ratios from one run.

Usage: python benchmarks/bench_default.py [--threads 2] [--train-steps 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_train import matmul_peak, unet_efficiency  # noqa: E402
from timing import griffin_lim, median_time  # noqa: E402

from heggs import HEGGS  # noqa: E402


def heggs_train_pairs_per_s(store: Path, processes: int, threads: int, steps: int, out: Path) -> float:
    """Median pairs/s over the logged intervals of a `heggs train` run (first interval dropped: warm-up)."""
    cfg = Path(__file__).resolve().parents[1] / "configs" / "default.json"
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, threads // processes)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
           "-m", "heggs.cli", "train", "--data", str(store), "--out", str(out), "--config", str(cfg),
           "--steps", str(steps), "--log-interval", "5", "--checkpoint-interval", str(steps), "--no-progress"]
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    rates = [json.loads(x)["pairs_per_s"] for x in (out / "log.jsonl").read_text().splitlines()]
    return statistics.median(rates[1:] or rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = HEGGS.load()
    net, cfg = model.net, model.net.cfg
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; default model: {net.n_parameters():,} parameters, "
          f"{cfg.n_samples} samples at {cfg.sampling_rate_hz:g} Hz, {cfg.sampler_steps} sampler steps")
    peak = matmul_peak(repeats=a.repeats)
    print(f"matmul peak: {peak / 1e9:.1f} GFLOP/s")
    f_train, f_gen = net.flops_per_sample("train"), net.flops_per_sample("generate")
    print(f"FLOPs per record: training step {f_train / 1e9:.2f} GFLOP, generation ({cfg.sampler_steps} steps) "
          f"{f_gen / 1e9:.2f} GFLOP")
    u = unet_efficiency(cfg, 8, a.repeats, peak)
    print(f"U-Net fwd+bwd (latent {u['latent_shape']}, batch 8): {u['flop_per_s'] / 1e9:.1f} GFLOP/s = "
          f"{100 * u['fraction_of_matmul_peak']:.1f}% of the matmul peak")

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        subprocess.run([sys.executable, "-m", "heggs.cli", "simulate", "--out", str(store), "--n-events", "12",
                        "--n-stations", "6", "--region", "34.8,35.2,-117.2,-116.8", "--mag-min", "3", "--mag-max", "4.5",
                        "--no-progress"], check=True, capture_output=True)
        one = heggs_train_pairs_per_s(store, 1, a.threads, a.train_steps, Path(tmp) / "r1")
        two = heggs_train_pairs_per_s(store, 2, a.threads, a.train_steps, Path(tmp) / "r2")
    print(f"heggs train (default config, global batch 8, data loading included): 1 process {one:.1f} pairs/s, "
          f"2 processes {two:.1f} pairs/s (ratio {two / one:.2f})")

    b = 8
    c = torch.randn(b, cfg.n_conditions)
    src = torch.randn(b, cfg.n_components, cfg.n_samples) * 1e-2
    seeds = list(range(b))
    with torch.no_grad():
        t_no = median_time(lambda: net.generate(c, seeds), a.repeats)
        t_src = median_time(lambda: net.generate(c, seeds, src=src, c_src=c), a.repeats)
        z = torch.randn(b, *net.latent_shape)
        _, pooled = net.cond(c)
        spec = net.decode(z, pooled)
        t_dec = median_time(lambda: net.decode(z, pooled), a.repeats)
        t_inv = median_time(lambda: net.waveform(spec), a.repeats)
        mag = torch.sqrt(spec[:, 0::2] ** 2 + spec[:, 1::2] ** 2).reshape(b * cfg.n_components, *spec.shape[2:])
        t_gl = median_time(lambda: griffin_lim(mag, cfg.n_fft, cfg.hop_length, cfg.n_samples), 1)
    print(f"generation at {cfg.sampler_steps} steps: {b / t_no:.1f} records/s without source, {b / t_src:.1f} with a source")
    print(f"decode path {1e3 * (t_dec + t_inv) / b:.1f} ms per record vs Griffin-Lim-128 {1e3 * t_gl / b:.1f} ms: "
          f"{t_gl / (t_dec + t_inv):.1f}x faster (inverse STFT alone {t_gl / t_inv:.0f}x)")


if __name__ == "__main__":
    main()
