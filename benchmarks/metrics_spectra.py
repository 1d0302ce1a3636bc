"""Benchmark of the metric layer: response spectra, RotD50, Brune fit, waveform metrics, pickers.

Synthetic records (band-limited noise under an earthquake-like envelope, 3 x 6000 samples at
100 Hz) and medians of repeated timings, per record. The pickers need SeisBench weights
(SEISBENCH_CACHE_ROOT) and are skipped otherwise.
Run: ``python benchmarks/metrics_spectra.py [--records 20] [--periods 100]``.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import signal

from heggs.evaluate import metrics

from heggs.evaluate import spectra
from timing import median_time  # benchmarks/timing.py

DT = 0.01


def records(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3, 6000))
    sos = signal.butter(4, [1.0, 45.0], btype="band", fs=1 / DT, output="sos")
    t = np.arange(6000) * DT
    env = (t / 8.0) ** 2 * np.exp(-t / 8.0)
    return signal.sosfiltfilt(sos, x, axis=-1) * env




def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--periods", type=int, default=100)
    parser.add_argument("--pickers", action="store_true", help="also time EQTransformer/PhaseNet")
    args = parser.parse_args()
    x = records(args.records)
    other = records(args.records, seed=1)
    periods = np.geomspace(0.01, 10.0, args.periods)
    n = args.records
    rows = {
        "response_spectrum (3 comp)": lambda: spectra.response_spectrum(x, DT, periods),
        "rotd RotD50/100 (E,N)": lambda: spectra.rotd(x[:, :2], DT, periods),
        "rotd_peak PGA RotD50": lambda: spectra.rotd_peak(x[:, :2], (50,)),
        "FAS + Konno-Ohmachi (100 f)": lambda: spectra.konno_ohmachi(*reversed(spectra.fourier_amplitude_spectrum(x, DT))),
        "fit_brune (3 comp)": lambda: spectra.fit_brune(*spectra.fourier_amplitude_spectrum(x, DT), fmin=1, fmax=45),
        "envelope_correlation": lambda: metrics.envelope_correlation(x, other),
        "spectrogram_mse (log)": lambda: metrics.spectrogram_mse(x, other, 1 / DT),
        "snr/psnr": lambda: (metrics.snr_db(x, other), metrics.psnr_db(x, other)),
        "arias + D5-95": lambda: (metrics.arias_intensity(x, DT), metrics.significant_duration(x, DT)),
    }
    if args.pickers:
        from heggs.evaluate import picking

        for name in ("eqtransformer", "phasenet"):
            picking.load_picker(name)
            rows[f"pick_arrivals {name}"] = lambda name=name: picking.pick_arrivals(x, 1 / DT, picker=name)
        rows["pick_arrivals classical"] = lambda: picking.pick_arrivals(x, 1 / DT, picker="classical")
    print(f"{args.records} records x 3 x 6000 samples, {args.periods} periods; median of 3, ms per record")
    for label, fn in rows.items():
        fn()  # warm-up (filter caches, model load)
        print(f"{label:32s} {1000 * median_time(fn) / n:10.2f}")


if __name__ == "__main__":
    main()
