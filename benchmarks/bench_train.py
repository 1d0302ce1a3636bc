"""Benchmark: training throughput, U-Net FLOP efficiency, memory, and 1 vs 2 DDP processes.

Prints, for this machine and the thread count in use (``torch.get_num_threads()``; set
``OMP_NUM_THREADS`` / ``--threads`` to change it):

1. matmul peak: FLOP/s of a large ``torch.mm`` (float32), median of repeats — the reference.
2. training-step throughput (pairs/s: forward + backward of ``HEGGS.loss`` + AdamW step +
   EMA update, synthetic ``dummy_batch`` so data loading is excluded) for the ``tiny`` preset
   (10 s at 50 Hz, batch 8) and the ``paper`` preset (60 s at 100 Hz, batch ``--paper-batch``).
3. the latent U-Net x_θ alone: FLOPs of one forward+backward counted with
   ``torch.utils.flop_counter.FlopCounterMode``, its time, achieved FLOP/s and the fraction of
   the matmul peak (target >= 30 %), for both presets; ``--profile`` adds a torch.profiler
   table of the paper U-Net step.
4. peak resident memory (RSS) of a paper-scale training step at batch 16, in a fresh
   subprocess (target <= 8 GB on CPU).
5. 1 vs 2 DDP processes (gloo, torchrun) on the tiny preset with the same GLOBAL batch:
   pairs/s of each, each process with ``threads / processes`` threads.

Timings on shared machines swing 2-10x: figures are medians of repeats within one run; compare
ratios from the same run.

Usage: python benchmarks/bench_train.py [--quick] [--threads N] [--paper-batch B] [--profile tiny|paper]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from heggs.config import model_preset
from heggs.model.network import HEGGSNet, dummy_batch
from timing import median_time  # benchmarks/timing.py

TINY = dict(n_samples=500, sampling_rate_hz=50.0)




def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of an n x n float32 matmul (2 n^3 FLOPs)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / median_time(lambda: torch.mm(a, b), repeats, warmup=1)


def train_step_throughput(cfg, batch_size: int, repeats: int) -> dict:
    """pairs/s of one full training step on a synthetic batch (model + AdamW + EMA)."""
    from heggs.train import EMA

    torch.manual_seed(0)
    model = HEGGSNet(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ema = EMA(model)
    batch = dummy_batch(cfg, batch_size)

    def step():
        loss, _ = model.loss(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        ema.update(model, 0.999)

    dt = median_time(step, repeats, warmup=1)
    return {"step_s": dt, "pairs_per_s": batch_size / dt, "params": model.n_parameters()}


def unet_efficiency(cfg, batch_size: int, repeats: int, peak: float, profile: bool = False) -> dict:
    """FLOPs, time and FLOP/s of forward+backward of x_θ (the latent U-Net) alone."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = HEGGSNet(cfg)
    unet = model.unet
    x = torch.randn(batch_size, *model.latent_shape, requires_grad=True)
    t = torch.randint(1, cfg.n_timesteps + 1, (batch_size,))
    tokens, pooled = (v.detach() for v in model.cond(torch.randn(batch_size, cfg.n_conditions)))

    def step():
        out = unet(x, t, tokens, pooled)
        out.square().mean().backward()

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    flops = counter.get_total_flops()
    dt = median_time(step, repeats, warmup=1)
    res = {"latent_shape": list(model.latent_shape), "batch": batch_size, "unet_params": sum(p.numel() for p in unet.parameters()),
           "flops_fwd_bwd": flops, "time_s": dt, "flop_per_s": flops / dt, "fraction_of_matmul_peak": flops / dt / peak}
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as prof

        with prof(activities=[ProfilerActivity.CPU]) as p:
            step()
        print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    return res


def _rss_child(batch: int) -> None:
    """(subprocess) one paper-scale training step at ``batch``; print peak RSS in bytes."""
    cfg = model_preset("paper")
    model = HEGGSNet(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss, _ = model.loss(dummy_batch(cfg, batch))
    loss.backward()
    opt.step()
    print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def peak_rss(batch: int) -> int:
    out = subprocess.run([sys.executable, __file__, "--rss-child", str(batch)], capture_output=True, text=True, check=True)
    return int(json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_bytes"])


def _ddp_child(global_batch: int, steps: int) -> None:
    """(torchrun worker) time DDP training steps of the tiny preset; rank 0 prints pairs/s."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from heggs.train import _LossModule

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    cfg = model_preset("tiny", **TINY)
    torch.manual_seed(0)
    model = HEGGSNet(cfg)
    ddp = DistributedDataParallel(_LossModule(model))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = dummy_batch(cfg, global_batch // world, seed=rank)

    def step():
        loss, _ = ddp(batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    dist.barrier()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        dist.barrier()
        times.append(time.perf_counter() - t)
    if rank == 0:
        print(json.dumps({"pairs_per_s": global_batch / statistics.median(times), "processes": world}))
    dist.destroy_process_group()


def ddp_throughput(processes: int, threads: int, global_batch: int, steps: int) -> float:
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, threads // processes)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
           __file__, "--ddp-child", str(global_batch), str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    return float(json.loads(lines[-1])["pairs_per_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="fewer repeats, skip the paper-scale RSS run")
    ap.add_argument("--paper-batch", type=int, default=4)
    ap.add_argument("--profile", choices=["tiny", "paper"], default=None,
                    help="print a torch.profiler table of this preset's U-Net step")
    ap.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--ddp-child", type=int, nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rss_child is not None:
        return _rss_child(args.rss_child)
    if args.ddp_child is not None:
        return _ddp_child(*args.ddp_child)

    threads = torch.get_num_threads()
    reps = 3 if args.quick else 5
    print(f"torch {torch.__version__}, torch.get_num_threads() = {threads}, cpu_count = {os.cpu_count()}")
    peak = matmul_peak(repeats=reps)
    print(f"matmul peak (2048^3 float32 torch.mm): {peak / 1e9:.1f} GFLOP/s")

    tiny, paper = model_preset("tiny", **TINY), model_preset("paper")
    r = train_step_throughput(tiny, 8, reps)
    print(f"train step, tiny preset (10 s @ 50 Hz, batch 8, {r['params']:,} params): {r['step_s'] * 1e3:.0f} ms/step, "
          f"{r['pairs_per_s']:.1f} pairs/s")
    r = train_step_throughput(paper, args.paper_batch, max(2, reps - 2))
    print(f"train step, paper preset (60 s @ 100 Hz, batch {args.paper_batch}, {r['params']:,} params): "
          f"{r['step_s']:.2f} s/step, {r['pairs_per_s']:.2f} pairs/s")

    for name, cfg, b in (("tiny", tiny, 8), ("paper", paper, args.paper_batch)):
        u = unet_efficiency(cfg, b, reps, peak, profile=args.profile == name)
        print(f"U-Net x_theta fwd+bwd, {name} (latent {u['latent_shape']}, batch {b}, {u['unet_params']:,} params): "
              f"{u['flops_fwd_bwd'] / 1e9:.2f} GFLOP in {u['time_s'] * 1e3:.0f} ms = {u['flop_per_s'] / 1e9:.1f} GFLOP/s "
              f"= {100 * u['fraction_of_matmul_peak']:.1f}% of matmul peak")

    if not args.quick:
        rss = peak_rss(16)
        print(f"peak RSS, paper preset training step at batch 16: {rss / 2**30:.2f} GiB")

    one = ddp_throughput(1, threads, 8, 5 if args.quick else 10)
    two = ddp_throughput(2, threads, 8, 5 if args.quick else 10)
    print(f"DDP (gloo, tiny preset, global batch 8; 1 process x {threads} threads vs 2 processes x "
          f"{max(1, threads // 2)} threads): "
          f"1 process {one:.1f} pairs/s, 2 processes {two:.1f} pairs/s (ratio {two / one:.2f})")


if __name__ == "__main__":
    main()
