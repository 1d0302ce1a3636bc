"""Benchmark: stochastic simulator throughput (three-component 60 s records at 100 Hz per second).

Prints, as medians over repeats measured in one run, wall-clock rates and CPU-time rates
(records per CPU-second of this process and its workers; on a shared machine the wall rate
understates what dedicated cores do, the CPU rate × cores estimates it):
* the vectorised generator alone (``simulate_records``, one process, batches of 64);
* a whole store (``simulate_store``: pairs, travel times, synthesis, HDF5 writing) with 1 and
  ``--workers`` processes, and the size of the store on disk.

Usage: python benchmarks/bench_simulate.py [--events 40] [--stations 25] [--workers 2] [--repeats 3]
Target (issue 3): >= 200 records per second on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _cpu() -> float:
    """CPU seconds of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=40)
    ap.add_argument("--stations", type=int, default=25)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", help="also write the largest store to this folder and keep it")
    args = ap.parse_args()

    from heggs.simulate import simulator as sim
    from heggs.config import SimulateConfig
    from heggs.traveltimes import KM_PER_DEG

    cfg = SimulateConfig()
    print(f"CPU cores visible: {os.cpu_count()}; window {cfg.window.length_s:.0f} s at "
          f"{cfg.window.sampling_rate_hz:.0f} Hz, components {cfg.window.components}")

    # 1) the generator alone
    n = 64
    rng = np.random.default_rng(0)
    r = rng.uniform(10, 150, n)
    az = rng.uniform(0, 360, n)
    lat = 34 + r / KM_PER_DEG * np.cos(np.radians(az))
    lon = -118 + r / KM_PER_DEG * np.sin(np.radians(az)) / np.cos(np.radians(34))
    batch = (np.full(n, 34.0), np.full(n, -118.0), rng.uniform(2, 20, n), rng.uniform(3, 6, n), lat, lon)
    fixed = dict(stress_drop_bar=60.0, strike_deg=10.0, dip_deg=60.0, rake_deg=30.0, site_factor=1.0,
                 noise_level=0.45)
    sim.simulate_records(*batch, cfg=cfg, **fixed)  # warm-up (travel-time rows, imports)
    rates, cpu_rates = [], []
    for _ in range(max(args.repeats, 3)):
        t, c = time.perf_counter(), _cpu()
        sim.simulate_records(*batch, cfg=cfg, **fixed)
        rates.append(n / (time.perf_counter() - t))
        cpu_rates.append(n / (_cpu() - c))
    print(f"generator (1 process, batch {n}): {statistics.median(rates):.0f} records/s wall, "
          f"{statistics.median(cpu_rates):.0f} records per CPU-second (median of {len(rates)})")

    # 2) whole stores
    region_ev = (33.5, 34.5, -118.5, -117.5)
    region_st = (33.3, 34.7, -118.7, -117.3)
    events = sim.random_events(args.events, region_ev, 3.0, 6.0, 1.0, seed=1, cfg=cfg)
    stations = sim.random_stations(args.stations, region_st, seed=1, cfg=cfg)
    sim.select_pairs(events, stations, cfg)  # build the travel-time rows once (cached on disk)
    tmp = Path(tempfile.mkdtemp(prefix="heggs_bench_sim_"))
    try:
        for workers in sorted({1, args.workers}):
            rates, cpu_rates = [], []
            for k in range(args.repeats):
                out = tmp / f"store_w{workers}_{k}"
                t, c = time.perf_counter(), _cpu()
                summary = sim.simulate_store(out, events, stations, cfg, seed=k, workers=workers, progress=False)
                rates.append(summary["records"] / (time.perf_counter() - t))
                cpu_rates.append(summary["records"] / (_cpu() - c))
                size = _dir_size(out)
                shutil.rmtree(out)
            print(f"store ({summary['records']} records, {workers} worker(s)): {statistics.median(rates):.0f} "
                  f"records/s wall (median of {len(rates)}; min {min(rates):.0f}, max {max(rates):.0f}); "
                  f"{statistics.median(cpu_rates):.0f} records per CPU-second (x2 cores: "
                  f"{2 * statistics.median(cpu_rates):.0f}/s); store size {size / 1e6:.1f} MB")
        if args.keep:
            t = time.perf_counter()
            summary = sim.simulate_store(args.keep, events, stations, cfg, seed=0, workers=args.workers, progress=True)
            dt = time.perf_counter() - t
            print(f"kept store {args.keep}: {summary['records']} records, {_dir_size(Path(args.keep)) / 1e6:.1f} MB, "
                  f"{summary['records'] / dt:.0f} records/s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
