"""Fault and bad-input tests (issue 12): what a hostile or careless user can do to each command.

One section per class of fault. Every test here failed on the code before the fix it pins.

- Data loss: output folders (:mod:`heggs.folders`): inputs are never overwritten, foreign
  folders are refused without ``--overwrite``, an empty result never replaces a store, one
  writer per folder, scratch of killed runs is cleaned, generated files never overwrite
  each other.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from heggs import config as C
from heggs import folders
from heggs.cli import main
from heggs.store import Store, StoreWriter


def _cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(res, *needles: str) -> None:
    """Exit status 1 and a one-line ``error: ...`` naming each of ``needles``; no traceback."""
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, SystemExit), res.exception  # not a traceback
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    for n in needles:
        assert str(n) in errors[0], (n, errors[0])


def _tree(folder: Path) -> dict[str, bytes]:
    """Relative path -> sha256 of every file under ``folder`` (its complete content)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).digest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ==============================================================================================
# Data loss: output folders
# ==============================================================================================


@pytest.fixture(scope="module")
def scenario_csvs(tmp_path_factory) -> tuple[Path, Path]:
    """A catalog of one event and two stations for `heggs simulate` (2 records)."""
    root = tmp_path_factory.mktemp("csv")
    cat, st = root / "cat.csv", root / "st.csv"
    pd.DataFrame({"latitude": [34.0], "longitude": [-118.0], "depth_km": [8.0], "magnitude": [4.0]}).to_csv(cat,
                                                                                                           index=False)
    pd.DataFrame({"station": ["A", "B"], "latitude": [34.1, 34.3], "longitude": [-118.1, -117.7]}).to_csv(st,
                                                                                                       index=False)
    return cat, st


def _simulate(out: Path, csvs: tuple[Path, Path], *extra: str):
    return _cli("simulate", "--out", out, "--catalog", csvs[0], "--stations", csvs[1], "--no-progress", *extra)


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory, scenario_csvs) -> Path:
    out = tmp_path_factory.mktemp("sim") / "store"
    res = _simulate(out, scenario_csvs)
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture()
def archive(tmp_path) -> Path:
    """A raw archive: a miniSEED record, a StationXML-looking side file and a README."""
    from obspy import Stream, Trace, UTCDateTime

    st = Stream([Trace(np.arange(200, dtype=np.float32), header={"network": "XX", "station": "A", "channel": f"HN{c}",
                                                                  "sampling_rate": 100.0,
                                                                  "starttime": UTCDateTime(2020, 1, 1)})
                 for c in "ENZ"])
    a = tmp_path / "data" / "archive"
    a.mkdir(parents=True)
    st.write(str(a / "rec.mseed"), format="MSEED")
    (a / "stations.xml").write_text("<FDSNStationXML/>\n")
    (a / "README.txt").write_text("field campaign 2020, do not delete\n")
    return a


def test_ingest_out_is_the_input_keeps_every_raw_file(archive):
    before = _tree(archive)
    for extra in ((), ("--overwrite",)):
        _one_line_error(_cli("ingest", archive, "--out", archive, "--quiet", *extra), archive, "input")
        assert _tree(archive) == before


def test_ingest_out_above_the_input_is_refused(archive):
    parent = archive.parent
    (parent / "thesis.tex").write_text("\\chapter{Intro}\n")
    before = _tree(parent)
    for extra in ((), ("--overwrite",)):
        _one_line_error(_cli("ingest", archive, "--out", parent, "--quiet", *extra), parent, "input")
        assert _tree(parent) == before
    # below the input is refused too (the next ingest of the archive would read the store)
    _one_line_error(_cli("ingest", archive, "--out", archive / "store", "--quiet"), archive, "inside the input")
    assert _tree(parent) == before


def test_ingest_out_user_folder_refused_then_overwrite_replaces_it(sim_store, tmp_path):
    user = tmp_path / "thesis"
    user.mkdir()
    (user / "thesis.tex").write_text("\\chapter{Results}\n")
    (user / "figs").mkdir()
    before = _tree(user)
    _one_line_error(_cli("ingest", sim_store, "--out", user, "--quiet"), user, "thesis.tex", "--overwrite")
    assert _tree(user) == before
    res = _cli("ingest", sim_store, "--out", user, "--quiet", "--overwrite")  # a store read as a SeisBench dataset
    assert res.exit_code == 0, res.output
    assert len(Store(user)) == 2 and not (user / "thesis.tex").exists()


def test_empty_input_over_an_existing_store_is_refused_and_the_store_is_intact(sim_store, tmp_path):
    from heggs.ingest.run import ingest

    before = _tree(sim_store)
    assert {"metadata.csv", "waveforms.hdf5"} <= set(before)
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(_cli("ingest", empty, "--out", sim_store, "--quiet"), sim_store, "no records")
    assert _tree(sim_store) == before
    with pytest.raises(folders.FolderError, match="no records"):
        ingest([], sim_store, progress=False)
    assert _tree(sim_store) == before
    assert not [p for p in sim_store.parent.iterdir() if p.name.startswith(".")]  # no scratch left
    # nor is an empty store written into a new folder (train/inspect could not open it): one line
    # naming the folder, the inputs and the skip reasons, and nothing on disk
    _one_line_error(_cli("ingest", empty, "--out", tmp_path / "new", "--quiet"), tmp_path / "new", empty,
                    "no records", "nothing was written", "skipped by reason: none", "no waveform file")
    assert not (tmp_path / "new").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch, no lock left


def test_an_ingest_whose_inputs_are_all_skipped_names_the_reasons_and_writes_nothing(tmp_path):
    from heggs.ingest.records import Skip
    from heggs.ingest.run import NoRecordsError, ingest

    items = [Skip("a.mseed", "no event match", ""), Skip("b.mseed", "no event match", ""),
             Skip("c.mseed", "no magnitude", "event x")]
    with pytest.raises(NoRecordsError, match=r"2 no event match; 1 no magnitude") as e:
        ingest(items, tmp_path / "s", progress=False, inputs=["arch/"])
    assert "arch/" in str(e.value) and "3 input(s) read" in str(e.value) and "\n" not in str(e.value)
    assert e.value.report.summary["skips_by_reason"] == {"no event match": 2, "no magnitude": 1}
    assert len(e.value.report.skips) == 3 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", ["", "\n", "XX,S0,1.0\nXX,S1,2.0\n"])
def test_a_store_with_an_empty_or_headerless_table_is_one_line_naming_the_file(tmp_path, content):
    store = tmp_path / "s"
    store.mkdir()
    (store / "metadata.csv").write_text(content)
    with pytest.raises(ValueError, match="metadata.csv") as e:
        Store(store)
    assert "\n" not in str(e.value) and ("empty" in str(e.value) or "no header" in str(e.value))
    _one_line_error(_cli("inspect", store, "--no-plots"), store / "metadata.csv")


def test_reingest_into_its_own_store_still_replaces_it(sim_store, tmp_path):
    out = tmp_path / "store"
    assert _cli("ingest", sim_store, "--out", out, "--quiet").exit_code == 0
    first = _tree(out)
    assert len(Store(out)) == 2
    res = _cli("ingest", sim_store, "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    assert _tree(out) == first


def test_simulate_onto_a_user_folder_a_file_or_below_a_file(scenario_csvs, tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.md").write_text("keep me\n")
    _one_line_error(_simulate(user, scenario_csvs), user, "notes.md")
    assert (user / "notes.md").read_text() == "keep me\n" and len(list(user.iterdir())) == 1
    f = tmp_path / "file.txt"
    f.write_text("x")
    _one_line_error(_simulate(f, scenario_csvs), f, "file")
    _one_line_error(_simulate(f / "store", scenario_csvs), f, "below the file")
    assert f.read_text() == "x"
    # the folder holding the catalog: refused even with --overwrite
    _one_line_error(_simulate(scenario_csvs[0].parent, scenario_csvs, "--overwrite"), "input")
    assert scenario_csvs[0].exists() and scenario_csvs[1].exists()
    res = _simulate(user, scenario_csvs, "--overwrite")
    assert res.exit_code == 0, res.output
    assert len(Store(user)) == 2 and not (user / "notes.md").exists()


def test_a_store_of_another_kind_is_refused(sim_store, tmp_path):
    """A run folder as ingest --out: refused without --overwrite (it is not a store)."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "log.jsonl").write_text('{"step": 1}\n')
    before = _tree(run)
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(_cli("ingest", empty, "--out", run, "--quiet"), run, "training run")
    assert _tree(run) == before


# --- runs, exports, generation, evaluation --------------------------------------------------


TEST_MODEL = {"ae_channels": [16, 16], "latent_channels": 16, "n_fft": 64, "hop_length": 32, "sampler_steps": 2}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    """(store, run): a 2-step tiny model on 4 synthetic m/s² records of 10 s at 25 Hz."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    n = 250
    with StoreWriter(root / "store", "ENZ", 25.0, n) as w:
        for i in range(2):
            for j in range(2):
                w.add((rng.normal(size=(3, n)) * 1e-3).astype(np.float32), {
                    "source_id": f"ev{i}", "source_origin_time": "2020-01-01T00:00:00", "source_latitude_deg": 35.0,
                    "source_longitude_deg": -117.0 - 0.1 * i, "source_depth_km": 8.0, "source_magnitude": 3.0 + i,
                    "source_magnitude_type": "ML", "station_network_code": "XX", "station_code": f"S{j}",
                    "station_latitude_deg": 35.05 + 0.1 * j, "station_longitude_deg": -117.05,
                    "trace_start_time": "2020-01-01T00:00:00", "trace_units": "m/s2", "trace_valid_start_sample": 0,
                    "trace_valid_end_sample": n, "trace_band_min_hz": 1.0, "trace_band_max_hz": 10.0,
                    "path_ep_distance_km": 10.0 + 5 * j, "path_azimuth_deg": 0.0, "path_back_azimuth_deg": 180.0,
                    "split": "train"})
    cfg = C.TrainConfig(data=str(root / "store"), preset="tiny", model=C.model_preset("tiny", **TEST_MODEL),
                        batch_size=4, steps=2, warmup_steps=1, checkpoint_interval=2, log_interval=1, num_workers=0)
    from heggs.train import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg, root / "run", progress=False)
    finally:
        torch.set_num_threads(threads)
    return root / "store", root / "run"


def test_export_run_onto_itself_refused_and_run_intact(tiny_run):
    _, run = tiny_run
    before = _tree(run)
    assert any("optimizer.safetensors" in k for k in before) and "log.jsonl" in before
    for extra in ((), ("--overwrite",)):
        _one_line_error(_cli("export", run, run, *extra), run, "input")
        assert _tree(run) == before
    # the parent of the run, and a folder inside it: refused as well
    _one_line_error(_cli("export", run, run.parent, "--overwrite"), "input")
    _one_line_error(_cli("export", run, run / "export"), "inside the input")
    assert _tree(run) == before


def test_export_onto_a_user_folder_refused_then_overwrite(tiny_run, tmp_path):
    _, run = tiny_run
    user = tmp_path / "models"
    user.mkdir()
    (user / "paper.pdf").write_bytes(b"%PDF-1.4")
    _one_line_error(_cli("export", run, user), user, "paper.pdf")
    assert (user / "paper.pdf").read_bytes() == b"%PDF-1.4"
    res = _cli("export", run, user, "--overwrite")
    assert res.exit_code == 0, res.output
    assert (user / "checkpoint.json").exists() and not (user / "paper.pdf").exists()
    res = _cli("export", run, user)  # now an export: re-exporting into it is fine
    assert res.exit_code == 0, res.output


def test_generate_onto_a_user_folder_refused(tiny_run, tmp_path):
    _, run = tiny_run
    user = tmp_path / "gen"
    user.mkdir()
    (user / "data.mseed").write_bytes(b"raw field data")
    args = ["generate", "--model", run, "--event", "35,-117,8,3.5", "--station", "35.1,-117.05", "--no-png",
            "--quiet", "--device", "cpu", "--out", user]
    _one_line_error(_cli(*args), user, "data.mseed")
    assert (user / "data.mseed").read_bytes() == b"raw field data"
    _one_line_error(_cli(*args[:-1], run / "gen"), "inside the input")  # into the model's run folder
    res = _cli(*args, "--overwrite")
    assert res.exit_code == 0, res.output
    assert (user / "data.mseed").read_bytes() == b"raw field data"  # --overwrite writes into it, deletes nothing


def test_duplicate_station_rows_write_distinct_files(tiny_run, tmp_path):
    _, run = tiny_run
    csv = tmp_path / "s.csv"
    csv.write_text("station_lat,station_lon,event_lat,event_lon,event_depth_km,magnitude,station\n"
                   "35.1,-117.05,35.0,-117.0,8,3.5,AAA\n35.2,-117.05,35.0,-117.0,8,3.5,AAA\n")
    out = tmp_path / "gen"
    res = _cli("generate", "--model", run, "--scenarios", csv, "--quiet", "--device", "cpu", "--out", out)
    assert res.exit_code == 0, res.output
    written = sorted(p for p in out.iterdir() if not p.name.startswith("."))
    assert f"wrote {len(written)} file(s)" in res.output, (res.output, written)
    # per row: .mseed, .mseed.json, .png; per run: intensity_measures.csv, psa_vs_gmpe.png (two stations)
    assert len(written) == 8 and {"intensity_measures.csv", "psa_vs_gmpe.png"} <= {p.name for p in written}
    seeds = sorted(json.loads(p.read_text())["heggs"]["seed"] for p in written if p.name.endswith(".mseed.json"))
    assert seeds == [1000, 2000]  # one record of each row (rows get seed 1000 x row number)


def test_train_out_at_a_user_folder_refused(tiny_run, tmp_path):
    store, _ = tiny_run
    user = tmp_path / "work"
    user.mkdir()
    (user / "draft.docx").write_bytes(b"draft")
    res = _cli("train", "--data", store, "--out", user, "--steps", "1", "--no-progress", "--device", "cpu")
    _one_line_error(res, user, "draft.docx")
    assert sorted(p.name for p in user.iterdir()) == ["draft.docx"]
    _one_line_error(_cli("train", "--data", store, "--out", store.parent, "--no-progress"), "input")


def test_evaluate_onto_a_user_folder_or_the_store_refused(tiny_run, tmp_path):
    store, run = tiny_run
    user = tmp_path / "report"
    user.mkdir()
    (user / "old.md").write_text("mine\n")
    _one_line_error(_cli("evaluate", "--model", run, "--data", store, "--out", user, "--no-progress"), user, "old.md")
    _one_line_error(_cli("evaluate", "--model", run, "--data", store, "--out", store, "--no-progress"), "input")
    assert (user / "old.md").read_text() == "mine\n"


# --- concurrent writers, scratch of killed runs ---------------------------------------------


def test_second_writer_fails_at_once_naming_the_holder(sim_store, scenario_csvs, tmp_path):
    from heggs.ingest.run import ingest

    before = _tree(sim_store)
    with folders.lock(sim_store):
        _one_line_error(_simulate(sim_store, scenario_csvs), sim_store, f"pid {os.getpid()}")
        with pytest.raises(folders.FolderError, match="another heggs process"):
            ingest([], sim_store, progress=False)
    assert _tree(sim_store) == before
    assert not folders.lock_path(sim_store).exists()  # released and removed
    res = _simulate(sim_store, scenario_csvs)  # free again
    assert res.exit_code == 0, res.output
    assert _tree(sim_store) == before  # same seed, same store


def test_killed_runs_scratch_is_cleaned_on_the_next_run(sim_store, scenario_csvs, tmp_path):
    parent = sim_store.parent
    name = sim_store.name
    leftovers = [parent / f".{name}.tmp-0123abcd", parent / f".{name}.old-89abcdef",  # heggs.store.StoreWriter
                 parent / f".{name}.scratch-k2_x9q0z"]  # heggs.ingest.run scratch
    for p in leftovers:
        p.mkdir()
        (p / "waveforms.hdf5").write_bytes(b"\0" * 1000)
    other = parent / ".another.tmp-0123abcd"  # another folder's scratch: not ours to remove
    other.mkdir()
    assert _simulate(sim_store, scenario_csvs).exit_code == 0
    assert not any(p.exists() for p in leftovers) and other.exists()

    gen = tmp_path / "gen"
    folders.mark(gen, "generation")
    (gen / "ev.XX.S1.00.mseed").write_bytes(b"kept")
    tmp = gen / ".ev.XX.S2.00.mseed.tmp-0123abcd"  # heggs.output atomic write
    tmp.write_bytes(b"half")
    with folders.claim(gen, "generation"):
        pass
    assert not tmp.exists() and (gen / "ev.XX.S1.00.mseed").read_bytes() == b"kept"


def test_killed_train_and_export_scratch_is_cleaned(tiny_run, tmp_path):
    _, run = tiny_run
    dst = tmp_path / "exp"
    stale = [tmp_path / ".tmp-exp-0123abcd", tmp_path / ".tmp-old-exp-89abcdef"]  # heggs.checkpoint.export_inference
    for p in stale:
        p.mkdir()
    assert _cli("export", run, dst).exit_code == 0
    assert not any(p.exists() for p in stale)
    # a run killed while rewriting its log (heggs.train) and while writing a checkpoint
    fake = tmp_path / "run"
    (fake / "checkpoints" / ".tmp-step_0000004-0123abcd").mkdir(parents=True)
    (fake / "log.jsonl").write_text("")
    (fake / "log.tmp").write_text("{")
    folders.clean_scratch(fake)
    assert not (fake / "log.tmp").exists() and not list((fake / "checkpoints").iterdir())
