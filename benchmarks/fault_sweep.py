"""Fault and bad-input sweep of the ``heggs`` command line (issue 12; results in docs/fault-sweep.md).

Runs the installed CLI as a hostile new user would: every case is one shell command, wrapped in
``timeout 120``, in its own folder, on tiny inputs made here (a ``heggs simulate`` store of
3 events x 4 stations, a 3-step ``heggs train`` run with configs/tiny.json, its export, small
copies of /work/shared/data folders). Each case names what it expects (a clean one-line error,
a reported skip, success) and, for data-loss cases, which folders must come out byte-identical.

Outcomes: ``clean error`` (exit 1/2, one ``error:``/``Error:`` line, no traceback), ``skip
reported`` (exit 0, the bad input named in the ingest report), ``success``, ``TRACEBACK``,
``HANG`` (killed by the timeout), ``DATA LOSS`` (a protected folder changed), ``INTERNAL``
(one line, but an unexpected exception type: ``... (run with --debug for the traceback)``),
``REFUSED`` (an error where success was expected), ``silent nonsense`` (exit 0 where an error
was due, or a case check failed).

    python benchmarks/fault_sweep.py --work /tmp/sweep [--only ID,ID] [--jobs 3] [--json out.json]

Needs /work/shared/data (or ``--data``) and the ``heggs`` command on PATH (PYTHONPATH may point
at a checkout). Prints a markdown table and the counts per outcome.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 120
NOPRO = "--no-progress"


@dataclass
class Case:
    id: str
    area: str
    cmd: str  # shell; {d} = case folder, {fx} = fixtures, {data} = shared data, {repo} = checkout
    expect: str  # error | success | skip | either
    note: str = ""
    setup: Callable[[Path, Path], None] | None = None  # (case folder, fixtures)
    protect: tuple[str, ...] = ()  # folders/files (formatted like cmd) that must come out unchanged
    check: Callable[[Path, Path, str], str] | None = None  # -> problem text ("" when fine)
    reported: str = ""  # with expect=skip: a name that must appear in the ingest report
    timeout: int = TIMEOUT


# --- file helpers ---------------------------------------------------------------------------


def copy(src: Path, dst: Path) -> Path:
    if src.is_dir():
        shutil.copytree(src, dst, symlinks=True)
        for p in [dst, *dst.rglob("*")]:
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | 0o200)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return dst


def truncate(p: Path, n: int) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: n if n >= 0 else len(data) + n])


def rand(p: Path, n: int = 4096, seed: int = 0) -> None:
    import random

    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(random.Random(seed).randbytes(n))


def flip(p: Path, where: float = 0.5, n: int = 64) -> None:
    b = bytearray(p.read_bytes())
    i = int(len(b) * where)
    for k in range(i, min(i + n, len(b))):
        b[k] ^= 0xFF
    p.write_bytes(bytes(b))


def lost(before: dict[str, str] | None, after: dict[str, str] | None) -> bool:
    """Whether anything of ``before`` is missing or changed in ``after`` (additions are no loss)."""
    if before is None:
        return False
    return after is None or any(after.get(k) != v for k, v in before.items())


def tree(p: Path) -> dict[str, str] | None:
    if not p.exists() and not p.is_symlink():
        return None
    if p.is_file():
        return {"": hashlib.sha256(p.read_bytes()).hexdigest()}
    return {str(q.relative_to(p)): hashlib.sha256(q.read_bytes()).hexdigest() if q.is_file() else "dir"
            for q in sorted(p.rglob("*")) if not q.is_symlink() and not q.name.endswith(".lock")}


# --- fixtures -------------------------------------------------------------------------------


def heggs(args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    r = subprocess.run(f"timeout {timeout} heggs {args}", shell=True, cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"fixture failed: heggs {args}\n{r.stdout}\n{r.stderr}")
    return r


def fixtures(fx: Path, data: Path) -> None:
    """Tiny inputs, made once per work folder."""
    fx.mkdir(parents=True, exist_ok=True)
    if not (fx / "store").exists():
        heggs(f"simulate --out store --n-events 3 --n-stations 4 --region 34,35,-118,-117 {NOPRO}", fx)
    if not (fx / "store2").exists():
        heggs(f"simulate --out store2 --n-events 3 --n-stations 4 --region 34,35,-118,-117 --seed 1 {NOPRO}", fx)
    if not (fx / "run").exists():
        heggs(f"train --data store --out run --config {REPO}/configs/tiny.json --steps 3 --checkpoint-interval 1 "
              f"--log-interval 1 --device cpu {NOPRO}", fx)
    if not (fx / "model").exists():
        heggs("export run model", fx)
    if not (fx / "eval").exists():
        heggs(f"evaluate --model m=model --data store --split train --out eval --picker classical --no-sweep "
              f"--n-boot 10 -n 1 --max-targets 1 --device cpu {NOPRO}", fx)
    if not (fx / "gen").exists():
        heggs(f"generate --model model --event 34.5,-117.5,8,3.3 --station 34.8,-117.3 --out gen --device cpu "
              f"--no-png {NOPRO}", fx)
    a = fx / "archives"
    if not a.exists():
        tmp = fx / "archives.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        copy(data / "pysep", tmp / "pysep")
        copy(data / "bayesisola" / "example_2_SAC", tmp / "bayesisola")
        ice = tmp / "iceland"
        for ev in ("20140824000458460", "20140824000512920"):
            for ext in ("m", "event", "picks", "amps"):
                if (data / "iceland_dike" / f"{ev}.{ext}").exists():
                    copy(data / "iceland_dike" / f"{ev}.{ext}", ice / f"{ev}.{ext}")
        copy(data / "iceland_dike" / "iceland_stations.txt", ice / "iceland_stations.txt")
        eq = tmp / "alpine"
        copy(data / "eqcorrscan_alpine" / "STATION0.HYP", eq / "STATION0.HYP")
        for s in ("01-0411-15L.S201309", "02-0715-42L.S201309"):
            src = data / "eqcorrscan_alpine" / "REA" / "TEST_" / s
            copy(src, eq / "REA" / "TEST_" / s)
            for line in src.read_text(errors="replace").splitlines():
                if line.rstrip().endswith("6") and len(line) >= 80:
                    w = data / "eqcorrscan_alpine" / "WAV" / "TEST_" / line[1:].split()[0]
                    if w.exists():
                        copy(w, eq / "WAV" / "TEST_" / w.name)
        copy(data / "gmprocess" / "knet" / "us2000cnnl", tmp / "gmprocess" / "us2000cnnl")
        copy(data / "gmprocess" / "cwb" / "us1000chhc", tmp / "gmprocess" / "us1000chhc")
        # one flat folder of a few K-NET files and a CWB file for the generic adapter
        g = tmp / "generic"
        for f in sorted((data / "gmprocess" / "knet" / "us2000cnnl").glob("AOM001*")):
            copy(f, g / f.name)
        tmp.rename(a)


def arch(name: str, to: str = "A") -> Callable[[Path, Path], None]:
    def f(d: Path, fx: Path) -> None:
        copy(fx / "archives" / name, d / to)
    return f


def chain(*fs) -> Callable[[Path, Path], None]:
    def f(d: Path, fx: Path) -> None:
        for g in fs:
            g(d, fx)
    return f


def do(fn) -> Callable[[Path, Path], None]:
    """A setup step given as ``fn(d, fx)`` (readable inline lambdas)."""
    return fn


def userdir(name: str = "U") -> Callable[[Path, Path], None]:
    def f(d: Path, fx: Path) -> None:
        (d / name).mkdir(parents=True, exist_ok=True)
        (d / name / "thesis.tex").write_text("\\chapter{years of work}\n")
        (d / name / "data.csv").write_text("a,b\n1,2\n")
    return f


def cp(what: str, to: str) -> Callable[[Path, Path], None]:
    def f(d: Path, fx: Path) -> None:
        copy(fx / what, d / to)
    return f


def first(d: Path, pattern: str) -> Path:
    return sorted(d.glob(pattern))[0]


def readonly_mount(d: Path, fx: Path) -> None:
    (d / "RO").mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d / "RO")]).returncode:
        (d / "RO").rmdir()
        (d / "RO").symlink_to("/proc/1")  # not writable either


def tiny_mount(d: Path, fx: Path) -> None:
    (d / "FULL").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(d / "FULL")], check=True)


def unmount(d: Path) -> None:
    for m in ("RO", "FULL"):
        if (d / m).is_dir() and os.path.ismount(d / m):
            subprocess.run(["umount", str(d / m)])


def no_scratch(d: Path, fx: Path, out: str) -> str:
    left = [p.name for p in d.rglob(".*") if (".tmp" in p.name or ".scratch" in p.name or ".old-" in p.name)]
    left += [p.name for p in d.rglob("*.tmp")]
    return f"scratch left: {left}" if left else ""


def store_has(n: int) -> Callable[[Path, Path, str], str]:
    def f(d: Path, fx: Path, out: str) -> str:
        import pandas as pd

        m = d / "S" / "metadata.csv"
        k = len(pd.read_csv(m)) if m.exists() else -1
        return "" if k == n else f"store has {k} records, expected {n}"
    return f


def files_written(n: int, where: str = "G", pattern: str = "*.mseed") -> Callable[[Path, Path, str], str]:
    def f(d: Path, fx: Path, out: str) -> str:
        k = len(list((d / where).glob(pattern)))
        return "" if k == n else f"{k} {pattern} files in {where}, expected {n}"
    return f


def finite_records(where: str = "G") -> Callable[[Path, Path, str], str]:
    def f(d: Path, fx: Path, out: str) -> str:
        import numpy as np
        import obspy

        for p in (d / where).glob("*.mseed"):
            if not all(np.isfinite(tr.data).all() for tr in obspy.read(str(p))):
                return f"non-finite samples in {p.name}"
        return ""
    return f


# --- cases ------------------------------------------------------------------------------------

ING = f"ingest {NOPRO}"
SIM = f"simulate {NOPRO}"
TRN = f"train --device cpu {NOPRO}"
GEN = f"generate --device cpu --no-png {NOPRO}"
EVA = f"evaluate --device cpu --picker classical --no-sweep --n-boot 10 -n 1 --max-targets 1 --split train {NOPRO}"
EV = "--event 34.5,-117.5,8,3.3 --station 34.8,-117.3"
TINY = "{repo}/configs/tiny.json"


def cases() -> list[Case]:
    C: list[Case] = []

    def add(*a, **k):
        C.append(Case(*a, **k))

    # ---------------- ingest: data loss --------------------------------------------------
    add("ing-out-is-input", "ingest", f"heggs {ING} A --out A", "error", setup=arch("pysep"), protect=("A",))
    add("ing-out-is-input-overwrite", "ingest", f"heggs {ING} A --out A --overwrite", "error", setup=arch("pysep"),
        protect=("A",))
    add("ing-out-is-parent", "ingest", f"heggs {ING} P/A --out P", "error",
        setup=do(lambda d, fx: copy(fx / "archives" / "pysep", d / "P" / "A")), protect=("P",))
    add("ing-out-is-parent-overwrite", "ingest", f"heggs {ING} P/A --out P --overwrite", "error",
        setup=do(lambda d, fx: copy(fx / "archives" / "pysep", d / "P" / "A")), protect=("P",))
    add("ing-out-inside-input", "ingest", f"heggs {ING} A --out A/store", "error", setup=arch("pysep"),
        protect=("A",))
    add("ing-out-symlink-to-input", "ingest", f"heggs {ING} A --out L --overwrite", "error",
        setup=chain(arch("pysep"), do(lambda d, fx: (d / "L").symlink_to(d / "A"))), protect=("A",))
    add("ing-out-user-folder", "ingest", f"heggs {ING} A --out U", "error", setup=chain(arch("pysep"), userdir()),
        protect=("U",))
    add("ing-out-user-folder-overwrite", "ingest", f"heggs {ING} A --out U --overwrite", "success",
        setup=chain(arch("pysep"), userdir()), note="explicit --overwrite replaces a user folder")
    add("ing-out-home-like", "ingest", f"heggs {ING} A --out .", "error", setup=chain(arch("pysep"), userdir()),
        protect=("U", "A"), note="--out . (the folder holding the input)")
    add("ing-out-run", "ingest", f"heggs {ING} A --out R", "error", setup=chain(arch("pysep"), cp("run", "R")),
        protect=("R",))
    add("ing-out-export", "ingest", f"heggs {ING} A --out M", "error", setup=chain(arch("pysep"), cp("model", "M")),
        protect=("M",))
    add("ing-out-generation", "ingest", f"heggs {ING} A --out G --overwrite", "success",
        setup=chain(arch("pysep"), cp("gen", "G")), note="explicit --overwrite")
    add("ing-empty-input-over-store", "ingest", f"heggs {ING} E --out S", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: (d / "E").mkdir())), protect=("S",))
    add("ing-empty-input-over-store-overwrite", "ingest", f"heggs {ING} E --out S --overwrite", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: (d / "E").mkdir())), protect=("S",))
    add("ing-junk-input-over-store", "ingest", f"heggs {ING} J --out S", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: rand(d / "J" / "x.mseed"))), protect=("S",))
    add("ing-out-is-file", "ingest", f"heggs {ING} A --out f.txt", "error",
        setup=chain(arch("pysep"), do(lambda d, fx: (d / "f.txt").write_text("keep"))), protect=("f.txt",))
    add("ing-out-below-file", "ingest", f"heggs {ING} A --out f.txt/S", "error",
        setup=chain(arch("pysep"), do(lambda d, fx: (d / "f.txt").write_text("keep"))), protect=("f.txt",))
    add("ing-out-read-only", "ingest", f"heggs {ING} A --out RO/S", "error", setup=chain(arch("pysep"), readonly_mount))
    add("ing-disk-full", "ingest", f"heggs {ING} A --out FULL/S", "error", setup=chain(arch("bayesisola"), tiny_mount))
    add("ing-catalog-inside-out", "ingest", f"heggs {ING} A --out U --catalog U/cat.xml --overwrite", "error",
        setup=chain(arch("pysep"), userdir(), do(lambda d, fx: copy(d / "A" / "test_event.xml", d / "U" / "cat.xml"))),
        protect=("U",))
    add("ing-stations-inside-out", "ingest", f"heggs {ING} A --kind generic --out U --stations U/inv.xml --overwrite",
        "error", setup=chain(arch("pysep"), userdir(), do(lambda d, fx: copy(d / "A" / "test_inv.xml", d / "U" / "inv.xml"))),
        protect=("U",))
    add("ing-locked", "ingest", f"(flock .S.lock sleep 30 >/dev/null 2>&1 &) ; sleep 1; heggs {ING} A --out S", "error",
        setup=arch("pysep"), note="a second writer while another holds the lock")
    add("ing-concurrent-two", "ingest",
        f"heggs {ING} A --out S & sleep 0.3; heggs {ING} A --out S; r=$?; wait; test -f S/metadata.csv && exit $r",
        "either", setup=arch("bayesisola"), check=no_scratch, note="two writers at once: one fails, store complete")
    add("ing-killed-then-rerun", "ingest",
        f"timeout -s KILL 6 heggs {ING} A --out S; heggs {ING} A --out S", "success", setup=arch("bayesisola"),
        check=no_scratch, note="SIGKILL mid-ingest, then the same command")
    add("ing-reingest-own-store", "ingest", f"heggs {ING} A --out S && heggs {ING} A --out S", "success",
        setup=arch("pysep"))

    # ---------------- ingest: bad input files --------------------------------------------------
    def bad(name, kind, mk, reported, expect="skip", note=""):
        add(f"ing-bad-{name}", "ingest", f"heggs {ING} A --out S" + (f" --kind {kind}" if kind else ""), expect,
            setup=chain(arch(FOLDER.get(kind, kind)), do(mk)), reported=reported, note=note)

    gen = "generic"
    FOLDER = {None: "generic", "seisbench": "generic", "eqcorrscan_alpine": "alpine", "iceland_dike": "iceland"}
    bad("zero-mseed", gen, lambda d, fx: (d / "A" / "zero.mseed").write_bytes(b""), "zero.mseed")
    bad("trunc-mseed", "pysep", lambda d, fx: truncate(d / "A" / "test_stream.mseed", 5000), "test_stream.mseed",
        expect="either")
    bad("random-mseed", gen, lambda d, fx: rand(d / "A" / "junk.mseed"), "junk.mseed")
    bad("random-sac", gen, lambda d, fx: rand(d / "A" / "junk.sac", 1000), "junk.sac")
    bad("trunc-sac", "bayesisola", lambda d, fx: truncate(first(d / "A" / "sac", "*.sac"), 700), "DAVAHHE.sac")
    bad("zero-sac", "bayesisola", lambda d, fx: (first(d / "A" / "sac", "*.sac")).write_bytes(b""), "DAVAHHE.sac")
    bad("random-sac-isola", "bayesisola", lambda d, fx: rand(first(d / "A" / "sac", "*.sac"), 5000), "DAVAHHE.sac")
    bad("isola-bad-event", "bayesisola", lambda d, fx: (d / "A" / "event.isl").write_text("garbage\n"), "event.isl",
        expect="either")
    bad("isola-empty-network", "bayesisola", lambda d, fx: (d / "A" / "network.stn").write_text(""), "network.stn",
        expect="either")
    bad("isola-bad-pz", "bayesisola", lambda d, fx: rand(first(d / "A" / "pzfiles", "*.pz"), 300), "pz")
    bad("ice-trunc-m", "iceland_dike", lambda d, fx: truncate(first(d / "A", "*.m"), 3000), ".m")
    bad("ice-zero-m", "iceland_dike", lambda d, fx: first(d / "A", "*.m").write_bytes(b""), ".m")
    bad("ice-random-m", "iceland_dike", lambda d, fx: rand(first(d / "A", "*.m")), ".m")
    bad("ice-bad-event", "iceland_dike", lambda d, fx: first(d / "A", "*.event").write_text("EventID,DT\nx,y\n"), ".event")
    bad("ice-empty-event", "iceland_dike", lambda d, fx: first(d / "A", "*.event").write_bytes(b""), ".event")
    bad("ice-bad-stations", "iceland_dike", lambda d, fx: (d / "A" / "iceland_stations.txt").write_text("nope\n1,2\n"),
        "iceland_stations.txt", expect="either")
    bad("ice-bad-picks", "iceland_dike", lambda d, fx: rand(first(d / "A", "*.picks"), 500), "picks", expect="either")
    bad("alp-trunc-wav", "eqcorrscan_alpine", lambda d, fx: truncate(first(d / "A" / "WAV" / "TEST_", "*"), 3000), "WAV")
    bad("alp-zero-wav", "eqcorrscan_alpine", lambda d, fx: first(d / "A" / "WAV" / "TEST_", "*").write_bytes(b""), "WAV")
    bad("alp-random-wav", "eqcorrscan_alpine", lambda d, fx: rand(first(d / "A" / "WAV" / "TEST_", "*")), "WAV")
    bad("alp-empty-sfile", "eqcorrscan_alpine", lambda d, fx: (d / "A" / "REA" / "TEST_" / "99-0000-00L.S201309").write_bytes(b""),
        "99-0000-00L.S201309")
    bad("alp-random-sfile", "eqcorrscan_alpine", lambda d, fx: rand(d / "A" / "REA" / "TEST_" / "98-0000-00L.S201309", 800),
        "98-0000-00L.S201309")
    bad("alp-bad-station0", "eqcorrscan_alpine", lambda d, fx: (d / "A" / "STATION0.HYP").write_text("garbage\n"),
        "STATION0.HYP", expect="either")
    bad("gm-trunc-knet", "gmprocess", lambda d, fx: truncate(first(d / "A" / "us2000cnnl", "AOM001*.EW"), 500),
        "AOM0011801241951.EW")
    bad("gm-random-knet", "gmprocess", lambda d, fx: rand(first(d / "A" / "us2000cnnl", "AOM001*.EW")),
        "AOM0011801241951.EW")
    bad("gm-trunc-cwb", "gmprocess", lambda d, fx: truncate(first(d / "A" / "us1000chhc", "*.dat"), 400), ".dat")
    bad("gm-bad-eventjson", "gmprocess", lambda d, fx: (d / "A" / "us2000cnnl" / "event.json").write_text("{oops"),
        "event.json", expect="either")
    bad("gm-empty-eventjson", "gmprocess", lambda d, fx: (d / "A" / "us2000cnnl" / "event.json").write_text(""),
        "event.json", expect="either")
    bad("gm-eventjson-is-dir", "gmprocess", lambda d, fx: ((d / "A" / "us2000cnnl" / "event.json").unlink(),
                                                          (d / "A" / "us2000cnnl" / "event.json").mkdir()),
        "event.json", expect="either")
    bad("gm-eventjson-wrong-types", "gmprocess",
        lambda d, fx: (d / "A" / "us2000cnnl" / "event.json").write_text('{"id": 5, "time": "x", "lat": "a"}'),
        "event.json", expect="either")
    bad("pysep-random-stationxml", "pysep", lambda d, fx: rand(d / "A" / "test_inv.xml", 2000), "test_inv.xml",
        expect="skip")
    bad("pysep-trunc-stationxml", "pysep", lambda d, fx: truncate(d / "A" / "test_inv.xml", 700), "test_inv.xml",
        expect="skip")
    bad("pysep-random-quakeml", "pysep", lambda d, fx: rand(d / "A" / "test_event.xml", 2000), "test_event.xml",
        expect="skip")
    bad("generic-random-stationxml", gen, lambda d, fx: rand(d / "A" / "inv.xml", 2000), "inv.xml", expect="skip",
        note="a malformed StationXML inside the folder must be reported")
    bad("fifo", gen, lambda d, fx: os.mkfifo(d / "A" / "pipe.mseed"), "pipe.mseed")
    bad("symlink-loop", gen, lambda d, fx: ((d / "A" / "l1").symlink_to(d / "A" / "l2"),
                                            (d / "A" / "l2").symlink_to(d / "A" / "l1")), "l1", expect="either")
    bad("symlink-dir-loop", gen, lambda d, fx: (d / "A" / "loop").symlink_to(d / "A"), "", expect="either")
    bad("dir-named-mseed", gen, lambda d, fx: (d / "A" / "x.mseed").mkdir(), "", expect="either")
    bad("dangling-symlink", gen, lambda d, fx: (d / "A" / "gone.mseed").symlink_to(d / "nowhere"), "gone.mseed",
        expect="either")
    bad("sb-trunc-hdf5", "seisbench", lambda d, fx: (shutil.rmtree(d / "A"), copy(fx / "store", d / "A"),
                                                     truncate(d / "A" / "waveforms.hdf5", 20000)), "", expect="either")
    add("ing-unicode-space-path", "ingest", f"heggs {ING} 'ä ö/A rch' --out 'ß s/S'", "success",
        setup=do(lambda d, fx: copy(fx / "archives" / "pysep", d / "ä ö" / "A rch")))
    add("ing-input-missing", "ingest", f"heggs {ING} nope --out S", "error")
    add("ing-input-is-file-random", "ingest", f"heggs {ING} x.bin --out S", "skip", reported="x.bin",
        setup=do(lambda d, fx: rand(d / "x.bin")))
    add("ing-input-single-good-file", "ingest", f"heggs {ING} A/test_stream.mseed --out S", "either",
        setup=arch("pysep"))
    add("ing-input-fifo", "ingest", f"heggs {ING} p --out S", "skip", reported="special file", setup=do(lambda d, fx: os.mkfifo(d / "p")))
    add("ing-empty-folder-new-out", "ingest", f"heggs {ING} E --out S", "either",
        setup=do(lambda d, fx: (d / "E").mkdir()), note="nothing to ingest: a warning and an empty new store")
    add("ing-store-as-input", "ingest", f"heggs {ING} S0 --out S", "success", setup=cp("store", "S0"),
        check=store_has(12))

    # ---------------- ingest: side files and flags ------------------------------------------
    add("ing-catalog-random", "ingest", f"heggs {ING} A --out S --catalog c.xml", "error",
        setup=chain(arch("pysep"), do(lambda d, fx: rand(d / "c.xml", 1000))))
    add("ing-catalog-empty", "ingest", f"heggs {ING} A --out S --catalog c.csv", "error",
        setup=chain(arch("pysep"), do(lambda d, fx: (d / "c.csv").write_text(""))))
    add("ing-catalog-csv-missing-cols", "ingest", f"heggs {ING} A --out S --catalog c.csv", "error",
        setup=chain(arch("pysep"), do(lambda d, fx: (d / "c.csv").write_text("foo,bar\n1,2\n"))))
    add("ing-catalog-csv-bad-values", "ingest", f"heggs {ING} A --out S --catalog c.csv", "either",
        setup=chain(arch("pysep"), do(lambda d, fx: (d / "c.csv").write_text(
            "time,latitude,longitude,depth,magnitude\nnot-a-time,abc,-150,x,y\n"))))
    add("ing-catalog-is-dir", "ingest", f"heggs {ING} A --out S --catalog D", "error",
        setup=chain(arch("pysep"), do(lambda d, fx: (d / "D").mkdir())))
    add("ing-catalog-trunc-quakeml", "ingest", f"heggs {ING} A --out S --catalog c.xml", "error",
        setup=chain(arch("pysep"), do(lambda d, fx: (copy(d / "A" / "test_event.xml", d / "c.xml"),
                                                     truncate(d / "c.xml", 600)))))
    add("ing-stations-random", "ingest", f"heggs {ING} A --kind generic --out S --stations s.xml", "skip",
        reported="s.xml", setup=chain(arch("pysep"), do(lambda d, fx: rand(d / "s.xml", 1000))))
    add("ing-stations-ignored-by-adapter", "ingest", f"heggs {ING} A --out S --stations A/test_inv.xml", "either",
        setup=arch("pysep"), check=lambda d, fx, out: "" if "stations" in out.lower() and "ignor" in out.lower()
        or "--stations" in out else "--stations silently ignored with a source adapter")
    add("ing-events-malformed", "ingest", f"heggs {ING} A --kind generic --out S --events e.json", "skip",
        reported="e.json",
        setup=chain(arch("generic"), do(lambda d, fx: (d / "e.json").write_text("[1,2"))))
    for flag, v, exp in [("--length-s", "-1", "error"), ("--length-s", "0", "error"), ("--length-s", "nan", "error"),
                         ("--length-s", "inf", "error"), ("--length-s", "1e7", "error"), ("--length-s", "abc", "error"),
                         ("--rate", "0", "error"), ("--rate", "nan", "error"), ("--rate", "1e6", "error"),
                         ("--rate", "inf", "error"), ("--offset-s", "nan", "error"), ("--offset-s", "-1e9", "error"),
                         ("--offset-s", "inf", "error"), ("--band-min", "nan", "error"), ("--band-max", "inf", "error"),
                         ("--components", "XYZ", "error"), ("--components", "''", "either"),
                         ("--components", "EEZ", "error"), ("--workers", "0", "error"), ("--workers", "100000", "error"),
                         ("--kind", "nonsense", "error")]:
        add(f"ing-flag{flag}={v}", "ingest", f"heggs {ING} A --out S {flag} {v}", exp, setup=arch("pysep"))
    add("ing-band-inverted", "ingest", f"heggs {ING} A --out S --band-min 20 --band-max 2", "error", setup=arch("pysep"))
    add("ing-band-above-nyquist", "ingest", f"heggs {ING} A --out S --rate 20 --band-max 45", "either",
        setup=arch("pysep"))

    # ---------------- configs (all commands) --------------------------------------------------
    cfgs = {"broken-json": '{"window": {', "unknown-key": '{"bogus": 1}', "wrong-type": '{"window": {"length_s": "long"}}',
            "list-not-dict": "[1, 2]", "empty": "", "nan-value": '{"window": {"length_s": NaN}}',
            "huge-window": '{"window": {"length_s": 1e9}}'}
    for name, text in cfgs.items():
        add(f"ing-config-{name}", "ingest", f"heggs {ING} A --out S --config c.json", "error",
            setup=chain(arch("pysep"), do(lambda d, fx, t=text: (d / "c.json").write_text(t))))
    for name, text in cfgs.items():
        add(f"sim-config-{name}", "simulate",
            f"heggs {SIM} --out S --n-events 2 --n-stations 2 --region 34,35,-118,-117 --config c.json", "error",
            setup=do(lambda d, fx, t=text: (d / "c.json").write_text(t)))
    tcfgs = {"broken-json": '{"steps": ', "unknown-key": '{"stepz": 3}', "wrong-type": '{"steps": "many"}',
             "model-unknown-key": '{"model": {"unet_chanels": [8]}}', "extends-missing": '{"extends": "nope.json"}',
             "extends-self": '{"extends": "c.json"}'}
    tiny = REPO / "configs" / "tiny.json"
    tcfgs.update({k: '{"extends": "%s", %s}' % (tiny, v) for k, v in [
        ("nan-lr", '"lr": NaN'), ("neg-steps", '"steps": -5'), ("inf-grad-clip", '"grad_clip": Infinity'),
        ("bad-model-shape", '"model": {"n_fft": 4096, "hop_length": 0}'), ("p-same-2", '"p_same": 2.0'),
        ("ema-decay-neg", '"ema_decay": -1.0'), ("batch-size-1e9", '"batch_size": 1000000000')]})
    for name, text in tcfgs.items():
        add(f"trn-config-{name}", "train", f"heggs {TRN} --data {{fx}}/store --out R --config c.json", "error",
            setup=do(lambda d, fx, t=text: (d / "c.json").write_text(t)))
    add("trn-config-is-dir", "train", f"heggs {TRN} --data {{fx}}/store --out R --config D", "error",
        setup=do(lambda d, fx: (d / "D").mkdir()))
    add("eva-config-broken", "evaluate", f"heggs {EVA} --model {{fx}}/model --data {{fx}}/store --out E --config c.json",
        "error", setup=do(lambda d, fx: (d / "c.json").write_text("{")))
    add("eva-config-unknown", "evaluate", f"heggs {EVA} --model {{fx}}/model --data {{fx}}/store --out E --config c.json",
        "error", setup=do(lambda d, fx: (d / "c.json").write_text('{"n_bootstrap": 1, "nope": 2}')))

    # ---------------- inspect ---------------------------------------------------------------
    INS = "inspect --no-plots"
    add("ins-ok", "inspect", f"heggs {INS} {{fx}}/store --out I", "success")
    add("ins-missing", "inspect", f"heggs {INS} nope", "error")
    add("ins-user-folder", "inspect", f"heggs {INS} U", "error", setup=userdir(), protect=("U",))
    add("ins-trunc-hdf5", "inspect", f"heggs {INS} S --out I", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: truncate(d / "S" / "waveforms.hdf5", 30000))))
    add("ins-trunc-hdf5-no-checksum", "inspect", f"heggs {INS} S --out I", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: (truncate(d / "S" / "waveforms.hdf5", 30000),
                                                        (d / "S" / "waveforms_checksum.json").unlink()))))
    add("ins-flipped-hdf5", "inspect", f"heggs {INS} S --out I", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: flip(d / "S" / "waveforms.hdf5", 0.6))))
    add("ins-flipped-hdf5-no-checksum", "inspect", f"heggs inspect S --out I", "either",
        setup=chain(cp("store", "S"), do(lambda d, fx: (flip(d / "S" / "waveforms.hdf5", 0.6),
                                                        (d / "S" / "waveforms_checksum.json").unlink()))),
        note="flipped sample bytes without a checksum: undetectable; must not crash")
    add("ins-no-metadata", "inspect", f"heggs {INS} S", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: (d / "S" / "metadata.csv").unlink())))
    add("ins-garbage-metadata", "inspect", f"heggs {INS} S", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: rand(d / "S" / "metadata.csv", 3000))))
    add("ins-header-only-metadata", "inspect", f"heggs {INS} S", "either", note="an empty store is a store",
        setup=chain(cp("store", "S"), do(lambda d, fx: (d / "S" / "metadata.csv").write_text(
            (d / "S" / "metadata.csv").read_text().splitlines()[0] + "\n"))))
    add("ins-metadata-missing-column", "inspect", f"heggs {INS} S", "either", note="--no-plots reads no waveform",
        setup=chain(cp("store", "S"), do(lambda d, fx: __import__("pandas").read_csv(d / "S" / "metadata.csv").drop(
            columns=["trace_name"]).to_csv(d / "S" / "metadata.csv", index=False))))
    add("ins-hdf5-is-dir", "inspect", f"heggs {INS} S", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: ((d / "S" / "waveforms.hdf5").unlink(),
                                                        (d / "S" / "waveforms.hdf5").mkdir()))))
    add("ins-unknown-event", "inspect", f"heggs inspect {{fx}}/store --event nope --out I", "error")
    add("ins-bad-components", "inspect", f"heggs inspect {{fx}}/store --components XQ --out I", "error")
    add("ins-max-traces-0", "inspect", f"heggs inspect {{fx}}/store --max-traces 0 --out I", "error")
    add("ins-out-is-store", "inspect", f"heggs {INS} S --out S", "either", setup=cp("store", "S"),
        protect=("S/waveforms.hdf5", "S/metadata.csv"))
    add("ins-out-user-folder", "inspect", f"heggs {INS} {{fx}}/store --out U", "either", setup=userdir(),
        protect=("U/thesis.tex", "U/data.csv"))
    add("ins-out-file", "inspect", f"heggs {INS} {{fx}}/store --out f.txt", "error",
        setup=do(lambda d, fx: (d / "f.txt").write_text("keep")), protect=("f.txt",))
    add("ins-out-read-only", "inspect", f"heggs {INS} {{fx}}/store --out RO/I", "error", setup=readonly_mount)

    # ---------------- simulate ----------------------------------------------------------------
    SR = "--n-events 2 --n-stations 2 --region 34,35,-118,-117"
    add("sim-out-user-folder", "simulate", f"heggs {SIM} --out U {SR}", "error", setup=userdir(), protect=("U",))
    add("sim-out-run", "simulate", f"heggs {SIM} --out R {SR}", "error", setup=cp("run", "R"), protect=("R",))
    add("sim-out-export-overwrite", "simulate", f"heggs {SIM} --out M {SR} --overwrite", "success",
        setup=cp("model", "M"), note="explicit --overwrite")
    add("sim-out-file", "simulate", f"heggs {SIM} --out f.txt {SR}", "error",
        setup=do(lambda d, fx: (d / "f.txt").write_text("keep")), protect=("f.txt",))
    add("sim-out-below-file", "simulate", f"heggs {SIM} --out f.txt/S {SR}", "error",
        setup=do(lambda d, fx: (d / "f.txt").write_text("keep")), protect=("f.txt",))
    add("sim-out-holds-catalog", "simulate", f"heggs {SIM} --out U --catalog U/cat.csv --n-stations 2 "
        "--region 34,35,-118,-117 --overwrite", "error",
        setup=chain(userdir(), do(lambda d, fx: (d / "U" / "cat.csv").write_text(
            "latitude,longitude,depth_km,magnitude\n34.5,-117.5,8,4\n"))), protect=("U",))
    add("sim-out-existing-store", "simulate", f"heggs {SIM} --out S {SR}", "success", setup=cp("store", "S"))
    add("sim-out-read-only", "simulate", f"heggs {SIM} --out RO/S {SR}", "error", setup=readonly_mount)
    add("sim-disk-full", "simulate", f"heggs {SIM} --out FULL/S --n-events 5 --n-stations 5 --region 34,35,-118,-117",
        "error", setup=tiny_mount)
    for flag, v in [("--n-events", "0"), ("--n-events", "-1"), ("--n-events", "1e3"), ("--n-events", "10000000"),
                    ("--n-stations", "0"), ("--n-stations", "-3"), ("--mag-min", "nan"), ("--mag-max", "inf"),
                    ("--b-value", "-1"), ("--b-value", "0"), ("--b-value", "nan"), ("--workers", "0"),
                    ("--workers", "-2"), ("--seed", "abc")]:
        add(f"sim-flag{flag}={v}", "simulate",
            f"heggs {SIM} --out S --n-events 2 --n-stations 2 --region 34,35,-118,-117 {flag} {v}", "error")
    add("sim-mag-inverted", "simulate", f"heggs {SIM} --out S {SR} --mag-min 7 --mag-max 3", "error")
    add("sim-mag-absurd", "simulate", f"heggs {SIM} --out S {SR} --mag-min 11 --mag-max 12", "error")
    add("sim-region-garbage", "simulate", f"heggs {SIM} --out S --n-events 2 --n-stations 2 --region a,b,c,d", "error")
    add("sim-region-3-values", "simulate", f"heggs {SIM} --out S --n-events 2 --n-stations 2 --region 1,2,3", "error")
    add("sim-region-inverted", "simulate", f"heggs {SIM} --out S --n-events 2 --n-stations 2 --region 35,34,-117,-118",
        "error")
    add("sim-region-nan", "simulate", f"heggs {SIM} --out S --n-events 2 --n-stations 2 --region nan,35,-118,-117",
        "error")
    add("sim-region-out-of-range", "simulate", f"heggs {SIM} --out S --n-events 2 --n-stations 2 --region 80,95,0,1",
        "error")
    add("sim-no-events", "simulate", f"heggs {SIM} --out S --n-stations 2 --region 34,35,-118,-117", "error")
    add("sim-single-bad-event", "simulate", f"heggs {SIM} --out r.mseed --event 1,2,3 --station 1,2", "error")
    add("sim-single-nan-event", "simulate", f"heggs {SIM} --out r.mseed --event nan,-117,8,4 --station 34,-117",
        "error")
    add("sim-single-bad-station", "simulate", f"heggs {SIM} --out r.mseed --event 34,-117,8,4 --station 200,0", "error")
    add("sim-single-neg-depth", "simulate", f"heggs {SIM} --out r.mseed --event 34,-117,-8,4 --station 34.2,-117",
        "either", note="depths down to -10 km (above sea level) are allowed by design")
    add("sim-single-mag-20", "simulate", f"heggs {SIM} --out r.mseed --event 34,-117,8,20 --station 34.2,-117", "error")
    add("sim-single-bad-origin", "simulate",
        f"heggs {SIM} --out r.mseed --event 34,-117,8,4 --station 34.2,-117 --origin-time yesterday", "error")
    add("sim-single-out-is-dir", "simulate", f"heggs {SIM} --out U --event 34,-117,8,4 --station 34.2,-117", "error",
        setup=userdir(), protect=("U",))
    add("sim-single-out-existing-file", "simulate",
        f"heggs {SIM} --out keep.mseed --event 34,-117,8,4 --station 34.2,-117", "error",
        setup=do(lambda d, fx: (d / "keep.mseed").write_text("precious")), protect=("keep.mseed",))
    add("sim-velocity-missing", "simulate", f"heggs {SIM} --out S {SR} --velocity-model nope", "error")
    add("sim-velocity-random-file", "simulate", f"heggs {SIM} --out S {SR} --velocity-model v.tvel", "error",
        setup=do(lambda d, fx: rand(d / "v.tvel", 500)))
    add("sim-catalog-empty", "simulate", f"heggs {SIM} --out S --catalog c.csv --n-stations 2 --region 34,35,-118,-117",
        "error", setup=do(lambda d, fx: (d / "c.csv").write_text("")))
    add("sim-catalog-header-only", "simulate",
        f"heggs {SIM} --out S --catalog c.csv --n-stations 2 --region 34,35,-118,-117", "error",
        setup=do(lambda d, fx: (d / "c.csv").write_text("latitude,longitude,depth_km,magnitude\n")))
    add("sim-catalog-nan", "simulate", f"heggs {SIM} --out S --catalog c.csv --n-stations 2 --region 34,35,-118,-117",
        "error", setup=do(lambda d, fx: (d / "c.csv").write_text("latitude,longitude,depth_km,magnitude\n34,-117,8,nan\n")))
    add("sim-catalog-text", "simulate", f"heggs {SIM} --out S --catalog c.csv --n-stations 2 --region 34,35,-118,-117",
        "error", setup=do(lambda d, fx: (d / "c.csv").write_text("latitude,longitude,depth_km,magnitude\na,b,c,d\n")))
    add("sim-catalog-random", "simulate", f"heggs {SIM} --out S --catalog c.csv --n-stations 2 --region 34,35,-118,-117",
        "error", setup=do(lambda d, fx: rand(d / "c.csv", 3000)))
    add("sim-stations-missing-cols", "simulate", f"heggs {SIM} --out S --n-events 2 --region 34,35,-118,-117 "
        "--stations s.csv", "error", setup=do(lambda d, fx: (d / "s.csv").write_text("x,y\n1,2\n")))
    add("sim-stations-bad-vs30", "simulate", f"heggs {SIM} --out S --n-events 2 --region 34,35,-118,-117 "
        "--stations s.csv", "error",
        setup=do(lambda d, fx: (d / "s.csv").write_text("latitude,longitude,vs30_m_s\n34.5,-117.5,-10\n")))
    add("sim-locked", "simulate", f"(flock .S.lock sleep 30 >/dev/null 2>&1 &) ; sleep 1; heggs {SIM} --out S {SR}", "error")
    add("sim-killed-then-rerun", "simulate",
        f"timeout -s KILL 5 heggs {SIM} --out S --n-events 20 --n-stations 10 --region 34,35,-118,-117; "
        f"heggs {SIM} --out S {SR}", "success", check=no_scratch)

    # ---------------- train -------------------------------------------------------------------
    T = f"heggs {TRN} --config {TINY} --steps 2 --checkpoint-interval 1"
    add("trn-data-missing", "train", f"{T} --data nope --out R", "error")
    add("trn-no-data", "train", f"{T} --out R", "error")
    add("trn-data-user-folder", "train", f"{T} --data U --out R", "error", setup=userdir(), protect=("U",))
    add("trn-data-trunc-hdf5", "train", f"{T} --data S --out R", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: truncate(d / "S" / "waveforms.hdf5", 30000))))
    add("trn-data-flipped-hdf5", "train", f"{T} --data S --out R", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: flip(d / "S" / "waveforms.hdf5", 0.6))))
    add("trn-out-is-store", "train", f"{T} --data S --out S", "error", setup=cp("store", "S"), protect=("S",))
    add("trn-out-is-store-overwrite", "train", f"{T} --data S --out S --overwrite", "error", setup=cp("store", "S"),
        protect=("S",))
    add("trn-out-parent-of-store", "train", f"{T} --data P/S --out P --overwrite", "error",
        setup=do(lambda d, fx: copy(fx / "store", d / "P" / "S")), protect=("P",))
    add("trn-out-user-folder", "train", f"{T} --data {{fx}}/store --out U", "error", setup=userdir(), protect=("U",))
    add("trn-out-other-store", "train", f"{T} --data {{fx}}/store --out S2", "error", setup=cp("store2", "S2"),
        protect=("S2",))
    add("trn-out-file", "train", f"{T} --data {{fx}}/store --out f.txt", "error",
        setup=do(lambda d, fx: (d / "f.txt").write_text("keep")), protect=("f.txt",))
    add("trn-out-read-only", "train", f"{T} --data {{fx}}/store --out RO/R", "error", setup=readonly_mount)
    add("trn-split-empty", "train", f"heggs {TRN} --config {TINY} --steps 2 --data {{fx}}/store --out R --config c.json",
        "error", setup=do(lambda d, fx: (d / "c.json").write_text('{"extends": "%s", "split": "nosuch"}' % (
            REPO / "configs" / "tiny.json"))))
    for flag, v in [("--steps", "0"), ("--steps", "-1"), ("--batch-size", "0"), ("--batch-size", "-4"),
                    ("--batch-size", "1000000000"), ("--lr", "nan"), ("--lr", "inf"), ("--lr", "-1"), ("--lr", "0"),
                    ("--grad-accum", "0"), ("--checkpoint-interval", "0"), ("--checkpoint-interval", "-1"),
                    ("--log-interval", "0"), ("--num-workers", "-1"), ("--seed", "abc"), ("--amp", "bogus"),
                    ("--device", "bogus"), ("--device", "cuda:7"), ("--preset", "bogus"), ("--steps", "1e3")]:
        add(f"trn-flag{flag}={v}", "train", f"{T} --data {{fx}}/store --out R {flag} {v}", "error")
    add("trn-resume-nothing", "train", f"{T} --data {{fx}}/store --out R --resume", "either",
        note="--resume with a config and no checkpoint starts the run (by design)")
    add("trn-resume-user-folder", "train", f"{T} --data {{fx}}/store --out U --resume", "error", setup=userdir(),
        protect=("U",))

    def newest(d: Path) -> Path:
        return sorted((d / "R" / "checkpoints").glob("step_*"))[-1]

    RES = f"heggs {TRN} --out R --resume --data {{fx}}/store"
    add("trn-resume-trunc-newest", "train", f"{RES} --steps 4", "success",
        setup=chain(cp("run", "R"), do(lambda d, fx: truncate(newest(d) / "model.safetensors", 1000))),
        check=lambda d, fx, out: "" if "fall" in out.lower() or "corrupt" in out.lower() or "skip" in out.lower()
        else "fell back silently")
    add("trn-resume-flipped-newest", "train", f"{RES} --steps 4", "success",
        setup=chain(cp("run", "R"), do(lambda d, fx: flip(newest(d) / "model.safetensors", 0.5))))
    add("trn-resume-garbage-json-newest", "train", f"{RES} --steps 4", "success",
        setup=chain(cp("run", "R"), do(lambda d, fx: (newest(d) / "checkpoint.json").write_text("{"))))
    add("trn-resume-missing-optimizer", "train", f"{RES} --steps 4", "success",
        setup=chain(cp("run", "R"), do(lambda d, fx: (newest(d) / "optimizer.safetensors").unlink())))
    add("trn-resume-all-corrupt", "train", f"{RES} --steps 4", "error",
        setup=chain(cp("run", "R"), do(lambda d, fx: [truncate(p, 100) for p in
                                                     (d / "R" / "checkpoints").glob("*/model.safetensors")])))
    add("trn-resume-nan-newest", "train", f"{RES} --steps 4", "success",
        setup=chain(cp("run", "R"), do(lambda d, fx: nan_weights(newest(d)))))
    add("trn-resume-steps-below", "train", f"{RES} --steps 2", "error", setup=cp("run", "R"))
    add("trn-resume-lr-ignored", "train", f"{RES} --steps 4 --lr 0.5 --batch-size 2", "either", setup=cp("run", "R"),
        check=lambda d, fx, out: "" if "lr" in out.lower() and ("ignor" in out.lower() or "saved" in out.lower())
        else "--lr silently ignored on --resume")
    add("trn-resume-other-store", "train", f"heggs {TRN} --out R --resume --data {{fx}}/store2 --steps 4", "error",
        setup=cp("run", "R"), note="another store than the run's")
    add("trn-locked", "train", f"(flock .R.lock sleep 60 >/dev/null 2>&1 &) ; sleep 1; {RES} --steps 4", "error", setup=cp("run", "R"))
    add("trn-killed-then-resume", "train",
        f"timeout -s KILL 20 {T} --data {{fx}}/store --out R --steps 50 --checkpoint-interval 1; {RES} --steps 3",
        "either", check=no_scratch, timeout=200)

    # ---------------- export ------------------------------------------------------------------
    add("exp-run-onto-itself", "export", "heggs export R R", "error", setup=cp("run", "R"), protect=("R",))
    add("exp-run-onto-itself-overwrite", "export", "heggs export R R --overwrite", "error", setup=cp("run", "R"),
        protect=("R",))
    add("exp-inside-run", "export", "heggs export R R/m --overwrite", "error", setup=cp("run", "R"), protect=("R",))
    add("exp-parent-of-run", "export", "heggs export P/R P --overwrite", "error",
        setup=do(lambda d, fx: copy(fx / "run", d / "P" / "R")), protect=("P",))
    add("exp-onto-store", "export", "heggs export {fx}/run S", "error", setup=cp("store", "S"), protect=("S",))
    add("exp-onto-user-folder", "export", "heggs export {fx}/run U", "error", setup=userdir(), protect=("U",))
    add("exp-onto-user-folder-overwrite", "export", "heggs export {fx}/run U --overwrite", "success", setup=userdir())
    add("exp-onto-file", "export", "heggs export {fx}/run f.txt", "error",
        setup=do(lambda d, fx: (d / "f.txt").write_text("keep")), protect=("f.txt",))
    add("exp-onto-existing-export", "export", "heggs export {fx}/run M", "success", setup=cp("model", "M"))
    add("exp-run-missing", "export", "heggs export nope M", "error")
    add("exp-run-user-folder", "export", "heggs export U M", "error", setup=userdir(), protect=("U",))
    add("exp-run-no-checkpoints", "export", "heggs export R M", "error",
        setup=chain(cp("run", "R"), do(lambda d, fx: shutil.rmtree(d / "R" / "checkpoints"))))
    add("exp-run-trunc-ema", "export", "heggs export R M", "either",
        setup=chain(cp("run", "R"), do(lambda d, fx: truncate(newest(d) / "ema.safetensors", 1000))),
        check=lambda d, fx, out: "" if not (d / "M").exists() or "fall" in out.lower() or "step_0000002" in out
        else "exported from a corrupt checkpoint without a word")
    add("exp-run-nan", "export", "heggs export R M", "error",
        setup=chain(cp("run", "R"), do(lambda d, fx: [nan_weights(p) for p in (d / "R" / "checkpoints").glob("step_*")])))
    add("exp-calibrate-user-folder", "export", "heggs export {fx}/run M --calibrate-on U", "error", setup=userdir())
    add("exp-calibrate-trunc-store", "export", "heggs export {fx}/run M --calibrate-on S", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: truncate(d / "S" / "waveforms.hdf5", 30000))))
    add("exp-an-export", "export", "heggs export {fx}/model M", "either")
    add("exp-read-only", "export", "heggs export {fx}/run RO/M", "error", setup=readonly_mount)

    # ---------------- generate ----------------------------------------------------------------
    G = f"heggs {GEN} --model {{fx}}/model {EV}"
    add("gen-ok", "generate", f"{G} --out G", "success", check=finite_records())
    add("gen-model-missing", "generate", f"heggs {GEN} --model nope {EV} --out G", "error")
    add("gen-model-user-folder", "generate", f"heggs {GEN} --model U {EV} --out G", "error", setup=userdir())
    add("gen-model-trunc", "generate", f"heggs {GEN} --model M {EV} --out G", "error",
        setup=chain(cp("model", "M"), do(lambda d, fx: truncate(d / "M" / "ema.safetensors", 5000))))
    add("gen-model-flipped", "generate", f"heggs {GEN} --model M {EV} --out G", "error",
        setup=chain(cp("model", "M"), do(lambda d, fx: flip(d / "M" / "ema.safetensors", 0.7))))
    add("gen-model-nan", "generate", f"heggs {GEN} --model M {EV} --out G", "error",
        setup=chain(cp("model", "M"), do(lambda d, fx: nan_weights(d / "M"))))
    add("gen-model-json-garbage", "generate", f"heggs {GEN} --model M {EV} --out G", "error",
        setup=chain(cp("model", "M"), do(lambda d, fx: (d / "M" / "checkpoint.json").write_text("{]"))))
    add("gen-model-json-missing", "generate", f"heggs {GEN} --model M {EV} --out G", "error",
        setup=chain(cp("model", "M"), do(lambda d, fx: (d / "M" / "checkpoint.json").unlink())))
    add("gen-model-is-file", "generate", f"heggs {GEN} --model f.bin {EV} --out G", "error",
        setup=do(lambda d, fx: rand(d / "f.bin")))
    for name, ev in [("garbage", "a,b,c,d"), ("3-values", "34,-117,8"), ("nan", "nan,-117,8,4"),
                     ("inf-mag", "34,-117,8,inf"), ("neg-depth", "34,-117,-5,4"), ("mag-15", "34,-117,8,15"),
                     ("lat-100", "100,-117,8,4")]:
        add(f"gen-event-{name}", "generate", f"heggs {GEN} --model {{fx}}/model --event {ev} --station 34.8,-117.3 "
            "--out G", "either" if name == "neg-depth" else "error")
    add("gen-station-garbage", "generate", f"heggs {GEN} --model {{fx}}/model --event 34.5,-117.5,8,3.3 --station x "
        "--out G", "error")
    add("gen-station-lon-999", "generate", f"heggs {GEN} --model {{fx}}/model --event 34.5,-117.5,8,3.3 "
        "--station 34,999 --out G", "error")
    add("gen-event-no-station", "generate", f"heggs {GEN} --model {{fx}}/model --event 34.5,-117.5,8,3.3 --out G",
        "error")
    add("gen-nothing", "generate", f"heggs {GEN} --model {{fx}}/model --out G", "error")
    for flag, v in [("-n", "0"), ("-n", "-1"), ("-n", "100001"), ("--steps", "0"), ("--steps", "-1"),
                    ("--steps", "1000000"), ("--t-start", "-1"), ("--t-start", "100000"), ("--batch-size", "0"),
                    ("--seed", "-1"), ("--seed", "abc"), ("--format", "bogus"), ("--device", "bogus"),
                    ("--origin-time", "tomorrow")]:
        add(f"gen-flag{flag}={v}", "generate", f"{G} --out G {flag} {v}",
            "either" if (flag, v) == ("--seed", "-1") else "error")
    SEC = f"heggs {GEN} --model {{fx}}/model --event 34.5,-117.5,8,3.3 --section --out G"
    for flag, v in [("--azimuth", "nan"), ("--max-distance", "-1"), ("--max-distance", "0"), ("--max-distance", "inf"),
                    ("--n-stations", "0"), ("--n-stations", "-1"), ("--n-stations", "1000000")]:
        add(f"gen-section{flag}={v}", "generate", f"{SEC} {flag} {v}", "error")
    add("gen-section-grid-huge", "generate", f"{SEC} --grid --n-stations 5000", "error")
    sc = "station_lat,station_lon,event_lat,event_lon,event_depth_km,magnitude"
    for name, text in [("empty", ""), ("header-only", sc + "\n"), ("missing-cols", "a,b\n1,2\n"),
                       ("nan-row", sc + "\n34.8,-117.3,34.5,-117.5,8,nan\n"),
                       ("text-row", sc + "\n34.8,-117.3,34.5,-117.5,eight,3.3\n"),
                       ("n-records-0", sc + ",n_records\n34.8,-117.3,34.5,-117.5,8,3.3,0\n"),
                       ("n-records-huge", sc + ",n_records\n34.8,-117.3,34.5,-117.5,8,3.3,10000000\n")]:
        add(f"gen-scenarios-{name}", "generate", f"heggs {GEN} --model {{fx}}/model --scenarios s.csv --out G", "error",
            setup=do(lambda d, fx, t=text: (d / "s.csv").write_text(t)))
    add("gen-scenarios-random", "generate", f"heggs {GEN} --model {{fx}}/model --scenarios s.csv --out G", "error",
        setup=do(lambda d, fx: rand(d / "s.csv", 2000)))
    add("gen-scenarios-dir", "generate", f"heggs {GEN} --model {{fx}}/model --scenarios D --out G", "error",
        setup=do(lambda d, fx: (d / "D").mkdir()))
    add("gen-scenarios-dup-station", "generate", f"heggs {GEN} --model {{fx}}/model --scenarios s.csv --out G",
        "success", setup=do(lambda d, fx: (d / "s.csv").write_text(
            sc + ",station\n34.8,-117.3,34.5,-117.5,8,3.3,A\n34.9,-117.2,34.5,-117.5,8,3.3,A\n")),
        check=files_written(2))
    add("gen-source-random", "generate", f"{G} --out G --source src.mseed", "error",
        setup=do(lambda d, fx: rand(d / "src.mseed")))
    add("gen-source-missing", "generate", f"{G} --out G --source nope.mseed", "error")
    add("gen-source-counts", "generate", f"{G} --out G --source src.mseed", "error", setup=do(lambda d, fx: counts_source(d)),
        note="counts (peak 2.9e5) passed as --source without --source-units")
    add("gen-source-inventory-random", "generate", f"{G} --out G --source src.mseed --source-inventory inv.xml", "error",
        setup=do(lambda d, fx: (counts_source(d), rand(d / "inv.xml", 1500))))
    add("gen-source-inventory-trunc", "generate", f"{G} --out G --source src.mseed --source-inventory inv.xml",
        "error", setup=do(lambda d, fx: (counts_source(d), copy(fx / "archives" / "pysep" / "test_inv.xml",
                                                                d / "inv.xml"), truncate(d / "inv.xml", 900))))
    add("gen-out-is-model", "generate", f"heggs {GEN} --model M {EV} --out M", "error", setup=cp("model", "M"),
        protect=("M",))
    add("gen-out-is-model-overwrite", "generate", f"heggs {GEN} --model M {EV} --out M --overwrite", "error",
        setup=cp("model", "M"), protect=("M",))
    add("gen-out-user-folder", "generate", f"{G} --out U", "error", setup=userdir(), protect=("U",))
    add("gen-out-run", "generate", f"{G} --out R", "error", setup=cp("run", "R"), protect=("R",))
    add("gen-out-store", "generate", f"{G} --out S --overwrite", "either", setup=cp("store", "S"), protect=("S",),
        note="explicit --overwrite: records are added beside the store's files, none is lost")
    add("gen-out-file", "generate", f"{G} --out f.txt", "error",
        setup=do(lambda d, fx: (d / "f.txt").write_text("keep")), protect=("f.txt",))
    add("gen-out-read-only", "generate", f"{G} --out RO/G", "error", setup=readonly_mount)
    add("gen-out-same-twice", "generate", f"{G} --out G && {G} --out G", "success",
        check=files_written(1), note="same request twice into one generation folder")
    add("gen-locked", "generate", f"(flock .G.lock sleep 30 >/dev/null 2>&1 &) ; sleep 1; {G} --out G", "error")

    # ---------------- evaluate ----------------------------------------------------------------
    E = f"heggs {EVA} --model {{fx}}/model"
    add("eva-data-user-folder", "evaluate", f"{E} --data U --out E", "error", setup=userdir(), protect=("U",))
    add("eva-data-trunc", "evaluate", f"{E} --data S --out E", "error",
        setup=chain(cp("store", "S"), do(lambda d, fx: truncate(d / "S" / "waveforms.hdf5", 30000))))
    add("eva-data-missing", "evaluate", f"{E} --data nope --out E", "error")
    add("eva-out-is-store", "evaluate", f"{E} --data S --out S --overwrite", "error", setup=cp("store", "S"),
        protect=("S",))
    add("eva-out-user-folder", "evaluate", f"{E} --data {{fx}}/store --out U", "error", setup=userdir(), protect=("U",))
    add("eva-out-is-model", "evaluate", f"heggs {EVA} --model M --data {{fx}}/store --out M --overwrite", "error",
        setup=cp("model", "M"), protect=("M",))
    add("eva-model-missing", "evaluate", f"heggs {EVA} --model nope --data {{fx}}/store --out E", "error")
    add("eva-model-trunc", "evaluate", f"heggs {EVA} --model M --data {{fx}}/store --out E", "error",
        setup=chain(cp("model", "M"), do(lambda d, fx: truncate(d / "M" / "ema.safetensors", 5000))))
    add("eva-model-bad-name", "evaluate", f"heggs {EVA} --model =M --data {{fx}}/store --out E", "error",
        setup=cp("model", "M"))
    add("eva-no-generators", "evaluate", f"heggs {EVA} --data {{fx}}/store --out E", "error")
    add("eva-split-none", "evaluate", f"heggs evaluate --device cpu --picker classical --no-sweep --n-boot 10 -n 1 "
        f"--model {{fx}}/model --data {{fx}}/store --split nosuch --out E {NOPRO}", "error")
    for flag, v in [("--n-boot", "0"), ("--n-boot", "-1"), ("--max-targets", "abc"), ("--max-targets", "-1"),
                    ("--vs30", "-1"), ("--vs30", "nan"), ("--gmpe", "BOGUS"), ("--picker", "bogus"),
                    ("--steps", "0"), ("-n", "0"), ("-n", "100000")]:
        add(f"eva-flag{flag}={v}", "evaluate", f"{E} --data {{fx}}/store --out E {flag} {v}", "error")
    add("eva-reuse-other-store", "evaluate", f"{E} --data {{fx}}/store2 --out E --reuse", "success",
        setup=cp("eval", "E"), timeout=300,
        check=lambda d, fx, out: "" if "store2" in (d / "E" / "store.json").read_text() or "different store" in out
        else "reused rows of another store")
    add("eva-locked", "evaluate", f"(flock .E.lock sleep 30 >/dev/null 2>&1 &) ; sleep 1; {E} --data {{fx}}/store --out E", "error")
    return C


def nan_weights(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    for name in ("ema.safetensors", "model.safetensors"):
        p = folder / name
        if p.exists():
            t = load_file(str(p))
            k = sorted(t)[0]
            t[k] = t[k].float() * float("nan")
            save_file(t, str(p))


def counts_source(d: Path) -> None:
    import numpy as np
    import obspy

    rng = np.random.default_rng(0)
    st = obspy.Stream()
    for c in "ENZ":
        tr = obspy.Trace((rng.normal(size=3000) * 5e4).astype(np.float64))
        tr.data[1500] = 2.9e5
        tr.stats.update(dict(network="XX", station="SRC", channel=f"HN{c}", sampling_rate=100.0,
                             starttime=obspy.UTCDateTime("2020-01-01T00:00:00")))
        st.append(tr)
    st.write(str(d / "src.mseed"), format="MSEED")


# --- running ----------------------------------------------------------------------------------


def classify(case: Case, rc: int, out: str, changed: list[str], problem: str, d: Path) -> str:
    if rc in (124, 137) and "timeout -s KILL" not in case.cmd:
        return "HANG"
    if "Traceback (most recent call last)" in out:
        return "TRACEBACK"
    if changed:
        return "DATA LOSS"
    if rc != 0:
        if "run with --debug for the traceback" in out:
            return "INTERNAL"
        if case.expect == "success":
            return "REFUSED"
        errs = [ln for ln in out.splitlines() if ln.startswith(("error:", "Error:"))]
        return "clean error" if errs and rc in (1, 2) else "unclean error"
    if case.expect == "error":
        return "silent nonsense"
    if problem:
        return "silent nonsense"
    if case.reported:
        rep = d / "S" / "ingest_report.csv"
        if rep.exists() and case.reported in rep.read_text(errors="replace"):
            return "skip reported"
        return "silent nonsense" if case.expect == "skip" else "success"
    return "success"


def run_case(case: Case, work: Path, fx: Path, data: Path) -> dict:
    d = work / "cases" / case.id.replace("/", "_")
    if d.exists():
        unmount(d)
        shutil.rmtree(d)
    d.mkdir(parents=True)
    fmt = dict(d=d, fx=fx, data=data, repo=REPO)
    problem = ""
    try:
        if case.setup:
            case.setup(d, fx)
    except Exception as e:  # a setup that cannot be made is reported, not hidden
        return dict(id=case.id, area=case.area, cmd=case.cmd.format(**fmt), expect=case.expect, rc=None,
                    outcome="SETUP FAILED", detail=f"{type(e).__name__}: {e}", seconds=0.0)
    protect = [(p, tree(d / p.format(**fmt))) for p in case.protect]
    cmd = case.cmd.format(**fmt)
    if not any(s in cmd for s in (";", "&&", "&")):
        full = f"timeout {case.timeout} {cmd}"
    else:  # compound: wrap every heggs call in timeout
        full = re.sub(r"(?<!KILL \d )(?<!KILL \d\d )heggs ", f"timeout {case.timeout} heggs ", cmd)
    t0 = time.time()
    r = subprocess.run(["bash", "-c", full], cwd=d, capture_output=True, text=True)
    dt = time.time() - t0
    out = r.stdout + r.stderr
    changed = [p for p, before in protect if lost(before, tree(d / p.format(**fmt)))]
    if case.check and r.returncode == 0:
        try:
            problem = case.check(d, fx, out)
        except Exception as e:
            problem = f"check failed: {type(e).__name__}: {e}"
    outcome = classify(case, r.returncode, out, changed, problem, d)
    errs = [ln for ln in out.splitlines() if ln.startswith(("error:", "Error:"))]
    detail = (f"changed: {changed}" if changed else problem) or (errs[-1] if errs else "") or \
        (out.strip().splitlines()[-1] if out.strip() else "")
    if outcome == "skip reported" and case.reported:
        rep = (d / "S" / "ingest_report.csv").read_text(errors="replace").splitlines()
        detail = next((ln for ln in rep if case.reported in ln), detail)
    if outcome == "TRACEBACK":
        detail = [ln for ln in out.splitlines() if ln.strip()][-1]
    unmount(d)
    (d / "output.txt").write_text(f"$ {full}\nrc={r.returncode}\n{out}")
    return dict(id=case.id, area=case.area, cmd=cmd.replace(str(d) + "/", "").replace(str(fx), "FX").replace(
        str(REPO), "REPO"), expect=case.expect, rc=r.returncode, outcome=outcome, detail=detail[:200],
        seconds=round(dt, 1))


CLEAN = ("clean error", "skip reported", "success")


def table(before: list[dict], after: list[dict]) -> str:
    """Markdown: one row per case with the outcome before and after the fixes (after = the
    re-run result where the case was re-run, else the first run's), then counts per outcome."""
    again = {r["id"]: r for r in after}
    rows = ["| # | area | case | command | expected | before | after | observed (after) |",
            "|---|---|---|---|---|---|---|---|"]
    merged = []
    for i, b in enumerate(before, 1):
        a = again.get(b["id"], b)
        merged.append(a)
        mark = "" if b["outcome"] in CLEAN else " ✗"
        rows.append(f"| {i} | {b['area']} | {b['id']} | `{b['cmd'].replace('|', '/')}` | {b['expect']} | "
                    f"{b['outcome']}{mark} | {a['outcome']} | {a['detail'].replace('|', '/')[:160]} |")

    def counts(rs):
        c: dict[str, int] = {}
        for r in rs:
            c[r["outcome"]] = c.get(r["outcome"], 0) + 1
        return ", ".join(f"{k}: {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))

    return "\n".join(rows) + f"\n\nbefore: {counts(before)}\n\nafter: {counts(merged)}\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path)
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--only", default="")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--table", nargs=2, type=Path, metavar=("BEFORE_JSON", "AFTER_JSON"),
                    help="print the before/after markdown table of two --json results and exit")
    a = ap.parse_args()
    if a.table:
        print(table(json.loads(a.table[0].read_text()), json.loads(a.table[1].read_text())))
        return
    todo = cases()
    if a.only:
        keep = a.only.split(",")
        todo = [c for c in todo if any(c.id == k or (k.endswith("*") and c.id.startswith(k[:-1])) for k in keep)]
    if a.list:
        for c in todo:
            print(c.id, "|", c.cmd)
        print(len(todo), "cases")
        return
    fx = a.work.resolve() / "fx"
    fixtures(fx, a.data)
    with ThreadPoolExecutor(a.jobs) as pool:
        results = list(pool.map(lambda c: run_case(c, a.work.resolve(), fx, a.data), todo))
    print("| # | area | case | command | expected | outcome | detail |\n|---|---|---|---|---|---|---|")
    for i, r in enumerate(results, 1):
        print(f"| {i} | {r['area']} | {r['id']} | `{r['cmd']}` | {r['expect']} | {r['outcome']} | "
              f"{r['detail'].replace('|', '/')} |")
    counts: dict[str, int] = {}
    for r in results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    print("\ncounts:", json.dumps(counts, sort_keys=True))
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.exit(main())
