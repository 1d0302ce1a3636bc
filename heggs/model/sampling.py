"""Stage: sampling — the deterministic, per-target seeded DDIM sampler (η_DDIM = 0).

The reverse chain works on the latent state ``z_t = sqrt(ᾱ_t)·z0 + sqrt(1 − ᾱ_t)·ε`` with
``z0`` in the ENCODER's latent space (what the model is trained on as input). Each step calls
a denoiser ``x0_fn(z, t, first) -> x0`` (HEGGS: ``m_θ``, η included), optionally maps the
estimate into the state's space with ``project`` (HEGGS: ``x0 ← E_AE(D_AE(x0))``, see
:meth:`heggs.model.network.HEGGSNet.reproject`), takes the noise implied by the STATE and that estimate,
``ε̂ = (z_t − sqrt(ᾱ_t)·x0) / sqrt(1 − ᾱ_t)``, and moves to the next (lower) level
``z_{t'} = sqrt(ᾱ_t')·x0 + sqrt(1 − ᾱ_t')·ε̂``; the last step returns the raw ``x0``.
At the first step the noise of the initial state is known exactly (``noise_init``, the drawn
ε): from a source record ``z`` is the noised SOURCE latent, whose difference to the target
estimate is not noise. η's output is NOT used for ε̂: η is an internal layer of m_θ, and its
output is not a noised latent at level t (measured: using it made the chain drift away from
memorised targets, ``benchmarks/model_sampling_ablation.py``).

Randomness enters only through the initial noise, drawn with one CPU ``torch.Generator`` per
target row from that row's seed (:func:`heggs.model.diffusion.seeded_noise`), so a target's output
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
    x0_fn: Callable[[torch.Tensor, int, bool], torch.Tensor],
    z_init: torch.Tensor,
    alpha_bar: torch.Tensor,
    timesteps: list[int],
    progress: bool = False,
    project: Callable[[torch.Tensor], torch.Tensor] | None = None,
    noise_init: torch.Tensor | None = None,
) -> torch.Tensor:
    """Deterministic DDIM reverse chain.

    x0_fn : ``(z (B, C, H, W), t, first_step) -> x0`` (B, C, H, W), the clean-latent estimate
    z_init : (B, C, H, W) latent noised to level ``timesteps[0]``
    alpha_bar : (T+1,) ᾱ table (any float dtype; read in float64)
    timesteps : strictly decreasing levels from :func:`ddim_timesteps`
    project : optional map applied to every intermediate x0 estimate before it is re-noised
        (not to the final one), e.g. the re-projection onto the encoder's latent space
    noise_init : (B, C, H, W) the noise ε that ``z_init`` was made with, used as ε̂ at the
        first step (default: implied by ``z_init`` and x0 like every later step)
    Returns the clean latent estimate (B, C, H, W).
    """
    ab = alpha_bar.double().cpu()
    z = z_init
    x0 = z_init
    for i, t in enumerate(tqdm(timesteps, desc="DDIM", disable=not progress, leave=False)):
        x0 = x0_fn(z, t, i == 0)
        t_next = timesteps[i + 1] if i + 1 < len(timesteps) else 0
        if t_next == 0:
            return x0
        if project is not None:
            x0 = project(x0)
        a, s = float(ab[t].sqrt()), float((1 - ab[t]).clamp_min(0).sqrt())
        a_n, s_n = float(ab[t_next].sqrt()), float((1 - ab[t_next]).clamp_min(0).sqrt())
        eps = noise_init if (i == 0 and noise_init is not None) else (z - a * x0) / max(s, 1e-8)
        z = a_n * x0 + s_n * eps
    return x0
