"""Stage 1 — the canonical store (SeisBench format).

A store is a folder with ``metadata.csv`` and ``waveforms.hdf5`` laid out as SeisBench expects
(``data_format`` group, waveforms in ``data/``), so ``seisbench.data.WaveformDataset(path)``
opens it, and we can read SeisBench datasets the same way. Waveforms are stored in buckets:
one HDF5 dataset of shape ``(n_traces, n_components, n_samples)`` per bucket, and trace names
of the SeisBench form ``"bucket3$17,:3,:6000"``.

Writing is atomic: :class:`StoreWriter` writes into a sibling temporary folder and renames it
over the target only when :meth:`StoreWriter.close` succeeds, so a failure midway never leaves
a half-written store and re-running a job replaces the old store in one step. An empty result
never replaces a folder that holds something (an empty or mistyped input would otherwise wipe a
good store). Which folders a command may replace at all is decided by :mod:`heggs.folders`.

Column names follow SeisBench plus ours with units in the name (docs/data-contract.md).

Corruption is detected on open: the writer records the size and SHA-256 of ``waveforms.hdf5``
in the side file ``waveforms_checksum.json``; :class:`Store` compares the size on every open
(cheap: catches truncation) and the SHA-256 when the file is at most
:data:`VERIFY_SHA256_MAX_BYTES` (larger files only with ``Store(path, verify=True)``, e.g.
``heggs inspect``, so that opening a multi-GB store stays instant). Stores without the side
file (older ones, SeisBench datasets) are checked only for being readable HDF5.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterable

import h5py
import numpy as np
import pandas as pd

from .folders import FolderError

#: Columns every HEGGS store has, in this order (extra columns may follow).
COLUMNS: tuple[str, ...] = (
    "trace_name",
    "source_id",
    "source_origin_time",
    "source_latitude_deg",
    "source_longitude_deg",
    "source_depth_km",
    "source_magnitude",
    "source_magnitude_type",
    "station_network_code",
    "station_code",
    "station_location_code",
    "station_latitude_deg",
    "station_longitude_deg",
    "station_elevation_m",
    "trace_channel",
    "trace_sampling_rate_hz",
    "trace_start_time",
    "trace_npts",
    "trace_component_order",
    "trace_units",
    "trace_clipped",
    "trace_P_arrival_sample",
    "trace_S_arrival_sample",
    "trace_arrivals_source",
    "trace_valid_start_sample",
    "trace_valid_end_sample",
    "trace_band_min_hz",
    "trace_band_max_hz",
    "path_ep_distance_km",
    "path_azimuth_deg",
    "path_back_azimuth_deg",
    "split",
    "provenance",
)

#: Units a store may hold. Physical units are acceleration in m/s²; ``counts`` marks records
#: whose instrument response is unknown (shape-only use).
UNITS_PHYSICAL = "m/s2"
UNITS_COUNTS = "counts"

#: side file of a store: ``{"file": "waveforms.hdf5", "bytes": int, "sha256": hex}``
CHECKSUM_FILE = "waveforms_checksum.json"
#: stores up to this size have their SHA-256 verified on every open (about 0.3 s per 256 MB)
VERIFY_SHA256_MAX_BYTES = 256 * 2**20


#: free space kept beyond each bucket's bytes when writing (HDF5 metadata, metadata.csv)
SPACE_MARGIN_BYTES = 2**20


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (read in 1 MiB blocks)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


_TRACE_RE = re.compile(r"^(?P<bucket>[^$]+)\$(?P<row>\d+),:(?P<nc>\d+),:(?P<ns>\d+)$")


class StoreWriter:
    """Write a store atomically, bucket by bucket (memory bounded by one bucket).

    Parameters
    ----------
    path : target folder; replaced as a whole on successful :meth:`close`.
    component_order : e.g. ``"ENZ"``.
    sampling_rate_hz : sampling rate of every trace.
    n_samples : samples per trace.
    bucket_size : traces per HDF5 dataset.
    attrs : extra attributes stored in ``data_format`` (e.g. the window config as JSON).

    Use as a context manager; an exception inside the block discards everything written.
    """

    def __init__(
        self,
        path: str | Path,
        component_order: str,
        sampling_rate_hz: float,
        n_samples: int,
        bucket_size: int = 1024,
        attrs: dict[str, Any] | None = None,
    ):
        self.path = Path(path)
        self.component_order = component_order
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.n_samples = int(n_samples)
        self.bucket_size = int(bucket_size)
        self._tmp = self.path.parent / f".{self.path.name}.tmp-{uuid.uuid4().hex[:8]}"
        self._tmp.mkdir(parents=True)
        self._h5 = h5py.File(self._tmp / "waveforms.hdf5", "w")
        fmt = self._h5.create_group("data_format")
        fmt.attrs["component_order"] = component_order
        fmt.attrs["dimension_order"] = "CW"
        fmt.attrs["sampling_rate"] = self.sampling_rate_hz
        fmt.attrs["measurement"] = "acceleration"
        fmt.attrs["unit"] = "m/s2 (see metadata column trace_units; 'counts' where response unknown)"
        fmt.attrs["instrument_response"] = "removed where known"
        for k, v in (attrs or {}).items():
            fmt.attrs[k] = v if isinstance(v, (str, int, float)) else json.dumps(v)
        self._data = self._h5.create_group("data")
        self._rows: list[dict[str, Any]] = []
        self._buf: list[np.ndarray] = []
        self._bucket = 0
        self._closed = False

    def add(self, waveform: np.ndarray, metadata: dict[str, Any]) -> str:
        """Add one trace.

        waveform : (n_components, n_samples) float, store units (m/s² or counts).
        metadata : column -> value (``trace_name`` is assigned here and returned).
        """
        w = np.asarray(waveform, dtype=np.float32)
        want = (len(self.component_order), self.n_samples)
        if w.shape != want:
            raise ValueError(f"waveform shape {w.shape} != expected {want}")
        if not np.all(np.isfinite(w)):
            raise ValueError("waveform contains NaN or inf")
        name = f"bucket{self._bucket}${len(self._buf)},:{want[0]},:{want[1]}"
        row = dict(metadata)
        row["trace_name"] = name
        row.setdefault("trace_sampling_rate_hz", self.sampling_rate_hz)
        row.setdefault("trace_component_order", self.component_order)
        row.setdefault("trace_npts", self.n_samples)
        self._rows.append(row)
        self._buf.append(w)
        if len(self._buf) >= self.bucket_size:
            self._flush()
        return name

    def add_file(self, name: str, content: str | bytes) -> None:
        """Write a side file (e.g. the ingest report) into the store folder, atomically with it."""
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(self._tmp / name, mode) as f:
            f.write(content)

    def _flush(self) -> None:
        if not self._buf:
            return
        # HDF5 can crash the process (not raise) when a write fails on a full disk, so the
        # free space is checked before each bucket is handed to it
        need = sum(b.nbytes for b in self._buf) + SPACE_MARGIN_BYTES
        free = shutil.disk_usage(self._tmp).free
        if free < need:
            raise OSError(errno.ENOSPC, f"no space left on device ({free:,} bytes free, {need:,} needed)",
                          str(self.path))
        self._data.create_dataset(f"bucket{self._bucket}", data=np.stack(self._buf), chunks=(1, *self._buf[0].shape))
        self._buf = []
        self._bucket += 1

    def close(self) -> Path:
        """Finish writing and move the store into place (replacing an older one).

        Raises :class:`heggs.folders.FolderError` (and discards what was written) when no trace
        was added and ``path`` already holds something: an empty result never replaces it.
        """
        if self._closed:
            return self.path
        if not self._rows and self.path.is_dir() and any(self.path.iterdir()):
            self.abort()
            raise FolderError(f"{self.path}: the new result holds no records, so the existing folder was left as it "
                              "is (check the input paths)")
        try:
            self._flush()
        except BaseException:
            self.abort()
            raise
        self._h5.close()
        meta = pd.DataFrame(self._rows)
        if len(meta) and "trace_clipped" not in meta.columns:
            meta["trace_clipped"] = False  # writers that cannot clip (the simulator) leave it out
        cols = [c for c in COLUMNS if c in meta.columns] + [c for c in meta.columns if c not in COLUMNS]
        meta = meta.reindex(columns=cols)
        meta.to_csv(self._tmp / "metadata.csv", index=False)
        h5_path = self._tmp / "waveforms.hdf5"
        checksum = {"file": "waveforms.hdf5", "bytes": h5_path.stat().st_size, "sha256": file_sha256(h5_path)}
        (self._tmp / CHECKSUM_FILE).write_text(json.dumps(checksum, indent=2, sort_keys=True) + "\n")
        old = None
        if self.path.exists():
            old = self.path.parent / f".{self.path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(self.path, old)
        os.replace(self._tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Discard everything written so far."""
        if self._closed:
            return
        try:
            self._h5.close()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._closed = True

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


#: the split labels of a store's ``split`` column
SPLITS = ("train", "dev", "test")


def parse_splits(split: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """The splits a command covers: ``"test"`` -> ("test",); ``"test,dev"`` or ["test", "dev"]
    -> ("test", "dev"); ``"all"``, ``"none"``, ``""`` or None -> None (every record of the
    store). Unknown names raise ``ValueError``."""
    if split is None:
        return None
    names = [x.strip().lower() for x in (split.split(",") if isinstance(split, str) else split)]
    names = [x for x in names if x]
    if not names or names in (["all"], ["none"]):
        return None
    bad = [x for x in names if x not in SPLITS]
    if bad:
        raise ValueError(f"unknown split(s) {bad}: give one of {SPLITS}, a comma-separated list of them, or 'all'")
    return tuple(dict.fromkeys(names))


def assign_splits(
    source_ids: Iterable[str], fractions: tuple[float, float, float] = (0.8, 0.0, 0.2), seed: int = 0
) -> np.ndarray:
    """Split labels (``"train"``, ``"dev"``, ``"test"``) by EVENT, never by trace.

    Each source_id is hashed with ``seed`` to a number in [0, 1) that picks its split, so every
    trace of one event gets the same label, the result does not depend on order or on which
    other events are present (adding events never moves old ones), and it is reproducible.

    source_ids : (n,) event identifiers. Returns (n,) object array of labels.
    """
    import hashlib

    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or np.any(f < 0) or not np.isclose(f.sum(), 1.0):
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    edges = np.cumsum(f)
    labels = np.array(SPLITS, dtype=object)
    out = []
    cache: dict[str, str] = {}
    for sid in source_ids:
        sid = str(sid)
        if sid not in cache:
            h = hashlib.sha256(f"{seed}:{sid}".encode()).digest()
            u = int.from_bytes(h[:8], "big") / 2**64
            cache[sid] = labels[min(int(np.searchsorted(edges, u, side="right")), 2)]
        out.append(cache[sid])
    return np.array(out, dtype=object)


class Store:
    """Read a store (ours or any SeisBench-format dataset folder).

    ``metadata`` is a DataFrame (one row per trace). Waveforms are read lazily; the HDF5 file is
    opened on first access in each process, so a Store can be handed to DataLoader workers.

    verify : ``"auto"`` (size always, SHA-256 up to :data:`VERIFY_SHA256_MAX_BYTES`), ``True``
        (SHA-256 whatever the size) or ``False`` (size only) — see the module docstring. A
        corrupt or truncated store raises ``ValueError`` naming the file.
    """

    def __init__(self, path: str | Path, verify: bool | str = "auto"):
        self.path = Path(path)
        meta_path = self.path / "metadata.csv"
        if not meta_path.exists():
            raise FileNotFoundError(f"{self.path} is not a store: no metadata.csv")
        try:
            self.metadata = pd.read_csv(meta_path, low_memory=False)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{meta_path}: empty (no header, no records): not a store with records; "
                             "re-create it with heggs ingest or heggs simulate") from None
        except (ValueError, UnicodeDecodeError) as e:  # pandas' ParserError
            raise ValueError(f"{meta_path}: not a readable store table ({' '.join(str(e).split())})") from None
        if "trace_name" not in self.metadata.columns:
            raise ValueError(f"{meta_path}: no header with a trace_name column (first line: "
                             f"{','.join(map(str, self.metadata.columns))[:80]!r}): not a store table")
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self._check_waveforms(verify)

    def _check_waveforms(self, verify: bool | str) -> None:
        """Raise ValueError if waveforms.hdf5 is missing, truncated, altered or not HDF5."""
        h5_path = self.path / "waveforms.hdf5"
        if not h5_path.exists():
            raise FileNotFoundError(f"{self.path} is not a store: no waveforms.hdf5")
        side = self.path / CHECKSUM_FILE
        if side.exists():
            try:
                rec = json.loads(side.read_text())
                want_bytes, want_sha = int(rec["bytes"]), str(rec["sha256"])
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{side}: unreadable checksum file") from None
            size = h5_path.stat().st_size
            if size != want_bytes:
                raise ValueError(f"{h5_path}: corrupt store: {size} bytes, {want_bytes} when written "
                                 f"(truncated or altered; re-create the store)")
            if verify is True or (verify == "auto" and size <= VERIFY_SHA256_MAX_BYTES):
                if file_sha256(h5_path) != want_sha:
                    raise ValueError(f"{h5_path}: corrupt store: SHA-256 differs from the one recorded when "
                                     "it was written (re-create the store)")
        try:
            with h5py.File(h5_path, "r") as f:
                if "data" not in f:
                    raise ValueError(f"{h5_path}: not a store: no 'data' group")
        except OSError as e:
            raise ValueError(f"{h5_path}: not a readable HDF5 file ({' '.join(str(e).split())})") from None

    def identity(self) -> dict[str, Any]:
        """What identifies the store's content: ``{"path", "metadata_sha256", "waveforms_bytes",
        "waveforms_sha256"}`` (the last from the checksum side file, None without one)."""
        side = self.path / CHECKSUM_FILE
        sha = json.loads(side.read_text()).get("sha256") if side.exists() else None
        return {"path": str(self.path.resolve()), "metadata_sha256": file_sha256(self.path / "metadata.csv"),
                "waveforms_bytes": (self.path / "waveforms.hdf5").stat().st_size, "waveforms_sha256": sha}

    def _file(self) -> h5py.File:
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = h5py.File(self.path / "waveforms.hdf5", "r")
            self._pid = os.getpid()
        return self._h5

    @property
    def data_format(self) -> dict[str, Any]:
        return dict(self._file()["data_format"].attrs)

    def __len__(self) -> int:
        return len(self.metadata)

    def waveform(self, index: int) -> np.ndarray:
        """(n_components, n_samples) float32 of row ``index``, in the row's ``trace_units``."""
        return self.waveform_by_name(str(self.metadata["trace_name"].iloc[index]))

    def waveform_by_name(self, trace_name: str) -> np.ndarray:
        m = _TRACE_RE.match(trace_name)
        try:
            data = self._file()["data"]
            if m is None:
                return np.asarray(data[trace_name], dtype=np.float32)
            return np.asarray(data[m["bucket"]][int(m["row"]), : int(m["nc"]), : int(m["ns"])], dtype=np.float32)
        except (OSError, KeyError) as e:
            raise ValueError(f"{self.path / 'waveforms.hdf5'}: cannot read trace {trace_name} "
                             f"({' '.join(str(e).split())}): corrupt store") from None

    def waveforms(self, indices: Iterable[int]) -> np.ndarray:
        """(len(indices), n_components, n_samples) float32."""
        return np.stack([self.waveform(i) for i in indices])

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
