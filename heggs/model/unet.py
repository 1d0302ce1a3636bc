"""Stage: unet — the condition encoder τ_θ and the latent denoiser x_θ.

``ConditionMLP`` (τ_θ) embeds the 11-dim normalised target condition with a 5-layer MLP into
``n_tokens`` cross-attention tokens plus one pooled vector that is added to the time
embedding. ``LatentUNet`` (x_θ) is a GroupNorm U-Net over the latent ``(B, C_z, F', T')`` with
residual blocks modulated by (time + pooled condition) and, at the chosen lower resolutions,
transformer blocks (self-attention over the latent pixels, cross-attention to the condition
tokens). It predicts the clean latent (x0-prediction) in the form
``x0 = sqrt(ᾱ_t)·x_t + sqrt(1-ᾱ_t)·F(x_t)`` (zero-initialised ``F``: at initialisation the
prediction is the best linear guess for unit-variance latents, as in v-parameterisation).
All normalisation is per sample, so a sample's output does not depend on its batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .autoencoder import ResBlock, group_norm

__all__ = ["timestep_embedding", "ConditionMLP", "SpatialTransformer", "LatentUNet"]


def timestep_embedding(t: torch.Tensor, dim: int, n_timesteps: int = 1000, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps.

    t : (B,) int or float timesteps in ``[0, n_timesteps]``. Returns (B, dim) float32.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * (1000.0 / n_timesteps))[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class ConditionMLP(nn.Module):
    """τ_θ: (B, n_cond) normalised condition -> tokens (B, n_tokens, dim) and pooled (B, dim)."""

    def __init__(self, n_cond: int, hidden: int, n_layers: int, n_tokens: int, dim: int):
        super().__init__()
        if n_layers < 2:
            raise ValueError("the condition MLP needs at least 2 layers")
        layers: list[nn.Module] = [nn.Linear(n_cond, hidden), nn.SiLU()]
        for _ in range(n_layers - 2):
            layers += [nn.Linear(hidden, hidden), nn.SiLU()]
        self.body = nn.Sequential(*layers)
        self.tokens = nn.Linear(hidden, n_tokens * dim)  # the 5th (last) layer
        self.pooled = nn.Linear(hidden, dim)
        self.norm = nn.LayerNorm(dim)
        self.n_tokens, self.dim = n_tokens, dim

    def forward(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(c)
        tok = self.norm(self.tokens(h).reshape(c.shape[0], self.n_tokens, self.dim))
        return tok, self.pooled(h)


class _Attention(nn.Module):
    """Multi-head (cross-)attention: x (B, N, D) attends to ctx (B, M, D_ctx) (self if None)."""

    def __init__(self, dim: int, heads: int, ctx_dim: int | None = None):
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(ctx_dim or dim, 2 * dim, bias=False)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        ctx = x if ctx is None else ctx
        b, n, d = x.shape
        h = self.heads
        q = self.q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k, v = self.kv(ctx).reshape(b, ctx.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)
        return self.out(a.transpose(1, 2).reshape(b, n, d))


class SpatialTransformer(nn.Module):
    """Self-attention over latent pixels + cross-attention to condition tokens + MLP.

    x : (B, C, H, W), ctx : (B, M, D_ctx) -> (B, C, H, W) (residual).
    """

    def __init__(self, ch: int, heads: int, ctx_dim: int):
        super().__init__()
        self.norm = group_norm(ch)
        self.proj_in = nn.Linear(ch, ch)
        self.ln1, self.self_attn = nn.LayerNorm(ch), _Attention(ch, heads)
        self.ln2, self.cross_attn = nn.LayerNorm(ch), _Attention(ch, heads, ctx_dim)
        self.ln3 = nn.LayerNorm(ch)
        self.ff = nn.Sequential(nn.Linear(ch, 4 * ch), nn.GELU(), nn.Linear(4 * ch, ch))
        self.proj_out = nn.Linear(ch, ch)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x).flatten(2).transpose(1, 2))
        h = h + self.self_attn(self.ln1(h))
        h = h + self.cross_attn(self.ln2(h), ctx)
        h = h + self.ff(self.ln3(h))
        return x + self.proj_out(h).transpose(1, 2).reshape(b, c, hh, ww)


class LatentUNet(nn.Module):
    """x_θ: noised latent (B, C_z, H, W), t (B,), tokens (B, M, D), pooled (B, D) -> feature (B, C_z, H, W).

    ``channels`` has one entry per level (level 0 = latent resolution; stride-2 between
    levels), so H and W must be multiples of ``2^(len(channels)-1)``. The returned map is the
    raw network output ``F``; :meth:`predict_x0` combines it with ``x_t`` into the x0 estimate.
    """

    def __init__(
        self,
        latent_ch: int,
        channels: tuple[int, ...],
        res_blocks: int,
        attention_levels: tuple[int, ...],
        heads: int,
        ctx_dim: int,
        n_timesteps: int,
        dropout: float = 0.0,
        extra_channels: int = 0,
    ):
        super().__init__()
        bad = [lv for lv in attention_levels if not 0 <= lv < len(channels)]
        if bad:
            raise ValueError(f"unet_attention_levels {bad} outside 0..{len(channels) - 1}")
        self.n_timesteps = n_timesteps
        emb = 4 * channels[0]
        self.time_dim = channels[0]
        self.time_mlp = nn.Sequential(nn.Linear(channels[0], emb), nn.SiLU(), nn.Linear(emb, emb))
        self.cond_proj = nn.Linear(ctx_dim, emb)
        #: extra input maps (time coordinate, arrival steps; heggs.model.arrivals) concatenated
        #: to the noised latent; the output stays a latent
        self.extra_channels = extra_channels
        self.conv_in = nn.Conv2d(latent_ch + extra_channels, channels[0], 3, padding=1)

        self.down = nn.ModuleList()
        skips = [channels[0]]
        prev = channels[0]
        for lv, ch in enumerate(channels):
            for _ in range(res_blocks):
                attn = SpatialTransformer(ch, heads, ctx_dim) if lv in attention_levels else None
                self.down.append(nn.ModuleList([ResBlock(prev, ch, emb, dropout), attn or nn.Identity()]))
                prev = ch
                skips.append(ch)
            if lv < len(channels) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(ch, ch, 3, stride=2, padding=1)]))
                skips.append(ch)
        self.mid1 = ResBlock(prev, prev, emb, dropout)
        self.mid_attn = SpatialTransformer(prev, heads, ctx_dim)
        self.mid2 = ResBlock(prev, prev, emb, dropout)

        self.up = nn.ModuleList()
        for lv in reversed(range(len(channels))):
            ch = channels[lv]
            for i in range(res_blocks + 1):
                attn = SpatialTransformer(ch, heads, ctx_dim) if lv in attention_levels else None
                self.up.append(nn.ModuleList([ResBlock(prev + skips.pop(), ch, emb, dropout), attn or nn.Identity()]))
                prev = ch
            if lv > 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1)]))
        self.norm_out = group_norm(prev)
        self.conv_out = nn.Conv2d(prev, latent_ch, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, pooled: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.time_dim, self.n_timesteps).to(x.dtype)) + self.cond_proj(pooled)
        h = self.conv_in(x if extra is None else torch.cat([x, extra.to(x.dtype)], dim=1))
        hs = [h]
        for mods in self.down:
            if len(mods) == 1:  # down-sampling conv
                h = mods[0](h)
            else:
                h = mods[0](h, emb)
                if isinstance(mods[1], SpatialTransformer):
                    h = mods[1](h, tokens)
            hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb), tokens), emb)
        for mods in self.up:
            if isinstance(mods[0], nn.Upsample):
                h = mods[1](mods[0](h))
            else:
                h = mods[0](torch.cat([h, hs.pop()], dim=1), emb)
                if isinstance(mods[1], SpatialTransformer):
                    h = mods[1](h, tokens)
        return self.conv_out(F.silu(self.norm_out(h)))

    def predict_x0(
        self, x_t: torch.Tensor, t: torch.Tensor, alpha_bar_t: torch.Tensor, tokens: torch.Tensor, pooled: torch.Tensor,
        extra: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x0 estimate ``sqrt(ᾱ)·x_t + sqrt(1-ᾱ)·F``; alpha_bar_t : (B,) float; extra : see ``extra_channels``."""
        a = alpha_bar_t.to(x_t.dtype).sqrt()[:, None, None, None]
        s = (1 - alpha_bar_t).clamp_min(0).to(x_t.dtype).sqrt()[:, None, None, None]
        return a * x_t + s * self(x_t, t, tokens, pooled, extra)
