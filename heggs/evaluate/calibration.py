"""Stage: evaluate — the amplitude calibration of a trained model (a stop-gap for a level bias).

:func:`fit_output_gain` compares generated and real PGA on a store's training split and returns
one factor that ``heggs export --calibrate-on`` writes into the exported model's JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..generate import HEGGS


def fit_output_gain(model: HEGGS, store, split: str = "train", n_records: int = 64, seed: int = 0) -> dict[str, Any]:
    """Amplitude calibration of a trained model: ``gain = exp(median ln(PGA_real / PGA_gen))``.

    Generates (without source, the model's default steps) up to ``n_records`` physical-unit
    records of ``split`` — the TRAINING split by default, never the test split — and compares
    the RotD50 PGA with the real records. Returns ``{"output_gain", "median_ln_ratio",
    "iqr_ln_ratio", "n_records", "split"}``; put ``output_gain`` into the checkpoint JSON
    (``heggs export --calibrate-on STORE``) to apply it. It corrects a systematic level bias
    (one number for all records), not the record-to-record scatter.
    """
    from ..condition import condition_features
    from .gmpe import pga_rotd50_g
    from ..store import UNITS_PHYSICAL, Store

    store = store if isinstance(store, Store) else Store(store)
    meta = store.metadata
    rows = meta[(meta["trace_units"] == UNITS_PHYSICAL) & (meta["split"] == split)]
    if rows.empty:
        raise ValueError(f"{store.path}: no physical-unit records in split {split!r} to calibrate on")
    rows = rows.sample(min(n_records, len(rows)), random_state=seed)
    real = store.waveforms(rows.index.to_numpy())
    gen = model.waveforms(condition_features(rows), np.arange(len(rows)), batch_size=16)
    r = np.log(pga_rotd50_g(real) / pga_rotd50_g(gen))
    r = r[np.isfinite(r)]
    med = float(np.median(r))
    q1, q3 = np.percentile(r, [25, 75])
    return {"output_gain": float(model.output_gain * np.exp(med)), "median_ln_ratio": med, "iqr_ln_ratio": [float(q1), float(q3)],
            "n_records": int(r.size), "split": split}
