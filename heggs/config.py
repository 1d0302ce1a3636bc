"""Stage 0 — configuration.

Plain dataclasses for every stage, with defaults that follow the paper (60 s from the origin,
100 Hz, E-N-Z, 1–45 Hz). They load from and save to JSON so that a store or a checkpoint can
carry the exact configuration that produced it. Only ``model``, ``train`` and ``cli`` turn
these into objects; building blocks take plain arguments.
"""

from __future__ import annotations

import dataclasses
import warnings
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# --- bounds on user requests (checked before any work; the errors quote these) --------------

#: longest record window a store may hold (s); 3600 s at 100 Hz is 360,000 samples per trace
MAX_WINDOW_LENGTH_S = 3600.0
#: highest store sampling rate (Hz); strong-motion recorders sample at 100-500 Hz
MAX_SAMPLING_RATE_HZ = 1000.0
#: generated records (targets x ensemble members) above which ``heggs generate`` warns with
#: the estimated output size, and above which it refuses without ``--force``
WARN_GENERATED_RECORDS = 1000
MAX_GENERATED_RECORDS = 100_000
#: ``heggs simulate``: random events / random stations, and records (events x stations), above
#: which it refuses without ``--force``
MAX_SIMULATE_EVENTS = 100_000
MAX_SIMULATE_STATIONS = 10_000
MAX_SIMULATE_RECORDS = 1_000_000
#: a source record whose peak exceeds this in its declared units (m/s² unless said otherwise)
#: is taken for counts: the largest recorded accelerations are ~40 m/s² (4 g)
MAX_PHYSICAL_ACCELERATION_M_S2 = 50.0
#: worker processes of one command (``--workers``, ``--num-workers``): more only forks
#: processes that wait for each other (100,000 of them exhaust the machine before any work)
MAX_WORKERS = 256
#: ``heggs evaluate -n``: generated records per target and mode (each target's ensemble is held
#: in memory; 100,000 asked for 27 GB)
MAX_EVAL_RECORDS_PER_TARGET = 1000


def check_window_bounds(window: "WindowConfig") -> None:
    """Refuse a window too long or too finely sampled (ValueError naming the flag and limit)."""
    if not 0 < window.length_s <= MAX_WINDOW_LENGTH_S:
        raise ValueError(f"window length {window.length_s:g} s (--length-s / window.length_s) is out of range: "
                         f"must be > 0 and <= "
                         f"{MAX_WINDOW_LENGTH_S:g} s (MAX_WINDOW_LENGTH_S)")
    if not 0 < window.sampling_rate_hz <= MAX_SAMPLING_RATE_HZ:
        raise ValueError(f"sampling rate {window.sampling_rate_hz:g} Hz (--rate / window.sampling_rate_hz) is out "
                         f"of range: must be > 0 and <= "
                         f"{MAX_SAMPLING_RATE_HZ:g} Hz (MAX_SAMPLING_RATE_HZ)")
    # the window starts within a window length of the origin (NaN fails every comparison)
    if not -MAX_WINDOW_LENGTH_S <= window.offset_s <= MAX_WINDOW_LENGTH_S:
        raise ValueError(f"window offset {window.offset_s:g} s (--offset-s / window.offset_s) is out of range: "
                         f"must be within +-{MAX_WINDOW_LENGTH_S:g} s of the origin (MAX_WINDOW_LENGTH_S)")
    for flag, name, hz in (("--band-min", "band_min_hz", window.band_min_hz),
                           ("--band-max", "band_max_hz", window.band_max_hz)):
        if not 0 < hz < float("inf"):
            raise ValueError(f"band edge {hz:g} Hz ({flag} / window.{name}) must be a finite number > 0")


def check_eval_flags(cfg: "EvalConfig") -> None:
    """Refuse evaluation settings that are nonsense or would exhaust memory, before any work
    (ValueError naming the flag): ``-n`` within [1, :data:`MAX_EVAL_RECORDS_PER_TARGET`],
    ``--n-boot`` >= 1, ``--max-targets`` >= 0 (0: all), ``--steps`` >= 1, ``--vs30`` a finite
    velocity in (0, 5000] m/s."""
    if not 1 <= cfg.n_records <= MAX_EVAL_RECORDS_PER_TARGET:
        raise ValueError(f"-n/--n-records {cfg.n_records} is out of range: must be >= 1 and <= "
                         f"{MAX_EVAL_RECORDS_PER_TARGET} per target and mode (MAX_EVAL_RECORDS_PER_TARGET)")
    if cfg.n_boot < 1:
        raise ValueError(f"--n-boot must be >= 1, got {cfg.n_boot}")
    if cfg.max_targets < 0:
        raise ValueError(f"--max-targets must be >= 0 (0: all), got {cfg.max_targets}")
    if cfg.steps is not None and cfg.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {cfg.steps}")
    if not 0 < cfg.v_s30_m_s <= 5000:
        raise ValueError(f"--vs30 must be a finite velocity in (0, 5000] m/s, got {cfg.v_s30_m_s}")


def check_workers(flag: str, n: int) -> None:
    """Refuse a worker-process count below 1 or above :data:`MAX_WORKERS` (ValueError naming ``flag``)."""
    if not 1 <= n <= MAX_WORKERS:
        raise ValueError(f"{flag} {n} is out of range: must be >= 1 and <= {MAX_WORKERS} (MAX_WORKERS)")


def check_count(flag: str, n: int, limit: int, force: bool, record_bytes: int | None = None) -> None:
    """Refuse ``n`` above ``limit`` unless ``force`` (ValueError naming ``flag``, the limit and
    the estimated output size when ``record_bytes`` — bytes per unit of ``n`` — is given)."""
    if n < 1:
        raise ValueError(f"{flag} must be >= 1, got {n}")
    if n > limit and not force:
        size = f" (about {estimate_size(n * record_bytes)} of output)" if record_bytes else ""
        raise ValueError(f"{flag}: {n:,} is above the limit of {limit:,}{size}; pass --force to run it anyway")


def estimate_size(n_bytes: float) -> str:
    """A byte count as text: ``"77 GB"``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return ""  # pragma: no cover


def _type_ok(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a dataclass field annotation (int, float, str, bool, X | None,
    tuple[...], nested dataclass; other annotations are not checked)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple or hint is tuple:
        return isinstance(value, (list, tuple))
    if dataclasses.is_dataclass(hint):
        return isinstance(value, (dict, hint))
    return True


@dataclass
class WindowConfig:
    """The canonical record window and its sampling.

    The window is ``[origin + offset_s, origin + offset_s + length_s)`` sampled at
    ``sampling_rate_hz``; ``n_samples = round(length_s * sampling_rate_hz)``.
    """

    offset_s: float = 0.0
    length_s: float = 60.0
    sampling_rate_hz: float = 100.0
    components: str = "ENZ"
    band_min_hz: float = 1.0
    band_max_hz: float = 45.0
    #: upper band edge is capped at this fraction of the ORIGINAL record's Nyquist frequency
    nyquist_fraction: float = 0.9
    #: a record ending early is kept (tail-padded) only if it covers S arrival + this margin
    s_margin_s: float = 5.0

    @property
    def n_samples(self) -> int:
        return int(round(self.length_s * self.sampling_rate_hz))


@dataclass
class IngestConfig:
    """Ingest choices that are not part of the window."""

    window: WindowConfig = field(default_factory=WindowConfig)
    #: catalog association tolerance (header origin vs. catalog origin)
    match_time_s: float = 60.0
    match_distance_km: float = 50.0
    #: a header origin coarser than this (K-NET: to the minute) needs a catalog match
    coarse_origin_s: float = 5.0
    #: 1-D model used by TauP for theoretical arrivals
    velocity_model: str = "iasp91"
    #: fraction of events (by source_id) in each split
    split_fractions: tuple[float, float, float] = (0.8, 0.0, 0.2)
    split_seed: int = 0
    #: duplicate locations of one event (different files) are merged into one source_id when
    #: this close: the Alpine S-file pairs are 0.3 s / 1.6 km apart, swarm events ~10 s apart
    merge_time_s: float = 3.0
    merge_distance_km: float = 20.0
    merge_magnitude_diff: float = 1.0
    #: zero-phase Butterworth band-pass corners (obspy ``filter(zerophase=True)``: the
    #: effective order is twice this)
    filter_corners: int = 4
    #: cosine taper applied to the raw record ends before response removal / filtering (s)
    taper_s: float = 1.0
    #: response removal: water level in dB (None: the band-limiting pre_filt alone stabilises
    #: the deconvolution); pre_filt corners are derived from the band (see heggs.ingest.canonical)
    water_level_db: float | None = None
    #: samples of raw record kept on each side of the window before processing (s)
    margin_s: float = 20.0


#: Default origin time (UTC, ISO 8601) of a scenario or simulated record given none
#: (``heggs generate --origin-time``, ``heggs simulate --origin-time``, :class:`heggs.scenario.Target`).
DEFAULT_ORIGIN_TIME = "2020-01-01T00:00:00"


#: Renamed config keys still read, with a DeprecationWarning: class name -> {old key: new key}.
RENAMED_KEYS: dict[str, dict[str, str]] = {
    "EvalConfig": {"n_samples": "n_records", "sweep_samples": "sweep_records"},
}


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from a (possibly nested, possibly partial) dict.

    Unknown keys raise ``ValueError`` naming the key, so typos in user configs are caught; the
    old names of renamed keys (:data:`RENAMED_KEYS`) are read with a ``DeprecationWarning``.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    renamed = RENAMED_KEYS.get(cls.__name__, {})
    for key, value in data.items():
        if key in renamed and key not in fields:
            new = renamed[key]
            if new in data:
                raise ValueError(f"config for {cls.__name__} has both {key!r} (old name) and {new!r}; keep {new!r}")
            warnings.warn(f"config key {key!r} of {cls.__name__} is deprecated: it is now {new!r}",
                          DeprecationWarning, stacklevel=3)
            key = new
        if key not in fields:
            raise ValueError(f"unknown config key {key!r} for {cls.__name__}; known: {sorted(fields)}")
        if not _type_ok(value, hints[key]):
            raise ValueError(f"config key {key!r} of {cls.__name__} must be {_type_name(hints[key])}, got {value!r}")
        f = fields[key]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default  # type: ignore[misc]
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value = _from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-serialisable dict of a config dataclass (nested)."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Inverse of :func:`to_dict`; missing keys take their defaults."""
    return _from_dict(cls, data)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_json(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file as a dict, with ``"extends": "other.json"`` (relative to the file) resolved.

    The keys of the file override those of the file it extends; nested blocks (``model``) are
    merged key by key, so a baseline config states only what differs from its base. A file
    that extends itself, directly or through others, is a ``ValueError`` naming the cycle.
    """
    path = Path(path)
    if path.resolve() in _chain:
        names = " -> ".join(str(p) for p in (*_chain, path.resolve()))
        raise ValueError(f"{path}: 'extends' forms a cycle ({names})")
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not a JSON text file") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config must be a JSON object, got {type(data).__name__}")
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ValueError(f"{path}: 'extends' must be a file name, got {base!r}")
    return _merge(read_json(path.parent / base, (*_chain, path.resolve())), data)


def load(cls: type[T], path: str | Path) -> T:
    """Load a config of type ``cls`` from a JSON file (``extends`` resolved, see :func:`read_json`).

    Broken JSON, unknown keys and wrong-typed values raise ``ValueError`` naming the file.
    """
    data = read_json(path)
    try:
        return from_dict(cls, data)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: {e}") from None


def save(cfg: Any, path: str | Path) -> None:
    """Write a config dataclass to JSON."""
    Path(path).write_text(json.dumps(to_dict(cfg), indent=2, sort_keys=True) + "\n")


# --- model (owned by the model stage) -------------------------------------------------------


@dataclass
class ModelConfig:
    """Architecture and diffusion settings of a HEGGS model (see ``heggs/model.py``).

    Named presets: :func:`model_preset` (``"tiny"``: seconds on a CPU; ``"paper"``: 60 s,
    100 Hz, 3 components, for GPUs). ``amplitude_scale`` is a training-data statistic
    (``heggs.model.spectrogram.fit_amplitude_scale``) that the trainer sets and saves with the
    model; its default 1.0 only means "not fitted yet".
    """

    # -- signal ---------------------------------------------------------------------------
    n_samples: int = 6000
    sampling_rate_hz: float = 100.0
    n_components: int = 3
    n_conditions: int = 11
    # -- spectrogram: power-law compressed complex STFT -----------------------------------
    n_fft: int = 256
    hop_length: int = 64
    window: str = "hann"
    #: magnitude compression exponent: |X|^alpha, phase kept
    compression_alpha: float = 0.3
    #: waveforms are divided by this (store units, m/s²) before the STFT so compressed
    #: values are O(1); fitted on the physical-unit training records, saved with the model
    amplitude_scale: float = 1.0
    # -- autoencoder E_AE / D_AE (one entry per resolution; 2x downsampling between) ------
    ae_channels: tuple[int, ...] = (64, 128)
    ae_res_blocks: int = 1
    latent_channels: int = 8
    # -- amplitude correction module (side branch of D_AE) --------------------------------
    acm_channels: int = 32
    acm_dense_depth: int = 4
    acm_attention_blocks: int = 2
    acm_heads: int = 4
    #: feed the pooled target-condition embedding to the ACM (FiLM); see model docs
    acm_uses_condition: bool = True
    #: the ACM sets the output level (default). False (the "no ACM" ablation): no ACM is
    #: built and the decoder's raw output is the compressed spectrogram, absolute level included
    use_acm: bool = True
    # -- condition MLP tau_theta ----------------------------------------------------------
    cond_hidden: int = 256
    cond_layers: int = 5
    cond_tokens: int = 8
    cond_dim: int = 256
    # -- latent U-Net x_theta -------------------------------------------------------------
    unet_channels: tuple[int, ...] = (128, 256, 256)
    unet_res_blocks: int = 2
    #: levels (0 = full latent resolution) with self + cross-attention blocks
    unet_attention_levels: tuple[int, ...] = (1, 2)
    unet_heads: int = 8
    dropout: float = 0.0
    # -- eta: noised-source latent -> noised-target latent --------------------------------
    eta_channels: int = 64
    eta_blocks: int = 2
    #: eta sees the source station's condition as well as the target's (our decision)
    eta_uses_c_src: bool = True
    # -- diffusion -------------------------------------------------------------------------
    schedule: str = "cosine"
    n_timesteps: int = 1000
    # -- loss ------------------------------------------------------------------------------
    #: counts (non-physical) targets are compared after normalising both spectrograms by
    #: their own masked RMS, so they teach shape but never absolute amplitude
    counts_shape_only: bool = True
    #: compare EVERY target after normalising both spectrograms by their masked RMS, as for
    #: counts: the model learns shapes only and its output level is arbitrary (unit
    #: "normalised"). The paper's LDM baselines work on normalised waveforms (baselines only)
    shape_only_targets: bool = False
    #: weight of the masked compressed-MAGNITUDE term added to the complex spectrogram loss;
    #: on by default: without it the complex loss collapses to predicting zero wherever the
    #: phase is unpredictable (measured: benchmarks/model_loss_terms.py)
    magnitude_loss_weight: float = 1.0
    #: optional auxiliary latent term ||x_theta - sg(E_AE(X_tgt))||² (off by default: with the
    #: sampler's re-projection below the paper's objective alone reproduces memorised targets
    #: best; measured in benchmarks/model_sampling_ablation.py)
    latent_loss_weight: float = 0.0
    #: stop the latent term's gradient into the encoder (E_AE(X_tgt) is a fixed target; without
    #: it the term can shrink the latent instead of moving x_theta)
    latent_target_stop_grad: bool = True
    # -- generator physics (docs/model_v2.md; each OFF by default so older models load and
    #    behave bit-identically; configs/heggs_v2.json turns them on) ------------------------
    #: weight of the masked complex spectrogram term; 0 drops it (with unpredictable phase it
    #: is minimised by magnitudes of 2/3 of the target's)
    complex_loss_weight: float = 1.0
    #: weight of the multi-resolution STFT magnitude loss of the output WAVEFORM ISTFT(pred)
    #: against the target waveform (log-magnitude L1 + spectral convergence; 0: off)
    mrstft_loss_weight: float = 0.0
    #: STFT sizes of that loss (hop n_fft/4)
    mrstft_ffts: tuple[int, ...] = (64, 128, 256)
    #: Griffin-Lim iterations at decode time, started from the model's own decoded phase with
    #: magnitude |P|^(1/alpha) (fast Griffin-Lim, momentum 0.99); 0: exact inverse STFT
    phase_iterations: int = 0
    #: start of those iterations: "model" (the decoded phase) or "random" (drawn from each
    #: target's seed; the decoded phase is smooth across frames, which leaves spectral lines at
    #: the frame rate, docs/model_v2.md)
    phase_init: str = "model"
    #: zero-phase 4-corner Butterworth high-pass of the output waveform at this frequency (Hz),
    #: as the store's records were band-passed (decoded energy below the band integrates to a
    #: velocity drift; the STFT bins are too coarse to cut it); 0: off
    output_band_min_hz: float = 0.0
    #: explicit log level: a head on the pooled condition embedding predicts ln RMS per
    #: component of the linear target; output = unit-RMS shape x exp(level); spectrogram and
    #: waveform terms then compare shapes (both sides unit RMS)
    level_head: bool = False
    #: weight of the squared log-level loss (physical-unit targets only)
    level_loss_weight: float = 1.0
    #: with a source record, level = head(c_tgt) + (measured level of the source - head(c_src))
    #: (the event term); in training used on pairs with a real physical source, dropped with
    #: probability 0.5 per item so both uses are learnt
    level_uses_source: bool = False
    #: time coordinate + soft steps at the TauP P and S arrivals as extra input channels of the
    #: U-Net (target) and eta (target and source) on the latent time grid
    time_channels: bool = False
    #: 1-D velocity model of those arrivals (heggs.traveltimes)
    time_channels_model: str = "iasp91"
    #: recorded by the model from its first training batch: how to recover raw distance/depth
    #: from normalised conditions (and the window offset), for arrivals at generation
    arrival_stats: dict[str, float] = field(default_factory=dict)
    # -- sampling --------------------------------------------------------------------------
    sampler_steps: int = 25
    #: re-project each intermediate x0 estimate of the DDIM chain onto the encoder's latent
    #: space, x0 <- E_AE(D_AE(x0)), before re-noising it: the objective only constrains
    #: D_AE(x0), so x_theta's raw x0 lives in the decoder's input space, not among the
    #: latents E_AE(X) that noised inputs are built from in training (off: the chain drifts
    #: away from memorised targets; benchmarks/model_sampling_ablation.py)
    sampler_reproject: bool = True
    #: start noise level for generation from a source record, as a fraction of n_timesteps
    t_start_fraction: float = 0.6


#: overrides of :class:`ModelConfig` defaults per named preset
MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "tiny": {
        "n_fft": 128,
        "hop_length": 64,
        "ae_channels": (8, 16, 16),
        "latent_channels": 4,
        "acm_channels": 8,
        "acm_dense_depth": 2,
        "acm_attention_blocks": 1,
        "acm_heads": 2,
        "cond_hidden": 32,
        "cond_tokens": 4,
        "cond_dim": 32,
        "unet_channels": (32, 32),
        "unet_res_blocks": 1,
        "unet_attention_levels": (1,),
        "unet_heads": 2,
        "eta_channels": 16,
        "eta_blocks": 1,
        "n_timesteps": 1000,
        "sampler_steps": 10,
    },
}


def model_preset(name: str, **overrides: Any) -> ModelConfig:
    """A :class:`ModelConfig` from a named preset (``"tiny"``, ``"paper"``) plus overrides."""
    if name not in MODEL_PRESETS:
        raise ValueError(f"unknown model preset {name!r}; known: {sorted(MODEL_PRESETS)}")
    return from_dict(ModelConfig, {**MODEL_PRESETS[name], **overrides})


# --- training (owned by the training stage) -------------------------------------------------


@dataclass
class TrainConfig:
    """Everything ``heggs train`` needs besides the output folder (see ``heggs/train.py``).

    ``batch_size`` is the GLOBAL number of pairs per optimizer step: under torchrun with N
    processes and ``grad_accum`` micro-steps each process loads ``batch_size / (N*grad_accum)``
    pairs per micro-step, so the same config means the same training on 1 CPU or 64 GPUs.
    The model's ``n_samples``, ``sampling_rate_hz`` and ``n_components`` follow the store;
    ``amplitude_scale`` is fitted on the training records when ``fit_amplitude_scale``.
    Defaults are the paper-scale GPU settings; ``configs/tiny.json`` is a CPU smoke config.
    """

    #: store folder (SeisBench format) and the split to train on
    data: str = ""
    split: str = "train"
    #: name of the model preset the ``model`` block came from (informational once resolved)
    preset: str = "paper"
    model: ModelConfig = field(default_factory=ModelConfig)
    #: pairs per optimizer step over all processes and accumulation micro-steps
    batch_size: int = 32
    grad_accum: int = 1
    steps: int = 200_000
    #: AdamW
    lr: float = 1e-4
    min_lr: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 1000
    #: "cosine" (to min_lr at ``steps``) or "constant" after the warm-up
    lr_schedule: str = "cosine"
    #: gradient-norm clip (<= 0 disables)
    grad_clip: float = 1.0
    #: EMA of the weights (used for generation); warm-up: decay_s = min(ema_decay, (1+s)/(10+s))
    ema_decay: float = 0.999
    ema_warmup: bool = True
    #: "auto" = bf16 autocast on CUDA, full precision on CPU; "bf16"; "off"
    amp: str = "auto"
    #: probability that a pair's source is its target (trains the plain denoiser use)
    p_same: float = 0.2
    seed: int = 0
    #: fit ModelConfig.amplitude_scale on the training records before training
    fit_amplitude_scale: bool = True
    #: records used to fit amplitude_scale (first N training targets)
    amplitude_fit_records: int = 512
    checkpoint_interval: int = 1000
    #: newest checkpoints kept (0 = all)
    keep_checkpoints: int = 3
    log_interval: int = 50
    num_workers: int = 4
    #: torch.compile the model (GPU runs)
    compile: bool = False
    #: DistributedDataParallel(find_unused_parameters=...)
    find_unused_parameters: bool = False
    #: train on records in physical units only (counts records left out entirely)
    physical_only: bool = False
    #: checkpoint (or run folder) whose EMA weights initialise the model (fine-tuning, e.g.
    #: after pre-training on a ``heggs simulate`` store); optimiser and normaliser start afresh
    init_from: str = ""
    #: the "AE pretrained" ablation: for the first N steps only the autoencoder (E_AE, D_AE,
    #: ACM, and tau_theta for the ACM) is trained, on reconstruction of the target; then
    #: E_AE, D_AE and the ACM are frozen and the diffusion parts train. 0 = end to end (HEGGS)
    ae_pretrain_steps: int = 0
    #: wall-clock budget (s) of the optimisation loop, summed over resumes (0 = none): once spent,
    #: the run stops after the current step with a checkpoint (``checkpoint.json`` records
    #: ``train_wall_s`` and ``budget_spent``); the learning-rate schedule still runs to ``steps``
    max_wall_s: float = 0.0

# --- simulation (owned by the simulator stage) ----------------------------------------------


@dataclass
class SimulateConfig:
    """Stochastic point-source simulator (Boore 2003) — every physical choice, with units.

    Defaults are typical of active crustal regions (California): Brune ω² source with a
    per-event log-normal stress drop about a magnitude-dependent median (16 bar at M3, 36 bar
    at M4, 80 bar at M5, 152 bar from M5.8), geometric spreading 1/R to 40 km then R^-0.5, Q(f) = 180 f^0.45,
    kappa 0.04 s, Boore (2016) generic-rock (Vs30 760 m/s) crustal amplification, a coda, and
    background noise between Peterson's NLNM and NHNM. See :mod:`heggs.simulate.stochastic`.
    """

    window: WindowConfig = field(default_factory=WindowConfig)
    #: TauP model name or a .tvel/.nd file for P/S onsets and take-off/incidence angles
    velocity_model: str = "iasp91"
    # source (Brune ω²)
    #: median stress drop at M5 (bar); log10 median changes by ``stress_drop_magnitude_slope``
    #: per magnitude unit between the two hinge magnitudes and is constant outside (calibrated
    #: so that median PGA follows BSSA14 for M4-6 at Vs30 760 m/s; slope 0 gives a constant)
    stress_drop_median_bar: float = 80.0
    stress_drop_magnitude_slope: float = 0.35
    stress_drop_hinges: tuple[float, float] = (3.0, 5.8)
    #: natural-log standard deviation of the per-event stress drop
    stress_drop_sigma_ln: float = 0.5
    density_g_cm3: float = 2.8
    beta_km_s: float = 3.5
    alpha_km_s: float = 6.0
    #: P-wave corner frequency = this × S-wave corner frequency
    p_corner_ratio: float = 1.5
    # path
    geometric_transition_km: float = 40.0
    geometric_exponent_near: float = 1.0
    geometric_exponent_far: float = 0.5
    #: near-source saturation R_eff = sqrt(R² + h(M)²), h = 10^(-0.05 + 0.15 M) km (Yenier & Atkinson 2015)
    finite_fault_saturation: bool = True
    q0: float = 180.0
    q_eta: float = 0.45
    q_min: float = 60.0
    #: Q_P = this × Q_S (crustal studies find about 1 at high frequencies)
    qp_over_qs: float = 1.0
    kappa_s: float = 0.04
    #: ground-motion duration T = 1/fc + path_duration_s_per_km × R_hyp (Boore 2003)
    path_duration_s_per_km: float = 0.05
    # radiation: R² = (1-γ) F(strike, dip, rake, take-off, azimuth)² + γ <F²> (high-frequency
    # scattering makes the pattern partly isotropic); γ = 1 gives Boore's average pattern
    radiation_isotropic_fraction: float = 0.5
    free_surface_factor: float = 2.0
    # site
    #: Vs30 of random stations (a station CSV may give a ``vs30_m_s`` column per station)
    vs30_m_s: float = 760.0
    #: natural-log standard deviation of the per-station random amplification factor
    site_sigma_ln: float = 0.3
    # envelope (Saragoni-Hart window as in Boore 2003) plus an exponential coda
    #: fraction of the window at which the envelope peaks (S and P); smaller = sharper onset
    window_eps: float = 0.05
    window_eps_p: float = 0.05
    # coda: after the envelope peak, an exponentially decaying tail of relative amplitude
    # coda_level and decay time coda_tau_s + coda_tau_s_per_km × R_hyp (so it lasts longer far
    # away, and longer above the noise for larger events), on P (until S takes over) and S
    coda_level: float = 0.3
    coda_tau_s: float = 2.0
    coda_tau_s_per_km: float = 0.04
    #: Saragoni-Hart: amplitude eta at window_f_tgm × T
    window_eta: float = 0.05
    window_f_tgm: float = 2.0
    # noise: PSD_dB = NLNM + level × (NHNM − NLNM), level drawn per station uniformly in
    # [noise_level - noise_level_spread, noise_level + noise_level_spread] clipped to [0, 1]
    noise_level: float = 0.45
    noise_level_spread: float = 0.15
    #: band-pass the output like ingested data (window.band_min_hz .. band_max_hz), zero phase
    bandpass: bool = True
    filter_corners: int = 4
    # scenario
    #: records are simulated only where S + window.s_margin_s lies in the window and the
    #: epicentral distance is at most this
    max_distance_km: float = 200.0
    #: random events: depth uniform in this range (km)
    depth_range_km: tuple[float, float] = (2.0, 20.0)
    split_fractions: tuple[float, float, float] = (0.8, 0.0, 0.2)
    split_seed: int = 0
    #: records per vectorised batch (memory ≈ 0.5 MB per record)
    batch_size: int = 64


# --- evaluation (owned by the evaluation stage) -----------------------------------------------


@dataclass
class EvalConfig:
    """What ``heggs evaluate`` computes (see :mod:`heggs.evaluate.run` and docs/metrics.md).

    Every target record of ``split`` is generated ``n_records`` times in each of ``modes``:
    ``with_source`` (imputation from another station of the same event, drawn with ``seed``)
    and ``without_source`` (pure noise with the target condition).
    """

    #: store split(s) of the targets: "test", a comma-separated list ("test,dev") or a list,
    #: "all" (or None) for every record of the store
    split: str | tuple[str, ...] | None = "test"
    #: generated records per target and mode
    n_records: int = 3
    modes: tuple[str, ...] = ("with_source", "without_source")
    #: sampler steps (None: the model's default) and start level with a source (None: default)
    steps: int | None = None
    t_start: int | None = None
    #: cap on test targets, whole events taken in a seeded order (0 = all)
    max_targets: int = 0
    #: "phasenet" (passes the sub-second shift test, docs/metrics.md), "eqtransformer" or
    #: "classical"; weights: SeisBench name or default; force: use a picker the timing guard
    #: refuses (EQTransformer "original_nonconservative" snaps P to whole seconds)
    picker: str = "phasenet"
    picker_weights: str | None = None
    picker_force: bool = False
    #: clipped records (``trace_clipped``) in amplitude metrics (default: shape only, like counts)
    amplitude_clipped: bool = False
    #: GMPEs for the PGA residuals (pygmm names or OpenQuake GSIM class names) and site Vs30
    gmpe_models: tuple[str, ...] = ("BSSA14", "ASK14", "CB14", "CY14")
    v_s30_m_s: float = 760.0
    #: bootstrap replicates (resampling events) and confidence level
    n_boot: int = 1000
    level: float = 0.95
    #: magnitude sweep: magnitudes (<= 4.5 for a 1 Hz high-passed store) and records each
    sweep_magnitudes: tuple[float, ...] = (3.0, 3.5, 4.0, 4.5)
    sweep_records: int = 4
    #: record sections: at most this many test events (largest first; 0 = none)
    max_sections: int = 4
    #: record sections: False = panels side by side (real | with source | without source);
    #: True = each generated set drawn over the real records, one panel per mode
    section_overlay: bool = False
    batch_size: int = 16
    seed: int = 0
