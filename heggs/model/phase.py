"""Stage: model — phase-consistent waveform synthesis (decode-time phase step).

A complex spectrogram decoded from a small latent is, in general, not the STFT of any
waveform: its exact inverse (overlap-add) cancels part of its energy where neighbouring
frames disagree in phase (docs/model_v2.md). :func:`griffin_lim` runs a few Griffin-Lim
iterations (Griffin & Lim 1984) with the momentum of Perraudin et al. (2013, "fast
Griffin-Lim") STARTED FROM THE MODEL'S OWN PHASE, keeping the decoded magnitude: each
iteration replaces the phase by that of ``STFT(ISTFT(·))``, which raises the consistency
``‖STFT(ISTFT(X))‖ / ‖X‖`` toward 1 while the magnitude stays the decoded one.

A consistent spectrogram (the STFT of a waveform) is a fixed point: its waveform is returned
unchanged to float rounding. All records and components run batched through ``torch.stft`` /
``torch.istft`` with the model's framing (``center=True``, zero padding, see
``heggs.model.spectrogram``).
"""

from __future__ import annotations

import torch

from .spectrogram import make_window

__all__ = ["griffin_lim", "consistency"]


def _stft(x: torch.Tensor, n_fft: int, hop_length: int, win: torch.Tensor) -> torch.Tensor:
    return torch.stft(x, n_fft, hop_length, window=win, center=True, pad_mode="constant", return_complex=True)


def _istft(z: torch.Tensor, n_fft: int, hop_length: int, win: torch.Tensor, n_samples: int) -> torch.Tensor:
    return torch.istft(z, n_fft, hop_length, window=win, center=True, length=n_samples)


def griffin_lim(
    spec: torch.Tensor,
    n_iter: int,
    *,
    n_samples: int,
    n_fft: int,
    hop_length: int,
    window: str = "hann",
    momentum: float = 0.99,
) -> torch.Tensor:
    """Waveforms from complex STFTs by ``n_iter`` Griffin-Lim iterations from their own phase.

    spec : (N, F, T) complex64, LINEAR (decompressed) STFT in any amplitude unit; its
        magnitude is kept, its phase is the starting point
    n_iter : iterations (0 returns the exact inverse STFT of ``spec``)
    momentum : fast Griffin-Lim momentum in [0, 1) (0: classic Griffin-Lim)
    Returns (N, n_samples) float32 waveforms in the unit of ``spec``.
    """
    if spec.ndim != 3 or not spec.is_complex():
        raise ValueError(f"spec must be a complex (N, F, T) tensor, got {tuple(spec.shape)} {spec.dtype}")
    if n_iter < 0 or not 0.0 <= momentum < 1.0:
        raise ValueError(f"need n_iter >= 0 and 0 <= momentum < 1, got {n_iter}, {momentum}")
    with torch.autocast(device_type=spec.device.type, enabled=False):
        win = make_window(window, n_fft, spec.device)
        mag = spec.abs()
        angles = spec / mag.clamp_min(1e-30)
        angles = torch.where(mag > 0, angles, torch.ones_like(angles))
        prev = torch.zeros_like(spec)
        for _ in range(n_iter):
            rebuilt = _stft(_istft(mag * angles, n_fft, hop_length, win, n_samples), n_fft, hop_length, win)
            a = rebuilt - (momentum / (1 + momentum)) * prev if momentum > 0 else rebuilt
            angles = a / a.abs().clamp_min(1e-16)
            prev = rebuilt
        return _istft(mag * angles, n_fft, hop_length, win, n_samples)


def consistency(spec: torch.Tensor, *, n_samples: int, n_fft: int, hop_length: int, window: str = "hann") -> torch.Tensor:
    """``‖STFT(ISTFT(X))‖² / ‖X‖²`` per row: 1 for the STFT of a waveform, < 1 when the exact
    inverse cancels energy. spec : (N, F, T) complex (linear). Returns (N,) float32."""
    win = make_window(window, n_fft, spec.device)
    back = _stft(_istft(spec, n_fft, hop_length, win, n_samples), n_fft, hop_length, win)
    num = back.abs().square().sum(dim=(-2, -1))
    return num / spec.abs().square().sum(dim=(-2, -1)).clamp_min(1e-30)
