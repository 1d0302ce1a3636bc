"""Stage: autoencoder — E_AE and D_AE between the spectrogram and the latent space.

``Encoder`` maps an RMS-normalised compressed spectrogram ``(B, 2C, F, T)`` to a latent
``(B, C_z, F', T')`` (``F' = ceil_m(F) / 2^k``: the spectrogram is zero-padded up to a multiple
``m`` of the total down-sampling so the latent U-Net can halve it again). The latent is
RMS-normalised per sample: with end-to-end training (nothing pretrained) an unconstrained
encoder could simply inflate its latents until the diffusion noise no longer matters.

``Decoder`` maps a latent back to a *normalised* compressed complex spectrogram (unit RMS per
sample: shape and phase); the amplitude correction module (``heggs.model.acm``) predicts the positive
gain that multiplies its compressed magnitude, so ``D_AE`` and the ACM together return real,
unnormalised amplitudes. The residual blocks here (GroupNorm, never BatchNorm, so every sample
is processed independently of its batch) are reused by the latent U-Net and η.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["group_norm", "ResBlock", "Encoder", "Decoder", "pad_to_multiple", "crop", "rms_normalise"]


def group_norm(channels: int, max_groups: int = 8) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= ``max_groups`` that divides ``channels``."""
    g = math.gcd(channels, max_groups)
    return nn.GroupNorm(g, channels, eps=1e-6)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the last two dims of ``x`` (B, K, H, W) up to multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    return x


def crop(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Crop the last two dims of ``x`` to ``(h, w)``."""
    return x[..., :h, :w]


def rms_normalise(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Divide each sample of ``x`` (B, ...) by its RMS over all non-batch dims."""
    dims = tuple(range(1, x.ndim))
    return x * torch.rsqrt(x.float().square().mean(dim=dims, keepdim=True) + eps).to(x.dtype)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv residual block, optionally modulated by an embedding (scale/shift).

    x : (B, in_ch, H, W); emb : (B, emb_dim) or None. Returns (B, out_ch, H, W).
    """

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.norm1 = group_norm(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * out_ch) if emb_dim else None
        self.norm2 = group_norm(out_ch)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.norm2(h)
        if self.emb is not None:
            if emb is None:
                raise ValueError("this ResBlock needs an embedding")
            scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
            h = h * (1 + scale) + shift
        h = self.conv2(self.drop(F.silu(h)))
        return self.skip(x) + h


class Encoder(nn.Module):
    """E_AE: (B, in_ch, H, W) -> unit-RMS latent (B, latent_ch, H / 2^(L-1), W / 2^(L-1)).

    ``channels`` has one entry per resolution (L entries, L-1 stride-2 down-samplings). H and W
    must be multiples of ``2^(L-1)`` (use :func:`pad_to_multiple`).
    """

    def __init__(self, in_ch: int, channels: tuple[int, ...], latent_ch: int, res_blocks: int = 1):
        super().__init__()
        self.conv_in = nn.Conv2d(in_ch, channels[0], 3, padding=1)
        blocks: list[nn.Module] = []
        prev = channels[0]
        for i, ch in enumerate(channels):
            for _ in range(res_blocks):
                blocks.append(ResBlock(prev, ch))
                prev = ch
            if i < len(channels) - 1:
                blocks.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        self.blocks = nn.ModuleList(blocks)
        self.norm_out = group_norm(prev)
        self.conv_out = nn.Conv2d(prev, latent_ch, 3, padding=1)
        self.factor = 2 ** (len(channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for blk in self.blocks:
            h = blk(h)
        return rms_normalise(self.conv_out(F.silu(self.norm_out(h))))


class Decoder(nn.Module):
    """D_AE: latent (B, latent_ch, H', W') -> unit-RMS spectrogram (B, out_ch, H'·2^(L-1), W'·2^(L-1)).

    Also returns its last hidden feature map for the ACM side branch when asked.
    """

    def __init__(self, latent_ch: int, channels: tuple[int, ...], out_ch: int, res_blocks: int = 1):
        super().__init__()
        rev = tuple(reversed(channels))
        self.conv_in = nn.Conv2d(latent_ch, rev[0], 3, padding=1)
        blocks: list[nn.Module] = []
        prev = rev[0]
        for i, ch in enumerate(rev):
            for _ in range(res_blocks):
                blocks.append(ResBlock(prev, ch))
                prev = ch
            if i < len(rev) - 1:
                blocks.append(nn.Upsample(scale_factor=2, mode="nearest"))
                blocks.append(nn.Conv2d(ch, ch, 3, padding=1))
        self.blocks = nn.ModuleList(blocks)
        self.norm_out = group_norm(prev)
        self.conv_out = nn.Conv2d(prev, out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)
        for blk in self.blocks:
            h = blk(h)
        return self.conv_out(F.silu(self.norm_out(h)))
