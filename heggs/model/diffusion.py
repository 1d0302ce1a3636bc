"""Stage: diffusion — noise schedule, seeded noising, η and the pair-exploiting masked objective.

Small named pieces (EDM style):

- :func:`alpha_bar_schedule` — ``ᾱ_t`` for ``t = 0..T`` (``ᾱ_0 = 1``), cosine (Nichol &
  Dhariwal 2021) or linear-β (Ho et al. 2020).
- :func:`seeded_noise` / :func:`seeded_timesteps` — per-item ``torch.Generator`` seeded with the
  item's ``noise_seed``: an item's ``t`` and ``ε`` do not depend on the batch it is in, so
  single-process and DDP training see identical noise for the same item.
- :func:`q_sample` — VP noising ``z_t = sqrt(ᾱ_t)·z0 + sqrt(1-ᾱ_t)·ε``.
- :class:`Eta` — η(x, c_tgt, c_src, t): maps a noised SOURCE latent to a noised TARGET latent at
  the same noise level; a residual conv network modulated (FiLM) by an embedding of
  ``[c_tgt, c_src]`` (or ``c_tgt`` alone when ``uses_c_src`` is off — the ablation) and ``t``.
  Its output projection is zero-initialised, so at initialisation η is exactly the identity.
- :func:`masked_spectrogram_loss` — per-item masked squared error in spectrogram space; counts
  targets compared after normalising both sides by their own masked RMS (shape only).
- :func:`masked_magnitude_loss` — the same on compressed magnitudes (optional term).
- :func:`mrstft_loss` — multi-resolution STFT magnitude loss of WAVEFORMS (log-magnitude L1 +
  spectral convergence, as audio codecs train): it needs no matching phase, so a decoder
  trained through the inverse STFT learns consistent spectrograms without being pulled to
  zero where the phase is unpredictable.
- :func:`spectrogram_objective` — the per-item spectrogram-space objective: ``complex_weight``
  x complex term plus ``magnitude_weight`` x magnitude term (what :meth:`heggs.model.network.HEGGSNet.loss` uses, and what a
  baseline must use to be compared like with like).

The composed objective ``‖X_tgt − D_AE(m_θ(z_t^src, c_tgt, t))‖²`` with
``m_θ = x_θ(η(·), c, t)`` lives in :meth:`heggs.model.network.HEGGSNet.loss`.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .autoencoder import ResBlock
from .spectrogram import band_mask, frame_mask, make_window, mask_waveform, masked_rms
from .unet import timestep_embedding

__all__ = [
    "alpha_bar_schedule",
    "seeded_noise",
    "seeded_timesteps",
    "q_sample",
    "Eta",
    "masked_spectrogram_loss",
    "masked_magnitude_loss",
    "spectrogram_objective",
    "mrstft_loss",
]


def alpha_bar_schedule(kind: str, n_timesteps: int) -> torch.Tensor:
    """Cumulative signal fraction ``ᾱ_t`` for ``t = 0..n_timesteps``: (T+1,) float64, ᾱ_0 = 1.

    kind : ``"cosine"`` (s = 0.008, β clipped at 0.999) or ``"linear"`` (β from 1e-4 to 0.02
    rescaled to ``n_timesteps``).
    """
    if n_timesteps < 1:
        raise ValueError(f"n_timesteps must be >= 1, got {n_timesteps}")
    t = torch.arange(n_timesteps + 1, dtype=torch.float64)
    if kind == "cosine":
        s = 0.008
        f = torch.cos((t / n_timesteps + s) / (1 + s) * math.pi / 2) ** 2
        ab = f / f[0]
        beta = (1 - ab[1:] / ab[:-1]).clamp(max=0.999)
        ab = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - beta, 0)])
    elif kind == "linear":
        scale = 1000.0 / n_timesteps
        beta = torch.linspace(scale * 1e-4, scale * 0.02, n_timesteps, dtype=torch.float64)
        ab = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - beta, 0)])
    else:
        raise ValueError(f"unknown noise schedule {kind!r}; use 'cosine' or 'linear'")
    return ab


def _generators(seeds: Sequence[int]) -> list[torch.Generator]:
    gens = []
    for s in seeds:
        g = torch.Generator(device="cpu")
        g.manual_seed(int(s) & 0xFFFF_FFFF_FFFF_FFFF)
        gens.append(g)
    return gens


def seeded_timesteps(seeds: Sequence[int], n_timesteps: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """One timestep in ``1..n_timesteps`` per seed: (B,) int64.

    Uses a fresh CPU generator per seed (the first draw of that stream); :func:`seeded_noise`
    with ``offset_draws=True`` continues the same stream for ε.
    """
    out = [int(torch.randint(1, n_timesteps + 1, (1,), generator=g)) for g in _generators(seeds)]
    return torch.tensor(out, dtype=torch.int64, device=device)


def seeded_noise(
    seeds: Sequence[int], shape: Sequence[int], device: torch.device | str = "cpu", *, skip_timestep: bool = False
) -> torch.Tensor:
    """Standard normal noise, one independent CPU generator per seed: (B, *shape) float32.

    Drawn on the CPU and moved to ``device`` so the numbers are identical on every device.
    ``skip_timestep=True`` first consumes the draw :func:`seeded_timesteps` uses, so t and ε of
    one training item come from one stream.
    """
    out = []
    for g in _generators(seeds):
        if skip_timestep:
            torch.randint(1, 2, (1,), generator=g)
        out.append(torch.randn(tuple(shape), generator=g, dtype=torch.float32))
    return torch.stack(out).to(device)


def q_sample(z0: torch.Tensor, alpha_bar_t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """VP noising. z0, eps : (B, C, H, W) latent; alpha_bar_t : (B,) -> (B, C, H, W)."""
    ab = alpha_bar_t.to(z0.dtype)[:, None, None, None]
    return ab.sqrt() * z0 + (1 - ab).clamp_min(0).sqrt() * eps


class Eta(nn.Module):
    """η: noised source latent (B, C_z, H, W) -> noised target latent (B, C_z, H, W).

    Conditioned on ``c_tgt`` (B, n_cond), ``c_src`` (B, n_cond; ignored when ``uses_c_src`` is
    False) and the timestep ``t`` (B,). Identity at initialisation (zero-initialised residual).
    ``extra_channels`` > 0: ``extra`` (B, extra_channels, H, W) maps (time coordinate and
    arrival steps, ``heggs.model.arrivals``) are concatenated to the input; the output stays a
    latent.
    """

    def __init__(self, latent_ch: int, ch: int, n_blocks: int, n_cond: int, n_timesteps: int, uses_c_src: bool = True,
                 extra_channels: int = 0):
        super().__init__()
        self.uses_c_src = uses_c_src
        self.n_timesteps = n_timesteps
        emb = 4 * ch
        self.ch = ch
        n_in = 2 * n_cond if uses_c_src else n_cond
        self.cond_mlp = nn.Sequential(nn.Linear(n_in, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.extra_channels = extra_channels
        self.conv_in = nn.Conv2d(latent_ch + extra_channels, ch, 3, padding=1)
        self.blocks = nn.ModuleList(ResBlock(ch, ch, emb) for _ in range(n_blocks))
        self.conv_out = nn.Conv2d(ch, latent_ch, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(
        self, x: torch.Tensor, c_tgt: torch.Tensor, c_src: torch.Tensor, t: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        c = torch.cat([c_tgt, c_src], dim=1) if self.uses_c_src else c_tgt
        emb = self.cond_mlp(c.to(x.dtype)) + self.time_mlp(timestep_embedding(t, self.ch, self.n_timesteps).to(x.dtype))
        h = self.conv_in(x if extra is None else torch.cat([x, extra.to(x.dtype)], dim=1))
        for blk in self.blocks:
            h = blk(h, emb)
        return x + self.conv_out(F.silu(h))


def _shape_only(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, physical: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Divide counts items (``physical`` False) of both sides by their own masked RMS."""
    counts = (~physical.bool()).to(pred.device)[:, None, None, None]
    pred = torch.where(counts, pred / masked_rms(pred, mask), pred)
    target = torch.where(counts, target / masked_rms(target, mask), target)
    return pred, target


def masked_spectrogram_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, physical: torch.Tensor, shape_only_counts: bool = True
) -> torch.Tensor:
    """Per-item masked mean squared error in compressed complex-spectrogram space.

    pred, target : (B, 2C, F, T) float, compressed STFT real/imag channels (dimensionless)
    mask : (B, 1, F, T) {0, 1} float, 1 where a bin teaches (valid frame, below band edge)
    physical : (B,) bool, target in m/s²; False (counts) items are compared after dividing
        both ``pred`` and ``target`` by their own masked RMS (shape only, no absolute level)
        when ``shape_only_counts``.
    Returns (B,) float32: mean over masked bins and channels (0 for an item with an empty mask).
    """
    pred, target, m = pred.float(), target.float(), mask.float()
    if shape_only_counts:
        pred, target = _shape_only(pred, target, m, physical)
    err = (pred - target).square() * m
    den = m.sum(dim=(1, 2, 3)) * pred.shape[1]
    return err.sum(dim=(1, 2, 3)) / den.clamp_min(1.0)


def masked_magnitude_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, physical: torch.Tensor, shape_only_counts: bool = True
) -> torch.Tensor:
    """Per-item masked squared error of the compressed MAGNITUDES ``|Xc|`` per component.

    Same arguments and counts handling as :func:`masked_spectrogram_loss`. The complex error
    alone has a strong "predict zero" minimum wherever the phase is hard to predict (the
    magnitude-plus-complex losses of MP-SENet/CMGAN avoid it the same way).
    Returns (B,) float32.
    """
    pred, target, m = pred.float(), target.float(), mask.float()
    if shape_only_counts:
        pred, target = _shape_only(pred, target, m, physical)

    def mag(x: torch.Tensor) -> torch.Tensor:
        b, c2, f, t = x.shape
        return (x.reshape(b, c2 // 2, 2, f, t).square().sum(dim=2) + 1e-12).sqrt()

    err = (mag(pred) - mag(target)).square() * m
    den = m.sum(dim=(1, 2, 3)) * (pred.shape[1] // 2)
    return err.sum(dim=(1, 2, 3)) / den.clamp_min(1.0)


def spectrogram_objective(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    physical: torch.Tensor,
    magnitude_weight: float = 1.0,
    shape_only_counts: bool = True,
    complex_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-item spectrogram-space objective of a prediction (the model's loss without its
    optional latent and waveform terms).

    Arguments as :func:`masked_spectrogram_loss`; ``complex_weight`` weights the complex term
    (0 leaves it out: with unpredictable phase it only shrinks magnitudes to 2/3, see
    docs/model_v2.md) and ``magnitude_weight`` :func:`masked_magnitude_loss` (0 leaves it out).
    Returns ``(per_item (B,), terms)`` with ``terms["spec"]`` (when the complex term is on) and
    ``terms["mag"]`` (when the magnitude term is on), each (B,).
    """
    terms: dict[str, torch.Tensor] = {}
    per_item = torch.zeros(pred.shape[0], device=pred.device, dtype=torch.float32)
    if complex_weight > 0:
        spec = masked_spectrogram_loss(pred, target, mask, physical, shape_only_counts)
        terms["spec"] = spec
        per_item = spec if complex_weight == 1.0 else complex_weight * spec
    if magnitude_weight > 0:
        mag = masked_magnitude_loss(pred, target, mask, physical, shape_only_counts)
        terms["mag"] = mag
        per_item = per_item + magnitude_weight * mag
    return per_item, terms


def mrstft_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    band_max_hz: torch.Tensor,
    *,
    sampling_rate_hz: float,
    ffts: Sequence[int] = (64, 128, 256),
    window: str = "hann",
    eps: float = 1e-3,
) -> torch.Tensor:
    """Per-item multi-resolution STFT magnitude loss between waveforms.

    pred, target : (B, C, n) float, waveforms in one unit (callers pass unit-RMS shapes or
        waveforms divided by the amplitude scale, so magnitudes are O(1))
    valid : (B, 2) int ``[start, end)`` samples: both sides are zeroed outside it and only frames
        inside it count; band_max_hz : (B,) Hz: only bins at or below it count
    ffts : STFT sizes (hop = n_fft // 4, ``window``); eps : magnitude floor of the log term
    Returns (B,) float32: mean over resolutions of (spectral convergence
    ``‖|P|-|T|‖_F / ‖|T|‖_F`` + mean ``|ln(|P|+eps) - ln(|T|+eps)|``), over masked bins, all
    components. Zero for identical waveforms; invariant to the sign of either side.
    """
    b, c, n = pred.shape
    with torch.autocast(device_type=pred.device.type, enabled=False):
        p = mask_waveform(pred.float(), valid).reshape(b * c, n)
        t = mask_waveform(target.float(), valid).reshape(b * c, n)
        total = torch.zeros(b, device=pred.device, dtype=torch.float32)
        for n_fft in ffts:
            hop = max(1, n_fft // 4)
            win = make_window(window, n_fft, pred.device)
            sp = torch.stft(p, n_fft, hop, window=win, center=True, pad_mode="constant", return_complex=True).abs()
            st = torch.stft(t, n_fft, hop, window=win, center=True, pad_mode="constant", return_complex=True).abs()
            f, nt = sp.shape[-2:]
            sp, st = sp.reshape(b, c, f, nt), st.reshape(b, c, f, nt)
            fm = frame_mask(valid.to(pred.device), n_samples=n, n_fft=n_fft, hop_length=hop)
            bm = band_mask(band_max_hz.to(pred.device), n_fft=n_fft, sampling_rate_hz=sampling_rate_hz)
            m = (bm[:, None, :, None] & fm[:, None, None, :]).float()
            sc = ((sp - st).square() * m).sum(dim=(1, 2, 3)).sqrt() / ((st.square() * m).sum(dim=(1, 2, 3)).sqrt() + 1e-8)
            logl1 = ((torch.log(sp + eps) - torch.log(st + eps)).abs() * m).sum(dim=(1, 2, 3))
            logl1 = logl1 / (m.sum(dim=(1, 2, 3)) * c).clamp_min(1.0)
            total = total + sc + logl1
        return total / len(ffts)
