"""Benchmark: does the compressed-magnitude loss term help? (model stage, heggs.model.network)

Overfits a small HEGGS on 2 fixed synthetic pairs (decaying harmonics, source and target with
different frequencies and onsets, both in m/s²) with the complex spectrogram loss alone
(``magnitude_loss_weight=0``) and with the magnitude term added (``=1``), then evaluates BOTH
terms with fixed noise seeds. Prints the medians over a few initialisation seeds.

Run:  python benchmarks/model_loss_terms.py [--steps 100] [--seeds 3]
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch

from heggs.config import model_preset
from heggs.model.network import HEGGSNet, dummy_batch

SMALL = dict(
    n_samples=512, n_fft=64, hop_length=16, ae_channels=(8, 8), latent_channels=4, acm_channels=8,
    acm_dense_depth=2, acm_attention_blocks=1, acm_heads=2, cond_hidden=16, cond_tokens=2, cond_dim=16,
    unet_channels=(16, 16), unet_res_blocks=1, unet_attention_levels=(1,), unet_heads=2, eta_channels=8,
    eta_blocks=1, n_timesteps=100, sampler_steps=5, amplitude_scale=0.5,
)


def ringing(n: int, f0: float, onset_s: float, amp: float) -> torch.Tensor:
    tt = torch.arange(n) / 100.0
    env = torch.where(tt >= onset_s, torch.exp(-(tt - onset_s).clamp_min(0)), torch.zeros(()))
    return torch.stack([amp * env * torch.sin(2 * math.pi * f0 * k * (tt - onset_s)) for k in (1.0, 1.5, 2.0)])


def run(weight: float, steps: int, seed: int) -> dict[str, float]:
    torch.manual_seed(seed)
    cfg = model_preset("tiny", **SMALL, magnitude_loss_weight=weight)
    m = HEGGSNet(cfg)
    n = cfg.n_samples
    batch = dummy_batch(cfg, 2, seed=3)
    batch["src"] = torch.stack([ringing(n, 5, 1.0, 0.5), ringing(n, 8, 2.0, 1.0)])
    batch["tgt"] = torch.stack([ringing(n, 6, 1.5, 1.0), ringing(n, 10, 2.5, 0.3)])
    batch["tgt_physical"][:] = True
    batch["same"][:] = False
    judge = HEGGSNet(model_preset("tiny", **SMALL, magnitude_loss_weight=1.0))
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for step in range(steps):
        loss, _ = m.loss(dict(batch, noise_seed=torch.tensor([2 * step, 2 * step + 1])))
        opt.zero_grad()
        loss.backward()
        opt.step()
    judge.load_state_dict(m.state_dict())
    with torch.no_grad():
        logs = [judge.loss(dict(batch, noise_seed=torch.tensor([100 + s, 200 + s])))[1] for s in range(5)]
        x, mask = judge.spectrogram_and_mask(batch["tgt"], batch["tgt_valid"], batch["tgt_band_max_hz"])
        zero = float((x.square() * mask).sum() / (mask.sum() * x.shape[1]))
    out = {k: statistics.mean(lg[k] for lg in logs) for k in ("loss_spec", "loss_mag")}
    out["zero_prediction_spec"] = zero
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"{a.steps} Adam steps (lr 3e-3) on 2 synthetic pairs; medians over {a.seeds} init seeds")
    print(f"{'magnitude_loss_weight':>22} {'complex MSE':>12} {'magnitude MSE':>14}")
    for w in (0.0, 1.0):
        res = [run(w, a.steps, s) for s in range(a.seeds)]
        spec = statistics.median(r["loss_spec"] for r in res)
        mag = statistics.median(r["loss_mag"] for r in res)
        print(f"{w:>22.1f} {spec:>12.4f} {mag:>14.4f}")
    print(f"complex MSE of predicting all zeros on these targets: {res[0]['zero_prediction_spec']:.4f}")


if __name__ == "__main__":
    main()
