"""Benchmark: speed of the exact spectrogram inverse and of the HEGGS model (model stage).

1. Waveform from spectrogram: our exact inverse (decompress + torch.istft) against
   Griffin-Lim with 128 iterations (what HighFEM runs per record), both on the CPU, for
   3-component 60 s / 100 Hz records. Ratio measured in the same run, medians of repeats.
2. Model cost per preset: parameters, measured FLOPs (torch.utils.flop_counter) of a training
   step and of one generation; wall time of a training step and a generation for "tiny".

Run:  python benchmarks/model_speed.py [--records 32] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse

import torch

from heggs.config import model_preset
from heggs.model.network import HEGGSNet, dummy_batch
from heggs.model.spectrogram import compressed_stft, inverse_compressed_stft
from timing import griffin_lim, median_time  # benchmarks/timing.py


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = model_preset("paper")
    n, nf, hop = cfg.n_samples, cfg.n_fft, cfg.hop_length
    w = torch.randn(a.records, 3, n) * 1e-2
    kw = dict(n_fft=nf, hop_length=hop, alpha=cfg.compression_alpha, scale=1e-2)
    spec = compressed_stft(w, **kw)
    t_inv = median_time(lambda: inverse_compressed_stft(spec, n_samples=n, **kw), a.repeats)
    back = inverse_compressed_stft(spec, n_samples=n, **kw)
    rel = float((back - w).norm() / w.norm())
    mag = torch.stft(w[:4].reshape(12, n), nf, hop, window=torch.hann_window(nf), return_complex=True).abs()
    t_gl = median_time(lambda: griffin_lim(mag, nf, hop, n), max(1, a.repeats // 2)) / 4
    per_inv = t_inv / a.records
    print(f"threads={a.threads}; 3-component records of {n} samples, n_fft={nf}, hop={hop}")
    print(f"exact inverse: {1e3 * per_inv:.3f} ms/record (relative round-trip error {rel:.1e})")
    print(f"Griffin-Lim 128 it.: {1e3 * t_gl:.1f} ms/record  -> ratio {t_gl / per_inv:.0f}x")
    print()
    print(f"{'preset':>6} {'params':>10} {'latent':>14} {'GFLOP/train step/rec':>21} {'GFLOP/generation':>17}")
    for name in ("tiny", "paper"):
        m = HEGGSNet(model_preset(name, amplitude_scale=1e-2))
        gen_flops = m.flops_per_sample("generate") if name == "tiny" else float("nan")
        print(f"{name:>6} {m.n_parameters():>10,} {str(m.latent_shape):>14} {m.flops_per_sample('train') / 1e9:>21.2f} {gen_flops / 1e9:>17.2f}")
    m = HEGGSNet(model_preset("tiny", amplitude_scale=1e-2))
    batch = dummy_batch(m.cfg, 8)

    def step() -> None:
        loss, _ = m.loss(batch)
        loss.backward()

    t_step = median_time(step, a.repeats)
    t_gen = median_time(lambda: m.generate(batch["c_tgt"], list(range(8))), max(1, a.repeats // 2))
    print(f"tiny: training step (batch 8) {t_step:.2f} s; generation ({m.cfg.sampler_steps} DDIM steps, batch 8) {t_gen:.2f} s")


if __name__ == "__main__":
    main()
