"""Stage: evaluation metrics — ground-motion models (GMPEs) for PGA versus distance (and PSA).

Median and ±σ PGA curves from the NGA-West2 models in pygmm (BSSA14, ASK14, CB14, CY14 by
default) or, when the optional ``openquake`` extra is installed, any OpenQuake hazardlib GSIM
by name (Italy: BindiEtAl2014Rjb, Japan: ZhaoEtAl2006Asc, …), and residuals of observed or
generated PGA against them (mean and standard deviation of ``ln(PGA / median)``).
:func:`gmpe_psa` gives the pygmm models' median RotD50 PSA and σ at given periods.

Scenario geometry: HEGGS records carry only an epicentre, a depth and a magnitude, so sources
are treated as points: ``R_JB = R_epi``, ``R_rup = R_hyp = sqrt(R_epi² + depth²)``,
``R_x = R_epi`` (with a vertical fault the hanging-wall terms vanish), ``Z_tor = depth``
(clipped at 0). This underestimates near-source motions of large (M ≳ 6) ruptures; give
finite-fault distances explicitly (``dist_jb``/``dist_rup``) where they are known.

Magnitudes: all four NGA-West2 models are moment-magnitude (Mw) models. HEGGS stores the
catalogue magnitude with its type (ML, Mj, Mw …); every function here takes
``magnitude_type`` and warns when a non-Mw magnitude is used as an Mw proxy, and every result
records which magnitude type was used. PGA is in g (the GMPEs' unit; divide m/s² by
:data:`heggs.evaluate.metrics.G`) and is the RotD50 horizontal component.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import G
from .spectra import rotd_peak

__all__ = [
    "DEFAULT_MODELS",
    "PYGMM_MODELS",
    "GMPECurve",
    "GMPEResiduals",
    "MagnitudeTypeWarning",
    "point_source_distances",
    "gmpe_pga",
    "gmpe_psa",
    "pga_vs_distance",
    "gmpe_residuals",
    "pga_rotd50_g",
]

#: pygmm class names of the default models (NGA-West2, all Mw-based, PGA as RotD50)
PYGMM_MODELS = {
    "BSSA14": "BooreStewartSeyhanAtkinson2014",
    "ASK14": "AbrahamsonSilvaKamai2014",
    "CB14": "CampbellBozorgnia2014",
    "CY14": "ChiouYoungs2014",
}
DEFAULT_MODELS = tuple(PYGMM_MODELS)
_MECHANISMS = {"SS": 0.0, "NS": -90.0, "RS": 90.0, "U": 0.0}
_MW_TYPES = {"mw", "m", "mww", "mwc", "mwr", "mwb", "mwp", "mw(mb)"}


class MagnitudeTypeWarning(UserWarning):
    """A non-moment magnitude is used with an Mw-based GMPE."""


@dataclass
class GMPECurve:
    """Median and ±n·σ PGA of one GMPE over distance (a row of a PGA-vs-distance plot).

    distances_km : (n,) epicentral distance, km
    median_g, lower_g, upper_g : (n,) PGA, g; ``lower/upper = median · exp(∓ n_sigma · σ)``
    ln_std : (n,) total standard deviation σ of ln PGA
    """

    model: str
    distances_km: np.ndarray
    median_g: np.ndarray
    ln_std: np.ndarray
    lower_g: np.ndarray
    upper_g: np.ndarray
    magnitude: float
    magnitude_type: str
    v_s30: float
    mechanism: str
    n_sigma: float = 1.0


@dataclass
class GMPEResiduals:
    """Residuals ``ln(PGA_obs / median)`` of records against one GMPE.

    residuals : (n,) ln units;  normalized : (n,) residuals / σ of the model
    mean, std : of ``residuals`` (ln units; std with ddof=1);  n : finite residuals
    magnitude_type : the magnitude type used (the GMPE itself is Mw-based)
    With ``groups`` (event ids): ``event_terms`` (n_events,) between-event terms δB_e (mean
    residual of each event), ``event_ids`` (n_events,), ``within`` (n,) within-event residuals
    δW = residual − δB_e, ``tau`` and ``phi`` their standard deviations (ddof=1); else None.
    """

    model: str
    residuals: np.ndarray
    normalized: np.ndarray
    mean: float
    std: float
    n: int
    magnitude_type: str
    notes: list[str] = field(default_factory=list)
    event_ids: np.ndarray | None = None
    event_terms: np.ndarray | None = None
    within: np.ndarray | None = None
    tau: float | None = None
    phi: float | None = None


def _check_magnitude_type(magnitude_type: str, model: str) -> list[str]:
    if magnitude_type is None or not str(magnitude_type).strip():
        raise ValueError("state the magnitude type (e.g. 'Mw', 'ML', 'Mj'): GMPEs are Mw-based")
    if str(magnitude_type).strip().lower() in _MW_TYPES:
        return []
    note = (
        f"{model} is a moment-magnitude (Mw) model; {magnitude_type} magnitudes are used as Mw "
        "proxies (no conversion applied)"
    )
    warnings.warn(note, MagnitudeTypeWarning, stacklevel=3)
    return [note]


def point_source_distances(dist_epi_km, depth_km) -> dict[str, np.ndarray]:
    """Point-source distance metrics: R_JB = R_epi, R_rup = R_hyp, R_x = R_epi (km)."""
    repi = np.asarray(dist_epi_km, dtype=np.float64)
    depth = np.clip(np.asarray(depth_km, dtype=np.float64), 0.0, None)
    repi, depth = np.broadcast_arrays(repi, depth)
    if np.any(repi < 0):
        raise ValueError("distances must be non-negative km")
    return {"dist_jb": repi, "dist_rup": np.hypot(repi, depth), "dist_x": repi, "depth": depth}


def _pygmm_model(name: str):
    import pygmm

    key = name.upper()
    if key not in PYGMM_MODELS:
        raise KeyError(name)
    return getattr(pygmm, PYGMM_MODELS[key])


def _openquake_pga(name: str, mag, dist, v_s30, mechanism: str, dip: float):
    """PGA (g) median and total σ from an OpenQuake hazardlib GSIM named ``name``."""
    try:
        from openquake.hazardlib import valid
        from openquake.hazardlib.contexts import simple_cmaker
    except ImportError as exc:
        raise ImportError(
            f"GMPE {name!r} is not one of the pygmm models {DEFAULT_MODELS}; OpenQuake GSIMs need "
            "the optional extra: pip install 'heggs[openquake]' (openquake.engine>=3.24,<3.26)"
        ) from exc
    gsim = valid.gsim(name)
    n = dist["dist_jb"].size
    mags = np.broadcast_to(np.asarray(mag, dtype=np.float64), (n,))
    cmaker = simple_cmaker([gsim], ["PGA"], mags=sorted({"%.2f" % m for m in mags}))
    ctx = cmaker.new_ctx(n)
    ctx.mag = mags
    ctx.rjb = dist["dist_jb"].ravel()
    ctx.repi = dist["dist_jb"].ravel()
    ctx.rrup = dist["dist_rup"].ravel()
    ctx.rhypo = dist["dist_rup"].ravel()
    ctx.rx = dist["dist_x"].ravel()
    ctx.ry0 = np.zeros(n)
    ctx.vs30 = np.broadcast_to(np.asarray(v_s30, dtype=np.float64), (n,))
    ctx.vs30measured = np.zeros(n, dtype=bool)
    ctx.rake = np.full(n, _MECHANISMS.get(mechanism, 0.0))
    ctx.dip = np.full(n, float(dip))
    ctx.ztor = dist["depth"].ravel()
    ctx.hypo_depth = dist["depth"].ravel()
    ctx.width = np.full(n, 10.0)
    ctx.z1pt0 = np.full(n, -999.0)  # model defaults from Vs30
    ctx.z2pt5 = np.full(n, -999.0)
    ctx.backarc = np.zeros(n, dtype=bool)
    mean, sig, _, _ = cmaker.get_mean_stds([ctx])  # (n_gsims, n_imts, n)
    return np.exp(mean[0, 0]), sig[0, 0]


def gmpe_pga(
    model: str,
    magnitude,
    dist_epi_km,
    depth_km=10.0,
    v_s30=760.0,
    mechanism: str = "SS",
    dip: float = 90.0,
    dist_jb_km=None,
    dist_rup_km=None,
    **scenario,
) -> tuple[np.ndarray, np.ndarray]:
    """Median PGA (g, RotD50) and total σ of ln PGA of one GMPE, vectorised over records.

    Parameters
    ----------
    model : "BSSA14", "ASK14", "CB14", "CY14" (pygmm) or an OpenQuake GSIM class name
    magnitude : (n,) or scalar, Mw (see the module docstring for other types)
    dist_epi_km : (n,) or scalar epicentral distance, km;  depth_km : hypocentral depth, km
    v_s30 : time-averaged shear-wave velocity of the top 30 m, m/s
    mechanism : "SS", "NS", "RS" or "U" (unspecified);  dip : degrees
    dist_jb_km, dist_rup_km : finite-fault distances when known (override the point source)
    scenario : further pygmm Scenario fields (e.g. ``region="california"``, ``depth_1_0``,
        ``width``, ``dist_x``, ``depth_tor``); they override the point-source values

    Returns
    -------
    median_g, ln_std : arrays of the broadcast input shape
    """
    shape, mags, vs, dist = _scenario_arrays(magnitude, dist_epi_km, depth_km, v_s30, mechanism, dist_jb_km, dist_rup_km)
    try:
        _pygmm_model(model)
    except KeyError:
        med, sig = _openquake_pga(model, mags.ravel(), {k: v.ravel() for k, v in dist.items()}, vs.ravel(), mechanism, dip)
        return np.asarray(med).reshape(shape), np.asarray(sig).reshape(shape)
    fits = _pygmm_fits(model, mags, vs, dist, mechanism, dip, scenario)
    median = np.array([m.pga for m in fits])
    sigma = np.array([m.ln_std_pga for m in fits])
    return median.reshape(shape), sigma.reshape(shape)


def gmpe_psa(
    model: str,
    periods,
    magnitude,
    dist_epi_km,
    depth_km=10.0,
    v_s30=760.0,
    mechanism: str = "SS",
    dip: float = 90.0,
    dist_jb_km=None,
    dist_rup_km=None,
    **scenario,
) -> tuple[np.ndarray, np.ndarray]:
    """Median pseudo-spectral acceleration (g, RotD50, 5 % damping) and total σ of ln PSA.

    model : a pygmm model ("BSSA14", "ASK14", "CB14", "CY14"); periods : (n_periods,) s,
    interpolated by pygmm within the model's period range. Other parameters as
    :func:`gmpe_pga`. Returns ``median_g, ln_std`` of shape ``broadcast input shape +
    (n_periods,)``.
    """
    try:
        _pygmm_model(model)
    except KeyError:
        raise ValueError(f"PSA needs one of the pygmm models {DEFAULT_MODELS}, got {model!r}") from None
    per = np.atleast_1d(np.asarray(periods, dtype=np.float64))
    shape, mags, vs, dist = _scenario_arrays(magnitude, dist_epi_km, depth_km, v_s30, mechanism, dist_jb_km, dist_rup_km)
    fits = _pygmm_fits(model, mags, vs, dist, mechanism, dip, scenario)
    median = np.array([np.asarray(m.interp_spec_accels(per), dtype=np.float64) for m in fits]).reshape(shape + per.shape)
    sigma = np.array([np.asarray(m.interp_ln_stds(per), dtype=np.float64) for m in fits]).reshape(shape + per.shape)
    return median, sigma


def _scenario_arrays(magnitude, dist_epi_km, depth_km, v_s30, mechanism, dist_jb_km, dist_rup_km):
    """Broadcast scenario inputs: ``(shape, magnitudes, v_s30, point-source distances)``."""
    if mechanism not in _MECHANISMS:
        raise ValueError(f"mechanism must be one of {tuple(_MECHANISMS)}, got {mechanism!r}")
    dist = point_source_distances(dist_epi_km, depth_km)
    if dist_jb_km is not None:
        dist["dist_jb"] = np.broadcast_to(np.asarray(dist_jb_km, dtype=np.float64), dist["dist_jb"].shape)
    if dist_rup_km is not None:
        dist["dist_rup"] = np.broadcast_to(np.asarray(dist_rup_km, dtype=np.float64), dist["dist_rup"].shape)
    mags, vs, *_ = np.broadcast_arrays(
        np.asarray(magnitude, dtype=np.float64), np.asarray(v_s30, dtype=np.float64), dist["dist_jb"]
    )
    shape = mags.shape
    dist = {k: np.broadcast_to(v, shape) for k, v in dist.items()}
    return shape, mags, vs, dist


def _pygmm_fits(model: str, mags: np.ndarray, vs: np.ndarray, dist: dict[str, np.ndarray], mechanism: str,
                dip: float, scenario: dict) -> list:
    """One pygmm model instance per scenario (flattened order of ``mags``); identical scenarios
    (the records of one station and event, ensembles) share one instance."""
    import pygmm

    cls = _pygmm_model(model)
    flat = {k: v.ravel() for k, v in dist.items()}
    out = []
    seen: dict[tuple, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i in range(mags.size):
            fields = dict(
                mag=float(mags.flat[i]),
                dist_jb=float(flat["dist_jb"][i]),
                dist_rup=float(flat["dist_rup"][i]),
                dist_x=float(flat["dist_x"][i]),
                depth_hyp=float(flat["depth"][i]),
                depth_tor=float(flat["depth"][i]),
                v_s30=float(vs.flat[i]),
                mechanism=mechanism,
                dip=float(dip),
            )
            fields.update(scenario)  # explicit scenario fields win over the point-source ones
            key = tuple(sorted(fields.items()))
            if key not in seen:
                seen[key] = cls(pygmm.Scenario(**fields))
            out.append(seen[key])
    return out


def pga_vs_distance(
    magnitude: float,
    distances_km=None,
    v_s30: float = 760.0,
    mechanism: str = "SS",
    depth_km: float = 10.0,
    models=DEFAULT_MODELS,
    n_sigma: float = 1.0,
    magnitude_type: str = "Mw",
    **scenario,
) -> list[GMPECurve]:
    """Median and ±n·σ PGA-versus-distance curves of several GMPEs for one scenario.

    distances_km : (n,) epicentral distances, km; default 100 log-spaced values, 1–300 km.
    Returns one :class:`GMPECurve` per model (PGA in g).
    """
    d = np.geomspace(1.0, 300.0, 100) if distances_km is None else np.asarray(distances_km, dtype=np.float64)
    curves = []
    for name in models:
        _check_magnitude_type(magnitude_type, name)
        med, sig = gmpe_pga(name, magnitude, d, depth_km, v_s30, mechanism, **scenario)
        curves.append(
            GMPECurve(
                model=name, distances_km=d, median_g=med, ln_std=sig,
                lower_g=med * np.exp(-n_sigma * sig), upper_g=med * np.exp(n_sigma * sig),
                magnitude=float(magnitude), magnitude_type=magnitude_type, v_s30=float(v_s30),
                mechanism=mechanism, n_sigma=float(n_sigma),
            )
        )
    return curves


def gmpe_residuals(
    pga_g,
    magnitude,
    dist_epi_km,
    depth_km,
    *,
    magnitude_type: str,
    v_s30=760.0,
    model: str = "BSSA14",
    mechanism: str = "SS",
    groups=None,
    **kwargs,
) -> GMPEResiduals:
    """Residuals of PGA (observed or generated, g, RotD50) against a GMPE's median.

    pga_g, magnitude, dist_epi_km, depth_km, v_s30 : (n,) or scalars (broadcast)
    magnitude_type : REQUIRED, e.g. "Mw", "ML", "Mj" (non-Mw types warn and are noted)
    groups : optional (n,) event id per record: splits the residuals into between-event terms
        (the mean residual of each event, a simple estimate; no random-effects shrinkage) and
        within-event residuals, with their standard deviations τ and φ
    Returns :class:`GMPEResiduals` with ``ln(PGA / median)``, normalised residuals, mean and
    standard deviation. Non-positive PGA gives NaN residuals (excluded from mean/std).
    """
    notes = _check_magnitude_type(magnitude_type, model)
    pga = np.asarray(pga_g, dtype=np.float64)
    med, sig = gmpe_pga(model, magnitude, dist_epi_km, depth_km, v_s30, mechanism, **kwargs)
    pga, med, sig = np.broadcast_arrays(pga, med, sig)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = np.where(pga > 0, np.log(np.where(pga > 0, pga, 1.0) / med), np.nan)
    ok = np.isfinite(res)
    n = int(ok.sum())
    out = GMPEResiduals(
        model=model,
        residuals=res,
        normalized=res / sig,
        mean=float(res[ok].mean()) if n else float("nan"),
        std=float(res[ok].std(ddof=1)) if n > 1 else float("nan"),
        n=n,
        magnitude_type=str(magnitude_type),
        notes=notes,
    )
    if groups is not None:
        g = np.broadcast_to(np.asarray(groups), res.shape).ravel()
        r = res.ravel()
        ids, inverse = np.unique(g, return_inverse=True)
        valid = np.isfinite(r)
        counts = np.bincount(inverse[valid], minlength=ids.size)
        sums = np.bincount(inverse[valid], weights=r[valid], minlength=ids.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            terms = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        within = r - terms[inverse]
        out.event_ids = ids
        out.event_terms = terms
        out.within = within.reshape(res.shape)
        t_ok, w_ok = np.isfinite(terms), np.isfinite(within)
        out.tau = float(terms[t_ok].std(ddof=1)) if t_ok.sum() > 1 else float("nan")
        out.phi = float(within[w_ok].std(ddof=1)) if w_ok.sum() > 1 else float("nan")
    return out



def pga_rotd50_g(acc_ms2) -> np.ndarray:
    """Horizontal PGA RotD50 in g, the intensity measure of the NGA-West2 GMPEs.

    acc_ms2 : (..., n_components, n_samples) acceleration, m/s², components in E, N(, Z)
    order (the store's ENZ): the first two are used  ->  (...) g
    """
    a = np.asarray(acc_ms2, dtype=np.float64)
    if a.ndim < 2 or a.shape[-2] < 2:
        raise ValueError(f"need at least two horizontal components on axis -2, got shape {a.shape}")
    return rotd_peak(a[..., :2, :], percentiles=(50,))[..., 0] / G
