"""Stage: evaluation metrics — engineering intensity measures of generated (or any) records.

One row per 3-component record: PGA (RotD50 and per component, m/s² and g), PGV (RotD50 and
per component, m/s), RotD50 pseudo-spectral acceleration at the standard periods
(:data:`STANDARD_PERIODS_S`, 5 % damping, m/s² and g), Arias intensity (m/s) and the
significant duration D5-95 (s) per component. Every number comes from
:mod:`heggs.evaluate.metrics` and :mod:`heggs.evaluate.spectra` (definitions in
docs/metrics.md); nothing is computed twice. ``heggs generate`` writes the table as
``intensity_measures.csv`` beside the records and, for a scenario with several stations, the
figure ``psa_vs_gmpe.png``: the ensemble's RotD50 PSA against a GMPE's median ±1σ
(:func:`plot_psa_vs_gmpe`, :func:`heggs.evaluate.gmpe.gmpe_psa`).

>>> from heggs.evaluate.intensity import intensity_measures
>>> table = intensity_measures(model.generate(target))       # ObsPy Streams (m/s²)
>>> table = intensity_measures(waveforms, dt=0.01)           # (n, 3, n_samples) m/s², E N Z

Records are band-limited (the store's band, 1–45 Hz by default): PSA at periods longer than
the low band edge (1 s) is depressed by the filter, not by the earthquake.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .gmpe import gmpe_psa
from .metrics import G, arias_intensity, pga, pgv, significant_duration, velocity
from .spectra import rotd, rotd_peak

__all__ = ["STANDARD_PERIODS_S", "FIGURE_PERIODS_S", "intensity_measures", "psa_columns", "plot_psa_vs_gmpe",
           "write_intensity_outputs"]

#: oscillator periods of the table's RotD50 PSA columns, s
STANDARD_PERIODS_S = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0)
#: periods drawn in psa_vs_gmpe.png, s (within the records' 1–45 Hz band)
FIGURE_PERIODS_S = (0.1, 0.3, 1.0)
#: what a record's identity columns are taken from (a Target's fields, its distance, the member)
ID_COLUMNS = ("event_id", "network", "station", "member", "seed", "magnitude", "magnitude_type", "event_lat",
              "event_lon", "event_depth_km", "station_lat", "station_lon", "epicentral_distance_km")


def psa_columns(periods: Sequence[float] = STANDARD_PERIODS_S, unit: str = "g") -> list[str]:
    """Names of the RotD50 PSA columns, e.g. ``psa_rotd50_0.1s_g`` (``unit``: ``g`` or ``m_s2``)."""
    return [f"psa_rotd50_{float(p):g}s_{unit}" for p in periods]


def _from_streams(streams) -> tuple[np.ndarray, float, str, list[dict[str, Any]]]:
    """Streams (one record each, channels ending in E/N/Z) -> (n, 3, n_samples) ENZ, dt, ids."""
    from obspy import Stream

    if isinstance(streams, Stream):
        streams = [streams]
    arrays, ids, dts = [], [], set()
    for k, st in enumerate(streams):
        if len({tr.id[:-1] for tr in st}) != 1:
            raise ValueError(f"stream {k}: one record per Stream (one instrument), got {sorted({tr.id for tr in st})}")
        by_comp = {tr.stats.channel[-1:]: tr for tr in st}
        missing = [c for c in "ENZ" if c not in by_comp]
        if missing:
            raise ValueError(f"stream {k} ({st[0].id[:-1]}): no component(s) {missing}; need E, N and Z channels")
        units = {str(getattr(getattr(tr.stats, "heggs", {}), "units", "m/s2")) for tr in st}
        if units != {"m/s2"}:
            raise ValueError(f"stream {k} ({st[0].id[:-1]}): units {sorted(units)}; intensity measures need m/s²")
        n = min(by_comp[c].stats.npts for c in "ENZ")
        arrays.append(np.stack([np.asarray(by_comp[c].data[:n], dtype=np.float64) for c in "ENZ"]))
        dts.add(round(float(by_comp["E"].stats.delta), 12))
        tr = by_comp["E"]
        heggs = getattr(tr.stats, "heggs", None)
        if heggs is not None and "target" in heggs:
            row = _target_ids(dict(heggs.target), int(heggs.get("member", 0)), heggs.get("seed"))
        else:
            row = {"network": tr.stats.network, "station": tr.stats.station}
        row["location"] = tr.stats.location
        ids.append(row)
    if len(dts) > 1 or len({a.shape[-1] for a in arrays}) > 1:
        raise ValueError(f"streams differ in sampling interval {sorted(dts)} or length; compute them separately")
    return np.stack(arrays), dts.pop(), "ENZ", ids


def _target_ids(target: dict[str, Any], member: int, seed=None) -> dict[str, Any]:
    """Identity columns of one generated record from a Target's ``as_dict()``."""
    from ..traveltimes import epicentral_distance_km

    row = {k: target.get(k) for k in ID_COLUMNS}
    row["member"] = int(member)
    row["seed"] = int(seed) if seed is not None else int(target.get("seed", 0)) + int(member)
    row["epicentral_distance_km"] = float(epicentral_distance_km(target["event_lat"], target["event_lon"],
                                                                 target["station_lat"], target["station_lon"]))
    return row  # ID_COLUMNS, in that order


def intensity_measures(
    records,
    dt: float | None = None,
    components: str = "ENZ",
    *,
    targets: Sequence[Any] | None = None,
    members: Sequence[int] | None = None,
    periods: Sequence[float] = STANDARD_PERIODS_S,
    damping: float = 0.05,
) -> pd.DataFrame:
    """Intensity measures of 3-component acceleration records, one row per record.

    records : an ObsPy Stream (one record), a list of Streams (e.g. :meth:`heggs.HEGGS.generate`'s
        output; E/N/Z channels, m/s²; ``dt`` from the traces, identity columns from
        ``stats.heggs``), or an array (n, n_components, n_samples) / (n_components, n_samples)
        of acceleration in m/s² with ``dt`` (s) and ``components`` naming the component axis
        (must contain E and N; Z optional).
    targets, members : with an array, the :class:`heggs.scenario.Target` of each row and its
        ensemble member; they give the identity columns (event_id, network, station, member,
        seed, magnitude, coordinates, epicentral_distance_km).
    periods : PSA periods, s (default :data:`STANDARD_PERIODS_S`); damping : fraction of critical.

    Columns (units in the names): ``pga_rotd50_m_s2``, ``pga_rotd50_g``, ``pga_<c>_m_s2``,
    ``pga_<c>_g``; ``pgv_rotd50_m_s``, ``pgv_<c>_m_s``; ``psa_rotd50_<T>s_m_s2`` and
    ``psa_rotd50_<T>s_g`` per period; ``arias_<c>_m_s``; ``d5_95_<c>_s`` (``<c>`` each
    component). RotD50 (Boore 2010) is over the two horizontals; PGV integrates the mean-removed
    acceleration (:func:`heggs.evaluate.metrics.velocity`).
    """
    ids: list[dict[str, Any]] = []
    if not isinstance(records, np.ndarray) and (hasattr(records, "traces") or (
            isinstance(records, (list, tuple)) and records and hasattr(records[0], "traces"))):
        acc, dt, components, ids = _from_streams(records)
    else:
        acc = np.asarray(records, dtype=np.float64)
        if acc.ndim == 2:
            acc = acc[None]
        if acc.ndim != 3 or acc.shape[1] != len(components):
            raise ValueError(f"records must be (n, {len(components)}, n_samples) for components {components!r}, "
                             f"got shape {acc.shape}")
        if dt is None:
            raise ValueError("give dt (s) with an array of records")
        if targets is not None:
            members = list(members) if members is not None else [0] * len(targets)
            if len(targets) != len(acc) or len(members) != len(acc):
                raise ValueError(f"{len(acc)} records but {len(targets)} targets / {len(members)} members")
            ids = [_target_ids(t.as_dict(), m, t.seed + m) for t, m in zip(targets, members)]
    if "E" not in components or "N" not in components:
        raise ValueError(f"components {components!r} must contain the horizontals E and N")
    dt = float(dt)
    horizontal = acc[:, [components.index("E"), components.index("N")]]
    per = np.asarray(periods, dtype=np.float64)
    cols: dict[str, np.ndarray] = {}
    pga_rotd50 = rotd_peak(horizontal, percentiles=(50,))[:, 0]
    cols["pga_rotd50_m_s2"], cols["pga_rotd50_g"] = pga_rotd50, pga_rotd50 / G
    peak = pga(acc)
    for i, c in enumerate(components):
        cols[f"pga_{c}_m_s2"], cols[f"pga_{c}_g"] = peak[:, i], peak[:, i] / G
    cols["pgv_rotd50_m_s"] = rotd_peak(velocity(horizontal, dt), percentiles=(50,))[:, 0]
    peak_v = pgv(acc, dt)
    for i, c in enumerate(components):
        cols[f"pgv_{c}_m_s"] = peak_v[:, i]
    psa = rotd(horizontal, dt, per, damping, percentiles=(50,))[..., 0]  # (n, P) m/s²
    for j, (name_ms2, name_g) in enumerate(zip(psa_columns(per, "m_s2"), psa_columns(per, "g"))):
        cols[name_ms2], cols[name_g] = psa[:, j], psa[:, j] / G
    arias = arias_intensity(acc, dt)
    dur = significant_duration(acc, dt)
    for i, c in enumerate(components):
        cols[f"arias_{c}_m_s"] = arias[:, i]
    for i, c in enumerate(components):
        cols[f"d5_95_{c}_s"] = dur[:, i]
    table = pd.DataFrame(cols)
    if ids:
        table = pd.concat([pd.DataFrame(ids), table], axis=1)
    return table


def plot_psa_vs_gmpe(
    table: pd.DataFrame,
    periods: Sequence[float] = FIGURE_PERIODS_S,
    model: str = "BSSA14",
    v_s30: float = 760.0,
    title: str | None = None,
):
    """RotD50 PSA of a generated ensemble against a GMPE's median ±1σ, one panel per period.

    table : :func:`intensity_measures` with identity columns (event_id, station, magnitude,
        event_depth_km, epicentral_distance_km) and the PSA columns of ``periods``.
    Per station: the ensemble median (dot) and its 16–84 % range (bar), in g, at the station's
    epicentral distance. Per event: the GMPE's median (line) and ±1σ (band) over the stations'
    distance range (:func:`heggs.evaluate.gmpe.gmpe_psa`, point source, strike-slip,
    ``v_s30`` m/s; the magnitude is used as Mw whatever its type). Returns a Figure.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    need = {"event_id", "station", "magnitude", "event_depth_km", "epicentral_distance_km"}
    if need - set(table.columns):
        raise ValueError(f"table lacks identity columns {sorted(need - set(table.columns))}")
    names = psa_columns(periods, "g")
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ValueError(f"table lacks PSA columns {missing}: compute intensity_measures with these periods")
    fig = Figure(figsize=(4.2 * len(names) + 0.6, 4.6), layout="constrained")
    axes = fig.subplots(1, len(names), sharey=True, squeeze=False)[0]
    events = list(dict.fromkeys(table["event_id"]))
    colours = [f"C{i % 10}" for i in range(len(events))]
    beyond: set[str] = set()  # scenario parameters outside the GMPE's recommended limits
    mtypes = sorted({str(x) for x in table.get("magnitude_type", pd.Series(dtype=str)).dropna() if str(x).strip()})
    for ax, name, period in zip(axes, names, periods):
        for ev, col in zip(events, colours):
            rows = table[table["event_id"] == ev]
            per_station = rows.groupby(["station", "epicentral_distance_km"], sort=False)[name]
            stats = per_station.quantile([0.16, 0.5, 0.84]).unstack()
            d = np.array([k[1] for k in stats.index], dtype=float)
            med, lo, hi = stats[0.5].to_numpy(), stats[0.16].to_numpy(), stats[0.84].to_numpy()
            mag, depth = float(rows["magnitude"].iloc[0]), float(rows["event_depth_km"].iloc[0])
            grid = np.geomspace(max(d.min(), 1.0) / 1.3, max(d.max(), 1.0) * 1.3, 40)
            with warnings.catch_warnings(record=True) as caught:  # pygmm warns once per scenario
                warnings.simplefilter("always")
                gm, sig = gmpe_psa(model, [period], mag, grid, depth, v_s30)
            beyond |= {" ".join(str(w.message).split()[:1]) for w in caught if issubclass(w.category, UserWarning)}
            gm, sig = gm[:, 0], sig[:, 0]
            label = f"{ev}: M{mag:g}" if len(events) > 1 else f"M{mag:g}, depth {depth:g} km"
            ax.fill_between(grid, gm * np.exp(-sig), gm * np.exp(sig), color=col, alpha=0.15, lw=0,
                            label=f"{model} median ±1σ" if ev == events[0] else None)
            ax.plot(grid, gm, color=col, lw=1.2)
            ax.errorbar(d, med, yerr=[med - lo, hi - med], fmt="o", color=col, ms=4, capsize=2, lw=0.9,
                        label=f"generated median, 16–84 % ({label})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        # distances as plain numbers: 10, 20, 50, 100 ... (not 2×10¹)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
        ax.set_title(f"PSA RotD50, T = {period:g} s")
        ax.set_xlabel("Epicentral distance (km)")
        ax.grid(True, which="both", lw=0.4, color="0.9")
    axes[0].set_ylabel("PSA (g), 5 % damping")
    axes[0].legend(fontsize=7, loc="lower left")
    note = (f"GMPE: {model}, Vs30 = {v_s30:g} m/s, point source"
            + (f"; magnitude type {', '.join(mtypes)} used as Mw" if mtypes and not set(m.lower() for m in mtypes) <= {"mw"} else ""))
    if beyond:
        note += f"; {model} used beyond its recommended limits ({', '.join(sorted(beyond))})"
    fig.suptitle((title + "\n" if title else "") + note, fontsize=10)
    return fig


def write_intensity_outputs(
    waveforms: np.ndarray,
    targets: Sequence[Any],
    members: Sequence[int],
    out_dir: str | Path,
    sampling_rate_hz: float,
    components: str = "ENZ",
    *,
    out_of_range: Sequence[list] | None = None,
    figure: bool = False,
    model: str = "BSSA14",
    v_s30: float = 760.0,
    suffix: str = "",
) -> list[Path]:
    """``intensity_measures{suffix}.csv`` of generated records and, with ``figure``,
    ``psa_vs_gmpe{suffix}.png`` (what ``heggs generate`` writes; see :func:`heggs.generate.run_scenarios`).

    waveforms : (N, n_components, n_samples) m/s²; targets, members : (N,) each.
    out_of_range : (N,) lists of :func:`heggs.scenario.range_violations` entries; they become the
        column ``out_of_training_range`` (quantities, ``;``-separated; empty when in range).
    Returns the files written (atomically).
    """
    from ..output import write_csv

    out_dir = Path(out_dir)
    table = intensity_measures(waveforms, 1.0 / float(sampling_rate_hz), components, targets=targets,
                               members=members)
    if out_of_range is not None:
        table.insert(len(ID_COLUMNS), "out_of_training_range",
                     [";".join(v["quantity"] for v in vs) for vs in out_of_range])
    files = [write_csv(table, out_dir / f"intensity_measures{suffix}.csv")]
    if figure:
        n_st = table[["network", "station", "station_lat", "station_lon"]].drop_duplicates().shape[0]
        fig = plot_psa_vs_gmpe(table, model=model, v_s30=v_s30,
                               title=f"Generated ensemble ({len(table)} records, {n_st} stations) vs GMPE")
        p = out_dir / f"psa_vs_gmpe{suffix}.png"
        fig.savefig(p, dpi=110)
        files.append(p)
    return files
