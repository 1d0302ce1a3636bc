"""Stage simulate (helper) — first-arrival P and S travel-time tables from TauP.

One ObsPy TauP call costs tens of milliseconds, far too slow for thousands of events times
tens of stations. :class:`TravelTimeTable` therefore tabulates, once per 1-D model, the first
P (TauP's ``ttp`` phase list) and first S (``tts``) arrival of every phase name on a
depth × epicentral-distance grid (0.5 km steps in distance; 0.5 km steps in depth down to
60 km, 1 km to 200 km, 2 km below), and interpolates bilinearly per phase name before taking the minimum
over names (so the kinks where one branch overtakes another stay sharp). Each grid column is
computed from TauP's own sampled branch curves with TauP's linear-interpolation estimator
(Buland & Chapman 1983 stationarity of θ = T + p·(Δ − Δᵢ)), so the values agree with
``TauPyModel.get_travel_times`` to a few milliseconds (the tests check ±1 sample at 100 Hz).

Depth columns are built lazily (only those a query needs) and cached in memory and on disk
(one ``.npy`` per depth under ``$HEGGS_CACHE`` or ``~/.cache/heggs``, in traveltimes/), keyed by the model name or by a hash of
a user model file (``.tvel`` / ``.nd``, converted with ObsPy's ``build_taup_model``).

Distances between an epicentre and a station are computed in one place for the whole package:
:func:`geodesics` / :func:`epicentral_distance_km` (WGS84 ellipsoid, ObsPy's
``gps2dist_azimuth``), used by ingest, the simulator, conditions and scenarios alike. The tables
take that distance in km and convert it to degrees on TauP's sphere (radius 6371 km,
:data:`KM_PER_DEG`); negative source depths are clipped to 0 for travel times
(docs/data-contract.md).
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from pathlib import Path

import numpy as np

#: TauP's planet radius (km) and km per degree of great-circle distance.
EARTH_RADIUS_KM = 6371.0
KM_PER_DEG = 2.0 * np.pi * EARTH_RADIUS_KM / 360.0



def geodesics(lat1, lon1, lat2, lon2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epicentral distance (km, WGS84), azimuth from point 1 to point 2 and back azimuth from
    point 2 to point 1 (degrees clockwise from north, in [0, 360)).

    Arguments in degrees, scalars or arrays broadcastable to one shape (n,) or any shape; point 1
    is the epicentre and point 2 the station by convention. Returns three float64 arrays of the
    broadcast shape; NaN where an input is NaN. Each distinct pair is computed once with
    ObsPy's ``gps2dist_azimuth`` (~30 µs a pair).
    """
    from obspy.geodetics import gps2dist_azimuth

    args = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (lat1, lon1, lat2, lon2)))
    shape = args[0].shape
    flat = np.stack([a.ravel() for a in args], axis=1)
    out = np.full((flat.shape[0], 3), np.nan)
    ok = np.all(np.isfinite(flat), axis=1)
    if ok.any():
        pairs, inverse = np.unique(flat[ok], axis=0, return_inverse=True)
        vals = np.array([gps2dist_azimuth(*row) for row in pairs.tolist()], dtype=np.float64).reshape(-1, 3)
        vals[:, 0] /= 1000.0
        out[ok] = vals[np.asarray(inverse).ravel()]
    return out[:, 0].reshape(shape), out[:, 1].reshape(shape), out[:, 2].reshape(shape)


def epicentral_distance_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Distance in km on the WGS84 ellipsoid between points given in degrees (broadcastable
    scalars or arrays; see :func:`geodesics`). Returns a float64 array of the broadcast shape."""
    return geodesics(lat1, lon1, lat2, lon2)[0]


_DEPTH_NODES = np.unique(np.concatenate([np.arange(0.0, 60.0, 0.5), np.arange(60.0, 200.0, 1.0),
                                         np.arange(200.0, 700.0 + 1e-9, 2.0)]))
_DIST_STEP_KM = 0.5
_TABLE_VERSION = 1
#: per-name interpolation is trusted unless it is this much later than the first-arrival surface
_NAME_SWITCH_TOL_S = 0.05


def cache_dir() -> Path:
    """Folder for cached tables and converted user models."""
    root = os.environ.get("HEGGS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "heggs")
    return Path(root) / "traveltimes"


def _load_taup_model(model: str):
    """(TauPyModel, cache key) for a built-in model name or a ``.tvel``/``.nd``/``.npz`` path."""
    from obspy.taup import TauPyModel

    p = Path(model)
    if p.suffix.lower() in (".tvel", ".nd", ".npz") or p.exists():
        if not p.exists():
            raise FileNotFoundError(f"velocity model file {model!r} does not exist")
        digest = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        key = f"{p.stem}-{digest}"
        if p.suffix.lower() == ".npz":
            return TauPyModel(str(p)), key
        if p.suffix.lower() not in (".tvel", ".nd"):
            raise ValueError(f"velocity model file {model!r}: expected a .tvel, .nd or TauP .npz file")
        from obspy.taup.taup_create import build_taup_model

        out = cache_dir() / "models"
        out.mkdir(parents=True, exist_ok=True)
        npz = out / f"{key}.npz"
        if not npz.exists():
            tmp = out / f".{key}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir()
            # build_taup_model names its output after the input file's stem
            build_taup_model(str(p), output_folder=str(tmp), verbose=False)
            os.replace(tmp / f"{p.stem}.npz", npz)
            tmp.rmdir()
        return TauPyModel(str(npz)), key
    try:
        return TauPyModel(model), model
    except Exception as e:  # obspy raises various errors for unknown names
        raise ValueError(f"unknown velocity model {model!r}: give a TauP model name (iasp91, ak135, prem, ...) "
                         f"or a .tvel/.nd file ({e})") from e


def _phase_names() -> tuple[list[str], list[str]]:
    """Names of TauP's ``ttp``/``tts`` lists that can be a first arrival within 20°.

    Core phases (PKP, PKiKP, SKS, ...) and diffracted ones arrive minutes later at regional
    distances, so they are left out (building their branches costs most of the time).
    """
    from obspy.taup.utils import parse_phase_list

    regional = {"p", "P", "Pn", "Pg", "s", "S", "Sn", "Sg"}
    return ([n for n in parse_phase_list(["ttp"]) if n in regional],
            [n for n in parse_phase_list(["tts"]) if n in regional])


def _column(taup, depth_km: float, dist_deg: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """First arrival per phase name at one source depth for all ``dist_deg`` (deg).

    Returns name -> (3, n_dist) float64 array of [time s, ray parameter s/km, take-off deg]
    (NaN where the phase does not exist).
    """
    from obspy.taup.helper_classes import TauModelError
    from obspy.taup.seismic_phase import SeismicPhase

    tm = taup.model.depth_correct(depth_km)
    if depth_km != 0.0:
        tm = tm.split_branch(0.0)
    radius = tm.radius_of_planet
    d_rad = np.radians(dist_deg)
    out: dict[str, np.ndarray] = {}
    for name in names:
        try:
            ph = SeismicPhase(name, tm, 0.0)
        except TauModelError:
            continue
        res = np.full((3, d_rad.size), np.nan)
        dist, time, rp = (np.asarray(a, dtype=float) for a in (ph.dist, ph.time, ph.ray_param))
        if dist.size >= 2 and not name.endswith("kmps"):
            tbest = np.full(d_rad.size, np.inf)
            pbest = np.full(d_rad.size, np.nan)
            # d_rad is sorted: each branch segment covers one contiguous run of grid nodes
            lo_all = np.searchsorted(d_rad, np.minimum(dist[:-1], dist[1:]), side="left")
            hi_all = np.searchsorted(d_rad, np.maximum(dist[:-1], dist[1:]), side="right")
            for i in np.nonzero(hi_all > lo_all)[0]:
                D = d_rad[lo_all[i]:hi_all[i]]
                dl, dr, tl, tr, pl, pr = dist[i], dist[i + 1], time[i], time[i + 1], rp[i], rp[i + 1]
                if dl == dr:
                    t = np.full(D.size, tl)
                    p = np.full(D.size, pl)
                else:
                    dpdx = (pl - pr) / (dl - dr)
                    th_l = tl + pl * (D - dl)
                    th_r = tr + pr * (D - dr)
                    t = np.maximum(th_l, th_r) if dpdx > 0 else np.minimum(th_l, th_r)
                    p = (D - dr) * dpdx + pr
                sl = slice(lo_all[i], hi_all[i])
                better = t < tbest[sl]
                tbest[sl] = np.where(better, t, tbest[sl])
                pbest[sl] = np.where(better, p, pbest[sl])
            ok = np.isfinite(tbest)
            res[0, ok] = tbest[ok]
            res[1, ok] = pbest[ok] / (radius - depth_km)  # s/rad -> s/km at the source radius
            v_mod = tm.s_mod.v_mod
            try:
                if ph.down_going[0]:
                    v = v_mod.evaluate_below(depth_km, name[0])
                else:
                    v = v_mod.evaluate_above(depth_km, name[0])
                v = float(np.asarray(v).item())
                ang = np.degrees(np.arcsin(np.clip(v * res[1, ok], -1.0, 1.0)))
                res[2, ok] = ang if ph.down_going[0] else 180.0 - ang
            except (IndexError, LookupError):
                pass
        out[name] = res
    return out


def _with_first(col: dict[str, np.ndarray], p_names: list[str], s_names: list[str]) -> dict[str, np.ndarray]:
    """Add pseudo-names ``_firstP``/``_firstS``: the first arrival over all names at each node."""
    for key, names in (("_firstP", p_names), ("_firstS", s_names)):
        arrs = [col[n] for n in names if n in col]
        stack = np.stack(arrs)  # (n_names, 3, n_dist)
        t = np.where(np.isfinite(stack[:, 0]), stack[:, 0], np.inf)
        k = np.argmin(t, axis=0)
        col[key] = stack[k, :, np.arange(stack.shape[2])].T
    return col


class TravelTimeTable:
    """Tabulated first P and S arrivals of a 1-D model (see module docstring).

    model : TauP model name (``"iasp91"`` default, ``"ak135"``, ...) or a ``.tvel``/``.nd`` file.
    max_distance_km : distances beyond this raise ``ValueError`` (regional simulation).
    use_disk_cache : keep computed depth columns under :func:`cache_dir`.
    """

    def __init__(self, model: str = "iasp91", max_distance_km: float = 1500.0, use_disk_cache: bool = True):
        self.model = str(model)
        self._taup, self.key = _load_taup_model(self.model)
        self.max_distance_km = float(max_distance_km)
        if not 0 < self.max_distance_km <= 20 * KM_PER_DEG:
            raise ValueError(f"max_distance_km must be in (0, {20 * KM_PER_DEG:.0f}] km (regional distances)")
        self.dist_km = np.arange(0.0, self.max_distance_km + _DIST_STEP_KM, _DIST_STEP_KM)
        # nodes just above and below each discontinuity keep every depth interval smooth
        disc = np.asarray(self._taup.model.s_mod.v_mod.get_discontinuity_depths(), dtype=float)
        disc = disc[(disc > 0) & (disc < _DEPTH_NODES[-1])]
        self.depth_km = np.unique(np.concatenate([_DEPTH_NODES, disc - 1e-3, disc + 1e-3]))
        self.p_names, self.s_names = _phase_names()
        self._names = self.p_names + self.s_names + ["_firstP", "_firstS"]
        self._index = {n: k for k, n in enumerate(self._names)}
        # depth-node index -> (n_names, 3, n_dist) float32, filled lazily
        self._rows: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self._use_disk = use_disk_cache
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.key)
        self._dir = cache_dir() / f"{safe}-v{_TABLE_VERSION}-{int(round(self.max_distance_km))}km"

    # -- cache -----------------------------------------------------------------------------
    def _row_file(self, i: int) -> Path:
        return self._dir / f"z{i:04d}_{self.depth_km[i]:.3f}km.npy"

    def _compute_row(self, i: int) -> np.ndarray:
        col = _with_first(_column(self._taup, float(self.depth_km[i]), self.dist_km / KM_PER_DEG,
                                  self.p_names + self.s_names), self.p_names, self.s_names)
        row = np.full((len(self._names), 3, self.dist_km.size), np.nan, dtype=np.float32)
        for n, a in col.items():
            row[self._index[n]] = a
        return row

    def _ensure(self, node_idx: np.ndarray) -> None:
        need = [int(i) for i in np.unique(node_idx) if int(i) not in self._rows]
        if not need:
            return
        with self._lock:
            for i in need:
                if i in self._rows:
                    continue
                f = self._row_file(i)
                row = None
                if self._use_disk and f.exists():
                    try:
                        row = np.load(f)
                        if row.shape != (len(self._names), 3, self.dist_km.size):
                            row = None
                    except (OSError, ValueError):  # a corrupt cache file is rebuilt
                        row = None
                if row is None:
                    row = self._compute_row(i)
                    if self._use_disk:
                        try:
                            self._dir.mkdir(parents=True, exist_ok=True)
                            tmp = f.with_name(f".{f.stem}.{uuid.uuid4().hex[:8]}.npy")
                            np.save(tmp, row)
                            os.replace(tmp, f)
                        except OSError:
                            pass
                self._rows[i] = row

    # -- queries ---------------------------------------------------------------------------
    def arrivals(self, distance_km: float, depth_km: float) -> tuple[float, float]:
        """(P, S) first-arrival travel times in s of one source-station pair (see :meth:`lookup`)."""
        out = self.lookup([distance_km], [depth_km])
        return float(out["p_time_s"][0]), float(out["s_time_s"][0])

    def lookup(self, distance_km, depth_km) -> dict[str, np.ndarray]:
        """First P and S arrivals.

        distance_km : (n,) epicentral great-circle distance, km (on TauP's 6371 km sphere).
        depth_km : (n,) source depth, km (negative values are treated as 0).
        Returns dict of (n,) float64 arrays: ``p_time_s``, ``s_time_s`` (travel time from the
        origin, s), ``p_slowness_s_per_km``, ``s_slowness_s_per_km`` (horizontal slowness),
        ``p_takeoff_deg``, ``s_takeoff_deg`` (from the downward vertical at the source).
        """
        dist = np.atleast_1d(np.asarray(distance_km, dtype=float))
        dep = np.clip(np.atleast_1d(np.asarray(depth_km, dtype=float)), 0.0, None)
        dist, dep = np.broadcast_arrays(dist, dep)
        if np.any(~np.isfinite(dist)) or np.any(~np.isfinite(dep)):
            raise ValueError("distance and depth must be finite")
        if np.any(dist < 0) or np.any(dist > self.max_distance_km):
            raise ValueError(f"epicentral distance must be within [0, {self.max_distance_km}] km, "
                             f"got {dist.min():.1f}..{dist.max():.1f}")
        if np.any(dep > self.depth_km[-1]):
            raise ValueError(f"source depth must be at most {self.depth_km[-1]} km, got {dep.max()}")
        iz = np.clip(np.searchsorted(self.depth_km, dep, side="right") - 1, 0, self.depth_km.size - 2)
        wz = (dep - self.depth_km[iz]) / (self.depth_km[iz + 1] - self.depth_km[iz])
        ix = np.clip((dist / _DIST_STEP_KM).astype(int), 0, self.dist_km.size - 2)
        wx = (dist - self.dist_km[ix]) / _DIST_STEP_KM
        self._ensure(np.concatenate([iz, iz + 1]))
        # corners (n, n_names, 3) gathered row by row (never stacking whole rows)
        c = np.empty((4, dist.size, len(self._names), 3), dtype=np.float64)
        for u in np.unique(iz):
            m = np.nonzero(iz == u)[0]
            r0, r1 = self._rows[int(u)], self._rows[int(u) + 1]
            j = ix[m]
            c[0, m] = np.moveaxis(r0[:, :, j], -1, 0)
            c[1, m] = np.moveaxis(r0[:, :, j + 1], -1, 0)
            c[2, m] = np.moveaxis(r1[:, :, j], -1, 0)
            c[3, m] = np.moveaxis(r1[:, :, j + 1], -1, 0)
        wxx, wzz = wx[:, None, None], wz[:, None, None]
        v_all = (1 - wzz) * ((1 - wxx) * c[0] + wxx * c[1]) + wzz * ((1 - wxx) * c[2] + wxx * c[3])
        out: dict[str, np.ndarray] = {}
        for wave, names in (("p", self.p_names), ("s", self.s_names)):
            # per phase name where all four corners exist (smooth, accurate) ...
            best = np.full((3, dist.size), np.nan)
            best[0] = np.inf
            for n in names:
                v = v_all[:, self._index[n]].T
                better = np.isfinite(v[0]) & (v[0] < best[0])
                best[:, better] = v[:, better]
            # ... unless the first arrival changes name between nodes: then the first-arrival
            # surface (continuous, slightly smoothed at branch crossings) is used
            first = v_all[:, self._index[f"_first{wave.upper()}"]].T
            use_first = ~np.isfinite(best[0]) | (best[0] > first[0] + _NAME_SWITCH_TOL_S)
            best[:, use_first] = first[:, use_first]
            if np.any(~np.isfinite(best[0])):
                raise ValueError(f"no {wave.upper()} arrival in model {self.model} for some distance/depth")
            out[f"{wave}_time_s"] = best[0]
            out[f"{wave}_slowness_s_per_km"] = best[1]
            out[f"{wave}_takeoff_deg"] = best[2]
        return out


_TABLES: dict[tuple[str, float], TravelTimeTable] = {}


def get_table(model: str = "iasp91", max_distance_km: float = 1500.0) -> TravelTimeTable:
    """The process-wide cached table of ``model``."""
    key = (str(model), float(max_distance_km))
    if key not in _TABLES:
        _TABLES[key] = TravelTimeTable(model, max_distance_km)
    return _TABLES[key]


def taup_first_arrivals(model: str, distance_km: float, depth_km: float) -> tuple[float, float]:
    """Direct (slow, ~5-30 ms) TauP call: first P and S travel times in s, the reference the
    tables are tested against. Depth is clipped at 0."""
    from obspy.geodetics import kilometers2degrees
    from obspy.taup import TauPyModel

    m = TauPyModel(model)
    deg = kilometers2degrees(distance_km)
    z = max(depth_km, 0.0)
    p_names, s_names = _phase_names()
    return m.get_travel_times(z, deg, p_names)[0].time, m.get_travel_times(z, deg, s_names)[0].time
