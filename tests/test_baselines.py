"""Baselines and ablations through the same model, config and training code (issue: evaluation).

- ``use_acm = False`` (no-ACM ablation): no ACM is built, the decoder's output is the result;
- ``shape_only_targets`` (the paper's LDM on normalised waveforms): the loss ignores the level;
- ``ae_pretrain_steps`` (AE pretrained instead of end to end): the autoencoder trains alone,
  then stays frozen while the diffusion parts train;
- ``init_from`` (fine-tuning, e.g. after pre-training on a simulated store), ``physical_only``;
- ``"extends"`` in config files (a baseline config states only what differs).
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from heggs import checkpoint as ckpt
from heggs import config as C
from heggs.model.network import HEGGSNet, dummy_batch
from heggs.simulate.simulator import random_events, random_stations, simulate_store
from heggs.train import train

TINY = {"ae_channels": [8, 8], "latent_channels": 4, "n_fft": 64, "hop_length": 32, "unet_channels": [16, 16],
        "sampler_steps": 2}


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """4 simulated events x 3 stations in m/s², 20 s at 25 Hz, all in the train split."""
    root = tmp_path_factory.mktemp("blstore")
    cfg = C.SimulateConfig(window=C.WindowConfig(length_s=20.0, sampling_rate_hz=25.0, band_max_hz=10.0),
                           split_fractions=(1.0, 0.0, 0.0))
    region = (35.0, 35.3, -117.3, -117.0)
    simulate_store(root / "s", random_events(4, region, 3.5, 4.5, seed=1, cfg=cfg), random_stations(3, region, seed=1, cfg=cfg),
                   cfg, seed=1, progress=False)
    return root / "s"


def _cfg(store, steps=6, **kw):
    model = kw.pop("model", {})
    base = dict(batch_size=4, warmup_steps=1, checkpoint_interval=steps, log_interval=1, num_workers=0)
    return C.TrainConfig(data=str(store), preset="tiny", model=C.model_preset("tiny", **{**TINY, **model}), steps=steps,
                         **{**base, **kw})


def test_no_acm_model_has_no_acm_and_learns_the_level_in_the_decoder():
    cfg = C.model_preset("tiny", **TINY, n_samples=250, sampling_rate_hz=25.0, use_acm=False)
    net = HEGGSNet(cfg)
    assert net.acm is None and "acm" not in net.parameter_counts()
    batch = dummy_batch(cfg, 4)
    loss, _ = net.loss(batch)
    loss.backward()
    assert all(p.grad is not None for p in net.decoder.parameters())
    # without the ACM the decoder's raw output is the spectrogram (no RMS normalisation, no gain)
    from heggs.model.autoencoder import crop

    z = torch.randn((2,) + net.latent_shape)
    _, pooled = net.cond(torch.zeros(2, 11))
    with torch.no_grad():
        assert torch.equal(net.decode(z, pooled), crop(net.decoder(z), net.n_freqs, net.n_frames).float())
        with_acm = HEGGSNet(C.from_dict(C.ModelConfig, {**C.to_dict(cfg), "use_acm": True}))
        shape = with_acm.decode(z, pooled) / with_acm.acm(z, pooled).repeat_interleave(2, dim=1)
        assert torch.allclose(shape.square().mean(dim=(1, 2, 3)), torch.ones(2), rtol=1e-3)
    out = net.generate(torch.zeros(2, 11), [0, 1])
    assert out.shape == (2, 3, 250) and torch.isfinite(out).all()


def test_shape_only_targets_ignore_the_level():
    base = C.model_preset("tiny", **TINY, n_samples=250, sampling_rate_hz=25.0)
    batch = dummy_batch(base, 4)
    batch["tgt_physical"][:] = True
    loud = {**batch, "tgt": batch["tgt"] * 10}
    for shape_only, same in ((True, True), (False, False)):
        torch.manual_seed(0)
        net = HEGGSNet(C.from_dict(C.ModelConfig, {**C.to_dict(base), "shape_only_targets": shape_only})).eval()
        with torch.no_grad():
            a, b = float(net.loss(batch)[0]), float(net.loss(loud)[0])
        assert (abs(a - b) < 1e-4 * abs(a)) == same, (shape_only, a, b)
        assert net.output_units == ("normalised" if shape_only else "m/s2")


def test_ae_pretraining_freezes_the_autoencoder(store, tmp_path):
    run = tmp_path / "ae"
    train(_cfg(store, steps=6, ae_pretrain_steps=3, checkpoint_interval=3, keep_checkpoints=0), run, progress=False)
    s3 = load_file(str(ckpt.checkpoint_dir(run) / "step_0000003" / "model.safetensors"))
    s6 = load_file(str(ckpt.checkpoint_dir(run) / "step_0000006" / "model.safetensors"))
    init = HEGGSNet(C.from_dict(C.ModelConfig, ckpt.read_info(ckpt.checkpoint_dir(run) / "step_0000003")["model_config"]))
    torch.manual_seed(0)  # the trainer seeds the initial weights with cfg.seed
    init = {k: v for k, v in HEGGSNet(init.cfg).state_dict().items()}
    ae = [k for k in s3 if k.split(".")[0] in ("encoder", "decoder", "acm")]
    diff = [k for k in s3 if k.split(".")[0] in ("unet", "eta")]
    # phase 1: only the autoencoder (and tau_theta, for the ACM) moved
    assert any(not torch.equal(s3[k], init[k]) for k in ae)
    assert all(torch.equal(s3[k], init[k]) for k in diff)
    # phase 2: the autoencoder is frozen, the diffusion parts move
    assert all(torch.equal(s3[k], s6[k]) for k in ae)
    assert any(not torch.equal(s3[k], s6[k]) for k in diff)
    logs = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert all("loss_ae_spec" in r for r in logs[:3]) and not any("loss_ae_spec" in r for r in logs[3:])
    with pytest.raises(ValueError, match="ae_pretrain_steps"):
        train(_cfg(store, steps=3, ae_pretrain_steps=3), tmp_path / "bad", progress=False)


def test_init_from_and_physical_only(store, tmp_path):
    train(_cfg(store, steps=2), tmp_path / "pre", progress=False)
    ema = load_file(str(ckpt.latest_checkpoint(tmp_path / "pre") / "ema.safetensors"))
    # one step at lr 1e-9 (lr 0 is refused) moves no weight by more than ~1e-9 (Adam's step is
    # ~lr): the weights it started from are the pre-trained EMA weights (a fresh init differs by ~0.1)
    final = train(_cfg(store, steps=1, init_from=str(tmp_path / "pre"), lr=1e-9, min_lr=0.0, physical_only=True),
                  tmp_path / "ft", progress=False)
    got = load_file(str(final / "model.safetensors"))
    assert all(float((got[k] - ema[k]).abs().max()) <= 1e-8 for k in ema)
    info = ckpt.read_info(final)
    assert info["train_config"]["physical_only"] and info["data"]["pairs"]["physical_targets"] == info["data"]["pairs"]["targets"]
    with pytest.raises(ValueError, match="same architecture"):
        train(_cfg(store, steps=1, init_from=str(tmp_path / "pre"), model={"latent_channels": 8}), tmp_path / "x",
              progress=False)


def test_config_extends(tmp_path):
    (tmp_path / "base.json").write_text(json.dumps({"steps": 7, "lr": 0.5, "model": {"latent_channels": 3, "n_fft": 64}}))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_text(json.dumps({"extends": "../base.json", "lr": 0.1,
                                                          "model": {"use_acm": False}}))
    cfg = C.load(C.TrainConfig, tmp_path / "sub" / "b.json")
    assert (cfg.steps, cfg.lr, cfg.model.latent_channels, cfg.model.n_fft, cfg.model.use_acm) == (7, 0.1, 3, 64, False)
    # the shipped baseline configs resolve and differ from the default in what they say
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs"
    default = C.load(C.TrainConfig, root / "default.json")
    ldm = C.load(C.TrainConfig, root / "baselines" / "ldm.json")
    assert ldm.p_same == 1.0 and ldm.model.shape_only_targets and not ldm.model.use_acm
    assert (ldm.steps, ldm.batch_size, ldm.model.ae_channels) == (default.steps, default.batch_size, default.model.ae_channels)
    for name in ("ldm_paired", "no_acm", "ae_pretrained", "physical_only"):
        C.load(C.TrainConfig, root / "baselines" / f"{name}.json")
    (tmp_path / "bad.json").write_text(json.dumps({"extends": 3}))
    with pytest.raises(ValueError, match="extends"):
        C.load(C.TrainConfig, tmp_path / "bad.json")


def test_old_weights_files_load_without_warning(tmp_path):
    """A weights file written before a config key existed loads quietly (the key takes its default)."""
    import warnings

    from safetensors.torch import save_file

    cfg = C.model_preset("tiny", **TINY, n_samples=250, sampling_rate_hz=25.0)
    net = HEGGSNet(cfg)
    old = {k: v for k, v in C.to_dict(cfg).items() if k not in ("use_acm", "shape_only_targets")}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "w.safetensors"),
              metadata={"format": "heggs-model-weights-v1", "model_config": json.dumps(old)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = HEGGSNet.from_weights(tmp_path / "w.safetensors")
    mine, theirs = net.state_dict(), again.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
