"""Stage: model — absolute level as an explicit log-domain quantity per component.

With ``ModelConfig.level_head`` the network's output is ``shape x exp(level)``: the decoder,
ACM and phase step make a waveform whose level is thrown away (each component is divided by
its own RMS), and :class:`LevelHead` — a small MLP on the pooled condition embedding τ_θ(c) —
predicts the level ``ln(RMS_c / amplitude_scale)`` of each component of the LINEAR target
waveform over its valid range. The level is applied last, after every normalisation layer, so
nothing can erase it (docs/model_v2.md).

With a source record of the same event (``level_uses_source``) the event term passes through
the source's residual: ``level_tgt = head(c_tgt) + (measured level of the source - head(c_src))``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LevelHead", "log_rms", "unit_rms", "residual_draw"]


class LevelHead(nn.Module):
    """pooled τ_θ(c) (B, E) -> (B, C) predicted ln RMS per component (relative to amplitude_scale)."""

    def __init__(self, cond_dim: int, n_components: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cond_dim, hidden), nn.SiLU(), nn.Linear(hidden, n_components))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled.float())


def _valid_mask(n: int, valid: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    if valid is None:
        return None
    idx = torch.arange(n, device=device)
    v = valid.to(device)
    return ((idx[None, :] >= v[:, :1]) & (idx[None, :] < v[:, 1:2])).float()[:, None, :]


def log_rms(waveforms: torch.Tensor, valid: torch.Tensor | None = None, floor: float = 1e-12) -> torch.Tensor:
    """ln RMS per component over each record's valid range.

    waveforms : (B, C, n) any unit; valid : (B, 2) ``[start, end)`` samples or None (all).
    Returns (B, C) float32, ln of the waveform's unit (``floor`` keeps dead channels finite).
    """
    w = waveforms.float()
    keep = _valid_mask(w.shape[-1], valid, w.device)
    if keep is None:
        ms = w.square().mean(dim=-1)
    else:
        ms = (w.square() * keep).sum(dim=-1) / keep.sum(dim=-1).clamp_min(1.0)
    return 0.5 * torch.log(ms + floor * floor)


def unit_rms(waveforms: torch.Tensor, valid: torch.Tensor | None = None, eps: float = 1e-12) -> torch.Tensor:
    """Each component divided by its RMS over the valid range: (B, C, n) -> (B, C, n)."""
    return waveforms * torch.exp(-log_rms(waveforms, valid, eps))[..., None]


def residual_draw(seeds: list[int]) -> torch.Tensor:
    """(B,) bool: whether a training pair uses its source's level residual (probability 0.5).

    Drawn from the item's ``noise_seed`` by a fixed integer hash (independent of the draws of
    t and ε from the same seed), so the choice does not depend on the batch.
    """
    bits = [((int(s) * 0x9E3779B97F4A7C15) & 0xFFFF_FFFF_FFFF_FFFF) >> 63 for s in seeds]
    return torch.tensor(bits, dtype=torch.bool)
