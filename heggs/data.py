"""Stage 2 — from a store to training pairs: condition vector, normaliser, event splits, pairs.

This stage turns a canonical store (``heggs.store``; any SeisBench-format dataset works too)
into what the model trains on:

* :func:`condition_features` / :func:`condition_vector` — the 11-feature minimal condition of a
  record (docs/data-contract.md), the same code path for stored records and for scenario inputs, and
  :class:`ConditionNormalizer` — per-feature standardisation fitted on the TRAINING split only
  and saved with the model as JSON (never hard-coded statistics). Both live in
  ``heggs.condition`` and are re-exported here.
* :func:`event_split` / :func:`assert_no_event_leak` — splits by event (``source_id``).
* :class:`PairDataset` — one item per target record: the target, a source record of the SAME
  event at a different station (or the target itself with probability ``p_same``), their
  valid ranges, band limits, normalised conditions, units flags and a per-item noise seed.
* :func:`training_ranges` — the ranges of the training data, stored in checkpoints so that
  generation outside them warns (``heggs.scenario.check_training_ranges``).

Pair contract (fixed; the model and training stages rely on it) — ``PairDataset[i]`` is a dict:

========================  ==================  ====================================================
key                       dtype / shape       meaning
========================  ==================  ====================================================
``src``, ``tgt``          float32 (3, n)      waveforms in store units (m/s² or counts), E-N-Z
``src_valid``,            int64 (2,)          ``[valid_start_sample, valid_end_sample)``, end
``tgt_valid``                                 exclusive; full trace when the store has no columns
``src_band_max_hz``,      float32 ()          upper band edge; default 0.9 × Nyquist of the trace
``tgt_band_max_hz``
``c_src``, ``c_tgt``      float32 (11,)       normalised condition (:data:`FEATURE_NAMES` order)
``same``                  bool ()             the source IS the target record
``src_physical``,         bool ()             ``trace_units == "m/s2"`` and not ``trace_clipped``
``tgt_physical``
``src_index``,            int64 ()            row in the store's metadata
``tgt_index``
``noise_seed``            int64 ()            from (seed, epoch, tgt_index): seed a
                                              ``torch.Generator`` with it to draw t and ε, so the
                                              result does not depend on batch size or on the
                                              number of DDP processes
``src_arrivals_s``,       float32 (2,)        TauP (iasp91) first P and S times from distance and
``tgt_arrivals_s``                            depth, s after the trace start (NaN when unknown);
                                              the model's time channels use them, the same
                                              TauP times it computes at generation
``tgt_distance_km``,      float32 ()          raw epicentral distance and source depth of the
``tgt_depth_km``                              target (the model records how to un-normalise them)
========================  ==================  ====================================================
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .condition import (
    DEFAULT_STD_FLOOR,
    FEATURE_NAMES,
    N_FEATURES,
    ConditionNormalizer,
    condition_features,
    condition_vector,
)
from .store import SPLITS, UNITS_PHYSICAL, Store, assign_splits

# --- splits (labels: heggs.store.SPLITS) ------------------------------------------------------


def event_split(
    meta: pd.DataFrame,
    fractions: tuple[float, float, float] = (0.8, 0.0, 0.2),
    seed: int = 0,
    resplit: bool = False,
) -> pd.Series:
    """Split label (``train``/``dev``/``test``) per row, by event (``source_id``).

    When ``meta`` already has a complete ``split`` column (ingest writes one) it is used as is,
    unless ``resplit``; otherwise :func:`heggs.store.assign_splits` (hash of source_id and
    ``seed``, stable when events are added) assigns one. An existing split that puts one event
    in two splits raises ``ValueError`` (re-split with ``resplit=True``).

    Returns a Series aligned with ``meta.index``.
    """
    if "source_id" not in meta.columns:
        raise ValueError("metadata has no source_id column: cannot split by event (pairs need events too)")
    if not resplit and "split" in meta.columns and meta["split"].notna().all():
        split = meta["split"].astype(str).str.strip().str.lower()
        bad = sorted(set(split) - set(SPLITS))
        if bad:
            raise ValueError(f"unknown split label(s) {bad}; expected {SPLITS}")
        assert_no_event_leak(meta.assign(split=split))
        return split.rename("split")
    if not resplit and "split" in meta.columns and meta["split"].notna().any():
        warnings.warn(f"{int(meta['split'].isna().sum())} record(s) have no split label: re-splitting all "
                      f"events with fractions {fractions}, seed {seed}")
    labels = assign_splits(meta["source_id"].astype(str), fractions=fractions, seed=seed)
    return pd.Series(labels, index=meta.index, name="split")


def assert_no_event_leak(meta: pd.DataFrame) -> None:
    """Raise ``ValueError`` naming the events whose records lie in more than one split."""
    n = meta.groupby(meta["source_id"].astype(str))["split"].nunique()
    leaked = n[n > 1]
    if len(leaked):
        ex = ", ".join(map(str, leaked.index[:5]))
        raise ValueError(
            f"{len(leaked)} event(s) have records in more than one split (e.g. {ex}): splits must be "
            "by event; re-split with event_split(..., resplit=True)"
        )


# --- training ranges -------------------------------------------------------------------------


def training_ranges(meta: pd.DataFrame) -> dict[str, Any]:
    """Ranges of the training data, JSON-serialisable, for the checkpoint.

    Keys ``magnitude``, ``distance_km``, ``depth_km``, ``latitude``, ``longitude`` (event box),
    ``station_latitude``, ``station_longitude`` are ``[min, max]`` (the keys
    ``heggs.scenario.check_training_ranges`` reads); ``magnitude_types`` and ``units`` map value
    -> number of records; ``n_events``, ``n_records``.
    """
    feats = condition_features(meta)

    def rng(x: np.ndarray) -> list[float] | None:
        x = x[np.isfinite(x)]
        return [float(x.min()), float(x.max())] if len(x) else None

    def counts(c: str) -> dict[str, int]:
        if c not in meta.columns:
            return {}
        return {str(k): int(v) for k, v in meta[c].fillna("unknown").astype(str).value_counts().items()}

    return {
        "magnitude": rng(feats[:, 5]),
        "distance_km": rng(feats[:, 6]),
        "depth_km": rng(feats[:, 4]),
        "latitude": rng(feats[:, 2]),
        "longitude": rng(feats[:, 3]),
        "station_latitude": rng(feats[:, 0]),
        "station_longitude": rng(feats[:, 1]),
        "magnitude_types": counts("source_magnitude_type"),
        "units": counts("trace_units"),
        "n_events": int(meta["source_id"].nunique()) if "source_id" in meta.columns else 0,
        "n_records": int(len(meta)),
    }


# --- pairs -----------------------------------------------------------------------------------


def _seed_int(*keys: int) -> int:
    """A non-negative int64 derived from integer keys (stable across platforms and runs)."""
    a, b = np.random.SeedSequence([int(k) % 2**64 for k in keys]).generate_state(2, dtype=np.uint32)
    return int((int(a) << 31) ^ int(b)) & 0x7FFF_FFFF_FFFF_FFFF


def station_keys(meta: pd.DataFrame) -> np.ndarray:
    """(n,) str station identity ``"NET.STA"`` per row (co-located instruments share it; rows
    without a station_code column fall back to rounded coordinates)."""
    parts = []
    for c in ("station_network_code", "station_code"):
        parts.append(meta[c].fillna("").astype(str) if c in meta.columns else pd.Series("", index=meta.index))
    key = parts[0] + "." + parts[1]
    if "station_code" not in meta.columns:  # no station identity: fall back to coordinates
        key = meta["station_latitude_deg"].round(4).astype(str) + "," + meta["station_longitude_deg"].round(4).astype(str)
    return key.to_numpy()


class PairDataset(torch.utils.data.Dataset):
    """Training pairs of one split of a store; see the module docstring for the item contract.

    Parameters
    ----------
    store : :class:`heggs.store.Store` or a path to one (any SeisBench-format folder).
    split : ``"train"``, ``"dev"``, ``"test"`` or None (all records).
    normalizer : fitted :class:`ConditionNormalizer`. None fits one on the store's TRAIN split
        (never on the requested split), available as ``.normalizer``.
    p_same : probability that the source is the target itself (always so when the event has no
        other station in the split).
    seed : base seed of the source draws and of ``noise_seed``.
    physical_only : keep only records in physical units (``trace_units == "m/s2"``), not clipped.
    min_stations : keep only events with at least this many stations in the (filtered) split.
    components : component order of the returned waveforms; the stored order (per row
        ``trace_component_order`` or the file's ``component_order``) is permuted to it.
    fractions, split_seed : when ``fractions`` is given, re-split by event with these fractions
        instead of using the store's ``split`` column (see :func:`event_split`).

    Items depend only on (seed, epoch, index): call :meth:`set_epoch` before each epoch (before
    creating the DataLoader iterator; with ``persistent_workers=True`` the workers keep the
    epoch they started with, as with ``DistributedSampler``). Rows whose condition cannot be
    computed (NaN coordinate, depth or magnitude) are dropped with a warning.
    """

    def __init__(
        self,
        store: Store | str | Path,
        split: str | None = "train",
        normalizer: ConditionNormalizer | None = None,
        p_same: float = 0.2,
        seed: int = 0,
        physical_only: bool = False,
        min_stations: int = 1,
        components: str = "ENZ",
        fractions: tuple[float, float, float] | None = None,
        split_seed: int = 0,
    ):
        self.store = store if isinstance(store, Store) else Store(store)
        if not 0.0 <= p_same <= 1.0:
            raise ValueError(f"p_same must be in [0, 1], got {p_same}")
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
        self.split, self.p_same, self.seed = split, float(p_same), int(seed)
        self.physical_only, self.min_stations, self.components = physical_only, int(min_stations), components
        self.epoch = 0
        meta = self.store.metadata
        n = len(meta)
        splits = event_split(meta, fractions or (0.8, 0.0, 0.2), seed=split_seed, resplit=fractions is not None)
        raw = condition_features(meta)
        if normalizer is None:
            train = (splits == "train").to_numpy()
            if not train.any():
                raise ValueError(f"{self.store.path}: no training records to fit the condition normaliser on")
            normalizer = ConditionNormalizer.fit(raw[train], fit_split="train")
        self.normalizer = normalizer
        finite = np.all(np.isfinite(raw), axis=1)
        self._cond = np.zeros((n, N_FEATURES), dtype=np.float32)
        self._cond[finite] = normalizer.transform(raw[finite])

        try:
            fmt = self.store.data_format
        except Exception:  # noqa: BLE001 - SeisBench datasets may lack the data_format group
            fmt = {}
        fmt_order = str(fmt.get("component_order", "")) or components
        if "trace_component_order" in meta.columns:
            orders = meta["trace_component_order"].fillna(fmt_order).astype(str).to_numpy()
        else:
            orders = np.full(n, fmt_order, dtype=object)
        self._perm = {o: self._permutation(o) for o in set(orders)}
        self._orders = orders
        self._units = meta["trace_units"].astype(str).to_numpy() if "trace_units" in meta.columns else np.full(n, "")
        # clipped records (ingest's trace_clipped) are shape only, like counts: no amplitude loss terms
        clipped = meta["trace_clipped"].astype(str).str.lower().isin(("true", "1")).to_numpy() \
            if "trace_clipped" in meta.columns else np.zeros(n, bool)
        self._physical = (self._units == UNITS_PHYSICAL) & ~clipped
        default_sr = float(fmt.get("sampling_rate", np.nan))
        if "trace_sampling_rate_hz" in meta.columns:
            sr = pd.to_numeric(meta["trace_sampling_rate_hz"], errors="coerce")
        else:
            sr = pd.Series(default_sr, index=meta.index)
        self._sr = sr.fillna(default_sr).to_numpy(dtype=np.float64)
        self._band = self._col("trace_band_max_hz", 0.9 * self._sr / 2.0).astype(np.float32)
        self._v0 = self._col("trace_valid_start_sample", np.full(n, -1.0))
        self._v1 = self._col("trace_valid_end_sample", np.full(n, -1.0))
        self._names = meta["trace_name"].astype(str).to_numpy()
        # raw distance/depth and the trace start relative to the origin, for TauP arrivals
        self._dist = raw[:, FEATURE_NAMES.index("path_ep_distance_km")].astype(np.float64)
        self._depth = raw[:, FEATURE_NAMES.index("source_depth_km")].astype(np.float64)
        if {"trace_start_time", "source_origin_time"} <= set(meta.columns):
            start = pd.to_datetime(meta["trace_start_time"], utc=True, errors="coerce", format="ISO8601")
            origin = pd.to_datetime(meta["source_origin_time"], utc=True, errors="coerce", format="ISO8601")
            self._offset = ((start - origin).dt.total_seconds()).fillna(0.0).to_numpy(dtype=np.float64)
        else:
            self._offset = np.zeros(n)
        self._arrivals: dict[int, np.ndarray] = {}

        keep = finite.copy()
        if split is not None:
            keep &= (splits == split).to_numpy()
        if physical_only:
            keep &= self._physical
        n_nan = int((~finite & ((splits == split).to_numpy() if split else True)).sum())
        if n_nan:
            warnings.warn(f"{n_nan} record(s) of split {split!r} dropped: NaN coordinate, depth or magnitude")
        stations = station_keys(meta)
        sid = meta["source_id"].astype(str).to_numpy()
        rows = np.flatnonzero(keep)
        groups = pd.Series(rows).groupby(sid[rows]).apply(list).to_dict() if len(rows) else {}
        self._targets: list[int] = []
        self._others: dict[int, np.ndarray] = {}
        self._n_stations: dict[str, int] = {}
        for ev, members in groups.items():
            n_sta = len(set(stations[members]))
            if n_sta < self.min_stations:
                continue
            self._n_stations[ev] = n_sta
            for r in members:
                self._targets.append(r)
                self._others[r] = np.array([m for m in members if stations[m] != stations[r]], dtype=np.int64)
        self._targets.sort()
        if not self._targets:
            warnings.warn(f"{self.store.path}: no target records in split {split!r} (physical_only={physical_only}, "
                          f"min_stations={min_stations})")
        if n and sr.nunique(dropna=True) > 1 and len(self._targets):
            rates = sorted(set(self._sr[self._targets].tolist()))
            if len(rates) > 1:
                raise ValueError(f"records of split {split!r} have several sampling rates {rates}: resample first")

    def _col(self, name: str, default: np.ndarray) -> np.ndarray:
        meta = self.store.metadata
        if name not in meta.columns:
            return np.asarray(default, dtype=np.float64)
        v = pd.to_numeric(meta[name], errors="coerce").to_numpy(dtype=np.float64)
        return np.where(np.isfinite(v), v, default)

    def _permutation(self, order: str) -> np.ndarray | None:
        if order == self.components or not order:
            return None
        try:
            return np.array([order.index(c) for c in self.components])
        except ValueError:
            raise ValueError(f"stored component order {order!r} lacks a component of {self.components!r}") from None

    # -- torch Dataset --------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._targets)

    def set_epoch(self, epoch: int) -> None:
        """Select the source draws and noise seeds of ``epoch`` (like DistributedSampler)."""
        self.epoch = int(epoch)

    def source_of(self, index: int) -> int:
        """Store row of the source of item ``index`` in the current epoch."""
        tgt = self._targets[index]
        others = self._others[tgt]
        if len(others) == 0:
            return tgt
        rng = np.random.default_rng(_seed_int(self.seed, self.epoch, tgt, 0))
        if rng.random() < self.p_same:
            return tgt
        return int(others[rng.integers(len(others))])

    def _waveform(self, row: int) -> np.ndarray:
        w = self.store.waveform_by_name(self._names[row])
        perm = self._perm.get(self._orders[row])
        return w[perm] if perm is not None else w

    def _valid(self, row: int, n_samples: int) -> torch.Tensor:
        v0 = int(self._v0[row]) if self._v0[row] >= 0 else 0
        v1 = int(self._v1[row]) if self._v1[row] >= 0 else n_samples
        v0, v1 = min(max(v0, 0), n_samples), min(max(v1, 0), n_samples)
        return torch.tensor([v0, max(v0, v1)], dtype=torch.int64)

    def arrivals(self, row: int, model: str = "iasp91") -> np.ndarray:
        """TauP first P and S times (2,) float32, s after the trace start, of store row ``row``
        (NaN when distance or depth is unknown or out of the tables' range). Cached per row."""
        if row not in self._arrivals:
            from .traveltimes import get_table

            out = np.full(2, np.nan, dtype=np.float32)
            d, h = self._dist[row], self._depth[row]
            if np.isfinite(d) and np.isfinite(h):
                try:
                    tt = get_table(model).lookup([d], [h])
                    out[:] = [tt["p_time_s"][0] - self._offset[row], tt["s_time_s"][0] - self._offset[row]]
                except ValueError:
                    pass
            self._arrivals[row] = out
        return self._arrivals[row]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self._targets):
            raise IndexError(f"index {index} out of range for {len(self._targets)} targets")
        tgt = self._targets[index]
        src = self.source_of(index)
        w_tgt = self._waveform(tgt)
        w_src = w_tgt if src == tgt else self._waveform(src)
        return {
            "src": torch.from_numpy(np.ascontiguousarray(w_src, dtype=np.float32)),
            "tgt": torch.from_numpy(np.ascontiguousarray(w_tgt, dtype=np.float32)),
            "src_valid": self._valid(src, w_src.shape[-1]),
            "tgt_valid": self._valid(tgt, w_tgt.shape[-1]),
            "src_band_max_hz": torch.tensor(self._band[src], dtype=torch.float32),
            "tgt_band_max_hz": torch.tensor(self._band[tgt], dtype=torch.float32),
            "c_src": torch.from_numpy(self._cond[src].copy()),
            "c_tgt": torch.from_numpy(self._cond[tgt].copy()),
            "same": torch.tensor(src == tgt),
            "src_physical": torch.tensor(bool(self._physical[src])),
            "tgt_physical": torch.tensor(bool(self._physical[tgt])),
            "src_index": torch.tensor(src, dtype=torch.int64),
            "tgt_index": torch.tensor(tgt, dtype=torch.int64),
            "noise_seed": torch.tensor(_seed_int(self.seed, self.epoch, tgt, 1), dtype=torch.int64),
            "src_arrivals_s": torch.from_numpy(self.arrivals(src).copy()),
            "tgt_arrivals_s": torch.from_numpy(self.arrivals(tgt).copy()),
            "tgt_distance_km": torch.tensor(self._dist[tgt], dtype=torch.float32),
            "tgt_depth_km": torch.tensor(self._depth[tgt], dtype=torch.float32),
        }

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers started with "spawn" pickle the dataset: hand them the store
        # without its open HDF5 handle (each process opens its own).
        state = dict(self.__dict__)
        st = copy.copy(self.store)
        if getattr(st, "_h5", None) is not None:
            st._h5, st._pid = None, None
        state["store"] = st
        return state

    # -- summaries ------------------------------------------------------------------------

    @property
    def target_indices(self) -> np.ndarray:
        """(len(self),) int64 store rows of the targets, in item order."""
        return np.asarray(self._targets, dtype=np.int64)

    def pair_counts(self) -> dict[str, int]:
        """Events, targets, events with ≥ 2 stations, targets that always pair with themselves."""
        return {
            "events": len(self._n_stations),
            "targets": len(self._targets),
            "paired_events": sum(1 for v in self._n_stations.values() if v >= 2),
            "self_only_targets": sum(1 for t in self._targets if len(self._others[t]) == 0),
            "physical_targets": int(self._physical[self._targets].sum()) if self._targets else 0,
        }

    def summary(self) -> str:
        c = self.pair_counts()
        return (
            f"PairDataset({self.store.path.name}, split={self.split}): {c['targets']} targets in {c['events']} "
            f"events, {c['paired_events']} events with >= 2 stations, {c['self_only_targets']} targets without "
            f"another station, {c['physical_targets']} in m/s2; p_same={self.p_same}, epoch={self.epoch}"
        )

    def __repr__(self) -> str:
        return self.summary()


def normalizer_for(store: Store | str | Path, split_seed: int = 0,
                   fractions: tuple[float, float, float] | None = None) -> ConditionNormalizer:
    """Fit a :class:`ConditionNormalizer` on the train split of ``store`` (convenience)."""
    st = store if isinstance(store, Store) else Store(store)
    splits = event_split(st.metadata, fractions or (0.8, 0.0, 0.2), seed=split_seed, resplit=fractions is not None)
    raw = condition_features(st.metadata)
    return ConditionNormalizer.fit(raw[(splits == "train").to_numpy()])


__all__ = [
    "DEFAULT_STD_FLOOR",
    "FEATURE_NAMES",
    "N_FEATURES",
    "ConditionNormalizer",
    "PairDataset",
    "assert_no_event_leak",
    "condition_features",
    "condition_vector",
    "event_split",
    "normalizer_for",
    "station_keys",
    "training_ranges",
]
