"""Stage plots — figures from plain arrays (no store, no model).

Every ``plot_*`` function takes arrays or DataFrames and returns a :class:`matplotlib.figure.Figure`;
the caller saves it. Record sections have one building block, :func:`draw_record_section` (one
component of a section into an Axes), used by :func:`plot_record_section` (``heggs inspect``,
``heggs generate --section``) and :func:`plot_section_panels` (real | generated panels of
``heggs evaluate``, heggs.evaluate.report; docs/metrics.md); :func:`thin_by_distance` picks the
records of a crowded section for both. Maps are plain
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


def thin_by_distance(distances_km: Sequence[float], max_traces: int) -> np.ndarray:
    """Indices of at most ``max_traces`` records spread evenly over the distance range: for each
    of ``max_traces`` distances equally spaced from the nearest to the farthest record, the
    record closest to it (each record once), then records closer than half that spacing to the
    previous one dropped. Clustered stations thus give one trace per ``range / max_traces`` km
    instead of a pile of overlapping traces. All records when there are not more.

    distances_km : (n,) km. Returns (m,) int indices into ``distances_km`` by increasing distance
    (m <= ``max_traces``; the nearest and the farthest record always kept).
    """
    dist = np.asarray(distances_km, dtype=np.float64)
    order = np.argsort(dist, kind="stable")
    if max_traces <= 0 or len(order) <= max_traces:
        return order
    d = dist[order]
    targets = np.linspace(d[0], d[-1], max_traces)
    right = np.clip(np.searchsorted(d, targets), 1, len(d) - 1)
    nearest = np.unique(np.where(np.abs(d[right - 1] - targets) <= np.abs(d[right] - targets), right - 1, right))
    # two targets' nearest records can lie close together: keep records at least half a step apart
    step, keep = (d[-1] - d[0]) / max(max_traces - 1, 1), [nearest[0]]
    for k in nearest[1:]:
        if d[k] - d[keep[-1]] >= 0.5 * step or k == nearest[-1]:
            keep.append(k)
    if len(keep) > 2 and d[keep[-1]] - d[keep[-2]] < 0.5 * step:
        del keep[-2]  # the farthest record stays
    return order[np.asarray(keep)]


def trace_height_km(distances_km: Sequence[float], scale: float = 1.0) -> float:
    """Half-height (km on the distance axis) of a trace normalised to its peak: 0.6 ``scale`` of
    the mean distance spacing (1 km, or 10 % of the distance, for a single record)."""
    dist = np.asarray(distances_km, dtype=np.float64)
    n = len(dist)
    span = float(np.ptp(dist)) if n > 1 else 0.0
    return 0.6 * scale * (span / (n - 1) if n > 1 and span > 0 else max(1.0, 0.1 * abs(dist[0]) if n else 1.0))


def valid_peaks(traces: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Peak |amplitude| of each record within its valid range.

    traces : (n, n_samples) or (n, n_components, n_samples) (peak over the components);
    valid : (n, 2) ``[start, end)`` samples (None: the whole window). Returns (n,); 0 where the
    valid range is empty.
    """
    x = np.asarray(traces, dtype=np.float64)
    x = x[:, None, :] if x.ndim == 2 else x
    n, ns = x.shape[0], x.shape[-1]
    v = np.asarray(valid, dtype=np.int64) if valid is not None else np.tile([0, ns], (n, 1))
    out = np.zeros(n)
    for i in range(n):
        seg = x[i, :, v[i, 0]:v[i, 1]]
        out[i] = np.max(np.abs(seg)) if seg.size else 0.0
    return out


def draw_record_section(
    ax,
    traces: np.ndarray,
    distances_km: Sequence[float],
    sampling_rate_hz: float,
    height_km: float,
    *,
    peaks: Sequence[float] | None = None,
    valid: np.ndarray | None = None,
    p_samples: Sequence[float] | None = None,
    s_samples: Sequence[float] | None = None,
    time_offset_s: float = 0.0,
    color: str = "k",
    shade: bool = True,
    zorder: float = 2,
) -> np.ndarray:
    """Draw one component of a record section into ``ax`` (the building block of every section).

    traces : (n, n_samples) float, any units; distances_km : (n,) km, where each trace is drawn;
    height_km : half-height of a trace on the distance axis (:func:`trace_height_km`).
    peaks : (n,) normaliser of each trace (default :func:`valid_peaks`: its own peak in the valid
    range), so every trace reaches ``height_km`` within that range.
    valid : (n, 2) ``[start, end)`` valid samples; with ``shade`` the rest of each row is shaded
    ``INVALID_COLOR`` (padding). p_samples, s_samples : (n,) arrival sample indices (NaN = none),
    drawn as ticks 2.2 ``height_km`` long (two LineCollections with gid ``"P"`` and ``"S"``).
    time_offset_s : time of sample 0 after the origin (s); the x-limits are the full window.
    Returns the (n,) peaks used.
    """
    from matplotlib.collections import LineCollection

    w = np.asarray(traces, dtype=np.float64)
    n, ns = w.shape
    dist = np.asarray(distances_km, dtype=np.float64)
    t = time_offset_s + np.arange(ns) / float(sampling_rate_hz)
    valid = np.asarray(valid, dtype=np.int64) if valid is not None else np.tile([0, ns], (n, 1))
    pk = np.asarray(peaks, dtype=np.float64) if peaks is not None else valid_peaks(w, valid)
    h = float(height_km)
    for i in np.argsort(dist, kind="stable"):
        y0 = dist[i]
        v0, v1 = valid[i]
        if shade and v0 > 0:
            ax.fill_between(t[[0, min(v0, ns - 1)]], y0 - h, y0 + h, color=INVALID_COLOR, lw=0, zorder=0)
        if shade and v1 < ns:
            ax.fill_between(t[[max(v1, 0), ns - 1]], y0 - h, y0 + h, color=INVALID_COLOR, lw=0, zorder=0)
        ax.plot(t, y0 + h * w[i] / (pk[i] or 1.0), color=color, lw=0.5, zorder=zorder,
                alpha=1.0 if color == "k" else 0.85)
    for arr, col, name in ((p_samples, P_COLOR, "P"), (s_samples, S_COLOR, "S")):
        if arr is None:
            continue
        ta = time_offset_s + np.asarray(arr, dtype=np.float64) / sampling_rate_hz
        ok = np.isfinite(ta)
        segs = [[(x, y - 1.1 * h), (x, y + 1.1 * h)] for x, y in zip(ta[ok], dist[ok])]
        ax.add_collection(LineCollection(segs, colors=col, linewidths=1.6, zorder=4, gid=name))
    ax.set_xlim(t[0], t[-1])
    return pk


def label_traces(ax, distances_km: Sequence[float], texts: Sequence[str], ylim: tuple[float, float],
                 fontsize: float = 7, pad_pt: float = 3.0) -> None:
    """Write ``texts`` (n,) at the right of ``ax``, one per trace at its distance (km), pushed
    apart where distances cluster (a thin line then joins label and trace); ``ylim`` is the
    panel's distance range."""
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory

    dist = np.asarray(distances_km, dtype=np.float64)
    if len(dist) == 0:
        return
    lo, hi = ylim
    order = np.argsort(dist, kind="stable")
    # labels are pushed apart by one line of text (from the axes' height), at most an even share
    height_in = ax.get_position().height * ax.figure.get_figheight()
    line = 1.3 * fontsize / 72 / max(height_in, 1e-3) * (hi - lo)
    gap = min((hi - lo) / max(len(dist) + 1, 1) * 0.9, line)
    ys = _spread(dist[order], gap, lo, hi)
    shift = ScaledTranslation(pad_pt / 72, 0, ax.figure.dpi_scale_trans)
    at = blended_transform_factory(ax.transAxes, ax.transData)
    for i, y in zip(order, ys):
        ax.annotate(texts[i], (1.0, dist[i]), xytext=(1.0, y), xycoords=at, textcoords=at + shift,
                    fontsize=fontsize, va="center", ha="left", annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5, "shrinkA": 0, "shrinkB": 0}
                    if abs(y - dist[i]) > gap / 4 else None)


def _label_fontsize(n: int) -> float:
    return 7 if n <= 30 else 6 if n <= 60 else 5


def _section_handles(label: str, overlay_label: str | None, p: bool, s: bool, padded: bool,
                     arrivals: str = "") -> list:
    handles = [Line2D([], [], color="k", lw=1, label=f"{label} (each trace / its peak)")]
    if overlay_label is not None:
        handles.append(Line2D([], [], color=OVERLAY_COLOR, lw=1, label=overlay_label))
    if p:
        handles.append(Line2D([], [], color=P_COLOR, lw=2, label=f"P{arrivals}"))
    if s:
        handles.append(Line2D([], [], color=S_COLOR, lw=2, label=f"S{arrivals}"))
    if padded:
        handles.append(Patch(color=INVALID_COLOR, label="outside valid range (padding)"))
    return handles


def _section_arrays(waveforms, distances_km, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(waveforms (n, n_components, n_samples), distances_km (n,))`` as float64, or a
    ValueError naming ``name`` when the shapes do not fit a record section."""
    w = np.asarray(waveforms, dtype=np.float64)
    if w.ndim != 3:
        raise ValueError(f"{name}: records must be (n, n_components, n_samples), got shape {w.shape}")
    dist = np.asarray(distances_km, dtype=np.float64)
    if dist.shape != (w.shape[0],):
        raise ValueError(f"distances_km must have shape ({w.shape[0]},), got {dist.shape}")
    return w, dist


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
    Panels are drawn with :func:`draw_record_section`.
    """
    w, dist = _section_arrays(waveforms, distances_km, "waveforms")
    n, _, ns = w.shape
    if overlay is not None and np.shape(overlay) != w.shape:
        raise ValueError(f"overlay shape {np.shape(overlay)} != waveforms shape {w.shape}")
    missing = [c for c in show if c not in components]
    if missing:
        raise ValueError(f"cannot show component(s) {missing}: waveforms hold {components!r}")
    cidx = [components.index(c) for c in show]
    units_arr = np.full(n, units, dtype=object) if isinstance(units, str) else np.asarray(units, dtype=object)
    valid = np.asarray(valid, dtype=np.int64) if valid is not None else np.tile([0, ns], (n, 1))
    h = trace_height_km(dist, scale)
    pk = valid_peaks(w[:, cidx], valid)  # per trace, over the shown components, valid part only
    ov = np.asarray(overlay, dtype=np.float64) if overlay is not None else None
    pk_o = valid_peaks(ov[:, cidx], valid) if ov is not None else None
    fig = Figure(figsize=(4.5 * len(cidx) + 2.5, 1.2 + min(0.45 * n + 3, 14)))
    axes = fig.subplots(1, len(cidx), sharey=True, squeeze=False)
    for p, (ax, c) in enumerate(zip(axes[0], cidx)):
        draw_record_section(ax, w[:, c], dist, sampling_rate_hz, h, peaks=pk, valid=valid, p_samples=p_samples,
                            s_samples=s_samples, time_offset_s=time_offset_s)
        if ov is not None:
            draw_record_section(ax, ov[:, c], dist, sampling_rate_hz, h, peaks=pk_o, valid=valid,
                                time_offset_s=time_offset_s, color=OVERLAY_COLOR, shade=False, zorder=3)
        ax.set_title(f"{show[p]} component")
        ax.set_xlabel("Time after origin (s)")
        ax.grid(True, axis="x", lw=0.4, color="0.9")
    axes[0, 0].set_ylabel("Epicentral distance (km)")
    if n:
        lo, hi = dist.min() - 1.6 * h, dist.max() + 1.6 * h
        axes[0, 0].set_ylim(lo, hi)
        texts = []
        for i in range(n):  # peak and unit of each trace at the right
            unit = UNIT_LABELS.get(str(units_arr[i]), str(units_arr[i]))
            txt = f"{labels[i]}  " if labels is not None else ""
            texts.append(txt + f"{pk[i]:.2e} {unit}" + (f" / {pk_o[i]:.2e}" if pk_o is not None else ""))
        label_traces(axes[0, -1], dist, texts, (lo, hi), fontsize=7 if n <= 40 else 6)
    handles = _section_handles(label, overlay_label if overlay is not None else None, p_samples is not None,
                               s_samples is not None, bool(np.any(valid[:, 0] > 0) or np.any(valid[:, 1] < ns)))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    if title:
        _suptitle(fig, title)
    fig.tight_layout(rect=(0, 0.035, 1, 1))
    return fig


def plot_section_panels(
    panels: dict[str, np.ndarray | None],
    distances_km: Sequence[float],
    sampling_rate_hz: float,
    *,
    components: str = "ENZ",
    show: str = "Z",
    units: dict[str, str | Sequence[str]] | None = None,
    p_samples: Sequence[float] | None = None,
    s_samples: Sequence[float] | None = None,
    arrivals: str = "",
    valid: np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    time_offset_s: float = 0.0,
    overlay: bool = False,
    missing_note: str = "not available",
    scale: float = 1.0,
    title: str | None = None,
) -> Figure:
    """Record sections of the same records side by side (e.g. real | generated with source |
    generated without source), drawn with :func:`draw_record_section`.

    panels : name -> (n, n_components, n_samples) float, or None (drawn as an empty frame with
        ``missing_note``); the FIRST is the reference (the real records).
    distances_km : (n,) km; sampling_rate_hz : Hz; show : ONE component letter of ``components``.
    units : name -> unit of that set (one string or (n,)), written in the panel title (or after
        each peak where a panel mixes units); default m/s².
    p_samples, s_samples : (n,) arrival samples (NaN = none), ticked in EVERY panel so that
        generated arrivals can be read against them; arrivals : legend suffix saying where
        they come from (e.g. " (store arrivals)").
    valid : (n, 2) valid ``[start, end)`` samples of the reference; outside it every panel is
        shaded and the full window is shown. labels : (n,) station names, at the right of the
        last panel; each panel's traces have their peak (in the valid range) at its right.
    overlay : False: one panel per set. True: one panel per non-reference set that holds
        records, drawn in orange over the reference in black (peaks "reference / set"); sets
        that are None are left out (the reference alone when all are).
    Panels have equal widths, shared time and distance axes (one row per station across
    panels) and margins sized in inches for the labels, so they fill most of the figure.
    """
    names = list(panels)
    if not names:
        raise ValueError("plot_section_panels needs at least one set of records")
    if len(show) != 1 or show not in components:
        raise ValueError(f"show must be one component of {components!r}, got {show!r}")
    c = components.index(show)
    ref_name = names[0]
    ref = panels[ref_name]
    if ref is None:
        raise ValueError(f"the reference set {ref_name!r} must hold records")
    ref, dist = _section_arrays(ref, distances_km, ref_name)
    n, _, ns = ref.shape
    for k, v in panels.items():
        if v is not None and np.shape(v) != ref.shape:
            raise ValueError(f"{k}: shape {np.shape(v)} != {ref_name} shape {ref.shape}")
    units = units or {}
    valid = np.asarray(valid, dtype=np.int64) if valid is not None else np.tile([0, ns], (n, 1))
    h = trace_height_km(dist, scale)
    lo, hi = (dist.min() - 1.6 * h, dist.max() + 1.6 * h) if n else (0.0, 1.0)
    fs_lab = _label_fontsize(n)

    def unit_of(name: str) -> tuple[str, list[str]]:
        u = units.get(name, "m/s2")
        per = [UNIT_LABELS.get(str(x), str(x)) for x in (np.full(n, u, dtype=object) if isinstance(u, str) else u)]
        return (per[0] if len(set(per)) == 1 else ""), per

    # (title, reference drawn?, set drawn in colour or None, peak texts)
    layout = []
    shown = [k for k in names[1:] if panels[k] is not None] if overlay else names
    overlay = overlay and bool(shown)
    for name in (shown if overlay else names):
        x = panels[name]
        xs = None if x is None else np.asarray(x, dtype=np.float64)[:, c]
        one, per = unit_of(name)
        pk = valid_peaks(xs, valid) if xs is not None else None
        if overlay and name != ref_name:
            r_one, r_per = unit_of(ref_name)
            pk_r = valid_peaks(ref[:, c], valid)
            both = r_one and one
            texts = ([f"{pk_r[i]:.1e} / {pk[i]:.1e}" + ("" if both else f" {per[i]}") for i in range(n)]
                     if pk is not None else None)
            head = f"{name} (orange) over {ref_name}"
            if both:
                head += f"\npeaks {ref_name} / generated: {r_one}" + (f" / {one}" if one != r_one else "")
            layout.append((head, pk_r, xs, pk, texts))
        else:
            texts = [f"{pk[i]:.1e}" + ("" if one else f" {per[i]}") for i in range(n)] if pk is not None else None
            head = name + (f"\npeak at right in {one}" if one and pk is not None else "")
            layout.append((head, None, xs, pk, texts))
    if labels is not None:  # station names after the last panel's peaks
        t_last = layout[-1][4]
        layout[-1] = layout[-1][:4] + ([f"{a}  {b}" for a, b in zip(t_last, labels)] if t_last is not None
                                      else [str(b) for b in labels],)
    # margins in inches from the labels' widths; the panels take >= 80 % of the figure's width
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    font, t2p = FontProperties(size=fs_lab), TextToPath()
    gaps = [max((t2p.get_text_width_height_descent(s, font, ismath=False)[0] for s in (p[4] or [""])),
                default=0.0) / 72 + 0.2 for p in layout]
    k = len(layout)
    left, bottom_in = 0.75, 0.95
    panel_w = max(5.0 if k > 1 else 8.0, 4.2 * (left + sum(gaps)) / k)
    width = left + k * panel_w + sum(gaps)
    fig = Figure(figsize=(width, 1.6 + min(0.3 * n + 2.6, 14.0)))
    wrapped = []
    if title:
        import textwrap

        wrapped = textwrap.wrap(title, max(30, int(width * 11)))
        fig.suptitle("\n".join(wrapped), fontsize=10, y=1 - 0.08 / fig.get_figheight())
    top_in = 0.2 + 0.19 * len(wrapped) + 0.42
    H = fig.get_figheight()
    axes, x = [], left
    for j in range(k):
        ax = fig.add_axes((x / width, bottom_in / H, panel_w / width, 1 - (bottom_in + top_in) / H),
                          sharex=axes[0] if axes else None, sharey=axes[0] if axes else None)
        axes.append(ax)
        x += panel_w + gaps[j]
    for ax, (head, pk_r, xs, pk, texts) in zip(axes, layout):
        if pk_r is not None:  # overlay: the reference in black under the set
            draw_record_section(ax, ref[:, c], dist, sampling_rate_hz, h, peaks=pk_r, valid=valid,
                                time_offset_s=time_offset_s)
        if xs is not None:
            draw_record_section(ax, xs, dist, sampling_rate_hz, h, peaks=pk, valid=valid, p_samples=p_samples,
                                s_samples=s_samples, time_offset_s=time_offset_s, shade=pk_r is None,
                                color="k" if pk_r is None else OVERLAY_COLOR, zorder=2 if pk_r is None else 3)
        else:  # no records: the frame, the shading and the arrivals, and a note
            draw_record_section(ax, np.zeros((n, ns)), dist, sampling_rate_hz, h, peaks=np.ones(n), valid=valid,
                                p_samples=p_samples, s_samples=s_samples, time_offset_s=time_offset_s, color="none")
            ax.text(0.5, 0.5, missing_note, ha="center", va="center", transform=ax.transAxes, color="0.3",
                    fontsize=9, zorder=6, bbox={"facecolor": "white", "edgecolor": "0.7", "alpha": 0.95})
        ax.set_title(head, fontsize=9)
        ax.set_xlabel("Time after origin (s)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, axis="x", lw=0.4, color="0.9")
        if texts is not None:
            label_traces(ax, dist, texts, (lo, hi), fontsize=fs_lab)
    for ax in axes[1:]:
        ax.tick_params(labelleft=False)
    axes[0].set_ylabel("Epicentral distance (km)", fontsize=9)
    axes[0].set_ylim(lo, hi)
    padded = bool(np.any(valid[:, 0] > 0) or np.any(valid[:, 1] < ns))
    ov_label = "generated over the real record" if overlay else None
    handles = _section_handles(ref_name if ov_label else "records", ov_label, p_samples is not None,
                               s_samples is not None, padded, arrivals)
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.02 / H))
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
