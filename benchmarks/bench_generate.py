"""Benchmark: generation speed (issue 5).

Measured in ONE run, medians of repeats, on the CPU (threads stated in the output):
1. records per second of ``HEGGS.generate`` with and without a source record, for a range of
   sampler step counts, per model preset;
2. the whole decode path (decoder + ACM + exact inverse STFT) against 128 iterations of
   Griffin-Lim on spectrogram magnitudes of the same shape (what HighFEM runs per record),
   as a ratio;
3. the end-to-end time per record split into U-Net/η steps, decoder + ACM, inverse transform.

Weights are random (speed does not depend on them). Timings on a shared 2-core machine swing
2-10x between runs: compare the ratios printed in one run, not absolute figures across runs.

Run:  python benchmarks/bench_generate.py [--presets tiny,small,paper] [--batch 8] [--repeats 3]
"""

from __future__ import annotations

import argparse

import torch

from heggs.config import model_preset
from heggs.model.network import HEGGSNet
from timing import griffin_lim, median_time  # benchmarks/timing.py

#: a mid-size preset between "tiny" and "paper" (what a CPU-trained default model can afford)
SMALL = {"ae_channels": (16, 32), "latent_channels": 8, "acm_channels": 16, "cond_hidden": 64, "cond_dim": 64,
         "cond_tokens": 4, "unet_channels": (64, 128), "unet_res_blocks": 1, "unet_attention_levels": (1,),
         "unet_heads": 4, "eta_channels": 32, "eta_blocks": 1}


def preset(name: str):
    return model_preset("tiny", **SMALL) if name == "small" else model_preset(name)


@torch.no_grad()
def bench_preset(name: str, batch: int, steps_list: list[int], repeats: int) -> None:
    cfg = preset(name)
    net = HEGGSNet(cfg).eval()
    b = batch
    c = torch.randn(b, cfg.n_conditions)
    src = torch.randn(b, cfg.n_components, cfg.n_samples) * 1e-2
    seeds = list(range(b))
    print(f"\n[{name}] {net.n_parameters():,} parameters, window {cfg.n_samples} samples at {cfg.sampling_rate_hz:g} Hz, "
          f"latent {tuple(net.latent_shape)}, batch {b}")
    for steps in steps_list:
        t_no = median_time(lambda: net.generate(c, seeds, steps=steps), repeats)
        t_src = median_time(lambda: net.generate(c, seeds, src=src, c_src=c, steps=steps), repeats)
        print(f"  steps {steps:>3}: no source {b / t_no:7.2f} rec/s   with source {b / t_src:7.2f} rec/s")
    # decode path vs Griffin-Lim-128, and the end-to-end split at the default step count
    z = torch.randn(b, *net.latent_shape)
    _, pooled = net.cond(c)
    spec = net.decode(z, pooled)
    t_dec = median_time(lambda: net.decode(z, pooled), repeats)
    t_inv = median_time(lambda: net.waveform(spec), repeats)
    n_ch = spec.shape[1] // 2
    mag = torch.sqrt(spec[:, 0::2] ** 2 + spec[:, 1::2] ** 2).reshape(b * n_ch, *spec.shape[2:]).double()
    t_gl = median_time(lambda: griffin_lim(mag.float(), cfg.n_fft, cfg.hop_length, cfg.n_samples), max(1, repeats // 2))
    steps = cfg.sampler_steps
    t_all = median_time(lambda: net.generate(c, seeds, steps=steps), repeats)
    t_unet = max(t_all - t_dec - t_inv, 0.0)
    print(f"  decode path (decoder+ACM {1e3 * t_dec / b:.1f} ms + inverse STFT {1e3 * t_inv / b:.2f} ms per record) vs "
          f"Griffin-Lim-128 {1e3 * t_gl / b:.1f} ms per record: {t_gl / (t_dec + t_inv):.1f}x faster "
          f"(inverse STFT alone {t_gl / t_inv:.0f}x)")
    print(f"  end-to-end at {steps} steps: {1e3 * t_all / b:.1f} ms per record = denoising steps (U-Net, eta, re-projection) {100 * t_unet / t_all:.0f}% "
          f"+ decoder/ACM {100 * t_dec / t_all:.0f}% + inverse {100 * t_inv / t_all:.1f}%  ({b / t_all:.2f} rec/s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="tiny,small,paper")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", default="5,10,25,50")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for name in a.presets.split(","):
        steps = [int(s) for s in a.steps.split(",")]
        if name == "paper":  # ~minutes per step count on 2 cores: only the default
            steps = [25]
        bench_preset(name, a.batch if name != "paper" else 2, steps, a.repeats if name != "paper" else 1)


if __name__ == "__main__":
    main()
