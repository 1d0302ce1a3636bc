"""Stage 2a — the minimal condition of a record: 11 features and their normaliser.

The condition of a record (docs/data-contract.md) is where its station is and where, how deep and how
large its event is, plus the path between them: station lat/lon, epicentre lat/lon, depth,
magnitude, epicentral distance and sin/cos of azimuth and back-azimuth. Stored records
(:func:`condition_features`) and scenario inputs (:func:`condition_vector`) go through the same
code. :class:`ConditionNormalizer` standardises them with statistics fitted on the training
split and saved with the model as JSON. ``heggs.data`` re-exports everything here.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .traveltimes import geodesics

#: The 11 condition features, in order (docs/data-contract.md). Units: degrees, km, magnitude units.
FEATURE_NAMES: tuple[str, ...] = (
    "station_latitude_deg",
    "station_longitude_deg",
    "source_latitude_deg",
    "source_longitude_deg",
    "source_depth_km",
    "source_magnitude",
    "path_ep_distance_km",
    "sin_azimuth",
    "cos_azimuth",
    "sin_back_azimuth",
    "cos_back_azimuth",
)
N_FEATURES = len(FEATURE_NAMES)
#: Indices of longitude features (wrapped around the training mean by the normaliser).
_LON_FEATURES = (1, 3)
#: Indices of the sin/cos features: left unscaled (already in [-1, 1]; scaling them would
#: distort the unit circle and blow up when one azimuth dominates the training set).
_UNIT_CIRCLE_FEATURES = (7, 8, 9, 10)
#: Per-feature floor on the fitted standard deviation, in the feature's own unit: roughly the
#: resolution of each quantity (0.01° ≈ 1 km, 1 km depth, 0.1 magnitude units, 1 km distance),
#: so a training set with (almost) one depth or one station does not give huge scaled values.
DEFAULT_STD_FLOOR: tuple[float, ...] = (0.01, 0.01, 0.01, 0.01, 1.0, 0.1, 1.0, 1.0, 1.0, 1.0, 1.0)

#: the coordinate/magnitude columns the other five features are derived from
_REQUIRED_COORDS = FEATURE_NAMES[:6]


# --- condition vector -------------------------------------------------------------------------


def _geodesics(slat: np.ndarray, slon: np.ndarray, elat: np.ndarray, elon: np.ndarray) -> np.ndarray:
    """Epicentral distance (km), azimuth event->station and back-azimuth station->event (deg).

    All inputs (n,) degrees. Returns (n, 3) float64; NaN where an input is NaN. Each distinct
    (event, station) pair is computed once with :func:`heggs.traveltimes.geodesics` (WGS84).
    """
    from tqdm.auto import tqdm

    out = np.full((len(slat), 3), np.nan)
    cache: dict[tuple[float, float, float, float], tuple[float, float, float]] = {}
    keys = zip(elat.tolist(), elon.tolist(), slat.tolist(), slon.tolist())
    for i, key in enumerate(tqdm(keys, total=len(slat), desc="distances/azimuths", unit="rec",
                                 disable=len(slat) < 50_000, leave=False)):
        if not all(math.isfinite(v) for v in key):
            continue
        if key not in cache:
            cache[key] = tuple(float(v) for v in geodesics(*key))
        out[i] = cache[key]
    return out


def condition_features(meta: pd.DataFrame) -> np.ndarray:
    """The 11 raw (unnormalised) condition features of every row of ``meta``.

    meta : store metadata with the columns ``station_latitude_deg``, ``station_longitude_deg``,
        ``source_latitude_deg``, ``source_longitude_deg``, ``source_depth_km`` (km, positive
        down), ``source_magnitude``; optionally ``path_ep_distance_km``, ``path_azimuth_deg``
        (event->station, deg from north) and ``path_back_azimuth_deg`` (station->event). Path
        columns that are missing or NaN are computed from the coordinates (WGS84,
        :func:`heggs.traveltimes.geodesics`).

    Returns (n, 11) float64 in :data:`FEATURE_NAMES` order: degrees, km, magnitude, km, and the
    sines/cosines of the azimuths. Rows with a missing coordinate, depth or magnitude are NaN in
    the affected features (callers decide whether to drop them).
    """
    missing = [c for c in _REQUIRED_COORDS if c not in meta.columns]
    if missing:
        raise ValueError(f"metadata lacks the column(s) {missing} needed for the condition vector")
    n = len(meta)

    def col(name: str) -> np.ndarray:
        if name not in meta.columns:
            return np.full(n, np.nan)
        return pd.to_numeric(meta[name], errors="coerce").to_numpy(dtype=np.float64)

    slat, slon, elat, elon = (col(c) for c in _REQUIRED_COORDS[:4])
    dist, az, baz = col("path_ep_distance_km"), col("path_azimuth_deg"), col("path_back_azimuth_deg")
    need = ~(np.isfinite(dist) & np.isfinite(az) & np.isfinite(baz))
    if need.any():
        g = _geodesics(slat[need], slon[need], elat[need], elon[need])
        dist, az, baz = dist.copy(), az.copy(), baz.copy()
        dist[need] = np.where(np.isfinite(dist[need]), dist[need], g[:, 0])
        az[need] = np.where(np.isfinite(az[need]), az[need], g[:, 1])
        baz[need] = np.where(np.isfinite(baz[need]), baz[need], g[:, 2])
    az_r, baz_r = np.deg2rad(az), np.deg2rad(baz)
    return np.stack(
        [slat, slon, elat, elon, col("source_depth_km"), col("source_magnitude"), dist,
         np.sin(az_r), np.cos(az_r), np.sin(baz_r), np.cos(baz_r)],
        axis=1,
    )


def condition_vector(
    station_lat: float,
    station_lon: float,
    event_lat: float,
    event_lon: float,
    event_depth_km: float,
    magnitude: float,
) -> np.ndarray:
    """The raw (11,) float64 condition of one scenario target (degrees, km, magnitude).

    Same code path as :func:`condition_features` (distance and azimuths from the coordinates).
    """
    vals = [station_lat, station_lon, event_lat, event_lon, event_depth_km, magnitude]
    if not all(math.isfinite(float(v)) for v in vals):
        raise ValueError(f"condition inputs must be finite numbers, got {vals}")
    meta = pd.DataFrame([dict(zip(_REQUIRED_COORDS, map(float, vals)))])
    return condition_features(meta)[0]


# --- normaliser ------------------------------------------------------------------------------


class ConditionNormalizer:
    """Standardise the 11 condition features with statistics of the TRAINING split.

    ``transform(x) = (x - mean) / std`` for the seven scalar features; the four sin/cos
    features pass through unchanged (``mean = 0``, ``std = 1``). Longitudes are first wrapped
    into ``[mean - 180, mean + 180)`` so a region across the antimeridian stays contiguous. The
    fitted std is floored by :data:`DEFAULT_STD_FLOOR` (feature units).

    Use :meth:`fit` (or :meth:`from_dict` for a saved model); the statistics are never built in.
    """

    VERSION = 1

    def __init__(self, mean: Sequence[float], std: Sequence[float], n_fit: int = 0, fit_split: str = "train"):
        self.mean = np.asarray(mean, dtype=np.float64).reshape(N_FEATURES)
        self.std = np.asarray(std, dtype=np.float64).reshape(N_FEATURES)
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise ValueError("normaliser statistics must be finite with std > 0")
        self.n_fit = int(n_fit)
        self.fit_split = fit_split

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        std_floor: Sequence[float] = DEFAULT_STD_FLOOR,
        fit_split: str = "train",
    ) -> "ConditionNormalizer":
        """Fit on raw features (n, 11) float64 of the TRAINING split (rows with NaN are ignored)."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != N_FEATURES:
            raise ValueError(f"features must have shape (n, {N_FEATURES}), got {x.shape}")
        x = x[np.all(np.isfinite(x), axis=1)]
        if len(x) == 0:
            raise ValueError("cannot fit the condition normaliser: no row with all 11 features finite")
        mean = np.zeros(N_FEATURES)
        std = np.ones(N_FEATURES)
        x = x.copy()
        for j in _LON_FEATURES:  # circular mean, then wrap around it
            mean[j] = math.degrees(math.atan2(np.sin(np.deg2rad(x[:, j])).mean(), np.cos(np.deg2rad(x[:, j])).mean()))
            x[:, j] = _wrap_lon(x[:, j], mean[j])
        scaled = [j for j in range(N_FEATURES) if j not in _UNIT_CIRCLE_FEATURES]
        for j in scaled:
            if j not in _LON_FEATURES:
                mean[j] = x[:, j].mean()
            std[j] = max(float(x[:, j].std()), float(std_floor[j]))
        return cls(mean, std, n_fit=len(x), fit_split=fit_split)

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Raw features (n, 11) or (11,) -> normalised float32 of the same shape."""
        x = np.array(features, dtype=np.float64)
        if x.shape[-1] != N_FEATURES:
            raise ValueError(f"last dimension must be {N_FEATURES}, got shape {x.shape}")
        for j in _LON_FEATURES:
            x[..., j] = _wrap_lon(x[..., j], self.mean[j])
        return ((x - self.mean) / self.std).astype(np.float32)

    def inverse_transform(self, normalised: np.ndarray) -> np.ndarray:
        """Normalised (n, 11) or (11,) -> raw float64 (longitudes wrapped to [-180, 180))."""
        x = np.asarray(normalised, dtype=np.float64) * self.std + self.mean
        for j in _LON_FEATURES:
            x[..., j] = _wrap_lon(x[..., j], 0.0)
        return x

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable statistics (for the checkpoint's JSON)."""
        return {
            "version": self.VERSION,
            "feature_names": list(FEATURE_NAMES),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "unscaled_features": [FEATURE_NAMES[j] for j in _UNIT_CIRCLE_FEATURES],
            "n_fit": self.n_fit,
            "fit_split": self.fit_split,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ConditionNormalizer":
        names = data.get("feature_names")
        if names is not None and tuple(names) != FEATURE_NAMES:
            raise ValueError(f"normaliser was saved for features {names}, this version uses {list(FEATURE_NAMES)}")
        if int(data.get("version", 1)) > cls.VERSION:
            raise ValueError(f"normaliser version {data['version']} is newer than supported ({cls.VERSION})")
        return cls(data["mean"], data["std"], n_fit=data.get("n_fit", 0), fit_split=data.get("fit_split", "train"))

    def __repr__(self) -> str:
        return f"ConditionNormalizer(n_fit={self.n_fit}, fit_split={self.fit_split!r})"


def _wrap_lon(lon: np.ndarray, center: float) -> np.ndarray:
    """Longitudes (deg) wrapped into [center - 180, center + 180)."""
    return (np.asarray(lon, dtype=np.float64) - center + 180.0) % 360.0 - 180.0 + center
