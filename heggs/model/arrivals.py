"""Stage: model — positions along time and travel-time priors for the latent networks.

Convolutions with zero padding and attention without positions cannot place a P wave at an
absolute time (docs/model_v2.md). With ``ModelConfig.time_channels`` the latent U-Net x_θ and
η receive extra input channels on the latent time grid (constant along frequency):

- ``tau / length``: the time of each latent frame from the window start, over the window length;
- ``sigmoid((tau - t_P) / w)``, ``sigmoid((tau - t_S) / w)``: soft steps at the target's TauP
  first P and S arrivals (``w`` = one latent frame);
- for η also the two steps of the SOURCE station (its arrivals belong to another distance).

Arrival times are seconds after the window start: ``TauP travel time - window offset``
(the window starts at origin + offset, docs/data-contract.md). :func:`first_arrivals` takes
the raw epicentral distance and depth (``heggs.traveltimes`` tables); :func:`unnormalise`
recovers distance and depth from normalised conditions with the statistics the model recorded
from its training batches (``ModelConfig.arrival_stats``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..condition import FEATURE_NAMES

__all__ = ["first_arrivals", "unnormalise", "fit_arrival_stats", "time_channels", "N_UNET_TIME", "N_ETA_TIME"]

#: extra input channels of x_θ (time coordinate, target P step, target S step) and of η
#: (the same plus source P and S steps)
N_UNET_TIME = 3
N_ETA_TIME = 5
_I_DEPTH = FEATURE_NAMES.index("source_depth_km")
_I_DIST = FEATURE_NAMES.index("path_ep_distance_km")


def first_arrivals(distance_km, depth_km, window_offset_s: float = 0.0, model: str = "iasp91") -> np.ndarray:
    """TauP first P and S arrival times, s after the window start.

    distance_km, depth_km : (n,) epicentral distance and source depth in km (depth clipped at
    0); window_offset_s : window start minus origin time, s. Returns (n, 2) float64 [t_P, t_S].
    """
    from ..traveltimes import get_table

    out = get_table(model).lookup(np.atleast_1d(distance_km), np.atleast_1d(depth_km))
    return np.stack([out["p_time_s"], out["s_time_s"]], axis=1) - float(window_offset_s)


def fit_arrival_stats(
    c: torch.Tensor, distance_km: torch.Tensor, depth_km: torch.Tensor, arrivals_s: torch.Tensor, model: str = "iasp91"
) -> dict[str, float] | None:
    """Statistics to recover raw distance/depth from normalised conditions, from one batch.

    c : (B, 11) normalised conditions; distance_km, depth_km : (B,) raw values; arrivals_s :
    (B, 2) the batch's arrival times (s after the window start). The normaliser is affine per
    feature (``raw = c·std + mean``), so a least-squares line per feature recovers it; the
    window offset is the median of (TauP P time - batch P time). Returns None when the batch
    has fewer than two distinct distances or depths (try the next batch).
    """
    out: dict[str, float] = {}
    for name, i, raw in (("distance", _I_DIST, distance_km), ("depth", _I_DEPTH, depth_km)):
        x = c[:, i].double().cpu()
        y = raw.double().cpu()
        vx = (x - x.mean()).square().sum()
        if x.numel() < 2 or float(vx) < 1e-8:
            return None
        std = float(((x - x.mean()) * (y - y.mean())).sum() / vx)
        out[f"{name}_std_km"] = std
        out[f"{name}_mean_km"] = float(y.mean() - std * x.mean())
    tt = first_arrivals(distance_km.double().cpu().numpy(), depth_km.double().cpu().numpy(), 0.0, model)
    out["window_offset_s"] = float(np.median(tt[:, 0] - arrivals_s[:, 0].double().cpu().numpy()))
    return out


def unnormalise(c: torch.Tensor, stats: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """(distance_km, depth_km), each (B,) float64, from normalised conditions c (B, 11)."""
    x = c.double().cpu().numpy()
    dist = x[:, _I_DIST] * stats["distance_std_km"] + stats["distance_mean_km"]
    dep = x[:, _I_DEPTH] * stats["depth_std_km"] + stats["depth_mean_km"]
    return np.clip(dist, 0.0, None), dep


def time_channels(
    arrivals_s: torch.Tensor, n_frames: int, frame_s: float, length_s: float, width_s: float
) -> torch.Tensor:
    """Time coordinate and soft arrival steps on a latent time grid.

    arrivals_s : (B, K) arrival times in s after the window start (K = 2: P, S; K = 4: target
    P, S and source P, S); n_frames : latent frames; frame_s : seconds per latent frame
    (frame ``j`` is at ``tau = j·frame_s``); length_s : window length in s; width_s : step
    width in s. Returns (B, 1 + K, n_frames) float32: ``tau/length``, then
    ``sigmoid((tau - t_k)/width)`` per arrival.
    """
    a = arrivals_s.float()
    tau = torch.arange(n_frames, device=a.device, dtype=torch.float32) * float(frame_s)
    steps = torch.sigmoid((tau[None, None, :] - a[:, :, None]) / float(width_s))
    coord = (tau / float(length_s))[None, None, :].expand(a.shape[0], 1, n_frames)
    return torch.cat([coord, steps], dim=1)
