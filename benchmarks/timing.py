"""Shared timing helpers of the benchmark scripts (run them as ``python benchmarks/NAME.py``).

Timings on a shared 2-core machine swing 2-10x between runs: every script reports medians of
repeats and compares alternatives as ratios measured in the same run.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_time(fn: Callable[[], object], repeats: int = 3, warmup: int = 0) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def griffin_lim(mag, n_fft: int, hop: int, n: int, iters: int = 128):
    """Griffin-Lim (random initial phase) from STFT magnitudes (N, F, T) -> (N, n) waveforms:
    the phase-retrieval route of the closest competitor (HighFEM runs 128 iterations per record)."""
    import torch

    win = torch.hann_window(n_fft)
    phase = torch.exp(2j * torch.pi * torch.rand(mag.shape))
    x = torch.istft(mag * phase, n_fft, hop, window=win, length=n)
    for _ in range(iters):
        s = torch.stft(x, n_fft, hop, window=win, return_complex=True)
        x = torch.istft(mag * torch.exp(1j * torch.angle(s)), n_fft, hop, window=win, length=n)
    return x
