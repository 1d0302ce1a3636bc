"""Tests of heggs.inspect, heggs.plots and the ``heggs inspect`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from heggs.cli import main
from heggs.inspect import default_event, format_summary, inspect_store, summarize
from heggs.plots import plot_map, plot_record_section

from test_data import EVENTS, N_SAMPLES, STATIONS, make_store, real_store

PNG = b"\x89PNG\r\n\x1a\n"
SKIPS = {"skips_by_reason": {"starts after P": 3, "no response": 2}, "records": 17}


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "s", side_files={"ingest_summary.json": json.dumps(SKIPS)})


def test_summarize_counts(store):
    s = summarize(store)
    assert s["records"] == sum(n for n, _ in EVENTS.values()) == 17
    assert s["events"] == 6 and s["paired_events"] == 5 and s["records_in_paired_events"] == 16
    assert s["stations"] == len(STATIONS)
    assert s["stations_per_event"] == {"mean": pytest.approx(17 / 6), "max": 5}
    assert s["units"] == {"m/s2": 11, "counts": 6}
    assert s["magnitude"] == [3.0, 5.5] and s["depth_km"] == [5.0, 10.0]
    assert s["splits"] == {"test": {"records": 6, "events": 2}, "train": {"records": 11, "events": 4}}
    assert s["skips_by_reason"] == SKIPS["skips_by_reason"]
    assert s["sampling_rate_hz"] == [100.0] and s["n_samples"] == [N_SAMPLES]
    assert s["missing_arrivals"] == {"P": 0, "S": 0}
    assert s["padded_records"] == 17  # every synthetic record starts its valid range at >= 10
    json.dumps(s)
    text = format_summary(s)
    assert "5 with >= 2 stations" in text and "starts after P" in text and "m/s2: 11" in text
    assert default_event(store.metadata) == "ev3"


def test_skips_from_ingest_report_csv(tmp_path):
    # the report exactly as heggs.ingest.run writes it (one row per Skip: origin, reason, detail)
    import pandas as pd

    from heggs.ingest.records import Skip

    skips = [Skip("a.mseed", "gap"), Skip("b.mseed", "gap", "12 s"), Skip("d.sac", "no response", "no PZ")]
    report = pd.DataFrame([{"origin": s.origin, "reason": s.reason, "detail": s.detail} for s in skips],
                          columns=["origin", "reason", "detail"]).to_csv(index=False)
    st = make_store(tmp_path / "r", side_files={"ingest_report.csv": report})
    s = summarize(st)
    assert s["skips_by_reason"] == {"gap": 2, "no response": 1}
    assert "skips_by_reason" not in summarize(make_store(tmp_path / "none"))


def test_record_section_normalises_each_trace():
    rng = np.random.default_rng(0)
    n, ns = 4, 300
    w = rng.normal(size=(n, 3, ns)) * np.array([1e-3, 1.0, 50.0, 1e4])[:, None, None]
    dist = np.array([40.0, 10.0, 25.0, 30.0])
    fig = plot_record_section(w, dist, 100.0, show="ENZ", p_samples=[50, 20, np.nan, 40], s_samples=[90, 40, 70, 80],
                              valid=np.array([[0, ns], [30, ns], [0, 200], [0, ns]]), labels=list("abcd"),
                              units=["m/s2", "m/s2", "counts", "m/s2"], overlay=w * 3)
    axes = fig.get_axes()
    assert len(axes) == 3 and axes[2].get_title() == "Z component"
    # in each panel the recorded traces all reach the same height above their distance
    heights = []
    for line in axes[0].get_lines():
        y = line.get_ydata()
        if len(y) == ns and line.get_color() == "k":
            d = dist[np.argmin(np.abs(dist - np.median(y)))]
            heights.append(np.max(np.abs(y - d)))
    assert len(heights) == n
    # peak taken over the 3 components in the valid range: every E trace is <= h, one reaches it
    h = 0.6 * (dist.max() - dist.min()) / (n - 1)
    assert max(heights) <= h + 1e-9 and min(heights) > 0.2 * h
    texts = [t.get_text() for t in axes[2].texts]
    assert any("counts" in t for t in texts) and any(t.startswith("b  ") for t in texts)
    with pytest.raises(ValueError, match="component"):
        plot_record_section(w, dist, 100.0, show="R")
    with pytest.raises(ValueError, match="overlay"):
        plot_record_section(w, dist, 100.0, overlay=w[:2])
    with pytest.raises(ValueError, match="distances_km"):
        plot_record_section(w, dist[:2], 100.0)


def test_plot_map_zoom_panel():
    fig = plot_map([35.0, 36.0], [-117.0, 179.9], [35.5, 36.2, 36.1], [-117.5, -179.9, 179.5],
                   magnitudes=[4.0, 6.5], depths_km=[5, 10], highlight_event=1, highlight_stations=[1, 2],
                   station_names=["A", "B", "C"])
    ax_overview, ax_zoom, _colourbar = fig.get_axes()
    assert len(ax_overview.collections[1].get_offsets()) == 2  # both events on the overview
    lo, hi = ax_zoom.get_xlim()
    assert hi - lo < 5  # the zoom unwraps stations across the antimeridian
    assert {t.get_text() for t in ax_zoom.texts} == {"B", "C"}


def test_inspect_cli_writes_pngs_and_summary(store, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["inspect", str(store.path), "--out", str(out), "--components", "ENZ"])
    assert res.exit_code == 0, res.output
    assert "events       6  (5 with >= 2 stations" in res.output and "event drawn  ev3" in res.output
    for name in ("map.png", "record_section.png"):
        data = (out / name).read_bytes()
        assert data[:8] == PNG and len(data) > 10_000
    assert json.loads((out / "summary.json").read_text())["records"] == 17
    res = CliRunner().invoke(main, ["inspect", str(store.path), "--out", str(out), "--event", "ev4", "--json",
                                    "--no-plots"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["paired_events"] == 5
    res = CliRunner().invoke(main, ["inspect", str(store.path), "--out", str(out), "--event", "nope"])
    assert res.exit_code != 0 and "no records of event 'nope'" in res.output


def test_inspect_store_api_event_choice(store, tmp_path):
    res = inspect_store(store, tmp_path / "o", event="ev4", show="Z", max_traces=2)
    assert res["event"] == "ev4" and len(res["files"]) == 3
    assert all((tmp_path / "o" / f).exists() for f in ("map.png", "record_section.png", "summary.json"))


@pytest.mark.shared_data
def test_inspect_real_store(shared_data, tmp_path_factory, tmp_path):
    """heggs inspect on a store ingested from ../shared/data (iceland_dike)."""
    store = real_store(shared_data, tmp_path_factory)
    ingest_summary = json.loads((store.path / "ingest_summary.json").read_text())
    res = CliRunner().invoke(main, ["inspect", str(store.path), "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["records"] == len(store) == ingest_summary["records"]
    assert s["paired_events"] == ingest_summary["paired_events"]
    assert s["skips_by_reason"] == ingest_summary["skips_by_reason"]
    assert s["units"] == {"counts": len(store)}
    assert (tmp_path / "record_section.png").read_bytes()[:8] == PNG
