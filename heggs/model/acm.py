"""Stage: autoencoder (side branch) — the Amplitude Correction Module (ACM).

The ACM is a side branch of the decoder D_AE, after the magnitude-mask decoders of speech
enhancement (MP-SENet / CMGAN), in the order the HEGGS poster shows:

    Conv2D -> InstanceNorm -> PReLU -> dilated DenseNet -> conformer blocks (time, then
    frequency) -> dilated DenseNet -> transposed conv (one per autoencoder down-sampling)
    -> conv -> learnable softplus (softplus with a learnable beta per component and bin)

Input: the latent the decoder decodes ``(B, C_z, F', T')``; output: a strictly positive gain
``(B, C, F, T)`` per component and time-frequency bin that multiplies the decoder's normalised
compressed magnitude (both real and imaginary parts, so the phase is untouched). Because the
encoder sees RMS-normalised spectrograms (so counts records and m/s² records look alike),
the absolute level must come from the target condition: with ``uses_condition`` the pooled
condition embedding modulates the first normalised feature map (FiLM). Without it the level
can only reach the ACM through the latent the U-Net predicts (the poster's literal wiring).
Convolutions that feed an InstanceNorm have no bias (the norm subtracts it: zero gradient).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DilatedDenseNet", "ConformerBlock", "LearnableSoftplus", "AmplitudeCorrection"]


class DilatedDenseNet(nn.Module):
    """Dense block of ``depth`` 3x3 convs dilated 1, 2, 4, ... along time (dense skips).

    x : (B, ch, F, T) -> (B, ch, F, T)
    """

    def __init__(self, ch: int, depth: int = 4):
        super().__init__()
        self.layers = nn.ModuleList()
        for i in range(depth):
            d = 2**i
            self.layers.append(
                nn.Sequential(
                    nn.Conv2d(ch * (i + 1), ch, 3, padding=(1, d), dilation=(1, d), bias=False),
                    nn.InstanceNorm2d(ch, affine=True),
                    nn.PReLU(ch),
                )
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x
        out = x
        for layer in self.layers:
            out = layer(skip)
            skip = torch.cat([out, skip], dim=1)
        return out


class _SeqConformer(nn.Module):
    """Light conformer layer over a sequence: FFN/2, MHSA, depthwise-conv module, FFN/2.

    x : (N, L, D) -> (N, L, D)
    """

    def __init__(self, dim: int, heads: int, kernel: int = 7):
        super().__init__()
        if dim % heads:
            raise ValueError(f"ACM channels {dim} must be divisible by acm_heads {heads}")
        self.heads = heads
        self.ff1 = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))
        self.norm_att = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm_conv = nn.LayerNorm(dim)
        self.pw1 = nn.Conv1d(dim, 2 * dim, 1)
        self.dw = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.conv_norm = nn.GroupNorm(1, dim)
        self.pw2 = nn.Conv1d(dim, dim, 1)
        self.ff2 = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, d = x.shape
        x = x + 0.5 * self.ff1(x)
        q, k, v = self.qkv(self.norm_att(x)).reshape(n, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, length, d)
        x = x + self.proj(a)
        h = self.norm_conv(x).transpose(1, 2)
        h = F.glu(self.pw1(h), dim=1)
        h = self.pw2(F.silu(self.conv_norm(self.dw(h))))
        x = x + h.transpose(1, 2)
        x = x + 0.5 * self.ff2(x)
        return self.norm_out(x)


class ConformerBlock(nn.Module):
    """Two-stage conformer (MP-SENet style): along time for every bin, then along frequency.

    x : (B, D, F, T) -> (B, D, F, T)
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.time = _SeqConformer(dim, heads)
        self.freq = _SeqConformer(dim, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, d, f, t = x.shape
        h = x.permute(0, 2, 3, 1).reshape(b * f, t, d)
        h = self.time(h).reshape(b, f, t, d)
        h = h.permute(0, 2, 1, 3).reshape(b * t, f, d)
        h = self.freq(h).reshape(b, t, f, d)
        return x + h.permute(0, 3, 2, 1)


class LearnableSoftplus(nn.Module):
    """``softplus(beta * x) / beta + floor`` with a learnable ``beta > 0`` per channel and bin.

    x : (B, C, F, T) -> (B, C, F, T), strictly positive (>= ``floor``). Computed in float32.
    """

    def __init__(self, channels: int, n_freqs: int, floor: float = 1e-6):
        super().__init__()
        self.log_beta = nn.Parameter(torch.zeros(channels, n_freqs, 1))
        self.floor = floor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.log_beta.float().exp()
        return F.softplus(x.float() * beta) / beta + self.floor


class AmplitudeCorrection(nn.Module):
    """The ACM: latent (B, C_z, F', T') [+ condition embedding (B, E)] -> gain (B, C, F, T) > 0.

    ``up_levels`` transposed convs (each x2) bring the latent resolution back to the padded
    spectrogram resolution; the result is cropped to ``(n_freqs, n_frames)``.
    """

    def __init__(
        self,
        latent_ch: int,
        out_ch: int,
        n_freqs: int,
        n_frames: int,
        up_levels: int,
        ch: int = 32,
        dense_depth: int = 4,
        attention_blocks: int = 2,
        heads: int = 4,
        cond_dim: int | None = None,
    ):
        super().__init__()
        self.n_freqs, self.n_frames = n_freqs, n_frames
        self.conv_in = nn.Conv2d(latent_ch, ch, 3, padding=1, bias=False)
        self.norm_in = nn.InstanceNorm2d(ch, affine=True)
        self.film = nn.Linear(cond_dim, 2 * ch) if cond_dim else None
        self.act_in = nn.PReLU(ch)
        self.dense1 = DilatedDenseNet(ch, dense_depth)
        self.conformers = nn.ModuleList(ConformerBlock(ch, heads) for _ in range(attention_blocks))
        self.dense2 = DilatedDenseNet(ch, dense_depth)
        ups: list[nn.Module] = []
        for _ in range(up_levels):
            ups += [nn.ConvTranspose2d(ch, ch, 4, stride=2, padding=1, bias=False), nn.InstanceNorm2d(ch, affine=True), nn.PReLU(ch)]
        self.up = nn.Sequential(*ups)
        self.conv_out = nn.Conv2d(ch, out_ch, 3, padding=1)
        self.softplus = LearnableSoftplus(out_ch, n_freqs)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm_in(self.conv_in(z))
        if self.film is not None:
            if cond is None:
                raise ValueError("this ACM was built with acm_uses_condition=True and needs the condition embedding")
            scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)
            h = h * (1 + scale) + shift
        h = self.dense1(self.act_in(h))
        for blk in self.conformers:
            h = blk(h)
        h = self.up(self.dense2(h))
        h = self.conv_out(h)[..., : self.n_freqs, : self.n_frames]
        return self.softplus(h)
