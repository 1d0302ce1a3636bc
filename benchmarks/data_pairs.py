"""Benchmark of the data stage: condition features, PairDataset set-up and item throughput.

Builds a synthetic store (events x stations, 3 x 6000 float32 traces) in a temporary folder and
prints medians of repeated timings. Run: ``python benchmarks/data_pairs.py [--events 100]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from heggs.data import PairDataset, condition_features
from heggs.store import StoreWriter
from timing import median_time  # benchmarks/timing.py


def build(path: Path, n_events: int, n_stations: int, n_samples: int) -> None:
    rng = np.random.default_rng(0)
    sta = rng.uniform([33, -119], [36, -115], size=(n_stations, 2))
    with StoreWriter(path, "ENZ", 100.0, n_samples, bucket_size=256) as w:
        for e in range(n_events):
            elat, elon = rng.uniform(33, 36), rng.uniform(-119, -115)
            for s in rng.choice(n_stations, size=rng.integers(1, n_stations), replace=False):
                w.add(rng.normal(size=(3, n_samples)).astype(np.float32), {
                    "source_id": f"ev{e}", "source_latitude_deg": elat, "source_longitude_deg": elon,
                    "source_depth_km": 8.0, "source_magnitude": 3.5, "station_network_code": "XX",
                    "station_code": f"S{s}", "station_latitude_deg": sta[s, 0], "station_longitude_deg": sta[s, 1],
                    "trace_units": "m/s2", "split": "train" if e % 5 else "test"})




def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--stations", type=int, default=34)
    ap.add_argument("--samples", type=int, default=6000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store"
        build(path, args.events, args.stations, args.samples)
        ds = PairDataset(path, "train")
        meta = ds.store.metadata
        print(f"store: {len(meta)} records, {args.events} events; train targets {len(ds)}")
        t = median_time(lambda: condition_features(meta))
        print(f"condition_features (geodesics from coordinates): {t * 1e3:.1f} ms, "
              f"{t / len(meta) * 1e6:.1f} us/record")
        big = pd.concat([meta] * 10, ignore_index=True)
        t = median_time(lambda: condition_features(big), repeats=1)
        print(f"condition_features on {len(big)} rows (repeated pairs, cached): {t * 1e3:.1f} ms")
        t = median_time(lambda: PairDataset(path, "train"))
        print(f"PairDataset(...) set-up: {t * 1e3:.1f} ms")
        n = min(len(ds), 400)
        t = median_time(lambda: [ds[i] for i in range(n)])
        print(f"__getitem__ (2 HDF5 reads): {n / t:.0f} items/s single process")
        for workers in (0, 2):
            dl = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=workers)
            t = median_time(lambda: sum(1 for _ in dl), repeats=1)
            print(f"DataLoader batch 16, num_workers={workers}: {len(ds) / t:.0f} items/s")


if __name__ == "__main__":
    main()
