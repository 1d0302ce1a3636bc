"""Fault tests of issue 12 (inputs side): every user-facing failure is one line ``error: ...``
without a traceback; corrupt stores and checkpoints are detected on open; NaN weights are
refused; resume falls back past a corrupt newest checkpoint; bounds are checked before any work;
counts-looking sources are refused; disk full and a read-only --out end in one line;
``evaluate --reuse`` never reuses another store's rows.

Everything runs on a small synthetic m/s² store and a tiny model trained for 4 steps (seconds on
one CPU thread). Data-loss and adapter fault isolation are tested in tests/test_faults.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from obspy import Stream, Trace, UTCDateTime
from obspy.geodetics import gps2dist_azimuth
from safetensors.torch import load_file, save_file

from heggs import checkpoint as ckpt
from heggs import config as C
from heggs.cli import main
from heggs.store import CHECKSUM_FILE, Store, StoreWriter

RATE, LENGTH_S = 25.0, 20.0
N = int(RATE * LENGTH_S)
ORIGIN = UTCDateTime("2020-01-01T00:00:00")
EVENTS = [(35.0 + 0.1 * i, -117.0 - 0.1 * i, 8.0, 3.0 + 0.5 * i) for i in range(3)]
STATIONS = [(35.05, -117.05), (34.95, -116.9), (35.2, -117.1)]
TEST_MODEL = {"ae_channels": [16, 16], "latent_channels": 16, "n_fft": 64, "hop_length": 32, "sampler_steps": 2}
EV = EVENTS[0]
GEN_EVENT = f"{EV[0]},{EV[1]},{EV[2]},{EV[3]}"


def _record(rng, mag, dist_km):
    t = np.arange(N) / RATE
    tp, ts = dist_km / 6.0, dist_km / 3.5
    env = (t > tp) * np.exp(-(t - tp).clip(0) / 2) + 2 * (t > ts) * np.exp(-(t - ts).clip(0) / 3)
    amp = 10 ** (mag - 4.0) / max(dist_km, 5.0)
    return (amp * env * rng.normal(size=(3, N))).astype(np.float32)


def _write_store(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with StoreWriter(path, "ENZ", RATE, N) as w:
        for i, (elat, elon, dep, mag) in enumerate(EVENTS):
            for j, (slat, slon) in enumerate(STATIONS):
                d, az, baz = gps2dist_azimuth(elat, elon, slat, slon)
                w.add(_record(rng, mag, d / 1e3), {
                    "source_id": f"ev{i}", "source_origin_time": str(ORIGIN + 3600 * i),
                    "source_latitude_deg": elat, "source_longitude_deg": elon, "source_depth_km": dep,
                    "source_magnitude": mag, "source_magnitude_type": "ML", "station_network_code": "XX",
                    "station_code": f"S{j}", "station_latitude_deg": slat, "station_longitude_deg": slon,
                    "trace_start_time": str(ORIGIN + 3600 * i), "trace_units": "m/s2",
                    "trace_P_arrival_sample": int(RATE * d / 6e3), "trace_S_arrival_sample": int(RATE * d / 3.5e3),
                    "trace_valid_start_sample": 0, "trace_valid_end_sample": N, "trace_band_min_hz": 1.0,
                    "trace_band_max_hz": 11.25, "path_ep_distance_km": d / 1e3, "path_azimuth_deg": az,
                    "path_back_azimuth_deg": baz, "split": "train" if i < 2 else "test",
                })
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A store and a run with checkpoints at steps 2 and 4 (all kept)."""
    root = tmp_path_factory.mktemp("faults")
    _write_store(root / "store")
    cfg = C.TrainConfig(data=str(root / "store"), preset="tiny", model=C.model_preset("tiny", **TEST_MODEL),
                        batch_size=2, steps=4, warmup_steps=1, checkpoint_interval=2, log_interval=1, num_workers=0,
                        keep_checkpoints=0)
    from heggs.train import train

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg, root / "run", progress=False)
    finally:
        torch.set_num_threads(n)
    return root


def _run(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_one_line_error(res, *needles):
    out = res.output
    assert res.exit_code == 1, f"exit {res.exit_code}: {out}{res.exception!r}"
    assert "Traceback" not in out, out
    lines = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, out
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _gen_args(model, out, *extra):
    return ["generate", "--model", model, "--event", GEN_EVENT, "--station", "35.3,-117.2", "--origin-time",
            str(ORIGIN), "--out", out, "--no-progress", "--no-png", *extra]


# --- one error style: config files -------------------------------------------------------------


@pytest.mark.parametrize("text, needle", [
    ('{"steps": 3', "not valid JSON"),
    ('{"stepz": 3}', "unknown config key 'stepz'"),
    ('{"steps": "many"}', "'steps' of TrainConfig must be int"),
    ('{"model": {"n_fft": [64]}}', "'n_fft' of ModelConfig must be int"),
])
def test_bad_config_is_one_line(tiny, tmp_path, text, needle):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    res = _run(["train", "--data", tiny / "store", "--out", tmp_path / "run", "--config", bad])
    _assert_one_line_error(res, str(bad), needle)
    assert not (tmp_path / "run").exists()


def test_unknown_exception_is_one_line_and_debug_shows_it(tiny, tmp_path, monkeypatch):
    import heggs.inspect as I

    def boom(*a, **k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(I, "inspect_store", boom)
    res = _run(["inspect", tiny / "store", "--out", tmp_path / "i"])
    _assert_one_line_error(res, "ZeroDivisionError: boom", "--debug")
    res = _run(["--debug", "inspect", tiny / "store", "--out", tmp_path / "i"])
    assert isinstance(res.exception, ZeroDivisionError)


# --- corrupt stores -----------------------------------------------------------------------------


def _truncated_copy(src: Path, dst: Path, keep_side_file: bool) -> Path:
    shutil.copytree(src, dst)
    h5 = dst / "waveforms.hdf5"
    data = h5.read_bytes()
    h5.write_bytes(data[: len(data) // 2])
    if not keep_side_file:
        (dst / CHECKSUM_FILE).unlink()
    return dst


def test_store_writes_checksum_side_file_and_detects_alteration(tiny, tmp_path):
    side = json.loads((tiny / "store" / CHECKSUM_FILE).read_text())
    assert side["bytes"] == (tiny / "store" / "waveforms.hdf5").stat().st_size and len(side["sha256"]) == 64
    assert len(Store(tiny / "store")) == 9
    # same size, one byte flipped near the end (the waveform data): only the SHA-256 sees it
    bad = tmp_path / "flipped"
    shutil.copytree(tiny / "store", bad)
    h5 = bad / "waveforms.hdf5"
    b = bytearray(h5.read_bytes())
    b[-100] ^= 0xFF
    h5.write_bytes(bytes(b))
    with pytest.raises(ValueError, match="SHA-256"):
        Store(bad)
    assert len(Store(bad, verify=False)) == 9  # size-only check (what big stores get on open)


@pytest.mark.parametrize("side_file", [True, False], ids=["with-checksum", "old-store"])
def test_truncated_store_is_one_line_in_inspect_and_train(tiny, tmp_path, side_file):
    bad = _truncated_copy(tiny / "store", tmp_path / "bad", side_file)
    res = _run(["inspect", bad, "--out", tmp_path / "i", "--no-plots"])
    _assert_one_line_error(res, str(bad / "waveforms.hdf5"))
    res = _run(["train", "--data", bad, "--out", tmp_path / "run", "--preset", "tiny", "--steps", "1",
                "--no-progress"])
    _assert_one_line_error(res, str(bad / "waveforms.hdf5"))


# --- corrupt and NaN models ---------------------------------------------------------------------


def _ckpt_copy(tiny, dst: Path, step: int = 4) -> Path:
    shutil.copytree(tiny / "run" / "checkpoints" / f"step_{step:07d}", dst)
    return dst


def test_checkpoint_json_records_checksums(tiny):
    info = ckpt.read_info(tiny / "run")
    assert set(info["checksums"]) == {"model.safetensors", "ema.safetensors", "optimizer.safetensors"}
    ckpt.check_checkpoint(ckpt.latest_checkpoint(tiny / "run"))


@pytest.mark.parametrize("with_checksums", [True, False], ids=["checksummed", "old-checkpoint"])
def test_truncated_safetensors_is_one_line_in_generate(tiny, tmp_path, with_checksums):
    model = _ckpt_copy(tiny, tmp_path / "model")
    f = model / "ema.safetensors"
    f.write_bytes(f.read_bytes()[:1000])
    if not with_checksums:
        info = json.loads((model / "checkpoint.json").read_text())
        info.pop("checksums", None)
        (model / "checkpoint.json").write_text(json.dumps(info))
    res = _run(_gen_args(model, tmp_path / "gen"))
    _assert_one_line_error(res, str(f), "corrupt")
    assert not any((tmp_path / "gen").glob("*")) if (tmp_path / "gen").exists() else True


def test_nan_weights_are_refused(tiny, tmp_path):
    model = _ckpt_copy(tiny, tmp_path / "model")
    tensors = load_file(str(model / "ema.safetensors"))
    name = next(k for k, v in tensors.items() if v.is_floating_point() and v.numel() > 1)
    tensors[name][0] = float("nan")
    save_file(tensors, str(model / "ema.safetensors"))
    info = json.loads((model / "checkpoint.json").read_text())
    info.pop("checksums", None)  # an old checkpoint (or NaN saved as such): the NaN check itself must refuse it
    (model / "checkpoint.json").write_text(json.dumps(info))
    res = _run(_gen_args(model, tmp_path / "gen"))
    _assert_one_line_error(res, "NaN", name)
    assert not list((tmp_path / "gen").glob("*.mseed")) if (tmp_path / "gen").exists() else True


def test_shipped_default_model_without_checksums_still_loads(tmp_path):
    from heggs.generate import DEFAULT_MODEL

    model = tmp_path / "default"
    shutil.copytree(DEFAULT_MODEL, model)
    info = json.loads((model / "checkpoint.json").read_text())
    info.pop("checksums", None)  # an older export: nothing to check against, it must still load
    (model / "checkpoint.json").write_text(json.dumps(info))
    net, _, _ = ckpt.load_checkpoint(model)
    assert all(torch.isfinite(p).all() for p in net.parameters())


# --- resume -------------------------------------------------------------------------------------


def test_resume_falls_back_past_a_corrupt_newest_checkpoint(tiny, tmp_path, capsys):
    from heggs import train as T

    run = tmp_path / "run"
    shutil.copytree(tiny / "run", run)
    newest = run / "checkpoints" / "step_0000004" / "model.safetensors"
    b = bytearray(newest.read_bytes())
    b[len(b) // 2] ^= 0xFF  # same size, altered bytes: only the checksum catches it
    newest.write_bytes(bytes(b))
    folder, skipped = ckpt.latest_intact_checkpoint(run)
    assert folder.name == "step_0000002" and [s[0].name for s in skipped] == ["step_0000004"]
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        final = T.train(None, run, resume=True, progress=True, device="cpu")
    finally:
        torch.set_num_threads(n)
    out = capsys.readouterr().out
    assert "skipping corrupt checkpoint step_0000004" in out and "resuming from step_0000002" in out
    assert final.name == "step_0000004"
    ckpt.check_checkpoint(final)  # rewritten intact
    # the same from the command line with a truncated (not only altered) newest file
    newest = run / "checkpoints" / "step_0000004" / "ema.safetensors"
    newest.write_bytes(newest.read_bytes()[:500])
    res = _run(["train", "--out", run, "--resume", "--no-progress", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "skipping corrupt checkpoint step_0000004" in res.output


def test_resume_flags_steps_below_current_and_ignored_overrides(tiny, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny / "run", run)
    res = _run(["train", "--out", run, "--resume", "--steps", "1", "--no-progress"])
    _assert_one_line_error(res, "--steps 1", "step 4")
    res = _run(["train", "--out", run, "--resume", "--lr", "0.5", "--batch-size", "3", "--no-progress",
                "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "ignored: --batch-size, --lr" in res.output


# --- bounds -------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag, value, needle", [
    ("--length-s", "1e7", "3600"), ("--rate", "1e6", "1000 Hz"),
])
def test_ingest_bounds_fail_before_any_work(tmp_path, flag, value, needle):
    (tmp_path / "in").mkdir()
    t0 = time.perf_counter()
    res = _run(["ingest", tmp_path / "in", "--out", tmp_path / "store", flag, value, "--no-progress"])
    _assert_one_line_error(res, flag, needle)
    assert time.perf_counter() - t0 < 10
    assert not (tmp_path / "store").exists() and not list(tmp_path.glob(".store*"))


def test_generate_and_simulate_sizes_are_bounded(tiny, tmp_path):
    res = _run(_gen_args(tiny / "run", tmp_path / "gen", "-n", str(C.MAX_GENERATED_RECORDS + 1)))
    _assert_one_line_error(res, "--force", f"{C.MAX_GENERATED_RECORDS:,}", "GB")
    assert not (tmp_path / "gen").exists()
    res = _run(["simulate", "--out", tmp_path / "sim", "--n-events", str(C.MAX_SIMULATE_EVENTS + 1),
                "--region", "35,36,-118,-117", "--n-stations", "3"])
    _assert_one_line_error(res, "--n-events", "--force")
    res = _run(["simulate", "--out", tmp_path / "sim", "--n-events", "2000", "--region", "35,36,-118,-117",
                "--n-stations", "1000"])
    _assert_one_line_error(res, "--n-events x --n-stations", "GB")
    assert not (tmp_path / "sim").exists()


# --- counts-looking sources ---------------------------------------------------------------------


def _source(tmp_path, gain):
    w = _record(np.random.default_rng(1), EV[3], 7.0) * gain
    st = Stream([Trace(data=d, header={"network": "XX", "station": "S0", "channel": f"HN{c}", "sampling_rate": RATE,
                                        "starttime": ORIGIN}) for c, d in zip("ENZ", w)])
    p = tmp_path / f"src{gain:g}.mseed"
    st.write(str(p), format="MSEED")
    return p


def test_counts_looking_source_is_refused_without_units(tiny, tmp_path):
    src = _source(tmp_path, 1e6)
    base = _gen_args(tiny / "run", tmp_path / "gen", "--source", src, "--source-station", "35.05,-117.05")
    res = _run(base)
    _assert_one_line_error(res, "looks like counts", "--source-units")
    res = _run(base + ["--source-units", "counts"])
    assert res.exit_code == 0, res.output


# --- disk full, read-only --out -----------------------------------------------------------------


def _mount_tmpfs(where: Path, options: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    return r.returncode == 0


def test_disk_full_is_one_line(tmp_path):
    disk = tmp_path / "small"
    if not _mount_tmpfs(disk, "size=512k"):
        pytest.skip("needs root and `mount -t tmpfs` (a 512 kB file system to fill)")
    try:
        # 4 events x 4 stations of 60 s at 100 Hz, 3 components: ~1.2 MB of float32
        res = _run(["simulate", "--out", disk / "sim", "--n-events", "4", "--n-stations", "4", "--region",
                    "35,35.3,-117.3,-117", "--no-progress"])
        _assert_one_line_error(res, "no space left on device")
        assert not (disk / "sim").exists()
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_read_only_out_is_one_line(tiny, tmp_path):
    ro = tmp_path / "ro"
    if os.geteuid() == 0:
        if not _mount_tmpfs(ro, "size=1m,ro"):
            pytest.skip("running as root (permissions do not apply) and `mount -t tmpfs -o ro` failed")
    else:
        ro.mkdir()
        ro.chmod(0o555)
    try:
        res = _run(_gen_args(tiny / "run", ro / "gen"))
        _assert_one_line_error(res, str(ro / "gen"))
        assert "read-only file system" in res.output or "permission denied" in res.output
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], check=False)
        else:
            ro.chmod(0o755)


# --- evaluate --reuse and the store's identity --------------------------------------------------


class _Copy:
    """Returns the real target record (a perfect generator: cheap, deterministic)."""

    name, units, uses_source, band_max_hz = "copy", "m/s2", False, 11.25

    def generate(self, test, targets, seeds, with_source, cfg):
        return test.waveforms[targets].copy()


def test_evaluate_reuse_never_takes_another_stores_rows(tmp_path, capsys):
    from heggs.evaluate.run import evaluate

    a, b = _write_store(tmp_path / "a", seed=0), _write_store(tmp_path / "b", seed=1)
    cfg = C.EvalConfig(n_records=1, picker="classical", n_boot=20, gmpe_models=("BSSA14",), max_sections=0,
                       modes=("without_source",))
    out = tmp_path / "eval"
    evaluate([_Copy()], a, cfg, out, progress=False, sweep=False)
    rows_a = (out / "copy" / "rows.csv").read_text()
    evaluate([_Copy()], a, cfg, out, reuse=True, progress=False, sweep=False)
    assert (out / "copy" / "rows.csv").read_text() == rows_a  # same store: reused as is
    assert "recomputing" not in capsys.readouterr().out
    evaluate([_Copy()], b, cfg, out, reuse=True, progress=False, sweep=False)
    assert "recomputing" in capsys.readouterr().out
    summary = json.loads((out / "copy" / "summary.json").read_text())
    assert summary["store"] == Store(b).identity()
    assert (out / "copy" / "rows.csv").read_text() != rows_a


def test_malformed_catalog_is_one_line(tiny, tmp_path):
    bad = tmp_path / "catalog.xml"
    bad.write_text("<quakeml><not closed")
    res = _run(["ingest", tiny / "store", "--out", tmp_path / "s", "--catalog", bad, "--no-progress"])
    _assert_one_line_error(res, str(bad), "catalog")
    assert "--debug" not in res.output


# ==============================================================================================
# Re-run of the fault sweep (benchmarks/fault_sweep.py, docs/fault-sweep.md): what it found
# ==============================================================================================


@pytest.mark.parametrize("flag, value, needle", [
    ("--offset-s", "nan", "--offset-s"), ("--offset-s", "inf", "--offset-s"), ("--offset-s", "-1e9", "--offset-s"),
    ("--band-min", "nan", "--band-min"), ("--band-max", "inf", "--band-max"),
])
def test_sweep_ingest_window_flags_nan_inf_absurd_are_refused(tmp_path, flag, value, needle):
    """Were accepted: every record then skipped (or filtered with a NaN corner), exit 0."""
    (tmp_path / "in").mkdir()
    res = _run(["ingest", tmp_path / "in", "--out", tmp_path / "store", flag, value, "--no-progress"])
    _assert_one_line_error(res, needle)
    assert not (tmp_path / "store").exists()


def test_sweep_worker_counts_are_bounded_before_any_process_starts(tiny, tmp_path):
    """``ingest --workers 100000`` forked processes until the 120 s timeout (a hang)."""
    t0 = time.perf_counter()
    res = _run(["ingest", tiny / "store", "--out", tmp_path / "s", "--workers", str(C.MAX_WORKERS + 1),
                "--no-progress"])
    _assert_one_line_error(res, "--workers", "MAX_WORKERS")
    assert time.perf_counter() - t0 < 20 and not (tmp_path / "s").exists()
    res = _run(["simulate", "--out", tmp_path / "sim", "--n-events", "2", "--n-stations", "2", "--region",
                "35,36,-118,-117", "--workers", str(C.MAX_WORKERS + 1), "--no-progress"])
    _assert_one_line_error(res, "--workers", "MAX_WORKERS")


def test_sweep_fifo_given_as_the_input_is_reported_as_a_special_file(tmp_path):
    """Was reported as "no such file or folder"."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    res = _run(["ingest", fifo, "--out", tmp_path / "s", "--no-progress"])
    # nothing else to ingest: one line naming the skip reason, nothing written
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "special file" in res.output and "no such file" not in res.output
    assert not (tmp_path / "s").exists()


def test_sweep_config_extending_itself_is_one_line(tmp_path):
    """Was a RecursionError ('run with --debug')."""
    (tmp_path / "a.json").write_text('{"extends": "b.json"}')
    (tmp_path / "b.json").write_text('{"extends": "a.json", "steps": 3}')
    res = _run(["train", "--data", tmp_path, "--out", tmp_path / "run", "--config", tmp_path / "a.json"])
    line = _assert_one_line_error(res, "a.json", "cycle")
    assert "RecursionError" not in line and "--debug" not in line


def test_sweep_simulate_magnitude_limits_must_be_finite_and_physical(tmp_path):
    """``--mag-max inf`` was accepted (unbounded Gutenberg-Richter magnitudes)."""
    for lo, hi in (("3", "inf"), ("-5", "4")):
        res = _run(["simulate", "--out", tmp_path / "sim", "--n-events", "2", "--n-stations", "2", "--region",
                    "35,36,-118,-117", "--mag-min", lo, "--mag-max", hi, "--no-progress"])
        _assert_one_line_error(res, "--mag-min/--mag-max", "9.5")
        assert not (tmp_path / "sim").exists()


@pytest.mark.parametrize("bad", ["{oops", "", "dir"])
def test_sweep_gmprocess_bad_event_json_is_a_reported_skip(tmp_path, bad):
    """A malformed event.json was ignored without a word; one that is a folder ended the
    whole ingest ("Is a directory")."""
    from heggs.ingest.gmprocess import gmprocess_records
    from heggs.ingest.records import Skip

    ev = tmp_path / "gm" / "ev1"
    ev.mkdir(parents=True)
    st = Stream([Trace(np.zeros(500, dtype=np.float32), header={"network": "XX", "station": "A", "channel": f"HN{c}",
                                                                  "sampling_rate": 25.0, "starttime": ORIGIN})
                 for c in "ENZ"])
    st.write(str(ev / "XX.A.mseed"), format="MSEED")
    if bad == "dir":
        (ev / "event.json").mkdir()
    else:
        (ev / "event.json").write_text(bad)
    items = list(gmprocess_records(tmp_path / "gm"))
    skips = [i for i in items if isinstance(i, Skip) and i.origin.endswith("event.json")]
    assert len(skips) == 1, items
    assert len(items) == 2  # the record goes on


@pytest.mark.parametrize("lr", ["0", "nan", "inf"])
def test_sweep_learning_rate_must_be_finite_and_positive(tiny, tmp_path, lr):
    """``--lr 0`` trained nothing with exit 0; ``--lr inf`` ran until the NaN stop."""
    res = _run(["train", "--data", tiny / "store", "--out", tmp_path / "run", "--preset", "tiny", "--steps", "2",
                "--batch-size", "2", "--lr", lr, "--device", "cpu", "--no-progress"])
    _assert_one_line_error(res, "--lr")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_sweep_cuda_device_without_cuda_is_a_plain_one_line_error(tiny, tmp_path, monkeypatch):
    """Was 'RuntimeError: ... (run with --debug for the traceback)'."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = _run(["train", "--data", tiny / "store", "--out", tmp_path / "run", "--preset", "tiny", "--steps", "2",
                "--batch-size", "2", "--device", "cuda:7", "--no-progress"])
    line = _assert_one_line_error(res, "--device cuda:7", "--device cpu")
    assert "RuntimeError" not in line and "--debug" not in line


@pytest.mark.parametrize("flag, value, needle", [
    ("--device", "bogus", "--device 'bogus'"),  # was 'RuntimeError: ... (run with --debug ...)'
    ("--steps", "1000000", "--steps 1000000"),  # ran 1000 sampler steps per record past the 120 s timeout
    ("--t-start", "-1", "--t-start -1"),  # was accepted and ignored
])
def test_sweep_generate_device_and_sampler_flags_are_one_line(tiny, tmp_path, flag, value, needle):
    res = _run(_gen_args(tiny / "run", tmp_path / "gen", flag, value))
    line = _assert_one_line_error(res, needle)
    assert "--debug" not in line
    assert not list((tmp_path / "gen").glob("*.mseed"))


@pytest.mark.parametrize("flag, value", [("--max-distance", "inf"), ("--azimuth", "nan")])
def test_sweep_section_geometry_must_be_finite(tiny, tmp_path, flag, value):
    """``--max-distance inf`` was 'error: math domain error'; ``--azimuth nan`` failed only in the network."""
    res = _run(["generate", "--model", tiny / "run", "--event", GEN_EVENT, "--section", "--out", tmp_path / "gen",
                "--no-progress", "--no-png", flag, value])
    _assert_one_line_error(res, flag)


def test_sweep_huge_section_grid_is_refused_before_placing_stations(tiny, tmp_path):
    """``--section --grid --n-stations 5000`` (25 million stations) ran past the 120 s timeout."""
    t0 = time.perf_counter()
    res = _run(["generate", "--model", tiny / "run", "--event", GEN_EVENT, "--section", "--grid", "--n-stations",
                "5000", "--out", tmp_path / "gen", "--no-progress", "--no-png"])
    _assert_one_line_error(res, "--n-stations 5000", "MAX_GENERATED_RECORDS")
    assert time.perf_counter() - t0 < 60


def test_sweep_simulate_single_record_never_overwrites_an_existing_file(tmp_path):
    """``heggs simulate --out keep.mseed --event ... --station ...`` replaced the file (data loss)."""
    keep = tmp_path / "keep.mseed"
    keep.write_bytes(b"precious")
    args = ["simulate", "--out", keep, "--event", "34,-117,8,4", "--station", "34.2,-117", "--no-progress"]
    _assert_one_line_error(_run(args), str(keep), "--overwrite")
    assert keep.read_bytes() == b"precious"
    res = _run([*args, "--overwrite"])
    assert res.exit_code == 0, res.output
    assert keep.read_bytes() != b"precious"


@pytest.mark.parametrize("flag, value, needle", [
    ("--n-boot", "0", "--n-boot"), ("--max-targets", "-1", "--max-targets"), ("--vs30", "nan", "--vs30"),
    ("--vs30", "-1", "--vs30"), ("-n", "100000", "MAX_EVAL_RECORDS_PER_TARGET"),  # was a 27 GB MemoryError
    ("--gmpe", "BOGUS", "--gmpe"),  # was 'ImportError: ...' after the whole evaluation
])
def test_sweep_evaluate_flags_are_checked_before_any_work(tiny, tmp_path, flag, value, needle):
    """These ran the whole evaluation (past the 120 s timeout) before failing or accepting nonsense."""
    t0 = time.perf_counter()
    res = _run(["evaluate", "--model", tiny / "run", "--data", tiny / "store", "--out", tmp_path / "ev",
                "--picker", "classical", "--no-sweep", "--no-progress", flag, value])
    line = _assert_one_line_error(res, needle)
    assert "--debug" not in line and time.perf_counter() - t0 < 30
    assert not (tmp_path / "ev").exists()


def test_sweep_scenario_csv_with_only_a_header_is_refused(tiny, tmp_path):
    """Wrote "0 file(s)" with exit status 0."""
    csv = tmp_path / "s.csv"
    csv.write_text("station_lat,station_lon,event_lat,event_lon,event_depth_km,magnitude\n")
    res = _run(["generate", "--model", tiny / "run", "--scenarios", csv, "--out", tmp_path / "gen", "--no-progress",
                "--no-png"])
    _assert_one_line_error(res, "no scenario rows")
