"""Layout of the evaluation's record sections (heggs.evaluate.run.section_figure, drawn by
heggs.plots.plot_section_panels, the building block shared with ``heggs inspect``).

Checked on matplotlib objects, not pixels: the panels show the full window, have equal widths and
together span most of the figure, share the distance axis, carry P/S ticks in every panel, and
their titles and labels lie inside the figure.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from heggs import config as C
from heggs.evaluate.run import _section_arrivals, _write_sections, section_figure
from heggs.evaluate.scoring import EvalResult, load_test_set
from heggs.plots import plot_section_panels, thin_by_distance
from heggs.simulate.simulator import random_events, random_stations, simulate_store

RATE, LENGTH = 50.0, 30.0
REGION = (35.0, 35.6, -117.4, -116.8)


@pytest.fixture(scope="module")
def store12(tmp_path_factory):
    """3 events x 12 stations (a `heggs simulate` store), 30 s at 50 Hz; 2 events in the test split."""
    root = tmp_path_factory.mktemp("sections")
    cfg = C.SimulateConfig(window=C.WindowConfig(length_s=LENGTH, sampling_rate_hz=RATE, band_max_hz=20.0),
                           split_fractions=(0.34, 0.0, 0.66))
    ev = random_events(3, REGION, mag_min=3.5, mag_max=4.5, seed=5, cfg=cfg)
    st = random_stations(12, REGION, seed=5, cfg=cfg)
    simulate_store(root / "store", ev, st, cfg, seed=5, progress=False)
    return root / "store"


def _oracle_result(test, shift_s: float = 1.0, with_source: bool = True) -> EvalResult:
    """Record 0 of each mode: the real records delayed by ``shift_s`` (an oracle generator)."""
    k = int(round(shift_s * test.sampling_rate_hz))
    w = np.concatenate([test.waveforms[..., :k][..., ::-1], test.waveforms[..., :-k]], axis=-1)
    first = {"without_source": w}
    if with_source:
        first["with_source"] = 0.5 * w
    return EvalResult("oracle", "m/s2", pd.DataFrame(), np.zeros((0, 1)), np.zeros((0, 1)), first)


def _inside(fig, artist) -> bool:
    r = fig.canvas.get_renderer()
    bb, fb = artist.get_window_extent(r), fig.bbox
    return bb.x0 >= fb.x0 - 1 and bb.x1 <= fb.x1 + 1 and bb.y0 >= fb.y0 - 1 and bb.y1 <= fb.y1 + 1


def _check_layout(fig, n_panels: int, window: tuple[float, float]) -> list:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()  # the Agg renderer measures the texts as savefig draws them
    axes = fig.get_axes()
    assert len(axes) == n_panels
    for ax in axes:
        np.testing.assert_allclose(ax.get_xlim(), window)  # the full window, not the valid range
        assert ax.get_ylim() == axes[0].get_ylim()  # one distance axis: a station is one row
        gids = {c.get_gid() for c in ax.collections}
        assert {"P", "S"} <= gids, gids
        assert all(len(c.get_segments()) > 0 for c in ax.collections if c.get_gid() in ("P", "S"))
        assert ax.get_title() and _inside(fig, ax.title)
        for t in ax.texts:
            assert _inside(fig, t), t.get_text()
    widths = [ax.get_position().width for ax in axes]
    np.testing.assert_allclose(widths, widths[0], rtol=1e-9)
    assert sum(widths) >= 0.8, widths  # the panels fill the figure (no wide empty gaps)
    assert fig._suptitle is not None and _inside(fig, fig._suptitle)
    assert fig.legends and any("outside valid range" in t.get_text() for t in fig.legends[0].get_texts())
    return axes


def test_section_of_a_12_station_event(store12, tmp_path):
    test = load_test_set(store12, "test")
    valid = test.valid.copy()
    valid[::2, 1] = int(0.7 * test.waveforms.shape[-1])  # every other record ends early (tail padding)
    test = replace(test, valid=valid)
    ev = pd.Series(test.events).value_counts().index[0]
    rows = np.flatnonzero(test.events == ev)
    assert len(rows) >= 10
    res = _oracle_result(test)
    window = (0.0, (test.waveforms.shape[-1] - 1) / RATE)
    axes = _check_layout(section_figure(res, test, ev), 3, window)
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["real", "generated, with source",
                                                               "generated, without source"]
    # P ticks at the store's (exact) arrivals, the same in every panel
    p_store = test.meta["trace_P_arrival_sample"].to_numpy(float)[rows] / RATE
    for ax in axes:
        p = next(c for c in ax.collections if c.get_gid() == "P")
        np.testing.assert_allclose(sorted(s[0][0] for s in p.get_segments()), np.sort(p_store))
    # station labels with the peak after the last panel, one per record
    names = axes[-1].texts
    assert len(names) == len(rows) and all(t.get_text().split("  ")[-1].count(".") >= 1 for t in names)
    # overlay: one panel per generated set, generated over the real records
    axes = _check_layout(section_figure(res, test, ev, overlay=True), 2, window)
    assert axes[0].get_title().startswith("generated, with source (orange) over real")
    # a model without a source mode: an empty frame with a note, still with ticks and shading
    axes = _check_layout(section_figure(_oracle_result(test, with_source=False), test, ev), 3, window)
    assert any("not available" in t.get_text() for t in axes[1].texts)
    axes = _check_layout(section_figure(_oracle_result(test, with_source=False), test, ev, overlay=True), 1, window)
    assert axes[0].get_title().startswith("generated, without source (orange) over real")
    files = _write_sections(res, test, C.EvalConfig(max_sections=2), tmp_path / "sections")
    n_events = int((pd.Series(test.events).value_counts() >= 2).sum())
    assert len(files) == min(2, n_events) >= 1 and all(open(f, "rb").read(8) == b"\x89PNG\r\n\x1a\n" for f in files)


def test_section_arrivals_fall_back_to_taup(store12):
    """Without store arrivals the ticks are TauP iasp91 first arrivals (the simulator's own model)."""
    test = load_test_set(store12, "test")
    meta = test.meta.copy()
    p_store = meta["trace_P_arrival_sample"].to_numpy(float, copy=True)
    meta.loc[meta.index[::2], ["trace_P_arrival_sample", "trace_S_arrival_sample"]] = np.nan
    p, s, note = _section_arrivals(meta, RATE, 0.0)
    assert np.isfinite(p).all() and np.isfinite(s).all() and np.all(s > p)
    np.testing.assert_array_equal(p[1::2], p_store[1::2])  # the store's arrivals are kept
    assert np.max(np.abs(p[::2] - p_store[::2])) / RATE < 0.1
    assert "TauP iasp91" in note and f"{len(meta[::2])}" in note


def test_panels_thin_and_label_100_traces():
    rng = np.random.default_rng(1)
    n, ns, fs = 100, 1500, 50.0
    dist = np.sort(rng.uniform(5, 200, n))
    p = dist / 6.0 * fs + 5 * fs
    w = rng.normal(size=(n, 3, ns)) * 1e-4
    valid = np.tile([0, 1100], (n, 1))
    keep = thin_by_distance(dist, 60)
    assert 30 <= len(keep) <= 60 and keep[0] == 0 and keep[-1] == n - 1 and np.all(np.diff(dist[keep]) > 0)
    assert np.diff(dist[keep]).min() >= 0.5 * (dist[-1] - dist[0]) / 59  # no pile of overlapping traces
    cluster = np.r_[np.linspace(99.5, 100.5, 50), np.linspace(0, 200, 11)]
    kept = cluster[thin_by_distance(cluster, 21)]
    assert np.sum(np.abs(kept - 100) <= 0.5) <= 2 and kept.min() == 0 and kept.max() == 200
    fig = plot_section_panels({"real": w[keep], "generated": w[keep] * 2, "other": None}, dist[keep], fs,
                              p_samples=p[keep], s_samples=1.7 * p[keep], valid=valid[keep],
                              labels=[f"TW.S{i:03d}" for i in keep], title="x " * 200)
    axes = _check_layout(fig, 3, (0.0, (ns - 1) / fs))
    # labels of crowded traces are pushed apart: no two overlap
    r = fig.canvas.get_renderer()
    boxes = sorted((t.get_window_extent(r) for t in axes[-1].texts), key=lambda b: b.y0)
    assert all(b1.y0 >= b0.y1 - 0.5 for b0, b1 in zip(boxes, boxes[1:]))
    with pytest.raises(ValueError, match="one component"):
        plot_section_panels({"real": w}, dist, fs, show="ZN")
    with pytest.raises(ValueError, match="shape"):
        plot_section_panels({"real": w, "g": w[:3]}, dist, fs)
