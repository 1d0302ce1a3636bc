"""Stage 0 — configuration.

Plain dataclasses for every stage, with defaults that follow the paper (60 s from the origin,
100 Hz, E-N-Z, 1–45 Hz). They load from and save to JSON so that a store or a checkpoint can
carry the exact configuration that produced it. Only ``model``, ``train`` and ``cli`` turn
these into objects; building blocks take plain arguments.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


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
    #: 1-D model used by TauP for theoretical arrivals
    velocity_model: str = "iasp91"
    #: fraction of events (by source_id) in each split
    split_fractions: tuple[float, float, float] = (0.8, 0.0, 0.2)
    split_seed: int = 0


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from a (possibly nested, possibly partial) dict.

    Unknown keys raise ``ValueError`` naming the key, so typos in user configs are caught.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise ValueError(f"unknown config key {key!r} for {cls.__name__}; known: {sorted(fields)}")
        f = fields[key]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default  # type: ignore[misc]
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value = _from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-serialisable dict of a config dataclass (nested)."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Inverse of :func:`to_dict`; missing keys take their defaults."""
    return _from_dict(cls, data)


def load(cls: type[T], path: str | Path) -> T:
    """Load a config of type ``cls`` from a JSON file."""
    with open(path) as f:
        return from_dict(cls, json.load(f))


def save(cfg: Any, path: str | Path) -> None:
    """Write a config dataclass to JSON."""
    Path(path).write_text(json.dumps(to_dict(cfg), indent=2, sort_keys=True) + "\n")


# --- model (owned by the model stage) -------------------------------------------------------

# --- training (owned by the training stage) -------------------------------------------------

# --- simulation (owned by the simulator stage) ----------------------------------------------
