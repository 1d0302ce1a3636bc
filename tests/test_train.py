"""Tests of heggs.train / heggs.checkpoint: real-data overfit vs the mean-spectrogram baseline,
condition swap, save -> load -> identical samples, SIGKILL + resume equality, NaN stop,
atomic checkpoints, JSONL logs.

Real data: 4 iceland_dike records (../shared/data) ingested with heggs.ingest.archives + heggs.ingest.run
(``tests/train_store.py``). Where ../shared/data is absent the real-pairs tests (overfit, swap,
save/load) skip with a clear reason and the machinery tests run on synthetic records instead.
Everything runs on one CPU thread (on a loaded 2-core machine more threads are much slower).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from heggs import checkpoint as ckpt
from heggs import config as C
from heggs import train as T
from heggs.data import PairDataset
from heggs.model.diffusion import masked_spectrogram_loss

sys.path.insert(0, str(Path(__file__).parent))
from train_store import small_store  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

#: a tiny model for 10 s at 25 Hz (250 samples), 1-10 Hz: the spectrogram is (6, 33, 8)
TEST_MODEL = {"ae_channels": [16, 16], "latent_channels": 16, "n_fft": 64, "hop_length": 32}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _cfg(store: Path, **kw) -> C.TrainConfig:
    cfg = C.TrainConfig(
        data=str(store), preset="tiny", model=C.model_preset("tiny", **TEST_MODEL), batch_size=4, steps=20,
        lr=3e-3, min_lr=3e-4, warmup_steps=10, lr_schedule="cosine", ema_decay=0.9, checkpoint_interval=10,
        log_interval=5, num_workers=0, p_same=0.5, seed=0,
    )
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture(scope="session")
def store(artefact) -> Path:
    """4 records, 2 events x 2 stations, 10 s from the origin at 25 Hz, 1-10 Hz, counts: real
    iceland_dike records where ../shared/data is present, else synthetic ones (the machinery
    tests — resume, NaN, checkpoints — then still run; the real-pairs tests skip). Built once
    per test run (``artefact``, tests/conftest.py); tests only read it."""
    kw = dict(n_events=2, n_stations=2, rate_hz=25.0, band_max_hz=10.0)
    real = SHARED_DATA.exists()
    folder = artefact("train-store4", {**kw, "real": real},
                      lambda out: small_store(out / "store4", SHARED_DATA if real else None, **kw))
    return folder / "store4"


#: the overfit run's settings (800 steps: at 600 the high-noise end of the objective — t near T,
#: where only the condition identifies the target — was not reliably learnt; the trained/baseline
#: ratio then depended on the initial weights, 0.05-0.12 over inits at 600 steps, see
#: benchmarks/model_sampling_ablation.py)
OVERFIT = dict(steps=800, checkpoint_interval=400, log_interval=50, ema_decay=0.95)


def _train_one_thread(cfg: C.TrainConfig, out: Path) -> Path:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return T.train(cfg, out, progress=False)
    finally:
        torch.set_num_threads(n)


@pytest.fixture(scope="session")
def overfit_run(shared_data, store, artefact):
    """The tiny model trained on the 4 real records until it has memorised them (800 steps, one
    thread). Built once per test run, also under ``pytest -n 2`` (``artefact``: a file lock in the
    run's common temp folder; the ``overfit`` xdist group keeps its tests on one worker under
    ``--dist loadgroup``); the tests only read the run."""
    cfg = _cfg(store, **OVERFIT)
    folder = artefact("overfit-run", C.to_dict(cfg), lambda out: _train_one_thread(cfg, out / "run"))
    out = folder / "run"
    return out, ckpt.latest_checkpoint(out)


def _all_items(model, dataset) -> dict[str, torch.Tensor]:
    return default_collate([dataset[i] for i in range(len(dataset))])


def mean_spectrogram_baseline(model, batch) -> float:
    """Loss of predicting the MEAN spectrogram, with the model's own masking and loss terms.

    Each target's loss-space spectrogram Y_i is its compressed complex STFT (waveform zeroed
    outside its valid range), divided by its masked RMS when it is in counts (shape only, as
    the loss does). The predictor P is the masked per-bin mean of Y_i over the training targets
    (the MSE-optimal constant prediction of the complex term). The baseline is the mean over
    targets of the model's own per-item spectrogram-space objective (``HEGGSNet.objective``: the
    masked complex term plus the weighted compressed-magnitude term) with P in place of the
    model's output. The optional latent term has no meaning for a constant prediction; the
    trained model is scored on the same spectrogram-space terms (``loss_objective``).
    """
    from heggs.model.spectrogram import masked_rms

    with torch.no_grad():
        x, m = model.spectrogram_and_mask(batch["tgt"], batch["tgt_valid"], batch["tgt_band_max_hz"])
        phys = batch["tgt_physical"].bool()
        y = torch.where(phys[:, None, None, None], x, x / masked_rms(x, m))
        p = ((y * m).sum(0, keepdim=True) / m.sum(0, keepdim=True).clamp_min(1.0)).expand_as(x)
        per, _ = model.objective(p, x, m, phys)
    return float(per.mean())


def model_loss_on(model, batch, seeds) -> float:
    """Mean spectrogram-space objective of the model (``loss_objective``: what the baseline is
    scored on, latent term excluded) over the given noise seeds (t spread over 1..T), no grad."""
    vals = []
    with torch.no_grad():
        for s in seeds:
            b = dict(batch, noise_seed=torch.arange(len(batch["tgt"])) * 7919 + s)
            vals.append(model.loss(b)[1]["loss_objective"])
    return float(np.mean(vals))


@pytest.mark.slow
@pytest.mark.xdist_group("overfit")
def test_overfit_real_pairs_beats_mean_spectrogram(overfit_run):
    out, final = overfit_run
    model, normalizer, info = ckpt.load_checkpoint(final, ema=False)
    ds = PairDataset(info["data"]["store"], "train", normalizer, p_same=0.5, seed=0)
    batch = _all_items(model, ds)
    base = mean_spectrogram_baseline(model, batch)
    trained = model_loss_on(model, batch, range(16))
    untrained = model_loss_on(type(model)(model.cfg), batch, range(16))
    print(f"mean-spectrogram baseline {base:.4f}, untrained {untrained:.4f}, trained {trained:.4f}")
    assert base > 0.5  # 4 unrelated records: the mean explains little
    assert trained <= 0.1 * base, f"trained loss {trained:.4f} > 0.1 x baseline {base:.4f}"
    # the log is JSON lines with the documented keys, one per log_interval
    lines = [json.loads(line) for line in (out / T.LOG_FILE).read_text().splitlines()]
    assert [d["step"] for d in lines] == list(range(50, 801, 50))
    for d in lines:
        assert {"step", "epoch", "loss", "lr", "grad_norm", "pairs_per_s", "loss_spec"} <= set(d)
        assert np.isfinite(d["loss"]) and d["pairs_per_s"] > 0
    assert lines[-1]["loss"] < lines[0]["loss"]


@pytest.mark.slow
@pytest.mark.xdist_group("overfit")
def test_condition_swap_swaps_outputs(overfit_run):
    """Generated with the default sampler from noise with target A's condition, the output
    resembles A, not B; swap -> swap. From a source record of the same event, likewise."""
    _, final = overfit_run
    model, normalizer, info = ckpt.load_checkpoint(final)  # EMA weights, as generation uses
    ds = PairDataset(info["data"]["store"], "train", normalizer, p_same=0.5, seed=0)
    batch = _all_items(model, ds)
    a, b = 0, 2  # two records of different events
    c = batch["c_tgt"][[a, b]]
    x, m = model.spectrogram_and_mask(batch["tgt"][[a, b]], batch["tgt_valid"][[a, b]], batch["tgt_band_max_hz"][[a, b]])
    phys = torch.zeros(2, dtype=torch.bool)

    def dist(gen, k):  # shape-only masked spectrogram distance of generated row vs target k
        g, _ = model.spectrogram_and_mask(gen, batch["tgt_valid"][[a, b]], batch["tgt_band_max_hz"][[a, b]])
        return masked_spectrogram_loss(g, x[[k, k]], m[[k, k]], phys)

    # the real generation path: the default DDIM chain (cfg.sampler_steps) from pure noise
    assert model.cfg.sampler_steps > 1
    out = model.generate(c, seeds=[5, 5])
    swapped = model.generate(c.flip(0), seeds=[5, 5])
    d_to_a, d_to_b = dist(out, 0), dist(out, 1)
    print("distance of [gen(cA), gen(cB)] to A", d_to_a.tolist(), "to B", d_to_b.tolist())
    assert d_to_a[0] < 0.5 * d_to_b[0] and d_to_b[1] < 0.5 * d_to_a[1]
    torch.testing.assert_close(swapped, out.flip(0), rtol=1e-5, atol=1e-5 * float(out.abs().max()))

    # from a source record (the other station of the same event), default t_start and steps
    sid = ds.store.metadata["source_id"].astype(str).to_numpy()[batch["tgt_index"].numpy()]
    src = [next(j for j in range(len(sid)) if j != i and sid[j] == sid[i]) for i in (a, b)]
    assert sid[src[0]] != sid[src[1]]
    from_src = model.generate(c, seeds=[5, 5], src=batch["tgt"][src], c_src=batch["c_tgt"][src],
                              src_valid=batch["tgt_valid"][src], src_band_max_hz=batch["tgt_band_max_hz"][src])
    s_to_a, s_to_b = dist(from_src, 0), dist(from_src, 1)
    print("from source: distance of [gen(cA), gen(cB)] to A", s_to_a.tolist(), "to B", s_to_b.tolist())
    assert s_to_a[0] < 0.5 * s_to_b[0] and s_to_b[1] < 0.5 * s_to_a[1]


@pytest.mark.slow
@pytest.mark.xdist_group("overfit")
def test_save_load_checkpoint_gives_identical_samples(overfit_run, tmp_path):
    _, final = overfit_run
    m1, n1, info = ckpt.load_checkpoint(final)
    m2, n2, _ = ckpt.load_checkpoint(final.parent.parent)  # a run folder resolves to its newest checkpoint
    c = torch.from_numpy(n1.transform(np.array([[64.7, -17.0, 64.75, -16.95, 6.0, 1.2, 12.0, 0.3, 0.95, -0.3, -0.95]])))
    torch.testing.assert_close(m1.generate(c, seeds=[3]), m2.generate(c, seeds=[3]), rtol=0, atol=0)
    assert n2.to_dict() == n1.to_dict()
    assert info["weights_loaded"] == "ema" and info["step"] == 800 and info["finished"]
    assert info["data"]["n_records"] == 4 and len(info["data"]["metadata_sha256"]) == 64
    assert info["training_ranges"]["n_records"] == 4 and info["model_config"]["n_samples"] == 250
    for name in ("model.safetensors", "ema.safetensors", "optimizer.safetensors", "checkpoint.json"):
        assert (Path(info["path"]) / name).exists()
    # EMA and online weights differ (the EMA really averages)
    online, ema = ckpt.read_tensors(final, "model"), ckpt.read_tensors(final, "ema")
    assert any(not torch.equal(online[k], ema[k]) for k in online if online[k].is_floating_point())


@pytest.mark.slow
def test_sigkill_and_resume_equals_uninterrupted(store, tmp_path):
    cfg = _cfg(store, steps=20, checkpoint_interval=5, batch_size=2, log_interval=5)
    C.save(cfg, tmp_path / "cfg.json")
    ref = T.train(cfg, tmp_path / "ref", progress=False)

    run = tmp_path / "killed"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "heggs.cli", "train", "--config", str(tmp_path / "cfg.json"), "--out", str(run),
           "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not ckpt.list_checkpoints(run) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    done = ckpt.list_checkpoints(run)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert done and done[-1][0] < 20, f"the run was not interrupted mid-way: {done}"
    res = subprocess.run(cmd + ["--resume"], cwd=REPO, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    resumed = ckpt.latest_checkpoint(run)
    assert resumed.name == ref.name == "step_0000020"
    for which in ("model", "ema", "optimizer"):
        a, b = ckpt.read_tensors(ref, which), ckpt.read_tensors(resumed, which)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{which} tensor {k} differs after kill + resume"
    steps = [json.loads(line)["step"] for line in (run / T.LOG_FILE).read_text().splitlines()]
    assert steps == [5, 10, 15, 20]  # lines of the killed run past its checkpoint are replaced


def test_nan_stops_with_clear_message_and_keeps_last_checkpoint(store, tmp_path, monkeypatch):
    real_loss = T.HEGGSNet.loss
    calls = {"n": 0}

    def bad_loss(self, batch):
        calls["n"] += 1
        loss, logs = real_loss(self, batch)
        return (loss * float("nan") if calls["n"] == 7 else loss), logs

    monkeypatch.setattr(T.HEGGSNet, "loss", bad_loss)
    cfg = _cfg(store, steps=10, checkpoint_interval=3, batch_size=4)
    with pytest.raises(T.TrainingDiverged, match=r"non-finite loss .* at step 7 .*step_0000006"):
        T.train(cfg, tmp_path / "run", progress=False)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "run")] == [3, 6]
    model, _, info = ckpt.load_checkpoint(tmp_path / "run")
    assert info["step"] == 6 and all(torch.isfinite(p).all() for p in model.parameters())
    assert not list((tmp_path / "run" / ckpt.CHECKPOINT_DIR).glob(".tmp-*"))


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    w = {"a": torch.arange(4.0)}
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.ones(3))], lr=1e-3)
    opt.param_groups[0]["params"][0].grad = torch.ones(3)
    opt.step()
    ckpt.write_checkpoint(tmp_path, 1, w, w, opt.state_dict(), {"format": "x"})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "flatten_optimizer_state", boom)
    with pytest.raises(OSError, match="disk full"):
        ckpt.write_checkpoint(tmp_path, 2, w, w, opt.state_dict(), {"format": "x"})
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [1]
    assert sorted(p.name for p in (tmp_path / ckpt.CHECKPOINT_DIR).iterdir()) == ["step_0000001"]
    monkeypatch.undo()
    # optimizer state survives the safetensors + JSON round trip exactly (no pickle)
    back = ckpt.unflatten_optimizer_state(ckpt.read_tensors(tmp_path, "optimizer"), ckpt.read_info(tmp_path)["optimizer"])
    opt2 = torch.optim.AdamW([torch.nn.Parameter(torch.ones(3))], lr=1e-3)
    opt2.load_state_dict(back)
    sd1, sd2 = opt.state_dict(), opt2.state_dict()
    assert sd1["param_groups"] == sd2["param_groups"]
    for k in sd1["state"][0]:
        assert torch.equal(sd1["state"][0][k], sd2["state"][0][k])
    # old checkpoints beyond `keep` are pruned
    for s in range(2, 6):
        ckpt.write_checkpoint(tmp_path, s, w, w, opt.state_dict(), {"format": "x"}, keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [4, 5]


def _epoch_order(ds: PairDataset, cfg: C.TrainConfig, world: int, epoch: int, start: int = 0) -> list[list[list[int]]]:
    """``order[rank][step]``: the store rows (``tgt_index``) that :func:`heggs.train.epoch_batches`
    gives process ``rank`` of ``world`` for each optimizer step of ``epoch`` from ``start`` on,
    checking the micro-batch structure on the way (``grad_accum`` micro-batches of
    ``batch_size / (world * grad_accum)`` pairs per step)."""
    micro = cfg.batch_size // (world * cfg.grad_accum)
    order = []
    for rank in range(world):
        steps = []
        for group in T.epoch_batches(ds, cfg, T.DistInfo(rank=rank, world_size=world), epoch, start):
            assert len(group) == cfg.grad_accum and all(len(b["tgt_index"]) == micro for b in group)
            steps.append([int(i) for b in group for i in b["tgt_index"]])
        order.append(steps)
    return order


def test_epoch_batches_cover_each_epoch_once_whatever_the_number_of_processes(tmp_path):
    """``heggs.train.epoch_batches`` (what the training loop iterates): in each epoch the
    processes' pairs are disjoint and together cover the epoch (all but ``len % batch_size``
    records); step ``s`` holds the same pairs for 1, 2 or 4 processes and any ``grad_accum``;
    a resumed epoch (``start``) continues the same order; the order is fixed by (seed, epoch)
    and differs between epochs and seeds; the items carry the epoch's noise seeds."""
    from test_data import make_store

    store = make_store(tmp_path / "s")
    ds = PairDataset(store, split=None, p_same=0.5, seed=0)
    rows = {int(ds[i]["tgt_index"]) for i in range(len(ds))}
    B = 4
    n_steps = len(ds) // B
    assert len(rows) == len(ds) == 17 and len(ds) % B == 1  # one record left out per epoch
    ref: dict[int, list[list[int]]] = {}
    for world, accum in ((1, 1), (1, 2), (2, 1), (2, 2), (4, 1)):
        cfg = C.TrainConfig(batch_size=B, grad_accum=accum, seed=7, num_workers=0)
        T.check_config(cfg, world_size=world)
        for epoch in (0, 1, 2):
            order = _epoch_order(ds, cfg, world, epoch)
            assert [len(steps) for steps in order] == [n_steps] * world
            steps = [[i for r in range(world) for i in order[r][s]] for s in range(n_steps)]
            flat = [i for step in steps for i in step]
            assert len(flat) == len(set(flat)) == n_steps * B and set(flat) <= rows  # disjoint, complete
            ref.setdefault(epoch, [sorted(step) for step in steps])
            assert [sorted(step) for step in steps] == ref[epoch], f"world {world}, grad_accum {accum}, epoch {epoch}"
            assert _epoch_order(ds, cfg, world, epoch, start=2) == [o[2:] for o in order]  # resume mid-epoch
    # fixed by (seed, epoch): a fresh dataset object gives the same order; epochs and seeds differ
    cfg = C.TrainConfig(batch_size=B, seed=7, num_workers=0)
    fresh = PairDataset(store, split=None, p_same=0.5, seed=0)
    assert [sorted(s) for s in _epoch_order(fresh, cfg, 1, 1)[0]] == ref[1]
    assert _epoch_order(fresh, cfg, 1, 1) == _epoch_order(ds, cfg, 1, 1)
    assert ref[0] != ref[1] and ref[1] != ref[2] and ref[0] != ref[2]
    other_seed = C.TrainConfig(batch_size=B, seed=8, num_workers=0)
    assert [sorted(s) for s in _epoch_order(ds, other_seed, 1, 1)[0]] != ref[1]
    # the record left out changes with the epoch: over three epochs every record is a target
    assert set().union(*(step for e in ref for step in ref[e])) == rows
    # each epoch's items carry that epoch's noise seeds (epoch_batches sets the dataset's epoch)
    seeds = {}
    for epoch in (0, 1):
        for group in T.epoch_batches(ds, cfg, T.DistInfo(), epoch, 0):
            for b in group:
                for t, s in zip(b["tgt_index"].tolist(), b["noise_seed"].tolist()):
                    seeds.setdefault(t, {})[epoch] = s
    both = [t for t in seeds if len(seeds[t]) == 2]
    assert both and all(seeds[t][0] != seeds[t][1] for t in both)


def test_lr_schedule_and_config_checks():
    cfg = C.TrainConfig(lr=1.0, min_lr=0.1, warmup_steps=10, steps=110)
    assert T.lr_at(0, cfg) == pytest.approx(0.1) and T.lr_at(9, cfg) == pytest.approx(1.0)
    assert T.lr_at(60, cfg) == pytest.approx(0.55) and T.lr_at(110, cfg) == pytest.approx(0.1)
    assert T.ema_decay_at(1, C.TrainConfig(ema_decay=0.999)) == pytest.approx(2 / 11)
    with pytest.raises(ValueError, match="divisible"):
        T.check_config(C.TrainConfig(batch_size=6, grad_accum=4), world_size=1)
    with pytest.raises(ValueError, match="amp"):
        T.check_config(C.TrainConfig(amp="fp8"))
    with pytest.raises(ValueError, match="unknown config key"):
        C.from_dict(C.TrainConfig, {"batchsize": 3})


def test_configs_in_repo_load():
    for name in ("tiny", "paper"):
        cfg = C.load(C.TrainConfig, REPO / "configs" / f"{name}.json")
        assert cfg.preset == name
        T.check_config(cfg)
    paper = C.load(C.TrainConfig, REPO / "configs" / "paper.json")
    assert (paper.model.n_samples, paper.model.sampling_rate_hz, paper.model.n_components) == (6000, 100.0, 3)


def test_refuses_to_overwrite_a_run_without_resume(store, tmp_path):
    cfg = _cfg(store, steps=2, checkpoint_interval=2, batch_size=4)
    T.train(cfg, tmp_path / "run", progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        T.train(cfg, tmp_path / "run", progress=False)
    # a finished run is extended by resuming with more steps (its own config otherwise)
    final = T.train(None, tmp_path / "run", resume=True, steps=4, progress=False)
    assert final.name == "step_0000004" and ckpt.read_info(final)["train_config"]["steps"] == 4
    with pytest.raises(ValueError, match="fewer than one batch"):
        T.train(_cfg(store, batch_size=8), tmp_path / "other", progress=False)


def test_wall_clock_budget_stops_with_a_checkpoint_and_resume_keeps_it(store, tmp_path, monkeypatch):
    """max_wall_s: the run stops after the step that spends the budget, with a checkpoint saying
    so; resuming a spent run trains nothing; the time is summed over resumes."""
    real_loss = T.HEGGSNet.loss

    def slow_loss(self, batch):  # every step takes >= 0.25 s, whatever the machine
        time.sleep(0.25)
        return real_loss(self, batch)

    monkeypatch.setattr(T.HEGGSNet, "loss", slow_loss)
    cfg = _cfg(store, steps=100, checkpoint_interval=50, batch_size=4, max_wall_s=1.0)
    final = T.train(cfg, tmp_path / "run", progress=False)
    info = ckpt.read_info(final)
    assert 2 <= info["step"] <= 5, info["step"]  # 4 x 0.25 s = 1 s, plus the steps' own time
    assert info["budget_spent"] and not info["finished"] and info["train_wall_s"] >= 1.0
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "run")] == [info["step"]]
    again = T.train(None, tmp_path / "run", resume=True, progress=False)
    assert again == final and [s for s, _ in ckpt.list_checkpoints(tmp_path / "run")] == [info["step"]]
    # no budget: the same settings run to the end
    free = T.train(_cfg(store, steps=3, checkpoint_interval=50, batch_size=4), tmp_path / "free", progress=False)
    assert ckpt.read_info(free)["finished"] and not ckpt.read_info(free)["budget_spent"]
    with pytest.raises(ValueError, match="max_wall_s"):
        T.check_config(_cfg(store, max_wall_s=-1.0))
