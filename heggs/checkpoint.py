"""Stage 9 (training) — checkpoint files on disk: safetensors + JSON, never pickle.

A checkpoint is a folder ``RUN_DIR/checkpoints/step_0000100/`` holding

- ``model.safetensors``      the raw (online) weights,
- ``ema.safetensors``        the exponential moving average of the weights (used to generate),
- ``optimizer.safetensors``  every tensor of the optimizer state, flattened as ``state.<param>.<key>``,
- ``checkpoint.json``        everything else: resolved training and model configs, condition
  normaliser statistics, data provenance, training ranges, step/epoch, the optimizer's
  hyper-parameters and non-tensor state, the RNG scheme and the heggs/torch versions.

A folder is written under a hidden temporary name and renamed into place with ``os.replace``
only when every file is complete and flushed, so a process killed at any moment (SIGKILL
included) leaves either the previous checkpoints or the new complete one, never half of one.
Only ``step_*`` folders count as checkpoints; stale temporary folders are removed on the next
save.

Corruption is detected on load: ``checkpoint.json`` records ``checksums`` (bytes and SHA-256 of
every ``.safetensors`` file, written at save time) that are verified when present (older
checkpoints, e.g. the shipped ``heggs/weights/default``, have none and load unchecked); weights
holding NaN or inf are refused. :func:`latest_intact_checkpoint` is what resuming uses: the
newest checkpoint that passes these checks, with the corrupt newer ones named. The file layer (save/read/resolve) moves tensors and JSON only; :func:`load_checkpoint`
turns a checkpoint into a ready network, condition normaliser and info dict (what generation
and evaluation load, so they never import the training loop).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ModelConfig, from_dict
from .data import ConditionNormalizer
from .folders import claim
from .model.network import HEGGSNet

CHECKPOINT_DIR = "checkpoints"
_STEP_RE = re.compile(r"^step_(\d+)$")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Write tensors to safetensors (contiguous CPU copies; shared storage is cloned)."""
    save_file({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}, str(path))
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _file_checksum(path: Path) -> dict[str, Any]:
    """``{"bytes": int, "sha256": hex}`` of a file."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            h.update(block)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


def verify_files(folder: str | Path, info: dict[str, Any] | None = None) -> None:
    """Check a checkpoint folder's weight files against the checksums of its JSON.

    Raises ValueError naming the first file that is missing, of the wrong size or whose SHA-256
    differs. Without ``checksums`` in the JSON (older checkpoints) nothing is checked here.
    """
    folder = Path(folder)
    info = read_info(folder) if info is None else info
    for name, want in (info.get("checksums") or {}).items():
        path = folder / name
        if not path.exists():
            raise ValueError(f"{path}: missing (the checkpoint lists it)")
        got = _file_checksum(path)
        if got["bytes"] != want.get("bytes"):
            raise ValueError(f"{path}: corrupt checkpoint file: {got['bytes']} bytes, {want.get('bytes')} when saved")
        if got["sha256"] != want.get("sha256"):
            raise ValueError(f"{path}: corrupt checkpoint file: SHA-256 differs from the one saved with it")


def check_finite(tensors: dict[str, torch.Tensor], what: str) -> None:
    """Refuse weights holding NaN or inf (ValueError naming ``what`` and a bad tensor)."""
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"{what}: {len(bad)} weight tensor(s) hold NaN or inf (e.g. {bad[0]}); "
                         "the model cannot generate: use an earlier checkpoint")


def flatten_optimizer_state(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and JSON-able rest.

    Returns ``(tensors, meta)`` with tensors named ``state.<param_id>.<key>`` and
    ``meta = {"param_groups": [...], "scalars": {param_id: {key: value}}}``.
    """
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in state_dict["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"state.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    groups = []
    for g in state_dict["param_groups"]:
        g = dict(g)
        for key, value in g.items():
            if torch.is_tensor(value):  # e.g. a tensor learning rate
                g[key] = {"__tensor__": value.tolist()}
        groups.append(g)
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer_state` (tuples such as ``betas`` come back as tuples)."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    for pid, sc in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(sc)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        for key, value in g.items():
            if isinstance(value, dict) and "__tensor__" in value:
                g[key] = torch.tensor(value["__tensor__"])
            elif key == "betas" and isinstance(value, list):
                g[key] = tuple(value)
        groups.append(g)
    return {"state": state, "param_groups": groups}


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run as ``[(step, folder), ...]``, oldest first."""
    d = checkpoint_dir(run_dir)
    if not d.is_dir():
        return []
    found = []
    for p in d.iterdir():
        m = _STEP_RE.match(p.name)
        if m and p.is_dir() and (p / "checkpoint.json").exists():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or None."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def check_checkpoint(folder: str | Path, which: tuple[str, ...] = ("model", "ema", "optimizer")) -> None:
    """Raise ValueError (naming the file) unless ``folder`` is an intact checkpoint: readable
    JSON, weight files matching their checksums (when recorded), readable safetensors, and
    finite model/EMA weights."""
    folder = Path(folder)
    try:
        info = read_info(folder)
    except (OSError, ValueError) as e:
        raise ValueError(f"{folder / 'checkpoint.json'}: unreadable ({' '.join(str(e).split())})") from None
    verify_files(folder, info)
    for w in which:
        tensors = read_tensors(folder, w)
        if w != "optimizer":
            check_finite(tensors, str(folder / f"{w}.safetensors"))


def latest_intact_checkpoint(run_dir: str | Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest checkpoint of a run that passes :func:`check_checkpoint`, and the newer ones
    skipped as ``[(folder, reason), ...]`` (newest first). ``(None, skipped)`` when none is intact."""
    skipped: list[tuple[Path, str]] = []
    for _, folder in reversed(list_checkpoints(run_dir)):
        try:
            check_checkpoint(folder)
        except ValueError as e:
            skipped.append((folder, str(e)))
            continue
        return folder, skipped
    return None, skipped


def resolve_checkpoint(path: str | Path) -> Path:
    """Accept a checkpoint folder, a run folder (-> its newest checkpoint) or a checkpoint.json."""
    p = Path(path)
    if p.is_file() and p.name == "checkpoint.json":
        p = p.parent
    if (p / "checkpoint.json").exists():
        return p
    latest = latest_checkpoint(p)
    if latest is None:
        raise FileNotFoundError(f"{p} is neither a checkpoint folder (no checkpoint.json) nor a run folder with checkpoints")
    return latest


def write_checkpoint(
    run_dir: str | Path,
    step: int,
    weights: dict[str, torch.Tensor],
    ema: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    info: dict[str, Any],
    keep: int = 3,
) -> Path:
    """Write checkpoint ``step`` atomically and return its folder.

    weights, ema : parameter/buffer name -> tensor. optimizer_state : ``optimizer.state_dict()``.
    info : JSON-able dict (configs, normaliser, provenance, ...); ``step`` is added.
    keep : number of newest checkpoints kept (older ones are deleted after the new one is in
        place); 0 keeps all.
    """
    root = checkpoint_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):  # left by a killed process
        shutil.rmtree(stale, ignore_errors=True)
    final = root / f"step_{step:07d}"
    tmp = root / f".tmp-step_{step:07d}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _save_tensors(weights, tmp / "model.safetensors")
        _save_tensors(ema, tmp / "ema.safetensors")
        opt_tensors, opt_meta = flatten_optimizer_state(optimizer_state)
        _save_tensors(opt_tensors, tmp / "optimizer.safetensors")
        checksums = {n: _file_checksum(tmp / n) for n in ("model.safetensors", "ema.safetensors",
                                                          "optimizer.safetensors")}
        body = dict(info, step=int(step), optimizer=opt_meta, checksums=checksums)
        with open(tmp / "checkpoint.json", "w") as f:
            json.dump(body, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        if final.exists():  # same step written again (e.g. a resumed run): replace it
            old = root / f".tmp-old-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep > 0:
        for _, old in list_checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def read_info(path: str | Path) -> dict[str, Any]:
    """checkpoint.json of a checkpoint (folder, run folder or the json file itself)."""
    p = resolve_checkpoint(path) / "checkpoint.json"
    with open(p) as f:
        try:
            return json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{p}: not valid JSON ({e}): corrupt checkpoint") from None


def read_tensors(path: str | Path, which: str = "ema") -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint: ``which`` in {"model", "ema", "optimizer"}."""
    if which not in ("model", "ema", "optimizer"):
        raise ValueError(f"which must be 'model', 'ema' or 'optimizer', got {which!r}")
    p = resolve_checkpoint(path) / f"{which}.safetensors"
    try:
        return load_file(str(p))
    except SafetensorError as e:
        raise ValueError(f"{p}: not a readable safetensors file ({e}): corrupt or truncated checkpoint") from None


def export_inference(src: str | Path, dst: str | Path, provenance: dict[str, Any] | None = None,
                     overwrite: bool = False, inputs: tuple[str | Path | None, ...] = ()) -> Path:
    """Write a generation-only copy of a checkpoint: its EMA weights and its JSON, no optimiser.

    src : checkpoint folder, run folder (newest checkpoint) or checkpoint.json; dst : new folder
    (replaced atomically). ``provenance`` entries are merged into the JSON's ``data`` block
    (e.g. a portable description of the training store instead of a local path). What
    :func:`heggs.checkpoint.load_checkpoint` (and ``HEGGS.load``) needs is kept; resuming training
    from the copy is not possible. Returns ``dst``.

    ``dst`` is claimed with :func:`heggs.folders.claim`: it may not be, hold or lie inside
    ``src`` (or ``inputs``, other files the caller reads), and a ``dst`` that is neither empty
    nor an export is refused unless ``overwrite``.
    """
    folder = resolve_checkpoint(src)
    with claim(dst, "export", (src, folder, *inputs), overwrite):
        return _export(folder, Path(dst), provenance)


def _export(folder: Path, dst: Path, provenance: dict[str, Any] | None) -> Path:
    """:func:`export_inference` once ``dst`` is claimed."""
    info = read_info(folder)
    info.pop("optimizer", None)
    info["weights"] = {"ema": "ema.safetensors"}
    if "checksums" in info:
        info["checksums"] = {k: v for k, v in info["checksums"].items() if k == "ema.safetensors"}
    info["exported_from"] = {"step": info.get("step"), "checkpoint": folder.name}
    if provenance:
        info["data"] = {**info.get("data", {}), **provenance}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f".tmp-{dst.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        shutil.copyfile(folder / "ema.safetensors", tmp / "ema.safetensors")
        (tmp / "checkpoint.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        if dst.exists():
            old = dst.parent / f".tmp-old-{dst.name}-{uuid.uuid4().hex[:8]}"
            os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def load_checkpoint(
    path: str | Path, ema: bool = True, device: str | torch.device = "cpu"
) -> tuple[HEGGSNet, ConditionNormalizer, dict[str, Any]]:
    """Load a trained model for generation: ``(model in eval mode, normalizer, info)``.

    path : a checkpoint folder, its checkpoint.json, or a run folder (its newest checkpoint).
    ema : load the EMA weights (default; what generation should use) or the online weights.
    info : the checkpoint.json dict (configs, provenance, training ranges, step, ...), plus
        ``info["path"]`` (the resolved checkpoint folder) and ``info["weights_loaded"]``.
    Raises ValueError naming the file for a corrupt checkpoint (checksum mismatch, unreadable
    safetensors) and for weights holding NaN or inf.
    """
    try:  # a bad --device is a user error, named before any file is read
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device {device!r} is not a torch device (use auto, cpu, cuda or cuda:K)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device} requested but torch sees no CUDA device (use --device cpu)")
    folder = resolve_checkpoint(path)
    info = read_info(folder)
    if info.get("format") != "heggs-checkpoint":
        raise ValueError(f"{folder} is not a HEGGS checkpoint (format={info.get('format')!r})")
    model = HEGGSNet(from_dict(ModelConfig, info["model_config"]))
    which = "ema" if ema else "model"
    recorded = (info.get("checksums") or {}).get(f"{which}.safetensors")
    if recorded is not None:
        verify_files(folder, {"checksums": {f"{which}.safetensors": recorded}})
    tensors = read_tensors(folder, which)
    check_finite(tensors, str(folder / f"{which}.safetensors"))
    model.load_state_dict(tensors, strict=True)
    model.to(dev).eval()
    normalizer = ConditionNormalizer.from_dict(info["normalizer"])
    info["path"] = str(folder)
    info["weights_loaded"] = "ema" if ema else "model"
    return model, normalizer, info
