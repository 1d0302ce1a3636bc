"""Stage: evaluation — generate every test target with each model and score it against the real record.

``evaluate_generator(generator, test, cfg)`` runs one model (or the stochastic baseline) over a
:class:`TestSet` (the targets of one split of a store) in each mode — ``with_source`` (another
station of the same event is the source, the paper's imputation) and ``without_source`` (pure
noise with the target condition) — and returns one row per (target, record) with every metric
of docs/metrics.md: P/S arrival errors (the same picker on generated and real record), envelope
correlation, SNR, PSNR, spectrogram MSE, PGA/PGV/Arias log residuals, D5-95, PGA residuals
against GMPEs, and log ratios of the Fourier and RotD50 response spectra. ``summarize`` turns
the rows into estimates with bootstrap confidence intervals over EVENTS (records of one event
are correlated; test sets are small). Figures and the Markdown report are in
:mod:`heggs.evaluate.report`; the command is ``heggs evaluate``.

Fairness rules (the same for every generator):

- the generated record is compared only inside the real record's valid range (outside it is
  zeroed, like the real record's padding) and low-passed at the real record's band edge;
- amplitude metrics (SNR/PSNR on absolute values, PGA, PGV, Arias, GMPE residuals, spectral
  ratios) need a real record in m/s² that is not clipped (``trace_clipped``, docs/ingest.md;
  ``EvalConfig.amplitude_clipped`` lets clipped records in) AND a generator with physical
  output; otherwise the row's
  ``amplitude`` flag is False, SNR/PSNR/spectrogram MSE are computed on records divided by
  their own RMS (shape only) and the amplitude columns are NaN;
- a generator that cannot use a source (the stochastic method, condition-only LDMs) is scored
  in ``without_source`` only.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
import pandas as pd
from scipy import signal

from ..config import EvalConfig, SimulateConfig, WindowConfig
from .metrics import (
    arias_intensity,
    bootstrap_ci,
    envelope_correlation,
    psnr_db,
    significant_duration,
    snr_db,
    spectrogram_mse,
    pgv,
)
from .spectra import fourier_amplitude_spectrum, konno_ohmachi, rotd
from ..store import UNITS_PHYSICAL, Store, parse_splits

__all__ = [
    "MODES",
    "FAS_FREQS_HZ",
    "PSA_PERIODS_S",
    "TestSet",
    "Generator",
    "ModelGenerator",
    "StochasticGenerator",
    "load_test_set",
    "training_range_flags",
    "record_metrics",
    "picker_error",
    "evaluate_generator",
    "summarize",
    "curve_summary",
    "real_gmpe_residuals",
    "paired_source_effect",
    "SIGMA_PERIODS_S",
    "real_onsets",
    "onset_columns",
    "psa_columns",
]

MODES = ("with_source", "without_source")
#: centre frequencies of the Fourier-spectrum ratios, Hz (1 Hz: the store's high-pass)
FAS_FREQS_HZ = np.geomspace(1.0, 40.0, 24)
#: oscillator periods of the RotD50 ratios, s (≤ 1 s: longer periods are below the band)
PSA_PERIODS_S = np.geomspace(0.03, 1.0, 16)
#: per-row metric columns that summarize() aggregates (mean over rows, bootstrap over events)
MEAN_METRICS = ("env_corr", "snr_db", "psnr_db", "spec_mse", "ln_pga", "ln_pgv", "ln_arias", "d595_diff_s")
#: waveform validity (heggs.evaluate.validity): the fraction of records passing each check
VALIDITY_METRICS = ("valid_mean", "valid_band", "valid_edges", "valid_comb", "valid_drift", "valid_all")
#: STFT hop (samples) at whose frame rate the comb check looks when a generator has no STFT
DEFAULT_HOP_LENGTH = 64
#: oscillator periods (s) of the between-/within-event decomposition of ln PSA (docs/metrics.md)
SIGMA_PERIODS_S = (0.1, 0.3, 1.0)


def _seed(*keys: Any) -> int:
    h = hashlib.sha256(":".join(map(str, keys)).encode()).digest()
    return int.from_bytes(h[:4], "little") >> 1


# ----------------------------------------------------------------------------- test set


@dataclass
class TestSet:
    """The targets of one split, each with the source drawn for it.

    waveforms : (n, C, n_samples) float32 real records in store units (``units``)
    meta : (n rows) store metadata of the targets (index 0..n-1)
    valid : (n, 2) int valid ``[start, end)`` samples;  band_max_hz : (n,) Hz
    source : (n,) int row (in this test set) of each target's source record, -1 = no other
        station of the event in the split
    physical : (n,) bool real record usable for amplitude metrics: in m/s² and not clipped
    components, sampling_rate_hz : of the store;  clipped : (n,) bool ``trace_clipped``
    splits : the store splits the targets come from (None: every record)
    """

    store: Store
    rows: np.ndarray
    meta: pd.DataFrame
    waveforms: np.ndarray
    valid: np.ndarray
    band_max_hz: np.ndarray
    source: np.ndarray
    physical: np.ndarray
    components: str
    sampling_rate_hz: float
    clipped: np.ndarray | None = None
    splits: tuple[str, ...] | None = ("test",)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def events(self) -> np.ndarray:
        return self.meta["source_id"].astype(str).to_numpy()

    @property
    def band_min_hz(self) -> float:
        """The store's lower band edge (Hz): the median of ``trace_band_min_hz``, else the default."""
        if "trace_band_min_hz" in self.meta:
            v = pd.to_numeric(self.meta["trace_band_min_hz"], errors="coerce").to_numpy(float)
            if np.isfinite(v).any():
                return float(np.nanmedian(v))
        return float(WindowConfig().band_min_hz)

    @property
    def window(self) -> WindowConfig:
        n = self.waveforms.shape[-1]
        return WindowConfig(length_s=n / self.sampling_rate_hz, sampling_rate_hz=self.sampling_rate_hz,
                            components=self.components)


def load_test_set(store: Store | str | Path, split: str | Sequence[str] | None = "test", max_targets: int = 0,
                  seed: int = 0, components: str = "ENZ") -> TestSet:
    """Targets of ``split`` (see :func:`heggs.store.parse_splits`: one split, a list, or "all") with a
    finite condition, their waveforms and one source each.

    The source of a target is another station of the same event (splits are by event, so it
    lies in the same split), drawn with a generator seeded by (seed, target) — the same for
    every model. ``max_targets`` keeps whole events, in a seeded order, until the cap is reached.
    """
    from ..data import ConditionNormalizer, PairDataset, condition_features, event_split

    store = store if isinstance(store, Store) else Store(store)
    splits = parse_splits(split)
    meta_all = store.metadata
    raw = condition_features(meta_all)
    finite = np.all(np.isfinite(raw), axis=1)
    # conditions are recomputed per model with its own normaliser: this one only lets a store
    # without a train split (a held-out store) load
    norm = ConditionNormalizer.fit(raw[finite], fit_split="all") if finite.any() else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = PairDataset(store, splits[0] if splits and len(splits) == 1 else None, normalizer=norm, p_same=0.0,
                         seed=seed, components=components)
    targets = ds.target_indices
    if splits is not None and len(splits) > 1:
        labels = event_split(meta_all).to_numpy()
        targets = targets[np.isin(labels[targets], splits)]
    if len(targets) == 0:
        raise ValueError(f"{store.path}: no target records in split {','.join(splits) if splits else 'all'!s}")
    if max_targets and len(targets) > max_targets:
        ev = meta_all["source_id"].astype(str).to_numpy()[targets]
        order = sorted(set(ev), key=lambda e: _seed(seed, "event-order", e))
        keep, n = set(), 0
        for e in order:
            k = int((ev == e).sum())
            if n and n + k > max_targets:
                continue
            keep.add(e)
            n += k
        targets = targets[np.isin(ev, list(keep))]
    position = {int(r): i for i, r in enumerate(targets)}
    item_of = {int(r): i for i, r in enumerate(ds.target_indices)}
    items = [ds[item_of[int(r)]] for r in targets]
    source = np.array([position.get(int(it["src_index"]), -1) if not bool(it["same"]) else -1 for it in items])
    meta = meta_all.iloc[targets].reset_index(drop=True)
    physical = (meta["trace_units"].astype(str) == UNITS_PHYSICAL).to_numpy() if "trace_units" in meta else np.zeros(len(meta), bool)
    clipped = meta["trace_clipped"].astype(str).str.lower().isin(("true", "1")).to_numpy() \
        if "trace_clipped" in meta else np.zeros(len(meta), bool)
    sr = float(pd.to_numeric(meta["trace_sampling_rate_hz"], errors="coerce").iloc[0]) if "trace_sampling_rate_hz" in meta \
        else float(store.data_format["sampling_rate"])
    return TestSet(
        store=store, rows=np.asarray(targets, dtype=np.int64), meta=meta,
        waveforms=np.stack([it["tgt"].numpy() for it in items]),
        valid=np.stack([it["tgt_valid"].numpy() for it in items]),
        band_max_hz=np.array([float(it["tgt_band_max_hz"]) for it in items]),
        source=source, physical=physical & ~clipped, components=components, sampling_rate_hz=sr,
        clipped=clipped, splits=splits,
    )


#: condition of a target -> (metadata column, key of a model's ``training_ranges``)
_RANGE_COLUMNS = (("source_magnitude", "magnitude"), ("path_ep_distance_km", "distance_km"),
                  ("source_depth_km", "depth_km"), ("source_latitude_deg", "latitude"),
                  ("source_longitude_deg", "longitude"))


def training_range_flags(meta: pd.DataFrame, ranges: dict[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """Whether each target lies inside a model's training ranges (``info["training_ranges"]``,
    the same keys as :func:`heggs.scenario.check_training_ranges`).

    meta : (n rows) store metadata;  ranges : ``{key: [min, max]}`` or None (no ranges: every
    target counts as inside). Returns in_range (n,) bool and out_of_range (n,) str, the keys
    outside joined by ";" ("" when inside).
    """
    n = len(meta)
    out = [[] for _ in range(n)]
    for col, key in _RANGE_COLUMNS:
        lim = (ranges or {}).get(key)
        if lim is None or col not in meta:
            continue
        v = pd.to_numeric(meta[col], errors="coerce").to_numpy(float)
        lo, hi = float(lim[0]), float(lim[1])
        for i in np.flatnonzero(np.isfinite(v) & ((v < lo) | (v > hi))):
            out[i].append(key)
    text = np.array([";".join(k) for k in out], dtype=object)
    return text == "", text


# ----------------------------------------------------------------------------- generators


class Generator(Protocol):
    """What evaluation needs of a model: a name, its output unit and a batch generator."""

    name: str
    #: "m/s2" (amplitude metrics apply) or "normalised" (shape only)
    units: str
    #: whether it can use a source record of the same event
    uses_source: bool
    #: upper edge of its output band, Hz (None: up to Nyquist); real records band-limited below
    #: it are compared with the generated record low-passed at their edge
    band_max_hz: float | None

    def generate(self, test: TestSet, targets: np.ndarray, seeds: Sequence[int], with_source: bool,
                 cfg: EvalConfig) -> np.ndarray:
        """(len(targets), C, n_samples) float32 records for test rows ``targets``."""
        ...


class ModelGenerator:
    """A trained HEGGS model (or a baseline trained by ``heggs train``) as a :class:`Generator`.

    Sources are the store's records (store units; the encoder normalises them), conditions are
    computed from the store's metadata with the MODEL's normaliser. A model trained with
    ``p_same = 1`` (condition only) has never seen a source: it is scored without source only.
    """

    def __init__(self, model, name: str):
        self.model, self.name = model, name
        self.units = model.units
        #: ``{key: [min, max]}`` of the model's training data (rows.csv ``in_training_range``)
        self.training_ranges = dict(getattr(model, "training_ranges", None) or {})
        self.band_max_hz = None
        self.hop_length = int(model.net.cfg.hop_length)
        p_same = float(((model.info.get("train_config") or {}).get("p_same", 0.2)))
        self.uses_source = p_same < 1.0

    def _check(self, test: TestSet) -> None:
        m = self.model
        if test.waveforms.shape[1:] != (len(m.components), m.n_samples) or abs(test.sampling_rate_hz - m.sampling_rate_hz) > 1e-6:
            raise ValueError(
                f"model {self.name} generates {len(m.components)} x {m.n_samples} samples at {m.sampling_rate_hz:g} Hz; "
                f"the test store has {test.waveforms.shape[1:]} at {test.sampling_rate_hz:g} Hz")

    def generate(self, test, targets, seeds, with_source, cfg):
        from ..condition import condition_features
        from ..generate import SourceBatch

        self._check(test)
        source = None
        if with_source:
            src = test.source[targets]
            if np.any(src < 0):
                raise ValueError("with_source needs a source for every target")
            source = SourceBatch(test.waveforms[src], condition_features(test.meta.iloc[src]), test.valid[src],
                                 test.band_max_hz[src].astype(np.float32))
        return self.model.waveforms(condition_features(test.meta.iloc[targets]), list(seeds), source,
                                    steps=cfg.steps, t_start=cfg.t_start, batch_size=max(1, len(seeds)))


class StochasticGenerator:
    """The stochastic point-source method (``heggs.simulate.simulator``) as the physics baseline.

    Uses the target's epicentre, depth, magnitude (as Mw) and station; stress drop, mechanism,
    site factor and noise are drawn per seed. It cannot use a source record.
    """

    units = UNITS_PHYSICAL
    uses_source = False

    def __init__(self, name: str = "stochastic", cfg: SimulateConfig | None = None):
        self.name, self.cfg = name, cfg
        self.band_max_hz = (cfg or SimulateConfig()).window.band_max_hz

    def simulate_config(self, test: TestSet) -> SimulateConfig:
        """The configuration with the test store's window length, rate and components."""
        from dataclasses import replace

        sim = self.cfg or SimulateConfig()
        return replace(sim, window=replace(sim.window, length_s=test.window.length_s,
                                           sampling_rate_hz=test.sampling_rate_hz, components=test.components))

    def generate(self, test, targets, seeds, with_source, cfg):
        from ..simulate.simulator import simulate_records

        if with_source:
            raise ValueError("the stochastic method cannot use a source record")
        sim = self.simulate_config(test)
        m = test.meta.iloc[targets]
        waves, _ = simulate_records(
            m["source_latitude_deg"].to_numpy(float), m["source_longitude_deg"].to_numpy(float),
            np.clip(m["source_depth_km"].to_numpy(float), 0.0, None), m["source_magnitude"].to_numpy(float),
            m["station_latitude_deg"].to_numpy(float), m["station_longitude_deg"].to_numpy(float),
            seeds=list(seeds), cfg=sim)
        return waves.astype(np.float32)


# ----------------------------------------------------------------------------- per-record metrics


def _lowpass(x: np.ndarray, fs: float, band: np.ndarray, above: float) -> np.ndarray:
    """Zero-phase 4-pole Butterworth low-pass of each row at its band edge; rows whose edge is
    not below ``above`` Hz (the generator's own band) are left untouched."""
    out = x.copy()
    for b in np.unique(band):
        if not b < min(above, 0.45 * fs) - 1e-9:
            continue
        sos = signal.butter(4, float(b), btype="low", fs=fs, output="sos")
        rows = band == b
        out[rows] = signal.sosfiltfilt(sos, x[rows], axis=-1)
    return out


def _rms(x: np.ndarray) -> np.ndarray:
    r = np.sqrt((x.astype(np.float64) ** 2).mean(axis=(-2, -1), keepdims=True))
    return np.where(r > 0, r, 1.0)


def prepare_generated(gen: np.ndarray, valid: np.ndarray, band_max_hz: np.ndarray, fs: float,
                      gen_band_max_hz: float | None = None) -> np.ndarray:
    """Generated records as they are compared: low-passed at the real record's band edge where
    that is below the generator's band (``gen_band_max_hz``, None = Nyquist) and zeroed outside
    the real record's valid range. gen : (n, C, ns); valid : (n, 2); band_max_hz : (n,) Hz."""
    above = float("inf") if gen_band_max_hz is None else float(gen_band_max_hz)
    g = _lowpass(np.asarray(gen, dtype=np.float64), fs, np.asarray(band_max_hz, dtype=np.float64), above)
    idx = np.arange(g.shape[-1])
    inside = (idx[None, :] >= valid[:, :1]) & (idx[None, :] < valid[:, 1:])
    return g * inside[:, None, :]


def _horizontal_fas(x: np.ndarray, dt: float) -> np.ndarray:
    f, a = fourier_amplitude_spectrum(x[:, :2], dt)
    _, s = konno_ohmachi(a, f, FAS_FREQS_HZ)
    return np.sqrt(np.clip(s[:, 0] * s[:, 1], 1e-300, None))  # geometric mean of the two horizontals


def record_metrics(gen: np.ndarray, real: np.ndarray, fs: float, band_max_hz: np.ndarray, amplitude: np.ndarray,
                   components: str = "ENZ") -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Every per-record metric of docs/metrics.md.

    gen, real : (n, C, ns) generated (already :func:`prepare_generated`) and real records;
        m/s² where ``amplitude`` (n,) is True, otherwise any unit (shape metrics only)
    fs : Hz;  band_max_hz : (n,) Hz (spectrogram MSE is taken below it)
    Returns (columns: name -> (n,) array, FAS log10 ratios (n, len(FAS_FREQS_HZ)),
    RotD50 log10 ratios (n, len(PSA_PERIODS_S))); amplitude columns are NaN where
    ``amplitude`` is False, spectral ratios NaN above a row's band edge.
    """
    gen = np.asarray(gen, dtype=np.float64)
    real = np.asarray(real, dtype=np.float64)
    amp = np.asarray(amplitude, dtype=bool)
    n = gen.shape[0]
    dt = 1.0 / fs
    cols: dict[str, np.ndarray] = {}
    env = envelope_correlation(gen, real)  # (n, C)
    for k, c in enumerate(components):
        cols[f"env_corr_{c}"] = env[:, k]
    cols["env_corr"] = np.nanmean(env, axis=1)
    # shape-only rows: both sides divided by their own RMS
    g_s = np.where(amp[:, None, None], gen, gen / _rms(gen))
    r_s = np.where(amp[:, None, None], real, real / _rms(real))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN only for an all-zero component in both
        cols["snr_db"] = np.nanmean(snr_db(g_s, r_s), axis=1)  # +inf for identical records
        cols["psnr_db"] = np.nanmean(psnr_db(g_s, r_s), axis=1)
    mse = np.full(n, np.nan)
    for b in np.unique(band_max_hz):
        rows = band_max_hz == b
        mse[rows] = spectrogram_mse(g_s[rows], r_s[rows], fs, fmax=float(b)).mean(axis=1)
    cols["spec_mse"] = mse

    nan = np.full(n, np.nan)
    for k in ("pga_real_g", "pga_gen_g", "ln_pga", "ln_pgv", "ln_arias", "d595_real_s", "d595_gen_s", "d595_diff_s"):
        cols[k] = nan.copy()
    fas = np.full((n, FAS_FREQS_HZ.size), np.nan)
    psa = np.full((n, PSA_PERIODS_S.size), np.nan)
    if amp.any():
        from .gmpe import pga_rotd50_g

        g, r = gen[amp], real[amp]
        pg, pr = pga_rotd50_g(g), pga_rotd50_g(r)
        cols["pga_gen_g"][amp], cols["pga_real_g"][amp] = pg, pr
        with np.errstate(divide="ignore", invalid="ignore"):
            cols["ln_pga"][amp] = np.log(pg / pr)
            vg, vr = pgv(g[:, :2], dt), pgv(r[:, :2], dt)
            cols["ln_pgv"][amp] = np.log(np.sqrt(vg[:, 0] * vg[:, 1]) / np.sqrt(vr[:, 0] * vr[:, 1]))
            ag, ar = arias_intensity(g[:, :2], dt).mean(axis=1), arias_intensity(r[:, :2], dt).mean(axis=1)
            cols["ln_arias"][amp] = np.log(ag / ar)
            dg = np.nanmean(significant_duration(g[:, :2], dt), axis=1)
            dr = np.nanmean(significant_duration(r[:, :2], dt), axis=1)
            cols["d595_gen_s"][amp], cols["d595_real_s"][amp], cols["d595_diff_s"][amp] = dg, dr, dg - dr
            ratio = np.log10(_horizontal_fas(g, dt) / _horizontal_fas(r, dt))
            ratio[FAS_FREQS_HZ[None, :] > band_max_hz[amp][:, None]] = np.nan
            fas[amp] = ratio
            sg = rotd(g[:, :2], dt, PSA_PERIODS_S, percentiles=(50,))[..., 0]
            sr = rotd(r[:, :2], dt, PSA_PERIODS_S, percentiles=(50,))[..., 0]
            ratio = np.log10(sg / sr)
            ratio[1.0 / PSA_PERIODS_S[None, :] > band_max_hz[amp][:, None]] = np.nan
            psa[amp] = ratio
    return cols, fas, psa


def validity_columns(waves: np.ndarray, fs: float, test: "TestSet", tix: np.ndarray, hop_length: int) -> dict[str, np.ndarray]:
    """Waveform validity of the generated records as they come out of the generator.

    waves : (n, C, ns) generated records; tix : (n,) target index of each. The band and the
    valid range are the target's (docs/metrics.md, "Waveform validity"); the comb check looks at
    the generator's STFT frame rate ``fs / hop_length``. Returns 0/1 columns ``valid_*`` and the
    measured quantities ``mean_ratio``, ``out_of_band``, ``edge_s``, ``comb_strength``,
    ``drift_ratio`` (worst component of each record).
    """
    from .validity import validity_checks

    v = validity_checks(waves, fs, test.band_min_hz, test.band_max_hz[tix], hop_length,
                        valid_start=test.valid[tix, 0], valid_end=test.valid[tix, 1])
    return {"valid_mean": v.passes_mean.astype(float), "valid_band": v.passes_band.astype(float),
            "valid_edges": v.passes_edges.astype(float), "valid_comb": v.passes_comb.astype(float),
            "valid_drift": v.passes_drift.astype(float), "valid_all": v.passes_all.astype(float),
            "mean_ratio": v.mean_ratio, "out_of_band": v.out_of_band, "edge_s": v.edge_s,
            "comb_strength": v.line_ratio, "drift_ratio": v.drift_ratio}


def real_onsets(test: "TestSet") -> tuple[np.ndarray, np.ndarray]:
    """Picker-free P and S onsets (s, :mod:`heggs.evaluate.onset`) of the real targets (n_targets,)."""
    from .onset import onsets

    return onsets(test.waveforms, test.sampling_rate_hz, test.components)


def onset_columns(prepared: np.ndarray, fs: float, components: str, onsets_real: tuple[np.ndarray, np.ndarray],
                  tix: np.ndarray, df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Picker-free onsets (docs/metrics.md, "Picker-free onsets") of the generated records as they
    are compared (``prepared`` (n, C, ns)) beside the picker columns: ``{p,s}_onset_gen_s``,
    ``{p,s}_onset_real_s`` (the real target's), ``{p,s}_onset_err_s`` (generated − real) and
    ``{p,s}_onset_err_store_s`` (generated − the store's arrival, column ``{p,s}_store_s`` of
    ``df``); ``{p,s}_onset_real_err_store_s``: the real record's onset against the store's arrival
    (the measure's own error on this store). s; NaN where no onset."""
    from .onset import onsets

    gen = onsets(prepared, fs, components)
    out: dict[str, np.ndarray] = {}
    for ph, g, r in zip("ps", gen, onsets_real):
        store = df[f"{ph}_store_s"].to_numpy(float)
        out[f"{ph}_onset_gen_s"], out[f"{ph}_onset_real_s"] = g, r[tix]
        out[f"{ph}_onset_err_s"] = g - r[tix]
        out[f"{ph}_onset_err_store_s"] = g - store
        out[f"{ph}_onset_real_err_store_s"] = r[tix] - store
    return out


def _psa_label(period_s: float) -> str:
    return f"psa{period_s:g}"


def psa_columns(gen: np.ndarray, real: np.ndarray, fs: float, band_max_hz: np.ndarray,
                amplitude: np.ndarray) -> dict[str, np.ndarray]:
    """RotD50 5 %-damped PSA (g) at :data:`SIGMA_PERIODS_S` of generated and real records:
    ``psa<T>_gen_g``, ``psa<T>_real_g`` (amplitude rows only; NaN elsewhere and where 1/T lies
    above the real record's band edge). gen, real : (n, C, ns) m/s²; band_max_hz : (n,) Hz."""
    from .metrics import G

    n = gen.shape[0]
    amp = np.asarray(amplitude, dtype=bool)
    per = np.asarray(SIGMA_PERIODS_S, dtype=np.float64)
    res = {w: np.full((n, per.size), np.nan) for w in ("gen", "real")}
    if amp.any():
        for w, x in (("gen", gen), ("real", real)):
            v = rotd(np.asarray(x[amp][:, :2], dtype=np.float64), 1.0 / fs, per, percentiles=(50,))[..., 0] / G
            v[1.0 / per[None, :] > band_max_hz[amp][:, None]] = np.nan
            res[w][amp] = v
    return {f"{_psa_label(t)}_{w}_g": res[w][:, j] for j, t in enumerate(per) for w in ("gen", "real")}


def _add_gmpe_psa_residuals(rows: pd.DataFrame, cfg: EvalConfig) -> None:
    """ln(PSA(T) / GMPE median) columns ``gmpe_<M>_psa<T>_gen`` / ``_real`` for the pygmm GMPEs
    of ``cfg.gmpe_models`` (NaN for others and for rows without PSA)."""
    from .gmpe import PYGMM_MODELS, gmpe_psa

    amp = rows["amplitude"].to_numpy(bool)
    for model in cfg.gmpe_models:
        for t in SIGMA_PERIODS_S:
            for who in ("gen", "real"):
                rows[f"gmpe_{model}_{_psa_label(t)}_{who}"] = np.nan
        if not amp.any() or model.upper() not in PYGMM_MODELS:
            continue
        m = rows.loc[amp]
        med, _ = gmpe_psa(model, SIGMA_PERIODS_S, m["magnitude"].to_numpy(float), m["distance_km"].to_numpy(float),
                          np.clip(m["depth_km"].to_numpy(float), 0.0, None), cfg.v_s30_m_s)
        for j, t in enumerate(SIGMA_PERIODS_S):
            for who in ("gen", "real"):
                with np.errstate(divide="ignore", invalid="ignore"):
                    rows.loc[amp, f"gmpe_{model}_{_psa_label(t)}_{who}"] = np.log(
                        m[f"{_psa_label(t)}_{who}_g"].to_numpy(float) / med[:, j])


# ----------------------------------------------------------------------------- one generator


@dataclass
class EvalResult:
    """Rows (one per target, mode and record; column ``sample`` is the record index k), spectral
    ratios aligned with the rows, and the first record of every target per mode (for record sections), ``(n_targets, C, ns)``."""

    name: str
    units: str
    rows: pd.DataFrame
    fas_ratio: np.ndarray
    psa_ratio: np.ndarray
    first_samples: dict[str, np.ndarray]


def real_picks(test: TestSet, cfg: EvalConfig) -> tuple[np.ndarray, np.ndarray]:
    """P and S picks (s from the record start) of the real targets with the evaluation picker."""
    from .picking import pick_arrivals

    p = pick_arrivals(test.waveforms, test.sampling_rate_hz, cfg.picker, test.components, weights=cfg.picker_weights)
    return p.p, p.s


def picker_error(test: TestSet, picks_real: tuple[np.ndarray, np.ndarray]) -> dict[str, dict[str, float]]:
    """The picker's own error on the real targets: its picks against the store's arrivals
    (``trace_P/S_arrival_sample``: exact in a simulated store, analyst picks or TauP otherwise).

    Returns ``{"P": {mae_s, median_abs_s, p95_abs_s, median_signed_s, pick_rate, n}, "S": ...}``
    (n: targets with a store arrival; the errors over those also picked).
    """
    out = {}
    fs = test.sampling_rate_hz
    for ph, got in zip("PS", picks_real):
        col = f"trace_{ph}_arrival_sample"
        t = pd.to_numeric(test.meta[col], errors="coerce").to_numpy(float) / fs if col in test.meta \
            else np.full(len(test), np.nan)
        have = np.isfinite(t)
        err = np.asarray(got, dtype=float) - t
        ok = np.isfinite(err)
        a = np.abs(err[ok])
        out[ph] = {"mae_s": float(a.mean()) if a.size else float("nan"),
                   "median_abs_s": float(np.median(a)) if a.size else float("nan"),
                   "p95_abs_s": float(np.percentile(a, 95)) if a.size else float("nan"),
                   "median_signed_s": float(np.median(err[ok])) if a.size else float("nan"),
                   "pick_rate": float(ok.sum() / have.sum()) if have.any() else float("nan"), "n": int(have.sum())}
    return out


def evaluate_generator(gen: Generator, test: TestSet, cfg: EvalConfig, picks_real: tuple[np.ndarray, np.ndarray],
                       progress: bool = True) -> EvalResult:
    """Generate and score every target of ``test`` in each mode of ``cfg.modes`` the generator supports."""
    from tqdm.auto import tqdm

    from .picking import pick_arrivals

    fs = test.sampling_rate_hz
    clipped = test.clipped if test.clipped is not None else np.zeros(len(test), bool)
    usable = test.physical
    if cfg.amplitude_clipped:  # clipped m/s² records back in, on request
        usable = usable | (clipped & (test.meta["trace_units"].astype(str) == UNITS_PHYSICAL).to_numpy())
    amplitude = usable & (gen.units == UNITS_PHYSICAL)
    in_range, out_of_range = training_range_flags(test.meta, getattr(gen, "training_ranges", None))
    onsets_real = real_onsets(test)
    frames, fas_all, psa_all, first = [], [], [], {}
    for mode in cfg.modes:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")
        if mode == "with_source" and not gen.uses_source:
            continue
        targets = np.arange(len(test)) if mode == "without_source" else np.flatnonzero(test.source >= 0)
        if targets.size == 0:
            continue
        jobs = [(int(t), k) for t in targets for k in range(cfg.n_records)]
        waves = np.empty((len(jobs),) + test.waveforms.shape[1:], dtype=np.float32)
        bar = tqdm(total=len(jobs), desc=f"{gen.name} {mode}", unit="rec", disable=not progress)
        for i in range(0, len(jobs), cfg.batch_size):
            chunk = jobs[i:i + cfg.batch_size]
            tt = np.array([t for t, _ in chunk])
            seeds = [_seed(cfg.seed, "eval", test.meta["trace_name"].iloc[t], k) for t, k in chunk]
            waves[i:i + len(chunk)] = gen.generate(test, tt, seeds, mode == "with_source", cfg)
            bar.update(len(chunk))
        bar.close()
        tix = np.array([t for t, _ in jobs])
        prepared = prepare_generated(waves, test.valid[tix], test.band_max_hz[tix], fs,
                                     getattr(gen, "band_max_hz", None))
        cols, fas, psa = record_metrics(prepared, test.waveforms[tix], fs, test.band_max_hz[tix], amplitude[tix],
                                        test.components)
        cols.update(validity_columns(waves, fs, test, tix, getattr(gen, "hop_length", DEFAULT_HOP_LENGTH)))
        picks = pick_arrivals(prepared, fs, cfg.picker, test.components, weights=cfg.picker_weights)
        m = test.meta.iloc[tix]
        df = pd.DataFrame({
            "model": gen.name, "mode": mode, "target": tix, "sample": [k for _, k in jobs],
            "trace_name": m["trace_name"].astype(str).to_numpy(), "source_id": m["source_id"].astype(str).to_numpy(),
            "station": (m["station_network_code"].astype(str) + "." + m["station_code"].astype(str)).to_numpy(),
            "source_trace_name": [test.meta["trace_name"].iloc[test.source[t]] if mode == "with_source" else ""
                                  for t, _ in jobs],
            "distance_km": m["path_ep_distance_km"].to_numpy(float), "magnitude": m["source_magnitude"].to_numpy(float),
            "magnitude_type": m.get("source_magnitude_type", pd.Series("", index=m.index)).fillna("").astype(str).to_numpy(),
            "depth_km": m["source_depth_km"].to_numpy(float), "real_units": m["trace_units"].astype(str).to_numpy(),
            "amplitude": amplitude[tix], "clipped": clipped[tix],
            "in_training_range": in_range[tix], "out_of_training_range": out_of_range[tix],
            "p_real_s": picks_real[0][tix], "p_gen_s": picks.p, "s_real_s": picks_real[1][tix], "s_gen_s": picks.s,
        })
        df["p_err_s"] = df["p_gen_s"] - df["p_real_s"]
        df["s_err_s"] = df["s_gen_s"] - df["s_real_s"]
        # against the store's own arrivals (exact for simulated stores; picks or TauP otherwise)
        for ph in "PS":
            col = f"trace_{ph}_arrival_sample"
            t = pd.to_numeric(m[col], errors="coerce").to_numpy(float) / fs if col in m else np.full(len(m), np.nan)
            df[f"{ph.lower()}_store_s"] = t
            df[f"{ph.lower()}_err_store_s"] = df[f"{ph.lower()}_gen_s"] - t
            # the picker's own error: its pick on the REAL record against the store's arrival
            df[f"{ph.lower()}_err_real_store_s"] = df[f"{ph.lower()}_real_s"] - t
        for k, v in cols.items():
            df[k] = v
        for k, v in {**onset_columns(prepared, fs, test.components, onsets_real, tix, df),
                     **psa_columns(prepared, test.waveforms[tix], fs, test.band_max_hz[tix], amplitude[tix])}.items():
            df[k] = v
        frames.append(df)
        fas_all.append(fas)
        psa_all.append(psa)
        sample0 = np.zeros_like(test.waveforms)
        sel = np.array([k == 0 for _, k in jobs])
        sample0[tix[sel]] = waves[sel]
        first[mode] = sample0
    if not frames:
        raise ValueError(f"{gen.name}: none of the modes {cfg.modes} apply")
    rows = pd.concat(frames, ignore_index=True)
    _add_gmpe_residuals(rows, cfg)
    _add_gmpe_psa_residuals(rows, cfg)
    return EvalResult(gen.name, gen.units, rows, np.concatenate(fas_all), np.concatenate(psa_all), first)


def _magnitude_note(types: Sequence[str]) -> str:
    t = sorted({x for x in types if x})
    return ",".join(t) if t else "unknown"


def gmpe_medians(meta: pd.DataFrame, cfg: EvalConfig) -> dict[str, np.ndarray]:
    """Median PGA (g) of each GMPE of ``cfg.gmpe_models`` for rows with magnitude, distance and
    depth columns (``magnitude``, ``distance_km``, ``depth_km``); magnitudes are used as Mw proxies."""
    from .gmpe import gmpe_pga

    out = {}
    for model in cfg.gmpe_models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            med, _ = gmpe_pga(model, meta["magnitude"].to_numpy(float), meta["distance_km"].to_numpy(float),
                              np.clip(meta["depth_km"].to_numpy(float), 0.0, None), cfg.v_s30_m_s)
        out[model] = med
    return out


def _add_gmpe_residuals(rows: pd.DataFrame, cfg: EvalConfig) -> None:
    """ln(PGA / GMPE median) columns for the generated and the real PGA (amplitude rows only)."""
    amp = rows["amplitude"].to_numpy(bool)
    for model in cfg.gmpe_models:
        rows[f"gmpe_{model}_gen"] = np.nan
        rows[f"gmpe_{model}_real"] = np.nan
    if not amp.any():
        return
    med = gmpe_medians(rows.loc[amp], cfg)
    for model, m in med.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            rows.loc[amp, f"gmpe_{model}_gen"] = np.log(rows.loc[amp, "pga_gen_g"].to_numpy(float) / m)
            rows.loc[amp, f"gmpe_{model}_real"] = np.log(rows.loc[amp, "pga_real_g"].to_numpy(float) / m)


def real_gmpe_residuals(test: TestSet, cfg: EvalConfig) -> dict[str, dict[str, Any]]:
    """ln(PGA / GMPE median) of the REAL physical-unit test records (the reference row of the
    GMPE table): ``{model: {estimate, low, high, n, n_events, sigma}}``."""
    from .gmpe import pga_rotd50_g

    out: dict[str, dict[str, Any]] = {}
    if not test.physical.any():
        return out
    m = test.meta[test.physical]
    rows = pd.DataFrame({"magnitude": m["source_magnitude"].to_numpy(float), "distance_km": m["path_ep_distance_km"].to_numpy(float),
                         "depth_km": m["source_depth_km"].to_numpy(float)})
    pga = pga_rotd50_g(test.waveforms[test.physical])
    ev = m["source_id"].astype(str).to_numpy()
    for model, med in gmpe_medians(rows, cfg).items():
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.log(pga / med)
        ok = np.isfinite(r)
        out[model] = {**_ci(r, ev, cfg), "sigma": float(np.std(r[ok], ddof=1)) if ok.sum() > 1 else float("nan")}
    return out


# ----------------------------------------------------------------------------- summaries


def _ci(values: np.ndarray, groups: np.ndarray, cfg: EvalConfig, stat=np.nanmean) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    if not ok.any():
        return {"estimate": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0, "n_events": 0}
    ci = bootstrap_ci(v[ok], np.asarray(groups)[ok], stat=np.mean if stat is np.nanmean else stat,
                      n=cfg.n_boot, level=cfg.level, seed=cfg.seed)
    return {"estimate": ci.estimate, "low": ci.low, "high": ci.high, "n": int(ok.sum()), "n_events": ci.n_groups}


def summarize(rows: pd.DataFrame, cfg: EvalConfig) -> dict[str, dict[str, Any]]:
    """Per mode: every metric's estimate with its bootstrap CI over events.

    P/S: ``p_mae_s`` (mean |error| over rows picked on both records; ``p_median_abs_s`` the
    median), ``p_bias_s`` (mean signed error, generated − real), ``p_pick_rate``
    (fraction of generated records with a pick, over rows whose real record was picked),
    ``p_mae_store_s`` (against the store's arrival: exact in a simulated store),
    ``p_mae_real_store_s`` (the picker's own error: its pick on the real record against the
    store's arrival);
    GMPE: mean ``ln(PGA/median)`` of generated (``gmpe_<M>_gen``) and real records and their
    standard deviations (``…_sigma``); picker-free onsets: ``p_onset_mae_s`` … (see
    :func:`_onset_summary`); between-/within-event sigma: ``tau_pga_<M>_gen``, ``phi_…`` …
    (see :func:`_variance_summary`). Returns ``{mode: {metric: {estimate, low, high, n, n_events}}}``.
    """
    out: dict[str, dict[str, Any]] = {}
    for mode, df in rows.groupby("mode", sort=False):
        ev = df["source_id"].to_numpy()
        s: dict[str, Any] = {"n_rows": int(len(df)), "n_targets": int(df["target"].nunique()),
                             "n_events": int(df["source_id"].nunique()),
                             "n_amplitude_targets": int(df.loc[df["amplitude"], "target"].nunique())}
        for ph in "ps":
            err = df[f"{ph}_err_s"].to_numpy(float)
            s[f"{ph}_mae_s"] = _ci(np.abs(err), ev, cfg)
            s[f"{ph}_median_abs_s"] = _ci(np.abs(err), ev, cfg, stat=np.median)  # robust to picker outliers
            real_ok = np.isfinite(df[f"{ph}_real_s"].to_numpy(float))
            picked = np.isfinite(df[f"{ph}_gen_s"].to_numpy(float)).astype(float)
            s[f"{ph}_pick_rate"] = _ci(np.where(real_ok, picked, np.nan), ev, cfg)
            s[f"{ph}_bias_s"] = _ci(err, ev, cfg)
            s[f"{ph}_mae_store_s"] = _ci(np.abs(df[f"{ph}_err_store_s"].to_numpy(float)), ev, cfg)
            if f"{ph}_err_real_store_s" in df:  # the picker's own error on the real records (older rows lack it)
                s[f"{ph}_mae_real_store_s"] = _ci(np.abs(df[f"{ph}_err_real_store_s"].to_numpy(float)), ev, cfg)
        if "p_onset_err_s" in df:
            s.update(_onset_summary(df, ev, cfg))
        if "sample" in df:
            s.update(_variance_summary(df, ev, cfg))
        for k in MEAN_METRICS + tuple(c for c in VALIDITY_METRICS if c in df):
            s[k] = _ci(df[k].to_numpy(float), ev, cfg)
        for model in cfg.gmpe_models:
            for who in ("gen", "real"):
                v = df[f"gmpe_{model}_{who}"].to_numpy(float)
                s[f"gmpe_{model}_{who}"] = _ci(v, ev, cfg)
                ok = np.isfinite(v)
                s[f"gmpe_{model}_{who}_sigma"] = float(np.std(v[ok], ddof=1)) if ok.sum() > 1 else float("nan")
        out[str(mode)] = s
    return out


def _onset_summary(df: pd.DataFrame, ev: np.ndarray, cfg: EvalConfig) -> dict[str, Any]:
    """Picker-free onset errors of one mode (docs/metrics.md, "Picker-free onsets"):
    ``{p,s}_onset_mae_s`` / ``_median_abs_s`` / ``_bias_s`` (generated vs real record),
    ``{p,s}_onset_rate`` (fraction of generated records with an onset where the real one has one),
    ``{p,s}_onset_mae_store_s`` (generated vs the store's arrival) and
    ``{p,s}_onset_real_mae_store_s`` (the real records' onsets vs the store's arrival)."""
    s: dict[str, Any] = {}
    for ph in "ps":
        err = df[f"{ph}_onset_err_s"].to_numpy(float)
        s[f"{ph}_onset_mae_s"] = _ci(np.abs(err), ev, cfg)
        s[f"{ph}_onset_median_abs_s"] = _ci(np.abs(err), ev, cfg, stat=np.median)
        s[f"{ph}_onset_bias_s"] = _ci(err, ev, cfg)
        real_ok = np.isfinite(df[f"{ph}_onset_real_s"].to_numpy(float))
        found = np.isfinite(df[f"{ph}_onset_gen_s"].to_numpy(float)).astype(float)
        s[f"{ph}_onset_rate"] = _ci(np.where(real_ok, found, np.nan), ev, cfg)
        s[f"{ph}_onset_mae_store_s"] = _ci(np.abs(df[f"{ph}_onset_err_store_s"].to_numpy(float)), ev, cfg)
        first = (df["sample"] == 0).to_numpy()  # the real record once per target
        s[f"{ph}_onset_real_mae_store_s"] = _ci(np.abs(df[f"{ph}_onset_real_err_store_s"].to_numpy(float))[first],
                                                ev[first], cfg)
    return s


def _variance_summary(df: pd.DataFrame, ev: np.ndarray, cfg: EvalConfig) -> dict[str, Any]:
    """Between-event τ and within-event φ (heggs.evaluate.variance, docs/metrics.md "Between- and
    within-event sigma") of one mode, each ``{estimate, low, high, n, n_events}``:

    - ``tau_pga_<M>_gen`` / ``phi_pga_<M>_gen``: ln(PGA / median of GMPE M) of the generated
      records, decomposed per record index k and averaged over k; ``…_real``: the real targets
      of the same rows (once per target); every GMPE of ``cfg.gmpe_models``;
    - ``tau_psa<T>_<M>_gen`` / ``phi_…`` / ``…_real``: the same for ln PSA(T) at
      :data:`SIGMA_PERIODS_S` against the FIRST GMPE of ``cfg.gmpe_models``;
    - ``tau_ln_pga`` / ``phi_ln_pga``: of the misfit ln(PGA_gen / PGA_real).
    """
    from .variance import variance_components_ci

    s: dict[str, Any] = {}
    k = df["sample"].to_numpy()
    first = k == 0

    def put(name: str, col: str, real: bool) -> None:
        if col not in df:
            return
        v = df[col].to_numpy(float)
        c = (variance_components_ci(v[first], ev[first], None, cfg.n_boot, cfg.level, cfg.seed) if real
             else variance_components_ci(v, ev, k, cfg.n_boot, cfg.level, cfg.seed))
        s[f"tau_{name}"], s[f"phi_{name}"] = c["tau"], c["phi"]

    ims = [("pga", model, f"gmpe_{model}") for model in cfg.gmpe_models]
    if cfg.gmpe_models:
        m0 = cfg.gmpe_models[0]
        ims += [(_psa_label(t), m0, f"gmpe_{m0}_{_psa_label(t)}") for t in SIGMA_PERIODS_S]
    for im, model, col in ims:
        for who in ("gen", "real"):
            put(f"{im}_{model}_{who}", f"{col}_{who}", who == "real")
    put("ln_pga", "ln_pga", False)
    return s


#: metrics of the paired with/without-source comparison, and the sign that means "better"
PAIRED_METRICS = {"p_abs_err_s": -1, "s_abs_err_s": -1, "env_corr": +1, "spec_mse": -1}


def paired_source_effect(rows: pd.DataFrame, cfg: EvalConfig) -> dict[str, dict[str, Any]]:
    """Does the source record help? ``with_source − without_source`` per target, on the targets
    scored in both modes, averaged over samples first; mean difference with a bootstrap CI over
    events (paired: the spread between targets cancels). Returns ``{metric: {estimate, low,
    high, n, n_events, better}}`` where ``better`` says whether the CI lies entirely on the
    improving side (lower error, higher correlation); empty without both modes."""
    if not {"with_source", "without_source"} <= set(rows["mode"]):
        return {}
    df = rows.assign(p_abs_err_s=rows["p_err_s"].abs(), s_abs_err_s=rows["s_err_s"].abs())
    per = df.groupby(["mode", "target"])[list(PAIRED_METRICS)].mean()
    ev = df.groupby("target")["source_id"].first()
    w, wo = per.loc["with_source"], per.loc["without_source"]
    common = w.index.intersection(wo.index)
    out = {}
    for k, sign in PAIRED_METRICS.items():
        d = (w.loc[common, k] - wo.loc[common, k]).to_numpy(float)
        c = _ci(d, ev.loc[common].to_numpy(), cfg)
        c["better"] = bool(c["n"] and (sign * c["low"] > 0 if sign > 0 else sign * c["high"] > 0))
        c["worse"] = bool(c["n"] and (sign * c["high"] < 0 if sign > 0 else sign * c["low"] < 0))
        out[k] = c
    return out


def curve_summary(values: np.ndarray, groups: np.ndarray, cfg: EvalConfig) -> dict[str, np.ndarray]:
    """Mean of a per-row curve (n, K) with a bootstrap CI over events at each of the K points.

    Returns ``{"mean", "low", "high", "n"}`` arrays (K,); NaN where no row has a value.
    """
    v = np.asarray(values, dtype=np.float64)
    k = v.shape[1]
    res = {key: np.full(k, np.nan) for key in ("mean", "low", "high")}
    res["n"] = np.zeros(k, dtype=int)
    for j in range(k):
        c = _ci(v[:, j], groups, cfg)
        res["mean"][j], res["low"][j], res["high"][j], res["n"][j] = c["estimate"], c["low"], c["high"], c["n"]
    return res
