"""Stage: spectrogram — the exact, invertible "pixel space" of HEGGS.

A waveform is divided by a fixed amplitude scale (a training-data statistic saved with the
model, never a constant in code), transformed by a complex STFT, and its magnitude is
power-law compressed while the phase is kept: ``Xc = |X|^alpha * exp(i*angle(X))``. The
compressed real and imaginary parts of each component are the channels:
``(B, 2*C, F, T)`` ordered ``[c0.re, c0.im, c1.re, c1.im, ...]``. The inverse undoes the
compression (``|Xc|^(1/alpha - 1)`` gain) and runs ``torch.istft`` — no Griffin-Lim, exact to
float32 rounding (relative round-trip error ~1e-6).

STFT framing: ``center=True`` with **zero** padding at the record edges (not reflection), so
frame ``t`` is centred on sample ``t*hop`` and covers samples ``[t*hop - n_fft//2,
t*hop + n_fft//2)``; there are ``n_samples // hop + 1`` frames and ``n_fft // 2 + 1`` bins.
:func:`frame_mask` and :func:`band_mask` say which frames/bins a record's valid range and
band limit cover; the loss uses them so padding and empty bands teach nothing.

The transforms always run in float32 with autocast disabled (safe under bf16 autocast).
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "n_frames",
    "n_freqs",
    "make_window",
    "compressed_stft",
    "inverse_compressed_stft",
    "mask_waveform",
    "frame_mask",
    "band_mask",
    "spectrogram_mask",
    "masked_rms",
    "fit_amplitude_scale",
]


def n_frames(n_samples: int, hop_length: int) -> int:
    """Number of STFT frames of a record of ``n_samples`` (``center=True``)."""
    return n_samples // hop_length + 1


def n_freqs(n_fft: int) -> int:
    """Number of one-sided frequency bins."""
    return n_fft // 2 + 1


def make_window(name: str, n_fft: int, device: torch.device | str | None = None) -> torch.Tensor:
    """A periodic analysis window ``(n_fft,)`` float32 by torch name (hann, hamming, blackman...)."""
    fn = getattr(torch, f"{name}_window", None)
    if fn is None:
        raise ValueError(f"unknown STFT window {name!r}; use a torch.<name>_window such as 'hann'")
    return fn(n_fft, periodic=True, dtype=torch.float32, device=device)


def _check_stft_args(n_fft: int, hop_length: int, alpha: float, scale: float) -> None:
    if hop_length <= 0 or n_fft <= 0 or hop_length > n_fft // 2:
        raise ValueError(f"need 0 < hop_length <= n_fft/2 for an exact inverse, got n_fft={n_fft}, hop={hop_length}")
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"compression alpha must be in (0, 1], got {alpha}")
    if not (scale > 0.0 and math.isfinite(scale)):
        raise ValueError(f"amplitude scale must be a positive finite number, got {scale}")


def compressed_stft(
    waveforms: torch.Tensor,
    *,
    n_fft: int,
    hop_length: int,
    alpha: float,
    scale: float,
    window: str = "hann",
) -> torch.Tensor:
    """Power-law compressed complex STFT.

    Parameters
    ----------
    waveforms : (B, C, n_samples) float, store units (m/s² or counts)
    n_fft, hop_length : STFT size and hop in samples (``hop_length <= n_fft // 2``)
    alpha : magnitude compression exponent in (0, 1]
    scale : waveforms are divided by this before the STFT (same unit as ``waveforms``)
    window : torch window name

    Returns
    -------
    (B, 2*C, F, T) float32, dimensionless compressed real/imag channels
    """
    _check_stft_args(n_fft, hop_length, alpha, scale)
    if waveforms.ndim != 3:
        raise ValueError(f"waveforms must be (B, C, n_samples), got shape {tuple(waveforms.shape)}")
    b, c, n = waveforms.shape
    with torch.autocast(device_type=waveforms.device.type, enabled=False):
        x = waveforms.float().reshape(b * c, n) / scale
        win = make_window(window, n_fft, x.device)
        spec = torch.stft(
            x, n_fft, hop_length, window=win, center=True, pad_mode="constant", return_complex=True
        )
        if alpha != 1.0:
            mag = spec.abs()
            # |X|^(alpha-1) is finite for mag >= tiny; where mag == 0 the product is 0 anyway
            spec = spec * mag.clamp_min(1e-30).pow(alpha - 1.0)
        out = torch.view_as_real(spec)  # (b*c, F, T, 2)
        f, t = out.shape[1], out.shape[2]
        return out.reshape(b, c, f, t, 2).permute(0, 1, 4, 2, 3).reshape(b, 2 * c, f, t).contiguous()


def inverse_compressed_stft(
    spec: torch.Tensor,
    *,
    n_samples: int,
    n_fft: int,
    hop_length: int,
    alpha: float,
    scale: float,
    window: str = "hann",
) -> torch.Tensor:
    """Exact inverse of :func:`compressed_stft`.

    Parameters
    ----------
    spec : (B, 2*C, F, T) float, compressed real/imag channels
    n_samples : output length in samples

    Returns
    -------
    (B, C, n_samples) float32, store units (``scale`` multiplied back)
    """
    _check_stft_args(n_fft, hop_length, alpha, scale)
    if spec.ndim != 4 or spec.shape[1] % 2:
        raise ValueError(f"spec must be (B, 2*C, F, T), got shape {tuple(spec.shape)}")
    b, c2, f, t = spec.shape
    if f != n_freqs(n_fft):
        raise ValueError(f"spec has {f} frequency bins, n_fft={n_fft} needs {n_freqs(n_fft)}")
    c = c2 // 2
    with torch.autocast(device_type=spec.device.type, enabled=False):
        s = spec.float().reshape(b, c, 2, f, t).permute(0, 1, 3, 4, 2).reshape(b * c, f, t, 2).contiguous()
        z = torch.view_as_complex(s)
        if alpha != 1.0:
            z = z * z.abs().pow(1.0 / alpha - 1.0)
        win = make_window(window, n_fft, z.device)
        x = torch.istft(z, n_fft, hop_length, window=win, center=True, length=n_samples)
        return (x * scale).reshape(b, c, n_samples)


def mask_waveform(waveforms: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Zero every sample outside each record's valid range.

    waveforms : (B, C, n_samples) float, any unit
    valid : (B, 2) int, ``[valid_start, valid_end)`` in samples
    Returns the same shape and dtype.
    """
    n = waveforms.shape[-1]
    idx = torch.arange(n, device=waveforms.device)
    v = valid.to(waveforms.device)
    keep = (idx[None, :] >= v[:, :1]) & (idx[None, :] < v[:, 1:2])
    return waveforms * keep[:, None, :].to(waveforms.dtype)


def frame_mask(valid: torch.Tensor, *, n_samples: int, n_fft: int, hop_length: int) -> torch.Tensor:
    """Frames whose whole support lies inside the valid range.

    valid : (B, 2) int, ``[valid_start, valid_end)`` samples.
    Returns (B, T) bool. Frame ``t`` covers ``[t*hop - n_fft//2, t*hop + n_fft//2)`` clipped to
    the record (outside the record the STFT pads zeros, which do not depend on the data).
    """
    t = n_frames(n_samples, hop_length)
    centers = torch.arange(t, device=valid.device) * hop_length
    lo = (centers - n_fft // 2).clamp_min(0)
    hi = (centers + n_fft // 2).clamp_max(n_samples)
    return (lo[None, :] >= valid[:, :1]) & (hi[None, :] <= valid[:, 1:2])


def band_mask(band_max_hz: torch.Tensor, *, n_fft: int, sampling_rate_hz: float) -> torch.Tensor:
    """Frequency bins at or below each record's upper band edge.

    band_max_hz : (B,) float, Hz. Returns (B, F) bool.
    """
    freqs = torch.arange(n_freqs(n_fft), device=band_max_hz.device, dtype=torch.float64)
    freqs = freqs * (sampling_rate_hz / n_fft)
    return freqs[None, :] <= band_max_hz.to(torch.float64)[:, None] + 1e-9


def spectrogram_mask(
    valid: torch.Tensor,
    band_max_hz: torch.Tensor,
    *,
    n_samples: int,
    n_fft: int,
    hop_length: int,
    sampling_rate_hz: float,
) -> torch.Tensor:
    """(B, 1, F, T) float32 mask: 1 where a bin is below the band edge and its frame is valid."""
    fm = frame_mask(valid, n_samples=n_samples, n_fft=n_fft, hop_length=hop_length)
    bm = band_mask(band_max_hz, n_fft=n_fft, sampling_rate_hz=sampling_rate_hz)
    return (bm[:, None, :, None] & fm[:, None, None, :]).float()


def masked_rms(spec: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """RMS of ``spec`` (B, K, F, T) over the mask (broadcastable to (B, 1, F, T)) and channels; returns (B, 1, 1, 1)."""
    m = mask.to(spec.dtype).expand(spec.shape[0], 1, spec.shape[2], spec.shape[3])
    num = (spec.square() * m).sum(dim=(1, 2, 3), keepdim=True)
    den = m.sum(dim=(1, 2, 3), keepdim=True).clamp_min(1.0) * spec.shape[1]
    return (num / den + eps).sqrt()


def fit_amplitude_scale(
    waveforms: np.ndarray | torch.Tensor,
    valid: np.ndarray | torch.Tensor | None = None,
    *,
    n_fft: int,
    hop_length: int,
    window: str = "hann",
) -> float:
    """The amplitude scale that makes a typical record's STFT magnitude RMS equal to 1.

    Median over records of the RMS of ``|STFT|`` over each record's valid frames. Fit it on
    the PHYSICAL-unit training records only (counts records carry no absolute level).

    waveforms : (N, C, n_samples) float, m/s²
    valid : (N, 2) int ``[start, end)`` samples, or None for fully valid records
    Returns a positive float in the unit of ``waveforms`` (store unit × STFT gain).
    """
    w = torch.as_tensor(np.asarray(waveforms), dtype=torch.float32)
    if w.ndim != 3 or w.shape[0] == 0:
        raise ValueError(f"need (N, C, n_samples) waveforms with N >= 1, got shape {tuple(w.shape)}")
    n = w.shape[-1]
    v = (
        torch.tensor([[0, n]] * w.shape[0], dtype=torch.int64)
        if valid is None
        else torch.as_tensor(np.asarray(valid), dtype=torch.int64)
    )
    rms = []
    for i in range(0, w.shape[0], 64):
        wi, vi = w[i : i + 64], v[i : i + 64]
        spec = compressed_stft(mask_waveform(wi, vi), n_fft=n_fft, hop_length=hop_length, alpha=1.0, scale=1.0, window=window)
        fm = frame_mask(vi, n_samples=n, n_fft=n_fft, hop_length=hop_length)
        rms.append(masked_rms(spec, fm[:, None, None, :].float(), eps=0.0).flatten())
    r = torch.cat(rms)
    r = r[torch.isfinite(r) & (r > 0)]
    if r.numel() == 0:
        raise ValueError("no record with a non-zero valid STFT: cannot fit an amplitude scale")
    return float(r.median())
