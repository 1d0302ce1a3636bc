"""Tests of the exact compressed-STFT representation (heggs.model.spectrogram)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from heggs.model.spectrogram import (
    band_mask,
    compressed_stft,
    fit_amplitude_scale,
    frame_mask,
    inverse_compressed_stft,
    mask_waveform,
    masked_rms,
    n_frames,
    n_freqs,
    spectrogram_mask,
)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize(
    "n, n_fft, hop, alpha, window",
    [(6000, 256, 64, 0.3, "hann"), (1001, 128, 32, 0.5, "hann"), (777, 64, 16, 1.0, "hann"), (513, 64, 32, 0.3, "hamming")],
)
def test_round_trip_is_exact(n: int, n_fft: int, hop: int, alpha: float, window: str) -> None:
    g = torch.Generator().manual_seed(n)
    # amplitudes spanning orders of magnitude, like M0.5 counts vs M7 m/s²
    w = torch.randn(3, 3, n, generator=g) * torch.tensor([1e-4, 1.0, 3e3])[:, None, None]
    scale = 0.37
    spec = compressed_stft(w, n_fft=n_fft, hop_length=hop, alpha=alpha, scale=scale, window=window)
    assert spec.shape == (3, 6, n_freqs(n_fft), n_frames(n, hop))
    assert spec.dtype == torch.float32
    back = inverse_compressed_stft(spec, n_samples=n, n_fft=n_fft, hop_length=hop, alpha=alpha, scale=scale, window=window)
    assert back.shape == w.shape
    for i in range(3):  # per record, since amplitudes differ by 7 orders
        assert _rel(back[i], w[i]) < 1e-5


def test_compression_keeps_phase_and_compresses_magnitude() -> None:
    g = torch.Generator().manual_seed(1)
    w = torch.randn(2, 3, 500, generator=g)
    spec = compressed_stft(w, n_fft=64, hop_length=16, alpha=0.3, scale=2.0)
    ref = torch.stft((w / 2.0).reshape(6, 500), 64, 16, window=torch.hann_window(64), center=True, pad_mode="constant", return_complex=True)
    got = torch.complex(spec[:, 0::2], spec[:, 1::2]).reshape(6, *ref.shape[1:])
    big = ref.abs() > 1e-3
    torch.testing.assert_close(got.abs()[big], ref.abs()[big] ** 0.3, rtol=1e-4, atol=0)
    torch.testing.assert_close(torch.angle(got)[big], torch.angle(ref)[big], rtol=0, atol=1e-4)
    # channel order: component 1's real part is channel 2
    torch.testing.assert_close(spec[:, 2], got.reshape(2, 3, *ref.shape[1:])[:, 1].real)


def test_zero_waveform_round_trips_without_nan() -> None:
    w = torch.zeros(1, 3, 300)
    spec = compressed_stft(w, n_fft=64, hop_length=16, alpha=0.3, scale=1.0)
    back = inverse_compressed_stft(spec, n_samples=300, n_fft=64, hop_length=16, alpha=0.3, scale=1.0)
    assert torch.isfinite(spec).all() and torch.equal(back, torch.zeros_like(back))


def test_bad_arguments_raise() -> None:
    w = torch.zeros(1, 3, 300)
    with pytest.raises(ValueError, match="hop_length"):
        compressed_stft(w, n_fft=64, hop_length=64, alpha=0.3, scale=1.0)
    with pytest.raises(ValueError, match="alpha"):
        compressed_stft(w, n_fft=64, hop_length=16, alpha=0.0, scale=1.0)
    with pytest.raises(ValueError, match="scale"):
        compressed_stft(w, n_fft=64, hop_length=16, alpha=0.3, scale=0.0)
    with pytest.raises(ValueError, match="window"):
        compressed_stft(w, n_fft=64, hop_length=16, alpha=0.3, scale=1.0, window="nope")
    with pytest.raises(ValueError, match=r"\(B, C, n_samples\)"):
        compressed_stft(w[0], n_fft=64, hop_length=16, alpha=0.3, scale=1.0)


def test_autocast_keeps_float32() -> None:
    w = torch.randn(1, 3, 400)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        spec = compressed_stft(w, n_fft=64, hop_length=16, alpha=0.3, scale=1.0)
        back = inverse_compressed_stft(spec, n_samples=400, n_fft=64, hop_length=16, alpha=0.3, scale=1.0)
    assert spec.dtype == torch.float32 and back.dtype == torch.float32
    assert _rel(back, w) < 1e-5


def test_frame_mask_frames_do_not_see_padding() -> None:
    """A frame the mask marks valid is bit-identical whatever the samples outside the valid range."""
    n, n_fft, hop = 700, 64, 16
    g = torch.Generator().manual_seed(2)
    w = torch.randn(3, 3, n, generator=g)
    valid = torch.tensor([[0, 500], [123, 700], [200, 450]])
    fm = frame_mask(valid, n_samples=n, n_fft=n_fft, hop_length=hop)
    assert fm.shape == (3, n_frames(n, hop))
    assert fm.any(dim=1).all() and (~fm).any(dim=1).all()
    w2 = w.clone()
    inside = mask_waveform(torch.ones_like(w), valid).bool()
    w2[~inside] = torch.randn(int((~inside).sum()), generator=g) * 100
    s1 = compressed_stft(w, n_fft=n_fft, hop_length=hop, alpha=0.3, scale=1.0)
    s2 = compressed_stft(w2, n_fft=n_fft, hop_length=hop, alpha=0.3, scale=1.0)
    m = fm[:, None, None, :].expand_as(s1)
    assert torch.equal(s1[m], s2[m])
    # and the mask is tight: the frame just beyond each valid frame does see padding
    assert not torch.equal(s1[~m], s2[~m])


def test_band_and_combined_mask() -> None:
    bm = band_mask(torch.tensor([45.0, 20.0, 50.0]), n_fft=64, sampling_rate_hz=100.0)
    freqs = np.arange(33) * 100.0 / 64
    assert bm.shape == (3, 33)
    np.testing.assert_array_equal(bm[1].numpy(), freqs <= 20.0)
    assert bm[2].all()
    m = spectrogram_mask(torch.tensor([[0, 300]] * 3), torch.tensor([45.0, 20.0, 50.0]), n_samples=300, n_fft=64, hop_length=16, sampling_rate_hz=100.0)
    assert m.shape == (3, 1, 33, n_frames(300, 16)) and m.dtype == torch.float32
    assert float(m[1].mean()) < float(m[0].mean()) < float(m[2].mean()) + 1e-9


def test_mask_waveform_and_masked_rms() -> None:
    w = torch.ones(2, 3, 10)
    out = mask_waveform(w, torch.tensor([[2, 5], [0, 10]]))
    assert out[0, :, :2].sum() == 0 and out[0, :, 2:5].sum() == 9 and out[0, :, 5:].sum() == 0
    assert torch.equal(out[1], w[1])
    spec = torch.zeros(1, 2, 4, 4)
    spec[..., :2] = 3.0
    spec[..., 2:] = 1e6
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1
    torch.testing.assert_close(masked_rms(spec, mask, eps=0.0).flatten(), torch.tensor([3.0]))


def test_fit_amplitude_scale_is_linear_in_amplitude() -> None:
    g = torch.Generator().manual_seed(3)
    w = torch.randn(5, 3, 600, generator=g)
    s1 = fit_amplitude_scale(w, n_fft=64, hop_length=16)
    s2 = fit_amplitude_scale(w * 1e-3, n_fft=64, hop_length=16)
    assert s1 > 0 and abs(s2 / s1 - 1e-3) < 1e-5
    # the fitted scale makes the typical record's STFT magnitude O(1)
    spec = compressed_stft(w, n_fft=64, hop_length=16, alpha=1.0, scale=s1)
    assert 0.3 < float(masked_rms(spec, torch.ones(1, 1, 1, 1)).median()) < 3.0
    # padding (zeros outside valid) does not count
    valid = torch.tensor([[0, 300]] * 5)
    s3 = fit_amplitude_scale(mask_waveform(w, valid) + 0.0, valid, n_fft=64, hop_length=16)
    assert s3 > 0
    with pytest.raises(ValueError):
        fit_amplitude_scale(torch.zeros(2, 3, 600), n_fft=64, hop_length=16)
