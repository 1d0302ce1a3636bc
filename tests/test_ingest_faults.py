"""Per-file fault isolation in every archive adapter (issue 12), and reading a plain folder of
strong-motion text files with ``--kind auto``.

Each test copies a small part of a real archive (../shared/data; skipped when absent) into
tmp_path, adds bad files of each kind (zero-byte, truncated, random bytes, malformed side files,
a FIFO), and checks that the good files still give the same records and that every bad file is
reported as a Skip with its reason.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from heggs.cli import main
from heggs.ingest.archives import iter_archive
from heggs.ingest.records import RawRecord, Skip

RANDOM = bytes(range(256)) * 8


def _items(path, kind=None, timeout_s=120.0):
    """All items of ``iter_archive``, failing (not hanging) if it takes longer than timeout_s."""
    out: list = []
    err: list = []

    def run():
        try:
            out.extend(iter_archive(path, kind))
        except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
            err.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout_s)
    assert not t.is_alive(), f"iter_archive({path}) hung (> {timeout_s} s)"
    if err:
        raise err[0]
    return out


def _records(items):
    return sorted(r.origin for r in items if isinstance(r, RawRecord))


def _skips(items):
    return {Path(s.origin.split("#")[0].split(":")[0]).name: s.reason for s in items if isinstance(s, Skip)}


def _fifo(path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(path)


def _truncated(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 3 + 7])


def test_bayesisola_isolates_bad_files(tmp_path, shared_data):
    root = shutil.copytree(shared_data / "bayesisola", tmp_path / "isola")
    clean = _records(_items(root, "bayesisola"))
    sac_dir = next(p.parent for p in root.rglob("*.sac"))
    (sac_dir / "ZERO1HHZ.sac").write_bytes(b"")
    (sac_dir / "RAND1HHZ.sac").write_bytes(RANDOM)
    _truncated(next(sac_dir.glob("*.sac")), sac_dir / "TRUNCHHZ.sac")
    _fifo(sac_dir / "PIPE1HHZ.sac")
    items = _items(root, "bayesisola")
    skips = _skips(items)
    assert _records(items) == clean and len(clean) == 9
    for name in ("ZERO1HHZ.sac", "RAND1HHZ.sac", "TRUNCHHZ.sac"):
        assert skips[name] == "unreadable file", name
    assert skips["PIPE1HHZ.sac"] == "special file"


def test_bayesisola_malformed_event_isl_is_a_skip(tmp_path, shared_data):
    root = shutil.copytree(shared_data / "bayesisola", tmp_path / "isola")
    isl = next(root.rglob("event.isl"))
    isl.write_text("not an event\n")
    items = _items(root, "bayesisola")
    assert _records(items) == [] and _skips(items) == {"event.isl": "unreadable event file"}


def test_iceland_dike_isolates_bad_files(tmp_path, shared_data):
    src = shared_data / "iceland_dike"
    root = tmp_path / "qm"
    root.mkdir()
    for p in src.glob("*stations*.txt"):
        shutil.copy(p, root)
    events = sorted(src.glob("*.event"))[:3]
    for ev in events:
        for suffix in (".event", ".picks", ".m"):
            if ev.with_suffix(suffix).exists():
                shutil.copy(ev.with_suffix(suffix), root)
    clean = _records(_items(root, "iceland_dike"))
    assert clean
    good = events[0]
    (root / "1zero.event").write_bytes(b"")                    # malformed .event
    shutil.copy(good, root / "2trunc.event")
    (root / "2trunc.m").write_bytes(b"")                       # zero-byte .m
    shutil.copy(good, root / "3rand.event")
    (root / "3rand.m").write_bytes(RANDOM)                     # random bytes .m
    shutil.copy(good, root / "4cut.event")
    _truncated(good.with_suffix(".m"), root / "4cut.m")        # truncated .m
    (root / "5bad.event").write_text("EventID,DT\nx,not-a-time\n")
    shutil.copy(good, root / "6pipe.event")
    _fifo(root / "6pipe.m")
    items = _items(root, "iceland_dike")
    skips = _skips(items)
    assert _records(items) == clean
    assert skips["1zero.event"] == "unreadable event file" and skips["5bad.event"] == "unreadable event file"
    for name in ("2trunc.m", "3rand.m", "4cut.m"):
        assert skips[name] == "unreadable file", name
    assert skips["6pipe.m"] == "special file"


def test_eqcorrscan_alpine_isolates_bad_files(tmp_path, shared_data):
    root = shutil.copytree(shared_data / "eqcorrscan_alpine", tmp_path / "alp")
    clean = _records(_items(root, "eqcorrscan_alpine"))
    rea = next(p.parent for p in (root / "REA").rglob("*.S*"))
    (rea / "01-0000-00L.S201309").write_bytes(b"")                       # empty S-file
    (rea / "02-0000-00L.S201309").write_bytes(RANDOM)                    # random S-file
    # an S-file naming a random-bytes WAV file and one naming a truncated WAV
    sfile = next(p for p in sorted(rea.iterdir()) if p.name[0] != "0" and p.stat().st_size > 0)
    wav_dir = next(p.parent for p in (root / "WAV").rglob("*") if p.is_file())
    for n, (new_wav, make) in enumerate((("BADRAND_00", lambda p: p.write_bytes(RANDOM)),
                                         ("BADCUT_00", lambda p: _truncated(next(wav_dir.iterdir()), p)))):
        lines = sfile.read_text().splitlines()
        lines = [ln for ln in lines if not (len(ln) >= 80 and ln[79] == "6")]
        lines.insert(1, f" {new_wav:<78}6")
        (rea / f"0{3 + n}-0000-00L.S201309").write_text("\n".join(lines) + "\n")
        make(wav_dir / new_wav)
    sac_dir = next(p.parent for p in (root / "SAC").rglob("*.sac"))
    (sac_dir / "zero.sac").write_bytes(b"")
    _fifo(wav_dir / "PIPE_00")
    items = _items(root, "eqcorrscan_alpine")
    skips = _skips(items)
    assert _records(items) == clean and len(clean) > 100
    assert skips["01-0000-00L.S201309"] in ("unreadable event file", "no event")
    assert skips["02-0000-00L.S201309"] in ("unreadable event file", "no event")
    assert skips["BADRAND_00"] == "unreadable file" and skips["BADCUT_00"] == "unreadable file"
    assert skips["zero.sac"] == "unreadable file" and skips["PIPE_00"] == "special file"


def test_gmprocess_and_pysep_isolate_bad_files(tmp_path, shared_data):
    root = tmp_path / "gm"
    shutil.copytree(shared_data / "gmprocess" / "knet", root / "knet")
    shutil.copytree(shared_data / "gmprocess" / "status", root / "status")
    clean = _records(_items(root, "gmprocess"))
    assert clean
    mseed = next((root / "status").glob("*.mseed"))
    (root / "status" / "XX.ZERO..HNZ.mseed").write_bytes(b"")
    (root / "status" / "XX.RAND..HNZ.mseed").write_bytes(RANDOM)
    _truncated(mseed, root / "status" / "XX.CUT..HNZ.mseed")
    (root / "status" / "XX.BAD.xml").write_text("<FDSNStationXML><broken")
    _fifo(root / "status" / "XX.PIPE..HNZ.mseed")
    items = _items(root, "gmprocess")
    skips = _skips(items)
    assert _records(items) == clean
    for name in ("XX.ZERO..HNZ.mseed", "XX.RAND..HNZ.mseed", "XX.CUT..HNZ.mseed"):
        assert skips[name] == "unreadable file", name
    assert skips["XX.BAD.xml"] == "unreadable station file" and skips["XX.PIPE..HNZ.mseed"] == "special file"

    ps = shutil.copytree(shared_data / "pysep", tmp_path / "pysep")
    clean = _records(_items(ps, "pysep"))
    (ps / "zero.mseed").write_bytes(b"")
    (ps / "bad.xml").write_text("<FDSNStationXML><broken")
    _fifo(ps / "pipe.mseed")
    items = _items(ps, "pysep")
    skips = _skips(items)
    assert _records(items) == clean and clean
    assert skips["zero.mseed"] == "unreadable file" and skips["bad.xml"] == "unreadable station file"
    assert skips["pipe.mseed"] == "special file"


def test_auto_reads_a_plain_folder_of_cwb_files(tmp_path, shared_data):
    src = shared_data / "gmprocess" / "cwb" / "tw20210418"
    folder = tmp_path / "cwb"
    folder.mkdir()
    names = sorted(p.name for p in src.iterdir() if p.suffix == ".dat")[:4]
    for n in names:
        shutil.copy(src / n, folder / n)
    items = _items(folder)  # kind auto: no layout recognised -> generic scan
    recs = [r for r in items if isinstance(r, RawRecord)]
    assert len(recs) == len(names) and not [s for s in items if isinstance(s, Skip)]
    assert {r.units for r in recs} == {"cm/s2"}
    assert all(r.event is not None and r.event.event_id.startswith("cwb") and r.station is not None for r in recs)
    out = tmp_path / "store"
    res = CliRunner().invoke(main, ["ingest", str(folder), "--kind", "auto", "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "adapter generic" in res.output
    meta = pd.read_csv(out / "metadata.csv")
    assert len(meta) >= 1 and set(meta["trace_units"]) == {"m/s2"}
