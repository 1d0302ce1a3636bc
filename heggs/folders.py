"""Stage 0 (output folders) — where a command may write, one writer at a time, no leftovers.

Every command that writes a folder (``heggs ingest``/``simulate`` a store, ``train`` a run,
``export`` a model, ``generate`` records, ``evaluate`` a report) claims it here first
(:func:`claim`), so that no command ever deletes or mixes into data it did not write:

- The folder must be new, empty, or already a HEGGS folder of the same *kind*. Kinds are
  recognised by the files the project writes (:func:`folder_kind`): a store has
  ``metadata.csv`` + ``waveforms.hdf5``, a run ``checkpoints/`` or ``log.jsonl``, an export
  ``checkpoint.json``; runs, generation and evaluation folders also carry a marker file
  ``.heggs-run`` / ``.heggs-generation`` / ``.heggs-evaluation`` (:func:`mark`). Anything else — a user's
  folder, or a HEGGS folder of another kind — is refused unless the caller passes
  ``overwrite=True`` (``--overwrite``).
- A folder that is, holds, or lies inside one of the command's INPUTS is refused always, even
  with ``overwrite``: replacing it would destroy the input (``heggs ingest ARCHIVE --out ARCHIVE``).
- ``--out`` that is an existing file, or lies below one, is refused.
- One writer per folder: an exclusive ``fcntl.flock`` on ``.<name>.lock`` beside the folder
  (beside, because stores and exports are replaced by renaming the folder). A second writer
  fails at once, naming the holder's pid. The lock file is removed on release.
- Scratch left by a killed writer (hidden ``.<name>.tmp-*`` / ``.old-*`` / ``.scratch-*``
  folders beside the folder, ``.tmp-<name>-*`` of exports, ``*.tmp`` files and hidden
  temporaries inside it, ``checkpoints/.tmp-*`` of runs) is removed once the lock is held.

Every refusal is a :class:`FolderError`: one line naming the folder and what is wrong (a
``ValueError``; the command line prints it as ``error: ...`` and exits with status 1).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator


#: kinds of HEGGS output folders
KINDS = ("store", "run", "export", "generation", "evaluation")
#: kinds that carry a marker file (nothing else in them is recognisable)
MARKED_KINDS = ("run", "generation", "evaluation")

_DESCRIPTION = {"store": "a HEGGS store", "run": "a HEGGS training run", "export": "a HEGGS model export",
                "generation": "a HEGGS generation folder", "evaluation": "a HEGGS evaluation folder"}

# scratch names the project's atomic writes use (heggs/store.py, heggs/ingest/run.py,
# heggs/checkpoint.py, heggs/output.py, heggs/train.py); ``{name}`` is the folder's name
_BESIDE = (r"\.{name}\.tmp-[0-9a-f]{{8}}", r"\.{name}\.old-[0-9a-f]{{8}}", r"\.{name}\.scratch-[A-Za-z0-9_]{{8}}",
           r"\.tmp-{name}-[0-9a-f]{{8}}", r"\.tmp-old-{name}-[0-9a-f]{{8}}")
_HIDDEN = r"\..+\.(tmp|old)-[0-9a-f]{8}|\..+\.scratch-[A-Za-z0-9_]{8}|\.tmp-.+-[0-9a-f]{8}"
_HIDDEN_SCRATCH = re.compile(f"^({_HIDDEN})$")
_INSIDE = re.compile(f"^({_HIDDEN}|[^.].*\\.tmp)$")


class FolderError(ValueError):
    """An output folder that may not be written; the message is one line naming it."""


def marker(kind: str) -> str:
    """Name of the marker file of ``kind`` (e.g. ``.heggs-generation``)."""
    return f".heggs-{kind}"


def lock_path(folder: str | Path, tag: str = "") -> Path:
    """The lock file of ``folder``: ``.<name><tag>.lock`` beside it."""
    p = Path(folder).resolve()
    return p.parent / f".{p.name}{tag}.lock"


def _entries(folder: Path) -> list[Path]:
    """What ``folder`` holds apart from HEGGS markers and scratch."""
    markers = {marker(k) for k in KINDS}
    return sorted(p for p in folder.iterdir() if p.name not in markers and not _HIDDEN_SCRATCH.match(p.name))


_GENERATED = re.compile(r"^([^.][^/]*\.(mseed|mseed\.json|sac|png)|generated(\.rank\d+)?(\.h5)?)$")


def folder_kind(path: str | Path) -> str | None:
    """The kind of HEGGS folder ``path`` is (one of :data:`KINDS`), or None.

    Marker files first; then a store (``metadata.csv`` and ``waveforms.hdf5``), a run
    (``checkpoints/`` or ``log.jsonl``), an export or checkpoint (``checkpoint.json``), an
    evaluation written before markers existed (``report.md`` + ``summary.csv``, or
    ``real_picks.csv``), a generation folder written before markers existed (only generated
    record files: ``*.mseed`` with ``.json`` sidecars, ``*.sac``, ``*.png``, ``generated*``).
    """
    p = Path(path)
    if not p.is_dir():
        return None
    for k in KINDS:
        if (p / marker(k)).is_file():
            return k
    if (p / "metadata.csv").is_file() and (p / "waveforms.hdf5").is_file():
        return "store"
    if (p / "checkpoints").is_dir() or (p / "log.jsonl").is_file():
        return "run"
    if (p / "checkpoint.json").is_file():
        return "export"
    if ((p / "report.md").is_file() and (p / "summary.csv").is_file()) or (p / "real_picks.csv").is_file():
        return "evaluation"
    names = [e.name for e in _entries(p)]
    if names and all(_GENERATED.match(n) for n in names) and any(
            n.endswith(".mseed.json") or n.endswith(".sac") or n.startswith("generated") for n in names):
        return "generation"
    return None


def describe(path: str | Path) -> str:
    """What a folder holds, in a few words (for the one-line refusals)."""
    p = Path(path)
    kind = folder_kind(p)
    if kind is not None:
        return _DESCRIPTION[kind]
    entries = _entries(p)
    shown = ", ".join(e.name + ("/" if e.is_dir() else "") for e in entries[:3])
    more = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
    return f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} not written by HEGGS ({shown}{more})"


def check_output(out: str | Path, kind: str, inputs: Iterable[str | Path | None] = (),
                 overwrite: bool = False) -> Path:
    """Refuse an output folder this command may not write; return it resolved.

    out : the folder. kind : what the command writes there (one of :data:`KINDS`).
    inputs : paths the command reads (None entries are ignored); ``out`` may neither be, hold,
        nor lie inside one of them, whatever ``overwrite`` says.
    overwrite : allow a folder that is not empty and not of ``kind`` (a user's folder, or a
        HEGGS folder of another kind).
    Raises :class:`FolderError` (one line naming the folder) and has no side effects.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown folder kind {kind!r}; known: {', '.join(KINDS)}")
    given = Path(out)
    r = given.resolve()
    if r.exists() and not r.is_dir():
        raise FolderError(f"output folder {given} is an existing file, not a folder; choose a folder path")
    for a in r.parents:
        if a.exists():
            if not a.is_dir():
                raise FolderError(f"output folder {given} lies below the file {a}; choose a folder path")
            break
    for inp in inputs:
        if inp is None or str(inp) == "":
            continue
        i = Path(inp).resolve()
        if r == i or r in i.parents:
            raise FolderError(f"output folder {given} {'is' if r == i else 'holds'} the input {inp}: writing it "
                              "would destroy the input; choose a folder outside the inputs")
        if i in r.parents:
            raise FolderError(f"output folder {given} lies inside the input {inp}; choose a folder outside the inputs")
    if not r.exists() or folder_kind(r) == kind or not _entries(r) or overwrite:
        return r
    raise FolderError(f"output folder {given} holds {describe(r)}, not {_DESCRIPTION[kind]}; choose another folder, "
                      "or pass --overwrite to use it anyway")


@contextmanager
def lock(folder: str | Path, tag: str = "") -> Iterator[Path]:
    """Hold the exclusive writer lock of ``folder`` (file ``.<name><tag>.lock`` beside it).

    A second writer fails at once with a :class:`FolderError` naming the folder and the pid of
    the holder. The lock file is removed on release (a stale one left by a killed process holds
    no lock and is reused).
    """
    path = lock_path(folder, tag)
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise FolderError(f"cannot write the output folder {folder}: {(e.strerror or str(e)).lower()} "
                              f"({e.filename or path})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            try:
                pid = path.read_text().strip() or "unknown"
            except OSError:
                pid = "unknown"
            raise FolderError(f"output folder {folder} is being written by another heggs process (pid {pid}, lock "
                              f"{path}); wait for it to finish or choose another folder") from None
        try:  # the file may have been removed by the previous holder between open and flock
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.close(fd)


def clean_scratch(folder: str | Path) -> list[Path]:
    """Remove scratch a killed writer of ``folder`` left; returns what was removed.

    Call with the lock held (:func:`lock`): beside the folder, its hidden temporary and old
    copies; inside it (only when it is a HEGGS folder), hidden temporaries, ``*.tmp`` files and
    a run's ``checkpoints/.tmp-*``.
    """
    p = Path(folder).resolve()
    removed: list[Path] = []
    if p.parent.is_dir():
        beside = re.compile("^(" + "|".join(b.format(name=re.escape(p.name)) for b in _BESIDE) + ")$")
        removed += [q for q in p.parent.iterdir() if beside.match(q.name)]
    if folder_kind(p) is not None:
        removed += [q for q in p.iterdir() if _INSIDE.match(q.name)]
        ck = p / "checkpoints"
        if ck.is_dir():
            removed += [q for q in ck.iterdir() if q.name.startswith(".tmp-")]
    for q in removed:
        if q.is_dir() and not q.is_symlink():
            shutil.rmtree(q, ignore_errors=True)
        else:
            q.unlink(missing_ok=True)
    return removed


@contextmanager
def claim(out: str | Path, kind: str, inputs: Iterable[str | Path | None] = (), overwrite: bool = False,
          tag: str = "") -> Iterator[Path]:
    """Check, lock and clean the output folder ``out`` for the time of the block.

    :func:`check_output` (refusals), :func:`lock` (one writer; ``tag`` names a separate lock,
    e.g. one per torchrun shard writing its own files, which then leaves scratch cleaning
    alone: another shard may be writing), :func:`clean_scratch`. Yields the resolved folder;
    nothing is created here (the writer calls :func:`mark` when it creates the folder).
    """
    check_output(out, kind, inputs, overwrite)
    with lock(out, tag):
        path = check_output(out, kind, inputs, overwrite)  # again, now that no one else writes
        if not tag:
            clean_scratch(path)
        yield path


def mark(folder: str | Path, kind: str) -> Path:
    """Create ``folder`` (if new) with the marker file of ``kind`` (:data:`MARKED_KINDS`)."""
    if kind not in MARKED_KINDS:
        raise ValueError(f"{kind!r} folders are recognised by their files and carry no marker")
    p = Path(folder)
    p.mkdir(parents=True, exist_ok=True)
    (p / marker(kind)).touch()
    return p
