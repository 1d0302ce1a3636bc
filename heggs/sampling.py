"""Stage: sampling — the deterministic, per-target seeded DDIM sampler (η_DDIM = 0).

The reverse chain works on the latent. Each step calls a denoiser ``x0_fn(y, t, first)``
that returns ``(y_eta, x0)``: the η-transformed input (the noised TARGET latent estimate) and
the clean-latent estimate ``x_θ(y_eta)``. The DDIM update then uses the noise implied by that
pair, ``ε̂ = (y_eta − sqrt(ᾱ_t)·x0) / sqrt(1 − ᾱ_t)``, and moves to the next (lower) level:
``z_{t'} = sqrt(ᾱ_t')·x0 + sqrt(1 − ᾱ_t')·ε̂``; the last step returns ``x0``. An optional
``project`` maps each intermediate x0 before re-noising (HEGGS: ``x0 ← E_AE(D_AE(x0))``).

Randomness enters only through the initial noise, drawn with one CPU ``torch.Generator`` per
target row from that row's seed (:func:`heggs.diffusion.seeded_noise`), so a target's output
does not depend on the batch it is in. Steps are spaced evenly from ``t_start`` down to 0.
"""

from __future__ import annotations

from typing import Callable

import torch
from tqdm.auto import tqdm

__all__ = ["ddim_timesteps", "ddim_sample"]


def ddim_timesteps(t_start: int, steps: int) -> list[int]:
    """Decreasing integer timesteps ``[t_start, ..., > 0]`` (``steps`` of them, or fewer if
    ``t_start < steps``); the chain ends at 0 after the last one."""
    if t_start < 1:
        raise ValueError(f"t_start must be >= 1, got {t_start}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    steps = min(steps, t_start)
    ts = torch.linspace(t_start, 0, steps + 1, dtype=torch.float64)[:-1].round().long().tolist()
    out: list[int] = []
    for t in ts:  # strictly decreasing, unique
        if not out or t < out[-1]:
            out.append(int(t))
    return out


def ddim_sample(
    x0_fn: Callable[[torch.Tensor, int, bool], tuple[torch.Tensor, torch.Tensor]],
    z_init: torch.Tensor,
    alpha_bar: torch.Tensor,
    timesteps: list[int],
    progress: bool = False,
    project: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Deterministic DDIM reverse chain.

    x0_fn : ``(y (B, C, H, W), t, first_step) -> (y_eta, x0)``, both (B, C, H, W)
    z_init : (B, C, H, W) latent noised to level ``timesteps[0]``
    alpha_bar : (T+1,) ᾱ table (any float dtype; read in float64)
    timesteps : strictly decreasing levels from :func:`ddim_timesteps`
    project : optional map applied to every intermediate x0 estimate before it is re-noised
        (not to the final one), e.g. the re-projection onto the encoder's latent space; the
        implied noise ε̂ is then computed from the projected x0 (as DDIM x0 clipping does)
    Returns the clean latent estimate (B, C, H, W).
    """
    ab = alpha_bar.double().cpu()
    z = z_init
    x0 = z_init
    for i, t in enumerate(tqdm(timesteps, desc="DDIM", disable=not progress, leave=False)):
        y, x0 = x0_fn(z, t, i == 0)
        t_next = timesteps[i + 1] if i + 1 < len(timesteps) else 0
        if t_next == 0:
            return x0
        if project is not None:
            x0 = project(x0)
        a, s = float(ab[t].sqrt()), float((1 - ab[t]).clamp_min(0).sqrt())
        a_n, s_n = float(ab[t_next].sqrt()), float((1 - ab[t_next]).clamp_min(0).sqrt())
        eps = (y - a * x0) / max(s, 1e-8)
        z = a_n * x0 + s_n * eps
    return x0
