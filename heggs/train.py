"""Stage 9 — training (``heggs train``): one readable loop from one CPU to many GPUs.

nanoGPT style: config -> store -> condition normaliser fitted on the TRAIN split ->
:class:`heggs.data.PairDataset` -> DataLoader -> :class:`heggs.model.network.HEGGSNet` -> AdamW -> loop
with warm-up + cosine learning rate, gradient clipping, optional gradient accumulation,
optional bf16 autocast (CUDA), an exponential moving average (EMA) of the weights, JSON-lines
log and a tqdm bar, atomic resumable checkpoints (``heggs.checkpoint``).

Data parallel: the same command runs on one process (``heggs train ...``) or on many under
``torchrun --nproc_per_node N -m heggs.cli train ...`` (one or several nodes). The process
group is initialised from torchrun's environment variables (gloo on CPU, nccl on CUDA) and the
model is wrapped in ``DistributedDataParallel``; there is no home-made launcher.

Determinism (what makes kill/resume and 1-vs-N processes agree):

- ``batch_size`` is the GLOBAL number of pairs per optimizer step; each of the N processes
  takes ``batch_size / (N * grad_accum)`` pairs per micro-step. Epoch ``e`` uses the
  permutation ``DistributedSampler`` draws from ``seed + e``; optimizer step ``s`` of the epoch
  consumes permutation positions ``[s*B, (s+1)*B)``, whatever N is (``DistributedSampler``
  deals them out round-robin, drop_last). ``steps_per_epoch = len(dataset) // batch_size``.
- Each item draws its diffusion time and noise from its own ``noise_seed`` (PairDataset, seeded
  by seed/epoch/target), and the model's loss is a mean over items, so the gradient of a batch
  does not depend on how it is split across processes (DDP averages gradients).
- The global torch RNG is re-seeded from (seed, step, rank) before every step, so nothing
  random carries state between steps: a checkpoint needs only the step, the weights, the EMA
  and the optimizer state to continue bit-for-bit (given the same hardware and thread count).
- The EMA decay depends only on the step.

A NaN/inf loss or gradient norm stops the run with :class:`TrainingDiverged` naming the step
and the last good checkpoint; nothing is written for the bad step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import time
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from . import __version__
from . import checkpoint as ckpt
from .config import ModelConfig, TrainConfig, from_dict, to_dict
from .data import ConditionNormalizer, PairDataset, training_ranges
from .folders import claim, mark
from .model.network import HEGGSNet
from .store import Store

LOG_FILE = "log.jsonl"
CONFIG_FILE = "config.json"


class TrainingDiverged(RuntimeError):
    """Loss or gradient became NaN/inf; the message names the step and the last good checkpoint."""


# --- processes and devices ------------------------------------------------------------------


@dataclasses.dataclass
class DistInfo:
    """This process's place in the (possibly single-process) job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str = "auto") -> DistInfo:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) and init.

    device : ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:K"``. Under
        torchrun each process takes GPU ``LOCAL_RANK``. Backend: nccl on CUDA, gloo on CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device} requested but torch sees no CUDA device (use --device cpu)")
        dev = torch.device("cuda", local_rank if world > 1 or device == "cuda" else int(device.split(":")[1]))
        torch.cuda.set_device(dev)
    elif device == "cpu":
        dev = torch.device("cpu")
    else:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:K', got {device!r}")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def _all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.distributed:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= info.world_size
    return values


# --- schedule, EMA, data order ---------------------------------------------------------------


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warm-up, then constant or cosine."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule != "cosine":
        raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {cfg.lr_schedule!r}")
    span = max(1, cfg.steps - cfg.warmup_steps)
    frac = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * frac))


def ema_decay_at(step: int, cfg: TrainConfig) -> float:
    """EMA decay after optimizer step ``step`` (1-based count): ``min(decay, (1+s)/(10+s))`` with warm-up."""
    if not cfg.ema_warmup:
        return cfg.ema_decay
    return min(cfg.ema_decay, (1.0 + step) / (10.0 + step))


class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers (float32)."""

    def __init__(self, model: torch.nn.Module):
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, decay: float) -> None:
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].lerp_(v.detach().float(), 1.0 - decay)

    def state_dict(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Full state dict of ``model`` with the averaged tensors in place of the online ones."""
        return {k: self.shadow[k].to(v.dtype) if k in self.shadow else v for k, v in model.state_dict().items()}

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        for k in self.shadow:
            if k not in tensors:
                raise KeyError(f"EMA tensor {k!r} missing from checkpoint")
            self.shadow[k].copy_(tensors[k].float())


def _seed_step(seed: int, step: int, rank: int) -> None:
    """Re-seed torch (and numpy's legacy global RNG) from (seed, step, rank)."""
    s = int.from_bytes(hashlib.sha256(f"heggs-train:{seed}:{step}:{rank}".encode()).digest()[:8], "little") >> 1
    torch.manual_seed(s)
    np.random.seed(s % 2**32)


def epoch_batches(
    dataset: PairDataset,
    cfg: TrainConfig,
    info: DistInfo,
    epoch: int,
    start: int,
    pin_memory: bool = False,
) -> Iterator[list[dict[str, torch.Tensor]]]:
    """Yield this process's micro-batches of optimizer steps ``start, start+1, ...`` of ``epoch``.

    Each yielded value is a list of ``grad_accum`` collated micro-batches. Step ``s`` uses the
    permutation positions ``[s*B, (s+1)*B)`` of ``DistributedSampler(seed=cfg.seed)`` at
    ``epoch``, split round-robin over processes.
    """
    per_proc = cfg.batch_size // info.world_size
    micro = per_proc // cfg.grad_accum
    dataset.set_epoch(epoch)
    sampler = DistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=cfg.seed, drop_last=True
    )
    sampler.set_epoch(epoch)
    indices = list(sampler)
    n_steps = len(dataset) // cfg.batch_size
    mine = indices[start * per_proc : n_steps * per_proc]
    if not mine:
        return
    loader = DataLoader(
        dataset,
        batch_size=micro,
        sampler=mine,
        num_workers=cfg.num_workers,
        pin_memory=pin_memory,
        drop_last=True,
        generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch),
        persistent_workers=False,
    )
    group: list[dict[str, torch.Tensor]] = []
    for batch in loader:
        group.append(batch)
        if len(group) == cfg.grad_accum:
            yield group
            group = []


# --- provenance and checkpoints ---------------------------------------------------------------


def store_window(store: Store) -> dict[str, Any]:
    """The store's window as generation needs it: component order, rate, and the offset of the
    window start from the origin (median of trace_start_time − source_origin_time, s)."""
    import pandas as pd

    meta = store.metadata
    offset = 0.0
    if {"trace_start_time", "source_origin_time"} <= set(meta.columns):
        start = pd.to_datetime(meta["trace_start_time"], utc=True, errors="coerce", format="ISO8601")
        origin = pd.to_datetime(meta["source_origin_time"], utc=True, errors="coerce", format="ISO8601")
        d = (start - origin).dt.total_seconds().dropna()
        if len(d):
            offset = round(float(d.median()), 6)
    fmt = store.data_format
    return {"offset_s": offset, "components": str(fmt.get("component_order", "ENZ")),
            "sampling_rate_hz": float(fmt.get("sampling_rate", float("nan")))}


def data_provenance(store: Store, dataset: PairDataset) -> dict[str, Any]:
    """Where the training data came from: path, sizes and the SHA-256 of metadata.csv."""
    meta_path = store.path / "metadata.csv"
    h = hashlib.sha256()
    with open(meta_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    meta = store.metadata
    return {
        "window": store_window(store),
        "store": str(store.path.resolve()),
        "metadata_sha256": h.hexdigest(),
        "n_records": int(len(meta)),
        "n_events": int(meta["source_id"].nunique()) if "source_id" in meta.columns else None,
        "split": dataset.split,
        "pairs": dataset.pair_counts(),
    }


def adapt_model_config(cfg: TrainConfig, store: Store, dataset: PairDataset) -> list[str]:
    """Make ``cfg.model`` follow the data; return notes on what was set.

    ``n_samples``, ``sampling_rate_hz`` and ``n_components`` come from the store (one rate per
    split is enforced by PairDataset). With ``cfg.fit_amplitude_scale``, ``amplitude_scale`` is
    fitted (:func:`heggs.model.spectrogram.fit_amplitude_scale`) on up to ``amplitude_fit_records``
    PHYSICAL-unit training targets; a store with none (counts only) is fitted on its counts
    records, which only sets a numerically convenient input level (counts teach shape only).
    """
    from .model.spectrogram import fit_amplitude_scale

    notes = []
    rows = dataset.target_indices
    meta = store.metadata.iloc[rows]
    item = dataset[0]
    n_comp, n_samples = item["tgt"].shape
    rate = float(meta["trace_sampling_rate_hz"].iloc[0]) if "trace_sampling_rate_hz" in meta else float(
        store.data_format["sampling_rate"])
    for key, value in (("n_samples", int(n_samples)), ("sampling_rate_hz", rate), ("n_components", int(n_comp))):
        if getattr(cfg.model, key) != value:
            notes.append(f"model.{key}: {getattr(cfg.model, key)} -> {value} (from the store)")
            setattr(cfg.model, key, value)
    if cfg.fit_amplitude_scale:
        physical = (meta["trace_units"] == "m/s2").to_numpy() if "trace_units" in meta else np.zeros(len(meta), bool)
        if "trace_clipped" in meta:  # a clipped record's level is not its true level
            physical = physical & ~meta["trace_clipped"].fillna(False).astype(bool).to_numpy()
        use = np.flatnonzero(physical) if physical.any() else np.arange(len(meta))
        use = use[: cfg.amplitude_fit_records]
        waves = store.waveforms(rows[use])
        valid = None
        if {"trace_valid_start_sample", "trace_valid_end_sample"} <= set(meta.columns):
            v = meta[["trace_valid_start_sample", "trace_valid_end_sample"]].iloc[use].to_numpy(dtype=float)
            v = np.where(np.isfinite(v), v, [[0, n_samples]])
            valid = np.clip(v, 0, n_samples).astype(np.int64)
        scale = fit_amplitude_scale(waves, valid, n_fft=cfg.model.n_fft, hop_length=cfg.model.hop_length,
                                    window=cfg.model.window)
        cfg.model.amplitude_scale = scale
        notes.append(f"model.amplitude_scale = {scale:.4g} fitted on {len(use)} "
                     + ("physical-unit (m/s2)" if physical.any() else "counts (no m/s2 record in the split)")
                     + " training records")
    return notes


def _checkpoint_info(
    cfg: TrainConfig, normalizer: ConditionNormalizer, provenance: dict, ranges: dict, step: int, epoch: int,
    info: DistInfo, wall_s: float = 0.0,
) -> dict[str, Any]:
    """``checkpoint.json`` content; ``wall_s`` = seconds spent in the optimisation loop so far (all resumes)."""
    return {
        "format": "heggs-checkpoint",
        "format_version": 1,
        "heggs_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "saved_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "step": int(step),
        "epoch": int(epoch),
        "finished": int(step) >= cfg.steps,
        "train_wall_s": float(wall_s),
        "budget_spent": budget_spent(cfg, wall_s),
        "world_size": info.world_size,
        "train_config": to_dict(cfg),
        "model_config": to_dict(cfg.model),
        "normalizer": normalizer.to_dict(),
        "data": provenance,
        "training_ranges": ranges,
        "rng": {
            "scheme": "torch and numpy global RNGs re-seeded from sha256(seed, step, rank) before every step; "
            "data order from DistributedSampler(seed + epoch); per-item noise from PairDataset noise_seed",
            "seed": cfg.seed,
        },
        "weights": {"model": "model.safetensors", "ema": "ema.safetensors", "optimizer": "optimizer.safetensors"},
    }


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after ``step`` by a run that was killed (resume rewrites them)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:  # a line cut by the kill
            continue
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(k + "\n" for k in keep))
    os.replace(tmp, path)


def _average_logs(sums: dict[str, float], counts: dict[str, int], info: DistInfo) -> dict[str, float]:
    """Mean of each logged value over the steps (and processes) that reported it.

    Keys may differ between steps and processes (e.g. a loss over physical-unit targets only
    exists when the batch had some), so processes exchange their dicts rather than a tensor.
    """
    if info.distributed:
        gathered: list[Any] = [None] * info.world_size
        dist.all_gather_object(gathered, (sums, counts))
        sums, counts = {}, {}
        for s, c in gathered:
            for k in s:
                sums[k] = sums.get(k, 0.0) + s[k]
                counts[k] = counts.get(k, 0) + c[k]
    return {k: sums[k] / counts[k] for k in sorted(sums)}


# --- the loop ----------------------------------------------------------------------------------


class _LossModule(torch.nn.Module):
    """Makes ``model.loss(batch)`` the forward pass, so DistributedDataParallel's hooks see it."""

    def __init__(self, model: HEGGSNet):
        super().__init__()
        self.model = model
        #: set by the loop during the AE pre-training phase of the "AE pretrained" ablation
        self.autoencoder_only = False

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        return self.model.autoencoder_loss(batch) if self.autoencoder_only else self.model.loss(batch)


def param_groups(model: HEGGSNet, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Optimizer parameter groups: one group, or with ``cfg.ae_pretrain_steps`` two named
    groups, ``autoencoder`` (E_AE, D_AE, ACM; learning rate 0 once pre-training is over, i.e.
    frozen) and ``diffusion`` (τ_θ, x_θ, η)."""
    if cfg.ae_pretrain_steps <= 0:
        return [{"params": list(model.parameters()), "name": "all"}]
    ae = model.autoencoder_parameters()
    ids = {id(p) for p in ae}
    return [{"params": ae, "name": "autoencoder"},
            {"params": [p for p in model.parameters() if id(p) not in ids], "name": "diffusion"}]


def init_weights(model: HEGGSNet, path: str | Path) -> None:
    """Initialise ``model`` from the EMA weights of a checkpoint (fine-tuning).

    The architecture must match (same ModelConfig apart from ``amplitude_scale``, which follows
    the new data). Raises ValueError naming what differs.
    """
    folder = ckpt.resolve_checkpoint(path)
    theirs = from_dict(ModelConfig, ckpt.read_info(folder)["model_config"])
    mine = to_dict(model.cfg)
    diff = [k for k, v in to_dict(theirs).items() if k != "amplitude_scale" and mine.get(k) != v]
    if diff:
        raise ValueError(f"init_from {folder}: model config differs in {diff}; fine-tuning needs the same architecture")
    model.load_state_dict(ckpt.read_tensors(folder, "ema"), strict=True)


def check_config(cfg: TrainConfig, world_size: int = 1) -> None:
    """Raise ValueError with a clear message for inconsistent settings."""
    if cfg.batch_size < 1 or cfg.grad_accum < 1 or cfg.steps < 1:
        raise ValueError("batch_size, grad_accum and steps must be >= 1")
    if not 0 < cfg.lr < math.inf:  # lr 0 trains nothing; NaN/inf stop at the first step
        raise ValueError(f"learning rate (--lr / lr) must be a finite number > 0, got {cfg.lr}")
    if cfg.batch_size % (world_size * cfg.grad_accum):
        raise ValueError(
            f"batch_size {cfg.batch_size} (global, pairs per optimizer step) must be divisible by "
            f"processes x grad_accum = {world_size} x {cfg.grad_accum}"
        )
    if cfg.amp not in ("auto", "bf16", "off"):
        raise ValueError(f"amp must be 'auto', 'bf16' or 'off', got {cfg.amp!r}")
    if cfg.checkpoint_interval < 1 or cfg.log_interval < 1:
        raise ValueError("checkpoint_interval and log_interval must be >= 1")
    if not 0.0 <= cfg.ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1), got {cfg.ema_decay}")
    if not cfg.max_wall_s >= 0:
        raise ValueError(f"max_wall_s must be >= 0 (0 = no wall-clock budget), got {cfg.max_wall_s}")
    if not 0 <= cfg.ae_pretrain_steps < cfg.steps:
        raise ValueError(f"ae_pretrain_steps must be in [0, steps={cfg.steps}), got {cfg.ae_pretrain_steps}")


def budget_spent(cfg: TrainConfig, wall_s: float) -> bool:
    """Whether ``wall_s`` seconds of training have used up ``cfg.max_wall_s`` (never when it is 0)."""
    return cfg.max_wall_s > 0 and wall_s >= cfg.max_wall_s


def train(
    cfg: TrainConfig | None,
    out: str | Path,
    resume: bool = False,
    device: str = "auto",
    progress: bool = True,
    steps: int | None = None,
    data: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Train (or resume) a run in folder ``out``; return the final checkpoint folder.

    cfg : resolved configuration (``cfg.data`` = store path). With ``resume`` and a checkpoint
        in ``out``, the run continues with the CHECKPOINT's configuration and ``cfg`` is ignored
        (may be None); without a checkpoint it starts afresh from ``cfg``.
    steps : with ``resume``, a new total number of steps (to extend a finished run).
        ``cfg.max_wall_s`` > 0 also stops the run, with a checkpoint, once that many seconds
        of training (summed over resumes) are spent; resuming such a run returns at once.
    data : with ``resume``, a new path of the same store (moved); its metadata.csv must hash
        to the checkpoint's provenance.
    device : ``"auto"``, ``"cpu"``, ``"cuda"``; under torchrun each process takes its GPU.
    overwrite : allow a fresh run in an ``out`` that is neither empty nor a run (the main
        process claims ``out`` with :func:`heggs.folders.claim`: locked against a second
        writer, killed runs' scratch removed; ``out`` may not hold or lie inside the store).
    """
    info = setup_distributed(device)
    hold = ExitStack()  # released when this function returns or raises
    with hold:
        if info.is_main:
            hold.enter_context(claim(out, "run", (data or (cfg.data if cfg is not None else None),), overwrite))
        return _train(cfg, Path(out), resume, progress, steps, data, info)


def _train(cfg: TrainConfig | None, out: Path, resume: bool, progress: bool, steps: int | None, data: str | None,
           info: DistInfo) -> Path:
    """:func:`train` once ``out`` is claimed (by the main process)."""
    start_ckpt = None
    if resume:
        # the newest INTACT checkpoint: a truncated or corrupt newer one is skipped and named
        start_ckpt, skipped = ckpt.latest_intact_checkpoint(out)
        for folder, reason in skipped:
            if info.is_main:
                print(f"heggs train: warning: skipping corrupt checkpoint {folder.name} ({reason})", flush=True)
        if skipped and start_ckpt is None:
            raise ValueError(f"{out}: no intact checkpoint to resume from (newest: {skipped[0][1]})")
        if skipped and info.is_main:
            print(f"heggs train: resuming from {start_ckpt.name}, the newest intact checkpoint", flush=True)
    if start_ckpt is not None:
        saved = ckpt.read_info(start_ckpt)
        cfg = from_dict(TrainConfig, saved["train_config"])
        if steps is not None:
            if int(steps) < int(saved["step"]):
                raise ValueError(f"--steps {steps} is below the step {saved['step']} of the checkpoint to resume "
                                 f"({start_ckpt}): give --steps >= {saved['step']}")
            cfg.steps = int(steps)
        if data:
            cfg.data = str(data)
    elif cfg is None:
        raise FileNotFoundError(f"nothing to resume: {out} holds no checkpoint, and no config was given")
    elif not resume and ckpt.latest_checkpoint(out) is not None:
        raise FileExistsError(f"{out} already holds checkpoints: pass --resume to continue, or choose a new --out")
    check_config(cfg, info.world_size)
    if not cfg.data:
        raise ValueError("no training data: set --data STORE (or 'data' in the config)")

    # data: store -> normaliser fitted on the train split -> pairs
    store = Store(cfg.data)
    meta = store.metadata
    # a fresh run fits the normaliser on the store's train split; a resumed one keeps its own
    saved_norm = ConditionNormalizer.from_dict(saved["normalizer"]) if start_ckpt is not None else None
    dataset = PairDataset(store, cfg.split, normalizer=saved_norm, p_same=cfg.p_same, seed=cfg.seed,
                          physical_only=cfg.physical_only)
    normalizer = dataset.normalizer
    if len(dataset) < cfg.batch_size:
        raise ValueError(
            f"split {cfg.split!r} of {cfg.data} has {len(dataset)} training targets, fewer than one batch "
            f"({cfg.batch_size}); lower --batch-size"
        )
    steps_per_epoch = len(dataset) // cfg.batch_size
    provenance = data_provenance(store, dataset)
    if start_ckpt is not None and provenance["metadata_sha256"] != saved["data"]["metadata_sha256"]:
        raise ValueError(
            f"{cfg.data} is not the store this run was trained on (metadata.csv hash differs from the checkpoint's "
            f"{saved['data']['store']}); resume on the same data or start a new run"
        )
    if start_ckpt is None:
        for note in adapt_model_config(cfg, store, dataset):
            if info.is_main and progress:
                print(f"heggs train: {note}", flush=True)
    ranges = training_ranges(meta.iloc[dataset.target_indices])

    # model, optimizer, EMA (same seed on every process; DDP also broadcasts rank 0's weights)
    torch.manual_seed(cfg.seed)
    model = HEGGSNet(cfg.model).to(info.device)
    if cfg.init_from and start_ckpt is None:
        init_weights(model, cfg.init_from)
    optimizer = torch.optim.AdamW(
        param_groups(model, cfg), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay,
    )
    ema = EMA(model)
    step = 0
    wall_before = 0.0  # seconds of training done before this process (resumed runs)
    if start_ckpt is not None:
        wall_before = float(ckpt.read_info(start_ckpt).get("train_wall_s", 0.0))
        model.load_state_dict(ckpt.read_tensors(start_ckpt, "model"), strict=True)
        ema.load(ckpt.read_tensors(start_ckpt, "ema"))
        opt_state = ckpt.unflatten_optimizer_state(
            ckpt.read_tensors(start_ckpt, "optimizer"), ckpt.read_info(start_ckpt)["optimizer"]
        )
        optimizer.load_state_dict(opt_state)
        step = int(ckpt.read_info(start_ckpt)["step"])
    last_good = start_ckpt

    loss_module = _LossModule(model)
    wrapped: torch.nn.Module = loss_module
    if info.distributed:
        wrapped = DistributedDataParallel(
            wrapped,
            device_ids=[info.device.index] if info.device.type == "cuda" else None,
            # the AE pre-training phase leaves x_theta and eta without gradients
            find_unused_parameters=cfg.find_unused_parameters or cfg.ae_pretrain_steps > 0,
        )
    if cfg.compile:
        wrapped = torch.compile(wrapped)
    use_amp = cfg.amp == "bf16" or (cfg.amp == "auto" and info.device.type == "cuda")
    autocast = (lambda: torch.autocast(info.device.type, dtype=torch.bfloat16)) if use_amp else nullcontext

    log_path = out / LOG_FILE
    if info.is_main:
        mark(out, "run")
        (out / CONFIG_FILE).write_text(json.dumps(to_dict(cfg), indent=2, sort_keys=True) + "\n")
        _truncate_log(log_path, step)
    bar = None
    if info.is_main and progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc="heggs train", unit="step", dynamic_ncols=True)

    def save(step: int, epoch: int) -> Path | None:
        folder = None
        wall = wall_s()  # a collective: every process calls it
        if info.is_main:
            folder = ckpt.write_checkpoint(
                out, step, model.state_dict(), ema.state_dict(model), optimizer.state_dict(),
                _checkpoint_info(cfg, normalizer, provenance, ranges, step, epoch, info, wall),
                keep=cfg.keep_checkpoints,
            )
        if info.distributed:
            dist.barrier()
        return folder or ckpt.checkpoint_dir(out) / f"step_{step:07d}"

    t_loop = time.perf_counter()

    def wall_s() -> float:
        """Training seconds so far, the same on every process (mean over processes)."""
        here = torch.tensor([wall_before + time.perf_counter() - t_loop], device=info.device)
        return float(_all_reduce_mean(here, info)[0])

    spent = budget_spent(cfg, wall_before)
    if spent and info.is_main and progress:
        print(f"heggs train: the wall-clock budget max_wall_s={cfg.max_wall_s:g} s is already spent "
              f"({wall_before:.0f} s); nothing to do", flush=True)

    model.train()
    t_last, pairs_since, sums, counts = time.perf_counter(), 0, {}, {}
    try:
        while step < cfg.steps and not spent:
            epoch, offset = divmod(step, steps_per_epoch)
            for micro_batches in epoch_batches(dataset, cfg, info, epoch, offset, pin_memory=info.device.type == "cuda"):
                _seed_step(cfg.seed, step, info.rank)
                lr = lr_at(step, cfg)
                ae_phase = step < cfg.ae_pretrain_steps
                for group in optimizer.param_groups:
                    frozen = group.get("name") == "autoencoder" and cfg.ae_pretrain_steps > 0 and not ae_phase
                    group["lr"] = 0.0 if frozen else lr
                loss_module.autoencoder_only = ae_phase
                loss_sum = torch.zeros((), device=info.device)
                logs: dict[str, float] = {}
                for i, batch in enumerate(micro_batches):
                    batch = {k: v.to(info.device, non_blocking=True) for k, v in batch.items()}
                    last = i == len(micro_batches) - 1
                    sync = wrapped.no_sync() if info.distributed and not last else nullcontext()
                    with sync:
                        with autocast():
                            loss, micro_logs = wrapped(batch)
                        (loss / cfg.grad_accum).backward()
                    loss_sum += loss.detach().float() / cfg.grad_accum
                    for k, v in micro_logs.items():
                        logs[k] = logs.get(k, 0.0) + float(v) / cfg.grad_accum
                grad_norm = torch.nn.utils.clip_grad_norm_(
                    model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
                )
                check = _all_reduce_mean(torch.stack([loss_sum, grad_norm.float().to(info.device)]), info)
                loss_v, gnorm_v = float(check[0]), float(check[1])
                if not (math.isfinite(loss_v) and math.isfinite(gnorm_v)):
                    what = "loss" if not math.isfinite(loss_v) else "gradient norm"
                    where = f"{last_good}" if last_good is not None else "none (no checkpoint written yet)"
                    raise TrainingDiverged(
                        f"non-finite {what} (loss={loss_v}, grad_norm={gnorm_v}) at step {step + 1} "
                        f"(epoch {epoch}); training stopped without saving this step. Last good checkpoint: "
                        f"{where}. Lower the learning rate, raise warmup_steps, or check the data."
                    )
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                ema.update(model, ema_decay_at(step, cfg))

                pairs_since += cfg.batch_size
                for k, v in {**logs, "loss": loss_v, "grad_norm": gnorm_v}.items():
                    sums[k] = sums.get(k, 0.0) + v
                    counts[k] = counts.get(k, 0) + 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_v:.4g}", lr=f"{lr:.2g}")
                if step % cfg.log_interval == 0 or step == cfg.steps:
                    avg = _average_logs(sums, counts, info)
                    now = time.perf_counter()
                    if info.is_main:
                        record = {
                            "step": step, "epoch": epoch, "lr": lr, "pairs_per_s": pairs_since / max(now - t_last, 1e-9),
                            "processes": info.world_size, "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            **avg,
                        }
                        with open(log_path, "a") as f:
                            f.write(json.dumps(record) + "\n")
                    t_last, pairs_since, sums, counts = now, 0, {}, {}
                saved_now = step % cfg.checkpoint_interval == 0 or step == cfg.steps
                if cfg.max_wall_s > 0 and budget_spent(cfg, wall_s()):
                    spent = True
                if saved_now or spent:
                    last_good = save(step, epoch)
                if spent:
                    if info.is_main and progress:
                        print(f"heggs train: wall-clock budget max_wall_s={cfg.max_wall_s:g} s spent at step {step} "
                              f"of {cfg.steps}; stopped with a checkpoint", flush=True)
                    break
                if step >= cfg.steps:
                    break
    finally:
        if bar is not None:
            bar.close()
    return ckpt.checkpoint_dir(out) / f"step_{step:07d}"


def shutdown(ok: bool = True) -> None:
    """Tear down the process group at the end of a torchrun job (``ok=False``: no barrier, after an error)."""
    if dist.is_initialized():
        if ok:
            dist.barrier()
        dist.destroy_process_group()
