"""Benchmark: ingest throughput (records/s) and peak memory on real miniSEED + StationXML.

The archive is the generic-adapter set of ../shared/data: gmprocess fdsn/, status/,
colocated_instruments/, multiple_events/ (associated by time with its catalog.csv) and pysep/.
``--repeat N`` streams it N times; copies 2..N get a constant offset added to their counts (removed
by the detrend), so their fingerprints differ and every copy is fully processed before being
reported as a "duplicate record" at the end — the work and the store stay those of N distinct
archives while the input files are the real ones.

Copies 2..N reuse the parsed StationXML (cached by file content) and the evaluated instrument
responses (cached per channel epoch), as an archive whose stations record many events does; the
1x row is the cold figure.

Each configuration runs in a fresh subprocess (peak RSS from ``resource.getrusage`` is per
process); figures are medians over ``--trials``. Target: >= 50 records/s on 2 cores.

    python benchmarks/bench_ingest.py                 # 1x / 4x with 1 and 2 workers, 12x
    python benchmarks/bench_ingest.py --trials 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GM = DATA / "gmprocess"
DIRS = [GM / "fdsn", GM / "status", GM / "colocated_instruments", GM / "multiple_events", DATA / "pysep"]
CATALOG = GM / "multiple_events" / "catalog.csv"


def _items(repeat: int, counter: dict):
    from heggs.ingest.records import RawRecord
    from heggs.ingest.generic import scan_archive

    for k in range(repeat):
        for it in scan_archive(DIRS):
            if isinstance(it, RawRecord):
                counter["raw"] += 1
                if k:
                    for tr in it.stream:
                        tr.data = tr.data + k
            yield it


def child(repeat: int, workers: int) -> dict:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    from heggs.ingest.catalog import Catalog
    from heggs.config import IngestConfig
    from heggs.ingest.run import ingest

    catalog = Catalog.from_files([CATALOG])
    from heggs.ingest.run import travel_time_table

    travel_time_table("iasp91")  # one-time TauP import/model load (~1-3 s) is not per-record work
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = r0.ru_utime + r0.ru_stime
    counter = {"raw": 0}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        rep = ingest(_items(repeat, counter), Path(tmp) / "store", IngestConfig(), catalog=catalog, progress=False,
                     workers=workers)
        wall = time.perf_counter() - t
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    self_kb, kids_kb = me.ru_maxrss, kids.ru_maxrss
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime - cpu0
    return {"repeat": repeat, "workers": workers, "raw_records": counter["raw"], "written": rep.summary["records"],
            "wall_s": wall, "records_per_s": counter["raw"] / wall, "cpu_s": cpu,
            "records_per_cpu_s": counter["raw"] / cpu, "peak_rss_main_mb": self_kb / 1024,
            "peak_rss_worker_mb": kids_kb / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--configs", default="1x1,1x2,4x1,4x2,12x1", help="REPEATxWORKERS list")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.repeat, a.workers)))
        return
    if not GM.exists():
        sys.exit(f"shared data not found at {DATA}")
    print(f"cpu cores: {os.cpu_count()}; archive: {', '.join(str(d.relative_to(DATA)) for d in DIRS)}")
    print(f"{'repeat':>6} {'workers':>7} {'raw recs':>8} {'written':>7} {'wall s':>7} {'recs/s':>7} "
          f"{'cpu s':>6} {'recs/cpu-s':>10} {'RSS main MB':>11} {'RSS children MB':>15}")
    for cfg in a.configs.split(","):
        repeat, workers = (int(x) for x in cfg.split("x"))
        runs = []
        for _ in range(a.trials):
            out = subprocess.run([sys.executable, __file__, "--child", "--repeat", str(repeat), "--workers",
                                  str(workers)], capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        runs.sort(key=lambda r: r["records_per_s"])
        r = runs[len(runs) // 2]
        print(f"{repeat:>6} {workers:>7} {r['raw_records']:>8} {r['written']:>7} {r['wall_s']:>7.1f} "
              f"{r['records_per_s']:>7.1f} {r['cpu_s']:>6.1f} {r['records_per_cpu_s']:>10.1f} "
              f"{r['peak_rss_main_mb']:>11.0f} {r['peak_rss_worker_mb']:>15.0f}")
    print("recs/s: raw records (adapter RawRecords) per wall second, scan + processing + store write; "
          "cpu s: user+sys of the main process and its workers; RSS: ru_maxrss.")


if __name__ == "__main__":
    main()
