"""Stage plots — figures from plain arrays (no store, no model).

Every function takes arrays or DataFrames and returns a :class:`matplotlib.figure.Figure`; the
caller saves it. ``heggs.inspect`` uses them on a store, ``heggs.evaluate.scoring`` on real vs
generated records (the record section overlays a second set of waveforms). Maps are plain
equirectangular lon/lat plots with the aspect corrected for latitude (no cartopy needed).
Figures are built without pyplot (no global state, no backend switch): save them with
``fig.savefig(path)``; Jupyter displays them as usual.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

#: How stored unit strings are written on axes.
UNIT_LABELS = {"m/s2": "m/s²", "counts": "counts", "m/s": "m/s", "cm/s2": "cm/s²"}
P_COLOR, S_COLOR, INVALID_COLOR, OVERLAY_COLOR = "tab:blue", "tab:red", "0.85", "darkorange"



def _suptitle(fig: Figure, title: str) -> None:
    """Figure title wrapped to the figure's width (long store/event names must not be clipped)."""
    import textwrap

    width = max(30, int(fig.get_figwidth() * 9))
    fig.suptitle("\n".join(textwrap.wrap(title, width)), fontsize=11)

def _aspect(lats: np.ndarray) -> float:
    """Equirectangular aspect (y per x) at the mean latitude; 1 for near-global extents."""
    lats = lats[np.isfinite(lats)]
    if len(lats) == 0 or np.ptp(lats) > 60:
        return 1.0
    return 1.0 / max(np.cos(np.deg2rad(lats.mean())), 0.1)


def _pad_limits(ax, lons: np.ndarray, lats: np.ndarray, frac: float = 0.08, min_span: float = 0.05,
                max_ratio: float = 2.2) -> float:
    """Set padded lon/lat limits and the latitude-corrected aspect; returns the aspect.

    The shorter side is widened so the panel's width/height stays within [1/max_ratio,
    max_ratio] (a data set spread along one parallel still gets a readable panel).
    """
    lo = np.array([np.nanmin(lons), np.nanmin(lats)])
    hi = np.array([np.nanmax(lons), np.nanmax(lats)])
    span = np.maximum(hi - lo, min_span) * (1 + 2 * frac)
    mid = (hi + lo) / 2
    aspect = _aspect(np.asarray(lats, float))
    ratio = span[0] / (span[1] * aspect)
    if ratio > max_ratio:
        span[1] = span[0] / (max_ratio * aspect)
    elif ratio < 1 / max_ratio:
        span[0] = span[1] * aspect / max_ratio
    ax.set_xlim(mid[0] - span[0] / 2, mid[0] + span[0] / 2)
    ax.set_ylim(max(mid[1] - span[1] / 2, -90), min(mid[1] + span[1] / 2, 90))
    ax.set_aspect(aspect)
    return aspect


def plot_map(
    event_lats: Sequence[float],
    event_lons: Sequence[float],
    station_lats: Sequence[float],
    station_lons: Sequence[float],
    *,
    magnitudes: Sequence[float] | None = None,
    depths_km: Sequence[float] | None = None,
    highlight_event: int | None = None,
    highlight_stations: Sequence[int] | None = None,
    station_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Events and stations on a lon/lat map.

    event_lats, event_lons : (n_events,) degrees. station_lats, station_lons : (n_stations,)
    degrees. magnitudes : (n_events,) marker size. depths_km : (n_events,) km, marker colour.
    highlight_event : index of one event; a second panel zooms on it with lines to
    ``highlight_stations`` (indices into the station arrays) labelled with ``station_names``.
    """
    elat, elon = np.asarray(event_lats, float), np.asarray(event_lons, float)
    slat, slon = np.asarray(station_lats, float), np.asarray(station_lons, float)
    zoom = highlight_event is not None
    fig = Figure(figsize=(13 if zoom else 7.5, 6))
    axes = fig.subplots(1, 2 if zoom else 1, squeeze=False)
    mags = np.asarray(magnitudes, float) if magnitudes is not None else np.full(len(elat), np.nan)
    finite = mags[np.isfinite(mags)]
    m_lo, m_hi = (finite.min(), finite.max()) if len(finite) else (np.nan, np.nan)

    def msize(m):  # marker area grows with magnitude over the data's own range (micro to large)
        if not np.isfinite(m_lo) or m_hi - m_lo < 1e-6:
            return np.full(np.shape(m), 120.0)
        return 20.0 + 380.0 * np.clip((np.nan_to_num(m, nan=m_lo) - m_lo) / (m_hi - m_lo), 0, 1) ** 1.5

    size = msize(mags)
    colour = np.asarray(depths_km, float) if depths_km is not None else None

    def draw(ax, ev_mask, st_mask):
        ax.scatter(slon[st_mask], slat[st_mask], marker="^", s=40, c="0.35", edgecolor="k", lw=0.4,
                   label="stations", zorder=3)
        sc = ax.scatter(elon[ev_mask], elat[ev_mask], s=size[ev_mask], marker="*",
                        c=colour[ev_mask] if colour is not None else "tab:orange",
                        cmap="viridis_r", edgecolor="k", lw=0.5, label="events", zorder=4)
        ax.set_xlabel("Longitude (°)")
        ax.set_ylabel("Latitude (°)")
        ax.grid(True, lw=0.4, color="0.85")
        ax.xaxis.set_major_locator(MaxNLocator(5))
        return sc

    ax = axes[0, 0]
    sc = draw(ax, np.ones(len(elat), bool), np.ones(len(slat), bool))
    _pad_limits(ax, np.r_[elon, slon], np.r_[elat, slat])
    ax.set_title(f"{len(elat)} events, {len(slat)} stations")
    if colour is not None:
        fig.colorbar(sc, ax=ax, shrink=0.7, label="Depth (km)")
    if np.isfinite(m_lo):  # magnitude legend with the data's own values
        for m in sorted({round(float(v), 1) for v in (m_lo, (m_lo + m_hi) / 2, m_hi)}):
            ax.scatter([], [], s=float(msize(np.array(m))), marker="*", c="w", edgecolor="k", label=f"M {m:g}")
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=6, fontsize=8, frameon=False)

    if zoom:
        ax = axes[0, 1]
        hs = np.asarray(highlight_stations if highlight_stations is not None else [], int)
        e = int(highlight_event)
        lon0 = elon[e]
        hlon = (slon[hs] - lon0 + 180) % 360 - 180 + lon0  # unwrap across the antimeridian
        for lo, la in zip(hlon, slat[hs]):
            ax.plot([lon0, lo], [elat[e], la], color="0.6", lw=0.6, zorder=1)
        ax.scatter(hlon, slat[hs], marker="^", s=60, c="0.35", edgecolor="k", lw=0.4, zorder=3,
                   label=f"{len(hs)} stations")
        ax.scatter([lon0], [elat[e]], s=300, marker="*", c="tab:red", edgecolor="k", zorder=4, label="epicentre")
        if station_names is not None and len(hs) <= 60:
            for lo, la, name in zip(hlon, slat[hs], np.asarray(station_names, dtype=object)[hs]):
                ax.annotate(str(name), (lo, la), xytext=(3, 3), textcoords="offset points", fontsize=7)
        _pad_limits(ax, np.r_[lon0, hlon], np.r_[elat[e], slat[hs]], frac=0.15)
        ax.set_xlabel("Longitude (°)")
        ax.set_ylabel("Latitude (°)")
        ax.grid(True, lw=0.4, color="0.85")
        ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.legend(loc="best", fontsize=8)
        axes[0, 0].scatter([elon[e]], [elat[e]], s=300, marker="*", facecolor="none", edgecolor="tab:red",
                           lw=1.5, zorder=5)
    if title:
        _suptitle(fig, title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_record_section(
    waveforms: np.ndarray,
    distances_km: Sequence[float],
    sampling_rate_hz: float,
    *,
    components: str = "ENZ",
    show: str = "Z",
    p_samples: Sequence[float] | None = None,
    s_samples: Sequence[float] | None = None,
    valid: np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    units: str | Sequence[str] = "m/s2",
    time_offset_s: float = 0.0,
    overlay: np.ndarray | None = None,
    label: str = "observed",
    overlay_label: str = "generated",
    scale: float = 1.0,
    title: str | None = None,
) -> Figure:
    """Traces offset by epicentral distance, each normalised to its own peak.

    waveforms : (n, n_components, n_samples) float, in ``units`` (m/s² or counts).
    distances_km : (n,) epicentral distance, km. sampling_rate_hz : Hz.
    components : order of the component axis. show : components to plot, one panel each.
    p_samples, s_samples : (n,) arrival sample indices (NaN = none), drawn as ticks.
    valid : (n, 2) ``[start, end)`` valid samples; outside is shaded grey (padding).
    labels : (n,) trace names, written at the right with the peak amplitude and its unit.
    units : one unit for all traces or (n,). time_offset_s : time of sample 0 after the origin.
    overlay : (n, n_components, n_samples) second set (e.g. generated), normalised the same way
        (its own peak) and drawn over the first in orange.
    scale : trace height relative to the default (0.6 of the mean distance spacing).
    """
    w = np.asarray(waveforms, dtype=np.float64)
    if w.ndim != 3:
        raise ValueError(f"waveforms must be (n, n_components, n_samples), got shape {w.shape}")
    n, _, ns = w.shape
    dist = np.asarray(distances_km, dtype=np.float64)
    if dist.shape != (n,):
        raise ValueError(f"distances_km must have shape ({n},), got {dist.shape}")
    if overlay is not None and np.shape(overlay) != w.shape:
        raise ValueError(f"overlay shape {np.shape(overlay)} != waveforms shape {w.shape}")
    missing = [c for c in show if c not in components]
    if missing:
        raise ValueError(f"cannot show component(s) {missing}: waveforms hold {components!r}")
    cidx = [components.index(c) for c in show]
    units_arr = np.full(n, units, dtype=object) if isinstance(units, str) else np.asarray(units, dtype=object)
    t = time_offset_s + np.arange(ns) / float(sampling_rate_hz)
    valid = np.asarray(valid, dtype=np.int64) if valid is not None else np.tile([0, ns], (n, 1))
    order = np.argsort(dist, kind="stable")
    span = np.ptp(dist) if n > 1 else 0.0
    h = 0.6 * scale * (span / (n - 1) if n > 1 and span > 0 else max(1.0, 0.1 * abs(dist[0]) if n else 1.0))

    def peaks(x: np.ndarray) -> np.ndarray:  # per trace, over the shown components, valid part only
        out = np.zeros(n)
        for i in range(n):
            seg = x[i, cidx, valid[i, 0]:valid[i, 1]]
            out[i] = np.max(np.abs(seg)) if seg.size else 0.0
        return out

    pk = peaks(w)
    pk_o = peaks(np.asarray(overlay, dtype=np.float64)) if overlay is not None else None
    fig = Figure(figsize=(4.5 * len(cidx) + 2.5, 1.2 + min(0.45 * n + 3, 14)))
    axes = fig.subplots(1, len(cidx), sharey=True, squeeze=False)
    for p, (ax, c) in enumerate(zip(axes[0], cidx)):
        for i in order:
            y0 = dist[i]
            v0, v1 = valid[i]
            if v0 > 0:
                ax.fill_between(t[[0, min(v0, ns - 1)]], y0 - h, y0 + h, color=INVALID_COLOR, lw=0, zorder=0)
            if v1 < ns:
                ax.fill_between(t[[max(v1, 0), ns - 1]], y0 - h, y0 + h, color=INVALID_COLOR, lw=0, zorder=0)
            ax.plot(t, y0 + h * w[i, c] / (pk[i] or 1.0), color="k", lw=0.5, zorder=2)
            if pk_o is not None:
                ax.plot(t, y0 + h * overlay[i, c] / (pk_o[i] or 1.0), color=OVERLAY_COLOR, lw=0.5, alpha=0.8, zorder=3)
            for arr, col in ((p_samples, P_COLOR), (s_samples, S_COLOR)):
                if arr is not None and np.isfinite(arr[i]):
                    ta = time_offset_s + float(arr[i]) / sampling_rate_hz
                    ax.plot([ta, ta], [y0 - 1.1 * h, y0 + 1.1 * h], color=col, lw=1.6, zorder=4)
        ax.set_title(f"{show[p]} component")
        ax.set_xlim(t[0], t[-1])
        ax.set_xlabel("Time after origin (s)")
        ax.grid(True, axis="x", lw=0.4, color="0.9")
    axes[0, 0].set_ylabel("Epicentral distance (km)")
    if n:
        lo, hi = dist.min() - 1.6 * h, dist.max() + 1.6 * h
        axes[0, 0].set_ylim(lo, hi)
        # peak and unit of each trace at the right, pushed apart where distances cluster
        ax, gap = axes[0, -1], (hi - lo) / max(n + 1, 1) * 0.9
        ys = _spread(dist[order], min(gap, (hi - lo) / 40), lo, hi)
        for i, y in zip(order, ys):
            unit = UNIT_LABELS.get(str(units_arr[i]), str(units_arr[i]))
            txt = f"{labels[i]}  " if labels is not None else ""
            txt += f"{pk[i]:.2e} {unit}" + (f" / {pk_o[i]:.2e}" if pk_o is not None else "")
            ax.annotate(txt, (1.0, dist[i]), xytext=(1.04, y), xycoords=("axes fraction", "data"),
                        textcoords=("axes fraction", "data"), fontsize=7 if n <= 40 else 6, va="center",
                        arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5} if abs(y - dist[i]) > gap / 4 else None)
    handles = [Line2D([], [], color="k", lw=1, label=f"{label} (each trace / its peak)")]
    if overlay is not None:
        handles.append(Line2D([], [], color=OVERLAY_COLOR, lw=1, label=overlay_label))
    if p_samples is not None:
        handles.append(Line2D([], [], color=P_COLOR, lw=2, label="P"))
    if s_samples is not None:
        handles.append(Line2D([], [], color=S_COLOR, lw=2, label="S"))
    if np.any(valid[:, 0] > 0) or np.any(valid[:, 1] < ns):
        handles.append(Patch(color=INVALID_COLOR, label="outside valid range (padding)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    if title:
        _suptitle(fig, title)
    fig.tight_layout(rect=(0, 0.035, 1, 1))
    return fig


def _spread(y: np.ndarray, gap: float, lo: float, hi: float) -> np.ndarray:
    """Sorted positions ``y`` moved apart to at least ``gap``, kept within [lo, hi] if possible."""
    out = np.array(y, dtype=float)
    for k in range(1, len(out)):
        out[k] = max(out[k], out[k - 1] + gap)
    over = out[-1] - hi if len(out) else 0.0
    if over > 0:  # shift down, then re-push upward from lo
        out -= over
        out[0] = max(out[0], lo)
        for k in range(1, len(out)):
            out[k] = max(out[k], out[k - 1] + gap)
    return out


def plot_generated_record(
    waveform: np.ndarray,
    sampling_rate_hz: float,
    components: str = "ENZ",
    *,
    units: str = "m/s2",
    time_offset_s: float = 0.0,
    title: str | None = None,
    warning: str | None = None,
) -> Figure:
    """One 3-component record: each component's trace above its spectrogram.

    waveform : (n_components, n_samples) float in ``units``; sampling_rate_hz : Hz;
    time_offset_s : time of sample 0 after the origin (s). Spectrograms are in dB
    (10·log10 of the power spectral density, ``units``²/Hz) on a shared colour scale (80 dB
    below the largest value), with a colour bar beside each. warning : a line put above
    ``title`` (e.g. "OUT OF TRAINING RANGE: ..."); the figure's suptitle then holds both, in red.
    """
    from scipy.signal import spectrogram

    w = np.asarray(waveform, dtype=float)
    n_c = w.shape[0]
    t = time_offset_s + np.arange(w.shape[1]) / sampling_rate_hz
    fig = Figure(figsize=(9.6, 2.0 * 2 * n_c + (0.3 if warning else 0.0)), layout="constrained")
    grid = fig.add_gridspec(2 * n_c, 2, height_ratios=[1.0, 0.8] * n_c, width_ratios=[1.0, 0.018])
    axes, caxes = [], []
    for r in range(2 * n_c):
        axes.append(fig.add_subplot(grid[r, 0], sharex=axes[0] if axes else None))
        if r % 2:
            caxes.append(fig.add_subplot(grid[r, 1]))
    nper = int(min(256, max(16, w.shape[1] // 16)))
    specs = [spectrogram(x, fs=sampling_rate_hz, nperseg=nper, noverlap=nper * 3 // 4) for x in w]
    db = [10 * np.log10(s[2] + 1e-30) for s in specs]
    vmax = max(float(np.max(d)) for d in db)
    unit_label = UNIT_LABELS.get(units, units)
    for k in range(n_c):
        ax = axes[2 * k]
        ax.plot(t, w[k], lw=0.6, color="k")
        ax.set_ylabel(f"{components[k]} [{unit_label}]")
        pk = np.max(np.abs(w[k]))
        ax.text(0.99, 0.9, f"peak {pk:.3g} {unit_label}", ha="right", va="top", transform=ax.transAxes, fontsize=8)
        ax.tick_params(labelbottom=False)
        f, tt, _ = specs[k]
        axs = axes[2 * k + 1]
        mesh = axs.pcolormesh(tt + time_offset_s, f, db[k], shading="auto", vmin=vmax - 80, vmax=vmax, cmap="magma")
        axs.set_ylabel(f"{components[k]} [Hz]")
        if k < n_c - 1:
            axs.tick_params(labelbottom=False)
        cb = fig.colorbar(mesh, cax=caxes[k])
        cb.set_label(f"PSD [dB re 1 ({unit_label})²/Hz]", fontsize=7)
        cb.ax.tick_params(labelsize=7)
    axes[0].set_xlim(t[0], t[-1])
    axes[-1].set_xlabel("time after origin [s]")
    if title or warning:
        import textwrap

        width = max(30, int(fig.get_figwidth() * 9))
        lines = [ln for x in (warning, title) if x for ln in textwrap.wrap(x, width)]
        fig.suptitle("\n".join(lines), fontsize=11, color="tab:red" if warning else "k",
                     fontweight="bold" if warning else "normal")
    return fig
