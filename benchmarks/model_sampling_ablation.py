"""Benchmark: does the multi-step DDIM chain reproduce memorised targets? (model stage)

Ablation for the sampler / latent-space fix. Trains the tiny test model (the
``tests/test_train.py`` setup: ``TEST_MODEL`` overrides, 4 real iceland_dike records from
``tests/train_store.py``, batch 4, 600 steps by default, 1 thread; the test fixture now trains
800, see tests/test_train.py) once per TRAINING variant:

- ``spec``        : spectrogram-space loss only (the paper's objective; the default)
- ``lat1_sg``     : + 1.0 x ||x_θ − sg(E_AE(X_tgt))||² (target latent with stop-gradient)
- ``lat1``        : + 1.0 x ||x_θ − E_AE(X_tgt)||² (gradient into the encoder as well)
- ``lat0.1_sg``   : + 0.1 x the stop-gradient latent term

and evaluates each trained model (EMA weights) with five SAMPLER variants (``SAMPLERS``): the
noise estimate ε̂ taken from η's output (the old sampler) or from the chain state, the
re-projection ``x0 ← E_AE(D_AE(x0))`` off / on, and the known initial noise at the first
step; for 1 / 10 / 25 DDIM steps:

- from pure noise with each record's condition (seed 5): masked shape-only spectrogram distance
  (``masked_spectrogram_loss`` with counts normalisation) to its OWN target and the smallest
  distance to any OTHER target;
- from a source record (the other station of the same event, ``t_start`` default 0.6·T): the
  same two distances.

Also prints the model's spectrogram-space loss (``HEGGS.objective``, latent term excluded) on
all 4 records over 16 noise seeds, and the mean-spectrogram baseline for scale.

Run:  python benchmarks/model_sampling_ablation.py [--variants spec lat1_sg] [--steps 600]
(~1 min of one CPU thread per variant for training plus ~20 s of evaluation).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from heggs import config as C  # noqa: E402
from heggs import checkpoint as ckpt  # noqa: E402
from heggs import train as T  # noqa: E402
from heggs.data import PairDataset  # noqa: E402
from heggs.model.diffusion import masked_spectrogram_loss  # noqa: E402
from train_store import build_iceland_store  # noqa: E402

TEST_MODEL = {"ae_channels": [16, 16], "latent_channels": 16, "n_fft": 64, "hop_length": 32}
VARIANTS = {
    "spec": {"latent_loss_weight": 0.0},
    "lat1_sg": {"latent_loss_weight": 1.0, "latent_target_stop_grad": True},
    "lat1": {"latent_loss_weight": 1.0, "latent_target_stop_grad": False},
    "lat0.1_sg": {"latent_loss_weight": 0.1, "latent_target_stop_grad": True},
}
#: sampler variants: (noise estimate from η's output or from the chain state, re-projection,
#: known initial noise at the first step); the last one is HEGGS.generate's default
SAMPLERS = {
    "old: eps(eta out)": ("eta", False, False),
    "eps(eta out)+reproj": ("eta", True, False),
    "eps(state)": ("state", False, True),
    "eps(state)+reproj, 1st implied": ("state", True, False),
    "eps(state)+reproj [default]": ("state", True, True),
}


def chain(model, c, seeds, steps, eps_from, reproject, known_first, src=None, c_src=None, src_valid=None, src_band=None):
    """The DDIM chain of HEGGS.generate with the sampler choices as switches (no grad)."""
    from heggs.model.diffusion import q_sample, seeded_noise
    from heggs.model.sampling import ddim_timesteps

    with torch.no_grad():
        b, T = len(seeds), model.cfg.n_timesteps
        eps0 = seeded_noise(seeds, model.latent_shape)
        ab = model._alpha_bar.double()
        if src is None:
            t0, z = T, eps0
        else:
            t0 = int(round(model.cfg.t_start_fraction * T))
            xs, ms = model.spectrogram_and_mask(src, src_valid, src_band)
            z = q_sample(model.encode(xs, ms), ab[torch.full((b,), t0)].float(), eps0)
        tokens, pooled = model.cond(c)
        ts = ddim_timesteps(t0, steps)
        for i, t in enumerate(ts):
            cs = c_src if (i == 0 and src is not None) else c
            y, x0 = model.m_theta(z, torch.full((b,), t), c, cs, tokens, pooled)
            tn = ts[i + 1] if i + 1 < len(ts) else 0
            if tn == 0:
                break
            if reproject:
                x0 = model.reproject(x0, pooled)
            a, s = float(ab[t].sqrt()), float((1 - ab[t]).sqrt())
            a_n, s_n = float(ab[tn].sqrt()), float((1 - ab[tn]).sqrt())
            eps = eps0 if (i == 0 and known_first) else ((y if eps_from == "eta" else z) - a * x0) / max(s, 1e-8)
            z = a_n * x0 + s_n * eps
        return model.waveform(model.decode(x0, pooled)).float()


def train_cfg(store: Path, steps: int, **model_kw) -> C.TrainConfig:
    """The overfit configuration of tests/test_train.py (fixture ``overfit_run``)."""
    return C.TrainConfig(
        data=str(store), preset="tiny", model=C.model_preset("tiny", **TEST_MODEL, **model_kw), batch_size=4,
        steps=steps, lr=3e-3, min_lr=3e-4, warmup_steps=10, lr_schedule="cosine", ema_decay=0.95,
        checkpoint_interval=steps, log_interval=50, num_workers=0, p_same=0.5, seed=0,
    )


def evaluate(final: Path) -> dict:
    model, normalizer, info = ckpt.load_checkpoint(final)  # EMA weights
    ds = PairDataset(info["data"]["store"], "train", normalizer, p_same=0.5, seed=0)
    batch = default_collate([ds[i] for i in range(len(ds))])
    n = len(batch["tgt"])
    x, m = model.spectrogram_and_mask(batch["tgt"], batch["tgt_valid"], batch["tgt_band_max_hz"])
    # model's spectrogram-space loss (online weights, as trained), 16 noise seeds
    online, _, _ = ckpt.load_checkpoint(final, ema=False)
    losses = []
    with torch.no_grad():
        for s in range(16):
            b = dict(batch, noise_seed=torch.arange(n) * 7919 + s)
            losses.append(float(online.loss(b)[1]["loss_spec"]))  # the complex term alone
        per_all = []
        for s in range(16):
            b = dict(batch, noise_seed=torch.arange(n) * 7919 + s)
            per_all.append(_objective(online, b))
    res = {"loss_spec": float(np.mean(losses)), "objective": float(np.mean(per_all))}
    with torch.no_grad():  # latent scale: RMS of E_AE(X_tgt) and of x_θ's x0 from pure noise at T
        z = model.encode(x, m)
        res["rms_latent"] = float(z.square().mean().sqrt())
        tokens, pooled = model.cond(batch["c_tgt"].float())
        from heggs.model.diffusion import seeded_noise

        tt = torch.full((n,), model.cfg.n_timesteps)
        _, x0 = model.m_theta(seeded_noise([5] * n, model.latent_shape), tt, batch["c_tgt"].float(),
                              batch["c_tgt"].float(), tokens, pooled)
        res["rms_x0"] = float(x0.square().mean().sqrt())
        res["x0_to_latent"] = float((x0 - z).square().mean().sqrt())

    tgt_index = batch["tgt_index"].tolist()

    def dists(gen: torch.Tensor) -> tuple[list[float], list[float]]:
        own, other = [], []
        for i in range(n):
            g, _ = model.spectrogram_and_mask(gen[[i] * n], batch["tgt_valid"], batch["tgt_band_max_hz"])
            d = masked_spectrogram_loss(g, x, m, torch.zeros(n, dtype=torch.bool))
            own.append(float(d[i]))
            other.append(float(torch.cat([d[:i], d[i + 1 :]]).min()))
        return own, other

    c = batch["c_tgt"].float()
    j = _same_event_partner(ds, tgt_index)
    src_kw = dict(src=batch["tgt"][j], c_src=batch["c_tgt"][j].float(), src_valid=batch["tgt_valid"][j],
                  src_band=batch["tgt_band_max_hz"][j])
    for name, (eps_from, reproject, known) in SAMPLERS.items():
        for steps in (1, 10, 25):
            res[("noise", name, steps)] = dists(chain(model, c, [5] * n, steps, eps_from, reproject, known))
            res[("source", name, steps)] = dists(chain(model, c, [5] * n, steps, eps_from, reproject, known, **src_kw))
    # the benchmark's chain with the default switches is HEGGS.generate
    ref = model.generate(c, seeds=[5] * n, src=src_kw["src"], c_src=src_kw["c_src"], src_valid=src_kw["src_valid"],
                         src_band_max_hz=src_kw["src_band"])
    torch.testing.assert_close(chain(model, c, [5] * n, model.cfg.sampler_steps, "state", True, True, **src_kw), ref)
    return res


def _objective(model, b) -> float:
    """Mean per-item spectrogram objective (HEGGS.objective) of the model's prediction on ``b``."""
    from heggs.model.diffusion import q_sample, seeded_noise, seeded_timesteps

    dev = model.device
    same = b["same"].bool()
    src = torch.where(same[:, None, None], b["tgt"], b["src"])
    sv = torch.where(same[:, None], b["tgt_valid"], b["src_valid"])
    sb = torch.where(same, b["tgt_band_max_hz"], b["src_band_max_hz"])
    c_tgt = b["c_tgt"].float()
    c_src = torch.where(same[:, None], c_tgt, b["c_src"].float())
    seeds = [int(s) for s in b["noise_seed"].tolist()]
    t = seeded_timesteps(seeds, model.cfg.n_timesteps, dev)
    eps = seeded_noise(seeds, model.latent_shape, dev, skip_timestep=True)
    xs, ms = model.spectrogram_and_mask(src, sv, sb)
    z_t = q_sample(model.encode(xs, ms), model._alpha_bar[t].float(), eps)
    tokens, pooled = model.cond(c_tgt)
    _, x0 = model.m_theta(z_t, t, c_tgt, c_src, tokens, pooled)
    xt, mt = model.spectrogram_and_mask(b["tgt"], b["tgt_valid"], b["tgt_band_max_hz"])
    per, _ = model.objective(model.decode(x0, pooled), xt, mt, b["tgt_physical"].bool())
    return float(per.mean())


def _same_event_partner(ds: PairDataset, tgt_index: list[int]) -> list[int]:
    """For each item, the position of another item of the same event (the source record)."""
    meta = ds.store.metadata
    sid = [str(meta["source_id"].iloc[i]) for i in tgt_index]
    out = []
    for i, s in enumerate(sid):
        out.append(next(j for j in range(len(sid)) if j != i and sid[j] == s))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        store = build_iceland_store(Path(args.data), Path(tmp) / "iceland4", n_events=2, n_stations=2,
                                    rate_hz=25.0, band_max_hz=10.0)
        for name in args.variants:
            t0 = time.perf_counter()
            final = T.train(train_cfg(store, args.steps, **VARIANTS[name]), Path(tmp) / name, progress=False)
            t_train = time.perf_counter() - t0
            r = evaluate(final)
            print(f"== {name} {VARIANTS[name]}: train {t_train:.0f} s, loss_spec (complex term) "
                  f"{r['loss_spec']:.4f}, spectrogram objective {r['objective']:.4f}; RMS E_AE(X) "
                  f"{r['rms_latent']:.3f}, RMS x0(t=T) {r['rms_x0']:.3f}, RMS(x0 - E_AE(X)) {r['x0_to_latent']:.3f}")
            for mode in ("noise", "source"):
                for sampler in SAMPLERS:
                    cells = []
                    for steps in (1, 10, 25):
                        own, other = r[(mode, sampler, steps)]
                        cells.append(f"{steps:2d} st. own {np.mean(own):.2f} [{min(own):.2f}-{max(own):.2f}] "
                                     f"other {np.mean(other):.2f}")
                    print(f"  {mode:6s} {sampler:31s} | " + " | ".join(cells))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
