"""Generator physics options of the model (docs/model_v2.md): level head, source residual, time
channels, decode-time phase step, multi-resolution STFT loss — and that the shipped default
model is untouched by them. Tiny models, seconds on a CPU."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from heggs.config import ModelConfig, model_preset
from heggs.model.arrivals import N_ETA_TIME, N_UNET_TIME, first_arrivals, time_channels
from heggs.model.diffusion import mrstft_loss
from heggs.model.level import log_rms
from heggs.model.network import HEGGSNet, dummy_batch
from heggs.model.phase import consistency, griffin_lim
from heggs.model.spectrogram import make_window

N, FS = 1000, 50.0
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "heggs" / "weights" / "default"
NEW_OPTIONS = {
    "complex_loss_weight": 1.0, "mrstft_loss_weight": 0.0, "phase_iterations": 0, "level_head": False,
    "level_uses_source": False, "time_channels": False, "arrival_stats": {},
}


def tiny(**kw) -> ModelConfig:
    return model_preset("tiny", n_samples=N, sampling_rate_hz=FS, amplitude_scale=1e-3, sampler_steps=3, **kw)


def burst(b: int, seed: int = 0, n: int = N) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / FS
    env = torch.exp(-((t - 6.0) / 3.0) ** 2)
    return torch.randn(b, 3, n, generator=g) * env


# --- level head ------------------------------------------------------------------------------


def test_level_head_sets_the_output_level_exactly():
    """A known level in -> that level out: no normalisation after the level erases it."""
    torch.manual_seed(0)
    net = HEGGSNet(tiny(level_head=True)).eval()
    c = torch.randn(2, 11)
    want = torch.tensor([[0.0, -1.0, 2.0], [3.0, 0.5, -2.5]])
    last = net.level.net[-1]
    with torch.no_grad():  # the head returns exactly `want` for these two conditions
        last.weight.zero_()
        last.bias.zero_()
    net.predicted_level = lambda pooled: want.to(pooled.device)  # type: ignore[method-assign]
    w = net.generate(c, [1, 2])
    got = log_rms(w / net.cfg.amplitude_scale)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
    # and the level actually comes from the head: a different head output moves the output
    net.predicted_level = lambda pooled: (want + 1.0).to(pooled.device)  # type: ignore[method-assign]
    torch.testing.assert_close(log_rms(net.generate(c, [1, 2]) / 1e-3), want + 1.0, atol=1e-4, rtol=0)


def test_source_residual_shifts_the_target_level_by_the_source_residual():
    torch.manual_seed(0)
    net = HEGGSNet(tiny(level_head=True, level_uses_source=True)).eval()
    c_tgt, c_src = torch.randn(2, 11), torch.randn(2, 11)
    src = burst(2, seed=3) * 1e-3
    no_src = log_rms(net.generate(c_tgt, [5, 6]) / 1e-3)
    w = net.generate(c_tgt, [5, 6], src=src, c_src=c_src)
    with torch.no_grad():
        resid = net.measured_level(src) - net.predicted_level(net.cond(c_src)[1])
    torch.testing.assert_close(log_rms(w / 1e-3), no_src + resid, atol=1e-4, rtol=0)
    # a source 10x louder raises the target by ln 10 on every component
    w10 = net.generate(c_tgt, [5, 6], src=10 * src, c_src=c_src)
    torch.testing.assert_close(log_rms(w10) - log_rms(w), torch.full((2, 3), float(np.log(10.0))), atol=1e-4, rtol=0)


def test_level_loss_is_zero_at_the_measured_level_and_trains_the_head():
    torch.manual_seed(0)
    cfg = tiny(level_head=True, complex_loss_weight=0.0, magnitude_loss_weight=0.0)
    net = HEGGSNet(cfg)
    b = dummy_batch(cfg, 4)
    b["tgt_physical"][:] = True
    _, logs = net.loss(b)
    assert logs["loss_level"] > 0
    target = net.measured_level(b["tgt"], b["tgt_valid"])
    net.predicted_level = lambda pooled: target  # type: ignore[method-assign]
    _, logs = net.loss(b)
    assert logs["loss_level"] == pytest.approx(0.0, abs=1e-10)


def test_level_head_training_pairs_use_the_source_residual_half_the_time():
    cfg = tiny(level_head=True, level_uses_source=True)
    net = HEGGSNet(cfg)
    b = dummy_batch(cfg, 64)
    b["same"][:] = False
    b["src_physical"][:] = True
    _, logs = net.loss(b)
    assert 0.3 < logs["level_src_frac"] < 0.7
    b["same"][:] = True  # src = tgt items never use the residual
    _, logs = net.loss(b)
    assert logs["level_src_frac"] == 0.0


# --- time channels ---------------------------------------------------------------------------


def test_time_channels_step_moves_with_the_arrival():
    frame = 1.28
    a = torch.tensor([[10.0, 20.0], [20.0, 30.0]])
    ch = time_channels(a, 48, frame, 60.0, frame)
    assert ch.shape == (2, 3, 48)
    torch.testing.assert_close(ch[0, 0], torch.arange(48) * frame / 60.0)
    half = lambda x: int(np.argmin(np.abs(x.numpy() - 0.5)))  # noqa: E731
    assert half(ch[0, 1]) * frame == pytest.approx(10.0, abs=frame)
    # shifting t_P by 10 s moves the P step by 10 s (its S step was at 20 s)
    assert (half(ch[1, 1]) - half(ch[0, 1])) * frame == pytest.approx(10.0, abs=frame)
    torch.testing.assert_close(ch[1, 1], ch[0, 2])


def test_time_channels_reach_unet_and_eta_and_change_the_output():
    torch.manual_seed(0)
    net = HEGGSNet(tiny(time_channels=True)).eval()
    assert net.unet.conv_in.in_channels == net.cfg.latent_channels + N_UNET_TIME
    assert net.eta.conv_in.in_channels == net.cfg.latent_channels + N_ETA_TIME
    with torch.no_grad():  # the U-Net starts zero-initialised: give it an output
        torch.nn.init.normal_(net.unet.conv_out.weight, std=0.1)
    c = torch.randn(1, 11)
    w1 = net.generate(c, [1], arrivals=torch.tensor([[3.0, 6.0]]))
    w2 = net.generate(c, [1], arrivals=torch.tensor([[9.0, 15.0]]))
    assert not torch.allclose(w1, w2)


def test_arrival_stats_recorded_in_training_recover_taup_arrivals_at_generation():
    cfg = tiny(time_channels=True)
    net = HEGGSNet(cfg)
    b = dummy_batch(cfg, 8)
    # batch arrivals = TauP times minus a 2 s window offset
    tt = first_arrivals(b["tgt_distance_km"].numpy(), b["tgt_depth_km"].numpy(), 2.0)
    b["tgt_arrivals_s"] = torch.tensor(tt, dtype=torch.float32)
    net.loss(b)
    st = net.cfg.arrival_stats
    assert st["distance_mean_km"] == pytest.approx(60.0, abs=1e-3) and st["window_offset_s"] == pytest.approx(2.0, abs=1e-3)
    np.testing.assert_allclose(net.arrivals_from_conditions(b["c_tgt"]).numpy(), tt, atol=1e-3)
    with pytest.raises(ValueError, match="arrival_stats"):
        HEGGSNet(tiny(time_channels=True)).arrivals_from_conditions(b["c_tgt"])


# --- phase step ------------------------------------------------------------------------------


def _stft(x: torch.Tensor, n_fft: int = 128, hop: int = 64) -> torch.Tensor:
    return torch.stft(x, n_fft, hop, window=make_window("hann", n_fft), center=True, pad_mode="constant", return_complex=True)


def test_griffin_lim_keeps_a_consistent_stft():
    x = burst(2).reshape(6, N)
    y = griffin_lim(_stft(x), 16, n_samples=N, n_fft=128, hop_length=64)
    assert float((y - x).abs().max() / x.abs().max()) < 1e-4


def test_griffin_lim_raises_consistency_and_keeps_the_magnitude():
    x = burst(2).reshape(6, N)
    spec = _stft(x)
    g = torch.Generator().manual_seed(1)
    bad = torch.polar(spec.abs(), 2 * np.pi * torch.rand(spec.shape, generator=g))  # random phase
    kw = dict(n_samples=N, n_fft=128, hop_length=64)
    before = consistency(bad, **kw)
    y = griffin_lim(bad, 8, **kw)
    after = consistency(_stft(y), **kw)  # the output is a waveform: consistent by definition ...
    assert torch.all(after > 0.999)
    # ... and its STFT magnitude is closer to the kept one than the exact inverse's
    err = lambda w: float((_stft(w).abs() - spec.abs()).norm() / spec.abs().norm())  # noqa: E731
    exact = torch.istft(bad, 128, 64, window=make_window("hann", 128), center=True, length=N)
    assert torch.all(before < 0.9)
    assert err(y) < 0.7 * err(exact)


def test_model_phase_step_is_used_only_when_configured():
    torch.manual_seed(0)
    off = HEGGSNet(tiny()).eval()
    on = HEGGSNet(tiny(phase_iterations=4)).eval()
    on.load_state_dict(off.state_dict())
    spec = torch.randn(1, 6, off.n_freqs, off.n_frames)
    torch.testing.assert_close(off.synthesize(spec), off.waveform(spec))
    assert not torch.allclose(on.synthesize(spec), on.waveform(spec))


# --- multi-resolution STFT loss ---------------------------------------------------------------


def _mr(p: torch.Tensor, t: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    b = p.shape[0]
    valid = torch.tensor([[0, N]] * b) if valid is None else valid
    return mrstft_loss(p, t, valid, torch.full((b,), 22.5), sampling_rate_hz=FS)


def test_mrstft_zero_for_identical_and_sign_flipped_waveforms():
    x = burst(2)
    assert torch.all(_mr(x, x) < 1e-6)
    assert torch.all(_mr(-x, x) < 1e-6)  # a phase shift of pi: same magnitudes


def test_mrstft_small_for_a_quarter_period_phase_shift_large_for_another_record():
    t = torch.arange(N) / FS
    env = torch.exp(-((t - 10.0) / 4.0) ** 2)

    def tones(freqs, shift: float) -> torch.Tensor:
        return (env * sum(torch.sin(2 * np.pi * f * t + shift + k) for k, f in enumerate(freqs)))[None, None].repeat(1, 3, 1)

    x, xq = tones((2.0, 5.0, 11.0), 0.0), tones((2.0, 5.0, 11.0), np.pi / 2)  # every tone shifted by pi/2
    other = tones((3.0, 7.0, 15.0), 0.0)
    same_mag, different = _mr(xq, x), _mr(other, x)
    assert float(same_mag) < 0.1 * float(different)
    # a complex (waveform) MSE sees the shifted record as far away as an unrelated one
    assert float((xq - x).square().mean()) > 0.5 * float((other - x).square().mean())


def test_mrstft_ignores_samples_outside_the_valid_range():
    x = burst(1)
    y = x.clone()
    y[..., 800:] = 5.0  # garbage after the valid end
    valid = torch.tensor([[0, 700]])
    assert float(_mr(y, x, valid)) < 1e-6
    assert float(_mr(y, x)) > 0.1


def test_mrstft_gradients_flow_through_the_inverse_stft():
    cfg = tiny(mrstft_loss_weight=1.0, complex_loss_weight=0.0)
    torch.manual_seed(0)
    net = HEGGSNet(cfg)
    loss, logs = net.loss(dummy_batch(cfg, 2))
    assert "loss_mrstft" in logs and "loss_spec" not in logs
    loss.backward()
    assert net.decoder.conv_out.weight.grad.abs().sum() > 0


# --- determinism and batch independence with every option on ---------------------------------


def test_all_options_generation_is_batch_independent_and_deterministic():
    torch.manual_seed(0)
    cfg = tiny(complex_loss_weight=0.0, mrstft_loss_weight=1.0, phase_iterations=4, level_head=True,
               level_uses_source=True, time_channels=True)
    net = HEGGSNet(cfg)
    net.loss(dummy_batch(cfg, 8))  # records arrival_stats
    net.eval()
    c, src, c_src = torch.randn(3, 11), burst(3) * 1e-3, torch.randn(3, 11)
    full = net.generate(c, [7, 8, 9], src=src, c_src=c_src)
    one = net.generate(c[1:2], [8], src=src[1:2], c_src=c_src[1:2])
    # another batch size runs other float32 kernels; an untrained net's chain amplifies that
    # rounding (1-2e-5 here with every option off too): agreement to 2e-4, not bits
    assert float((one[0] - full[1]).norm() / full[1].norm()) < 2e-4
    assert float((full[0] - full[1]).norm() / full[1].norm()) > 1e-2
    # at a fixed batch size a row does not depend on its neighbours at all (bit for bit)
    c2, src2 = c.clone(), src.clone()
    c2[0] += 1.0
    src2[2] *= 3.0
    other = net.generate(c2, [7, 8, 9], src=src2, c_src=c_src)
    assert torch.equal(other[1], full[1]) and not torch.equal(other[0], full[0])
    torch.testing.assert_close(net.generate(c, [7, 8, 9], src=src, c_src=c_src), full, rtol=0, atol=0)


# --- the shipped default and older checkpoints ------------------------------------------------


def test_new_options_default_off():
    cfg = ModelConfig()
    for k, v in NEW_OPTIONS.items():
        assert getattr(cfg, k) == v, k


def test_default_model_state_dict_keys_and_shapes_unchanged():
    """The shipped default loads strictly with exactly its stored keys and shapes, and a model of
    the first default's config (configs/default.json: every v2 option off) builds none of the v2
    parts, so checkpoints written before the options existed still load."""
    from safetensors.torch import load_file

    from heggs import config as C
    from heggs.checkpoint import load_checkpoint

    info = json.loads((DEFAULT_MODEL / "checkpoint.json").read_text())
    stored = load_file(str(DEFAULT_MODEL / "ema.safetensors"))
    net = HEGGSNet(dataclasses.replace(ModelConfig(), **{k: tuple(v) if isinstance(v, list) else v
                                                         for k, v in info["model_config"].items()}))
    mine = net.state_dict()
    assert set(mine) == set(stored)
    assert all(tuple(mine[k].shape) == tuple(stored[k].shape) for k in mine)
    load_checkpoint(DEFAULT_MODEL)  # strict load
    legacy = HEGGSNet(C.load(C.TrainConfig, Path(__file__).resolve().parents[1] / "configs" / "default.json").model)
    assert legacy.level is None and legacy.unet.extra_channels == 0 and legacy.eta.extra_channels == 0
    assert legacy.cfg.phase_iterations == 0


def test_random_phase_init_is_seeded_per_row():
    torch.manual_seed(0)
    net = HEGGSNet(tiny(phase_iterations=4, phase_init="random")).eval()
    spec = torch.randn(2, 6, net.n_freqs, net.n_frames)
    a = net.synthesize(spec, [1, 2])
    torch.testing.assert_close(net.synthesize(spec[1:], [2])[0], a[1], rtol=1e-5, atol=1e-6 * float(a.abs().max()))
    assert not torch.allclose(net.synthesize(spec, [1, 3])[1], a[1])
    with pytest.raises(ValueError, match="seed"):
        net.synthesize(spec)


def test_output_band_min_removes_the_energy_below_it():
    torch.manual_seed(0)
    net = HEGGSNet(tiny(phase_iterations=0, output_band_min_hz=1.0)).eval()  # bins 0.39 Hz apart at 50 Hz
    spec = net.spectrogram(burst(1) * 1e-3)  # a broadband record's (consistent) STFT

    def low_fraction(w: torch.Tensor) -> float:
        p = torch.fft.rfft(w.double(), dim=-1).abs().square()
        f = torch.fft.rfftfreq(w.shape[-1], 1 / FS)
        return float(p[..., f < 0.6].sum() / p.sum())

    cut = low_fraction(net.synthesize(spec))
    net.cfg.output_band_min_hz = 0.0
    full = low_fraction(net.synthesize(spec))
    assert full > 0.005 and cut < 0.05 * full


def test_invalid_option_combinations_are_refused():
    with pytest.raises(ValueError, match="level_uses_source needs level_head"):
        HEGGSNet(tiny(level_uses_source=True))
    with pytest.raises(ValueError, match="phase_init"):
        HEGGSNet(tiny(phase_iterations=2, phase_init="zeros"))
