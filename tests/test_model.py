"""Tests of the HEGGS model (heggs.model.autoencoder, acm, unet, diffusion, sampling, model) on tiny CPU configs."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from heggs.model.acm import LearnableSoftplus
from heggs.config import MODEL_PRESETS, ModelConfig, from_dict, model_preset, to_dict
from heggs.model.diffusion import alpha_bar_schedule, masked_magnitude_loss, masked_spectrogram_loss, seeded_noise, seeded_timesteps
from heggs.model.network import HEGGSNet, dummy_batch
from heggs.model.sampling import ddim_sample, ddim_timesteps
from heggs.model.spectrogram import n_frames, n_freqs

SMALL = dict(
    n_samples=512,
    n_fft=64,
    hop_length=16,
    ae_channels=(8, 8),
    latent_channels=4,
    acm_channels=8,
    acm_dense_depth=2,
    acm_attention_blocks=1,
    acm_heads=2,
    cond_hidden=16,
    cond_tokens=2,
    cond_dim=16,
    unet_channels=(16, 16),
    unet_res_blocks=1,
    unet_attention_levels=(1,),
    unet_heads=2,
    eta_channels=8,
    eta_blocks=1,
    n_timesteps=100,
    sampler_steps=5,
    amplitude_scale=0.5,
)


def small_cfg(**kw) -> ModelConfig:
    return model_preset("tiny", **{**SMALL, **kw})


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Intra-op threads spin badly on shared cores (measured 20x slower with 2 threads here)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def model(one_thread) -> HEGGSNet:
    torch.manual_seed(0)
    return HEGGSNet(small_cfg())


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _perturb_eta(m: HEGGSNet) -> None:
    """Give η and x_θ's zero-initialised outputs non-zero weights so tests exercise them."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in (m.eta.conv_out.weight, m.unet.conv_out.weight):
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)


def test_config_presets_and_json_round_trip() -> None:
    for name in MODEL_PRESETS:
        cfg = model_preset(name)
        again = from_dict(ModelConfig, json.loads(json.dumps(to_dict(cfg))))
        assert again == cfg
    paper = model_preset("paper")
    assert (paper.n_samples, paper.sampling_rate_hz, paper.n_components) == (6000, 100.0, 3)
    assert model_preset("tiny").n_samples == 6000
    with pytest.raises(ValueError, match="unknown model preset"):
        model_preset("huge")
    with pytest.raises(ValueError, match="unknown config key"):
        model_preset("tiny", n_fft_typo=3)
    with pytest.raises(ValueError, match="hop_length"):
        HEGGSNet(small_cfg(hop_length=64))
    with pytest.raises(ValueError, match="unet_heads"):
        HEGGSNet(small_cfg(unet_heads=3))


def test_shapes_through_every_part(model: HEGGSNet) -> None:
    cfg = model.cfg
    b = dummy_batch(cfg, 3)
    f, t = n_freqs(cfg.n_fft), n_frames(cfg.n_samples, cfg.hop_length)
    spec, mask = model.spectrogram_and_mask(b["src"], b["src_valid"], b["src_band_max_hz"])
    assert spec.shape == (3, 6, f, t) and mask.shape == (3, 1, f, t)
    z = model.encode(spec, mask)
    assert z.shape == (3, *model.latent_shape)
    torch.testing.assert_close(z.square().mean(dim=(1, 2, 3)), torch.ones(3), rtol=1e-3, atol=1e-3)
    tokens, pooled = model.cond(b["c_tgt"])
    assert tokens.shape == (3, cfg.cond_tokens, cfg.cond_dim) and pooled.shape == (3, cfg.cond_dim)
    y, x0 = model.m_theta(z, torch.tensor([1, 50, 100]), b["c_tgt"], b["c_src"], tokens, pooled)
    assert y.shape == x0.shape == z.shape
    gain = model.acm(z, pooled)
    assert gain.shape == (3, 3, f, t)
    out = model.decode(z, pooled)
    assert out.shape == spec.shape
    assert model.waveform(out).shape == (3, 3, cfg.n_samples)


def test_acm_output_strictly_positive(model: HEGGSNet) -> None:
    z = torch.randn(2, *model.latent_shape) * 50
    gain = model.acm(z, torch.randn(2, model.cfg.cond_dim) * 50)
    assert (gain > 0).all()
    sp = LearnableSoftplus(3, 4)
    assert (sp(torch.full((1, 3, 4, 5), -1e4)) > 0).all()
    with pytest.raises(ValueError, match="condition"):
        model.acm(z, None)


def test_eta_is_identity_at_init_and_unet_gives_linear_guess(model: HEGGSNet) -> None:
    fresh = HEGGSNet(model.cfg)
    x = torch.randn(2, *fresh.latent_shape)
    c = torch.randn(2, fresh.cfg.n_conditions)
    t = torch.tensor([3, 90])
    assert torch.equal(fresh.eta(x, c, c.flip(0), t), x)
    tokens, pooled = fresh.cond(c)
    _, x0 = fresh.m_theta(x, t, c, c, tokens, pooled)
    ab = alpha_bar_schedule(fresh.cfg.schedule, fresh.cfg.n_timesteps)[t].float()
    torch.testing.assert_close(x0, ab.sqrt()[:, None, None, None] * x)


def test_eta_c_src_switch() -> None:
    on, off = HEGGSNet(small_cfg()), HEGGSNet(small_cfg(eta_uses_c_src=False))
    _perturb_eta(on)
    _perturb_eta(off)
    x, c1, c2 = torch.randn(1, *on.latent_shape), torch.randn(1, 11), torch.randn(1, 11)
    t = torch.tensor([10])
    assert not torch.equal(on.eta(x, c1, c1, t), on.eta(x, c1, c2, t))
    assert torch.equal(off.eta(x, c1, c1, t), off.eta(x, c1, c2, t))


def test_gradients_reach_every_part() -> None:
    torch.manual_seed(1)
    m = HEGGSNet(small_cfg())
    loss, logs = m.loss(dummy_batch(m.cfg, 4))
    assert torch.isfinite(loss) and loss.ndim == 0 and logs["loss"] == pytest.approx(float(loss.detach()))
    loss.backward()
    for name in ("encoder", "eta", "unet", "cond", "decoder", "acm"):
        part = getattr(m, name)
        total = sum(float(p.grad.abs().sum()) for p in part.parameters() if p.grad is not None)
        assert total > 0, f"no gradient in {name}"
    # the ACM's learnable softplus beta and the condition MLP's first layer learn
    assert float(m.acm.softplus.log_beta.grad.abs().sum()) > 0
    assert float(m.cond.body[0].weight.grad.abs().sum()) > 0
    # once the zero-initialised outputs of eta / x_theta have moved, no parameter is dead
    m.zero_grad(set_to_none=True)
    _perturb_eta(m)
    m.loss(dummy_batch(m.cfg, 4))[0].backward()
    dead = [n for n, p in m.named_parameters() if p.grad is None or float(p.grad.abs().sum()) == 0]
    assert not dead, dead


def test_seeded_noise_does_not_depend_on_batch() -> None:
    a = seeded_noise([5, 6, 7], (2, 3, 4))
    b = seeded_noise([7], (2, 3, 4))
    assert torch.equal(a[2], b[0]) and not torch.equal(a[0], a[1])
    t = seeded_timesteps([5, 6, 7], 1000)
    assert torch.equal(t[2:], seeded_timesteps([7], 1000)) and ((t >= 1) & (t <= 1000)).all()
    # one batch item's loss does not depend on its neighbours
    m = HEGGSNet(small_cfg())
    _perturb_eta(m)
    batch = dummy_batch(m.cfg, 4)
    per_item = []
    for i in range(4):
        one = {k: v[i : i + 1] for k, v in batch.items()}
        per_item.append(m.loss(one)[0])
    full, _ = m.loss(batch)
    torch.testing.assert_close(full, torch.stack(per_item).mean(), rtol=1e-5, atol=0)


def test_loss_ignores_padded_samples() -> None:
    torch.manual_seed(2)
    m = HEGGSNet(small_cfg())
    _perturb_eta(m)
    n = m.cfg.n_samples
    batch = dummy_batch(m.cfg, 4)
    batch["tgt_valid"] = torch.tensor([[0, 300], [100, n], [50, 400], [0, n]])
    batch["src_valid"] = torch.tensor([[40, n], [0, 200], [0, n], [10, 480]])
    batch["tgt_band_max_hz"] = torch.tensor([20.0, 45.0, 30.0, 45.0])
    loss1, logs = m.loss(batch)
    assert 0 < logs["mask_frac"] < 1
    changed = {k: v.clone() for k, v in batch.items()}
    g = torch.Generator().manual_seed(9)
    for key in ("src", "tgt"):
        v = changed[f"{key}_valid"]
        idx = torch.arange(n)
        outside = (idx[None, :] < v[:, :1]) | (idx[None, :] >= v[:, 1:])
        noise = torch.randn(changed[key].shape, generator=g) * 1e3
        changed[key] = torch.where(outside[:, None, :], noise, changed[key])
    loss2, _ = m.loss(changed)
    assert torch.equal(loss1, loss2)
    # sanity: changing a valid sample of the target does change the loss
    changed["tgt"][0, 0, 150] += 10.0
    assert not torch.equal(loss1, m.loss(changed)[0])


def test_same_pairs_denoise_the_target_itself() -> None:
    """For same=True items the batch's src/c_src are ignored: the target is its own source."""
    m = HEGGSNet(small_cfg())
    _perturb_eta(m)
    batch = dummy_batch(m.cfg, 2)
    batch["same"][:] = True
    own = dict(batch, src=batch["tgt"].clone(), c_src=batch["c_tgt"].clone(), src_valid=batch["tgt_valid"].clone())
    garbage = dict(batch, src=torch.randn_like(batch["src"]) * 1e3, c_src=torch.randn_like(batch["c_src"]))
    assert torch.equal(m.loss(own)[0], m.loss(garbage)[0])
    batch["same"][:] = False
    assert not torch.equal(m.loss(dict(batch, **{k: garbage[k] for k in ("src", "c_src")}))[0], m.loss(own)[0])


@pytest.mark.parametrize("loss_fn", [masked_spectrogram_loss, masked_magnitude_loss])
@pytest.mark.parametrize("physical", [True, False])
def test_masked_loss_ignores_bins_above_band_and_invalid_frames(physical: bool, loss_fn) -> None:
    g = torch.Generator().manual_seed(4)
    pred, target = torch.randn(2, 6, 9, 7, generator=g), torch.randn(2, 6, 9, 7, generator=g)
    mask = torch.zeros(2, 1, 9, 7)
    mask[:, :, :5, 1:6] = 1  # bins 5.. above band, frames 0 and 6 invalid
    phys = torch.tensor([physical, physical])
    loss1 = loss_fn(pred, target, mask, phys)
    p2, t2 = pred.clone(), target.clone()
    outside = (mask == 0).expand_as(pred)
    p2[outside] = 1e4
    t2[outside] = -3e3
    assert torch.equal(loss1, loss_fn(p2, t2, mask, phys))
    # counts targets are shape only: a global gain on the prediction changes nothing
    scaled = loss_fn(pred * 7.0, target, mask, phys)
    if physical:
        assert not torch.allclose(scaled, loss1)
    else:
        torch.testing.assert_close(scaled, loss1)


def test_ddim_timesteps() -> None:
    assert ddim_timesteps(1000, 25)[0] == 1000 and len(ddim_timesteps(1000, 25)) == 25
    ts = ddim_timesteps(600, 7)
    assert all(a > b for a, b in zip(ts, ts[1:])) and ts[-1] > 0
    assert ddim_timesteps(3, 10) == [3, 2, 1]
    with pytest.raises(ValueError):
        ddim_timesteps(0, 5)


def test_ddim_uses_state_noise_and_reprojection() -> None:
    ab = alpha_bar_schedule("cosine", 100)
    seen = []

    def x0_fn(z, t, first):  # a "denoiser" that always says x0 = 1
        seen.append(z.clone())
        return torch.ones_like(z)

    g = torch.Generator().manual_seed(0)
    z, eps0 = torch.randn(1, 2, 4, 4, generator=g), torch.randn(1, 2, 4, 4, generator=g)
    ts = ddim_timesteps(100, 4)
    a = [float(ab[t].sqrt()) for t in ts]
    s = [float((1 - ab[t]).sqrt()) for t in ts]
    plain = ddim_sample(x0_fn, z, ab, ts)
    torch.testing.assert_close(seen[1], (a[1] * 1 + s[1] * (z - a[0]) / s[0]).float())  # ε̂ from the state
    seen.clear()
    projected = ddim_sample(x0_fn, z, ab, ts, project=lambda x0: 2 * x0, noise_init=eps0)
    assert torch.equal(plain, projected)  # the final estimate is returned as is
    torch.testing.assert_close(seen[1], (a[1] * 2 + s[1] * eps0).float())  # known noise at step 1
    torch.testing.assert_close(seen[2], (a[2] * 2 + s[2] * (seen[1] - 2 * a[1]) / s[1]).float())


def test_reproject_maps_onto_encoder_latents(model: HEGGSNet) -> None:
    z = torch.randn(2, *model.latent_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pooled = model.cond(torch.zeros(2, model.cfg.n_conditions))[1]
        x = model.decode(z, pooled)
        full = torch.ones(2, 1, model.n_freqs, model.n_frames)
        want = model.encode(x, full)  # E_AE of the output spectrogram, like a source record
        torch.testing.assert_close(model.reproject(z, pooled), want)
        torch.testing.assert_close(model.reproject(z, pooled), model.encode(7.0 * x, full))  # level-free


def test_acm_convs_before_instance_norm_have_no_bias(model: HEGGSNet) -> None:
    """The InstanceNorm after these convolutions subtracts any bias: it would get no gradient."""
    n = 0
    for mod in model.acm.modules():
        for a, b in itertools.pairwise(mod.children()):
            if isinstance(b, torch.nn.InstanceNorm2d) and isinstance(a, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                assert a.bias is None
                n += 1
    assert n > 0 and model.acm.conv_in.bias is None


def test_sampler_deterministic_and_batch_independent() -> None:
    torch.manual_seed(3)
    m = HEGGSNet(small_cfg())
    _perturb_eta(m)
    b = dummy_batch(m.cfg, 4, seed=1)
    c = b["c_tgt"]
    for src, c_src in ((None, None), (b["src"], b["c_src"])):
        full = m.generate(c, [11, 12, 13, 14], src=src, c_src=c_src)
        assert full.shape == (4, 3, m.cfg.n_samples) and full.dtype == torch.float32 and torch.isfinite(full).all()
        one = m.generate(c[2:3], [13], src=None if src is None else src[2:3], c_src=None if c_src is None else c_src[2:3])
        assert _rel(one[0], full[2]) < 1e-5
        # neighbours are different targets / seeds
        assert _rel(full[0], full[2]) > 1e-2
        again = m.generate(c, [11, 12, 13, 14], src=src, c_src=c_src)
        assert torch.equal(again, full)
    other_seed = m.generate(c[2:3], [99])
    assert _rel(other_seed[0], m.generate(c[2:3], [13])[0]) > 1e-3


def test_generate_argument_checks(model: HEGGSNet) -> None:
    c = torch.zeros(2, 11)
    src = torch.zeros(2, 3, model.cfg.n_samples)
    with pytest.raises(ValueError, match="one seed per"):
        model.generate(c, [1])
    with pytest.raises(ValueError, match="c_src"):
        model.generate(c, [1, 2], src=src)
    with pytest.raises(ValueError, match="pure noise"):
        model.generate(c, [1, 2], t_start=10)
    with pytest.raises(ValueError, match=r"\(B, 3, 512\)"):
        model.generate(c, [1, 2], src=src[..., :100], c_src=c)
    with pytest.raises(ValueError, match="c_tgt"):
        model.generate(torch.zeros(2, 5), [1, 2])


def test_save_load_identical_samples(tmp_path) -> None:
    torch.manual_seed(4)
    m = HEGGSNet(small_cfg())
    _perturb_eta(m)
    path = tmp_path / "w.safetensors"
    m.save_weights(path)
    c = torch.randn(2, 11)
    ref = m.generate(c, [1, 2], steps=3)
    torch.manual_seed(5)
    m2 = HEGGSNet.from_config_dict(json.loads(json.dumps(m.config_dict())))
    assert not torch.equal(m2.generate(c, [1, 2], steps=3), ref)
    m2.load_weights(path)
    assert torch.equal(m2.generate(c, [1, 2], steps=3), ref)
    m3 = HEGGSNet.from_weights(path)
    assert m3.cfg == m.cfg and torch.equal(m3.generate(c, [1, 2], steps=3), ref)


def test_bf16_autocast_loss_runs() -> None:
    m = HEGGSNet(small_cfg())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = m.loss(dummy_batch(m.cfg, 2))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()


def test_counts_of_parameters_and_flops(model: HEGGSNet) -> None:
    counts = model.parameter_counts()
    assert set(counts) == {"encoder", "decoder", "acm", "cond", "unet", "eta"}
    assert sum(counts.values()) == model.n_parameters()
    fwd = model.flops_per_sample("forward")
    assert 0 < fwd < model.flops_per_sample("train")
    assert all(p.grad is None for p in model.parameters())


def _ringing_record(n: int, f0: float, onset_s: float, amp: float) -> torch.Tensor:
    """(3, n) decaying harmonics starting at onset_s (100 Hz), m/s²; a simple structured record."""
    tt = torch.arange(n) / 100.0
    env = torch.where(tt >= onset_s, torch.exp(-(tt - onset_s).clamp_min(0) / 1.0), torch.zeros(()))
    return torch.stack([amp * env * torch.sin(2 * math.pi * f0 * k * (tt - onset_s)) for k in (1.0, 1.5, 2.0)])


def test_tiny_overfit_on_two_pairs() -> None:
    """A few dozen Adam steps on 2 fixed synthetic pairs cut the loss by a clear factor."""
    torch.manual_seed(6)
    m = HEGGSNet(small_cfg())
    n = m.cfg.n_samples
    batch = dummy_batch(m.cfg, 2, seed=3)
    batch["src"] = torch.stack([_ringing_record(n, 5, 1.0, 0.5), _ringing_record(n, 8, 2.0, 1.0)])
    batch["tgt"] = torch.stack([_ringing_record(n, 6, 1.5, 1.0), _ringing_record(n, 10, 2.5, 0.3)])
    batch["tgt_physical"][:] = True
    batch["same"][:] = False

    def eval_loss() -> float:
        vals = []
        with torch.no_grad():
            for s in range(3):
                bb = dict(batch, noise_seed=torch.tensor([100 + s, 200 + s]))
                vals.append(float(m.loss(bb)[0]))
        return sum(vals) / len(vals)

    before = eval_loss()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for step in range(40):
        bb = dict(batch, noise_seed=torch.tensor([2 * step, 2 * step + 1]))
        loss, _ = m.loss(bb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    assert after < before / 3, (before, after)
