"""Generation as users run it: the Python API and every `heggs generate` mode on a tiny model.

A tiny model is trained for a few steps on a small synthetic m/s² store (quality is not the point
here: files, units, orientation, metadata, sample counts, seeds and guard rails are).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from obspy import Stream, Trace, UTCDateTime, read
from obspy.geodetics import gps2dist_azimuth

from heggs import config as C
from heggs.cli import main
from heggs.generate import HEGGS
from heggs.scenario import OutOfRangeWarning, ScenarioError, make_target
from heggs.store import StoreWriter

RATE, LENGTH_S = 25.0, 20.0
N = int(RATE * LENGTH_S)
ORIGIN = UTCDateTime("2020-01-01T00:00:00")
EVENTS = [(35.0 + 0.1 * i, -117.0 - 0.1 * i, 8.0, 3.0 + 0.5 * i) for i in range(3)]
STATIONS = [(35.05, -117.05), (34.95, -116.9), (35.2, -117.1)]
TEST_MODEL = {"ae_channels": [16, 16], "latent_channels": 16, "n_fft": 64, "hop_length": 32, "sampler_steps": 4}


def _record(rng, mag, dist_km):
    t = np.arange(N) / RATE
    tp, ts = dist_km / 6.0, dist_km / 3.5
    env = (t > tp) * np.exp(-(t - tp).clip(0) / 2) + 2 * (t > ts) * np.exp(-(t - ts).clip(0) / 3)
    amp = 10 ** (mag - 4.0) / max(dist_km, 5.0)
    return (amp * env * rng.normal(size=(3, N))).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    rng = np.random.default_rng(0)
    with StoreWriter(root / "store", "ENZ", RATE, N) as w:
        for i, (elat, elon, dep, mag) in enumerate(EVENTS):
            for j, (slat, slon) in enumerate(STATIONS):
                d, az, baz = gps2dist_azimuth(elat, elon, slat, slon)
                w.add(_record(rng, mag, d / 1e3), {
                    "source_id": f"ev{i}", "source_origin_time": str(ORIGIN + 3600 * i),
                    "source_latitude_deg": elat, "source_longitude_deg": elon, "source_depth_km": dep,
                    "source_magnitude": mag, "source_magnitude_type": "ML", "station_network_code": "XX",
                    "station_code": f"S{j}", "station_latitude_deg": slat, "station_longitude_deg": slon,
                    "trace_start_time": str(ORIGIN + 3600 * i), "trace_units": "m/s2",
                    "trace_valid_start_sample": 0, "trace_valid_end_sample": N, "trace_band_min_hz": 1.0,
                    "trace_band_max_hz": 11.25, "path_ep_distance_km": d / 1e3, "path_azimuth_deg": az,
                    "path_back_azimuth_deg": baz, "split": "train",
                })
    cfg = C.TrainConfig(data=str(root / "store"), preset="tiny", model=C.model_preset("tiny", **TEST_MODEL),
                        batch_size=4, steps=3, warmup_steps=1, checkpoint_interval=3, log_interval=1, num_workers=0)
    from heggs.train import train

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg, root / "run", progress=False)
    finally:
        torch.set_num_threads(n)
    return root


def _source_file(tmp_path, rng_seed=1, start=ORIGIN):
    w = _record(np.random.default_rng(rng_seed), EVENTS[0][3], 7.0)
    st = Stream()
    for comp, data in zip("ENZ", w):
        tr = Trace(data=data, header={"network": "XX", "station": "S0", "channel": f"HN{comp}",
                                      "sampling_rate": RATE, "starttime": start})
        st.append(tr)
    p = tmp_path / "src.mseed"
    st.write(str(p), format="MSEED")
    return p


def test_api_generates_streams_with_units_orientation_metadata(tiny_model):
    model = HEGGS.load(tiny_model / "run")
    assert model.sampling_rate_hz == RATE and model.n_samples == N and model.components == "ENZ"
    t = make_target(station_lat=35.3, station_lon=-117.2, event_lat=35.1, event_lon=-117.1, event_depth_km=8,
                    magnitude=3.5, origin_time="2021-05-01T12:00:00", n_records=2, seed=11)
    streams = model.generate(t, progress=False)
    assert len(streams) == 2
    st = streams[0]
    assert [tr.stats.channel for tr in st] == ["HNE", "HNN", "HNZ"]
    for tr in st:
        assert tr.stats.npts == N and tr.stats.sampling_rate == RATE
        assert tr.stats.starttime == UTCDateTime("2021-05-01T12:00:00")
        assert tr.stats.heggs.units == "m/s2" and tr.stats.heggs.seed == 11
        assert tr.stats.sac.evla == pytest.approx(35.1) and tr.stats.sac.stla == pytest.approx(35.3)
        assert np.all(np.isfinite(tr.data))
    assert streams[1][0].stats.location == "01" and not np.allclose(streams[0][0].data, streams[1][0].data)
    # seeded: the same target gives the same record, whatever else is in the batch
    other = make_target(station_lat=34.8, station_lon=-116.9, event_lat=35.1, event_lon=-117.1, event_depth_km=8,
                        magnitude=3.5, seed=99)
    w_alone, _, _ = model.generate_arrays([t], progress=False)
    w_mixed, _, _ = model.generate_arrays([other, t], batch_size=3, progress=False)
    np.testing.assert_allclose(w_mixed[1:], w_alone, rtol=1e-5, atol=1e-5 * np.abs(w_alone).max())


def test_waveforms_is_the_one_path_from_conditions(tiny_model):
    """HEGGS.waveforms: raw conditions + seeds -> gained records, independent of batching; the
    target API, the evaluation generator and the calibration all go through it."""
    from heggs.condition import condition_vector
    from heggs.evaluate.scoring import ModelGenerator

    model = HEGGS.load(tiny_model / "run")
    model.output_gain = 2.5
    t = make_target(station_lat=35.3, station_lon=-117.2, event_lat=35.1, event_lon=-117.1, event_depth_km=8,
                    magnitude=3.5, n_records=3, seed=4)
    c = np.stack([condition_vector(35.3, -117.2, 35.1, -117.1, 8.0, 3.5)] * 3)
    one = model.waveforms(c, [4, 5, 6], batch_size=1)
    assert one.shape == (3, 3, N) and one.dtype == np.float32
    np.testing.assert_allclose(model.waveforms(c, [4, 5, 6], batch_size=16), one, rtol=1e-5,
                               atol=1e-5 * np.abs(one).max())
    arrays, _, members = model.generate_arrays(t, progress=False)
    assert members == [0, 1, 2]
    np.testing.assert_array_equal(arrays, model.waveforms(c, [4, 5, 6]))
    # the gain is applied once, by waveforms
    model.output_gain = 1.0
    np.testing.assert_allclose(model.waveforms(c[:1], [4]) * 2.5, one[:1], rtol=1e-6)
    with pytest.raises(ValueError, match="one seed per condition row"):
        model.waveforms(c, [1, 2])

    class Spy:
        """Records the calls of HEGGS.waveforms made by the evaluation generator."""

        calls = 0

    real = model.waveforms

    def spy(*args, **kwargs):
        Spy.calls += 1
        return real(*args, **kwargs)

    model.waveforms = spy
    import pandas as pd

    from heggs.evaluate.scoring import TestSet

    meta = pd.DataFrame({"station_latitude_deg": [35.3], "station_longitude_deg": [-117.2], "source_latitude_deg": [35.1],
                         "source_longitude_deg": [-117.1], "source_depth_km": [8.0], "source_magnitude": [3.5]})
    test = TestSet(store=None, rows=np.arange(1), meta=meta, waveforms=np.zeros((1, 3, N), np.float32),
                   valid=np.array([[0, N]]), band_max_hz=np.array([11.0]), source=np.array([-1]),
                   physical=np.ones(1, bool), components="ENZ", sampling_rate_hz=RATE)
    ev = ModelGenerator(model, "m").generate(test, np.array([0]), [4], False, C.EvalConfig())
    assert Spy.calls == 1
    np.testing.assert_array_equal(ev, real(c[:1], [4]))


def test_api_imputation_from_a_source_record(tiny_model, tmp_path):
    model = HEGGS.load(tiny_model / "run")
    ev = EVENTS[0]
    t = make_target(station_lat=35.3, station_lon=-117.2, event_lat=ev[0], event_lon=ev[1], event_depth_km=ev[2],
                    magnitude=ev[3], origin_time=str(ORIGIN), seed=3)
    src = _source_file(tmp_path)
    with_src = model.generate(t, source=src, source_station=STATIONS[0], source_units="m/s2", progress=False)
    no_src = model.generate(t, progress=False)
    assert with_src[0][0].stats.heggs.with_source and not no_src[0][0].stats.heggs.with_source
    assert not np.allclose(with_src[0][0].data, no_src[0][0].data)
    with pytest.raises(ScenarioError, match="coordinates are unknown"):
        model.generate(t, source=src, progress=False)
    with pytest.raises(ScenarioError, match="SAME event"):
        model.generate(t, source=_source_file(tmp_path, start=ORIGIN + 86400), source_station=STATIONS[0],
                       progress=False)
    with pytest.raises(ScenarioError, match="cannot read source"):
        model.generate(t, source=tmp_path / "nothing.mseed", source_station=STATIONS[0], progress=False)


def test_training_ranges_warn_and_strict_refuses(tiny_model):
    model = HEGGS.load(tiny_model / "run")
    far = make_target(station_lat=35.3, station_lon=-117.2, event_lat=35.1, event_lon=-117.1, event_depth_km=8,
                      magnitude=7.9)
    with pytest.warns(OutOfRangeWarning, match="magnitude"):
        model.generate(far, progress=False)
    with pytest.raises(ScenarioError, match="strict"):
        model.generate(far, strict=True, progress=False)


def _run(args):
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    return res


def test_cli_single_scenario_mseed_and_png(tiny_model, tmp_path):
    out = tmp_path / "o"
    res = _run(["generate", "--model", str(tiny_model / "run"), "--event", "35.1,-117.1,8,3.5",
                "--station", "35.3,-117.2", "--origin-time", "2021-05-01T12:00:00", "-n", "2", "--seed", "5",
                "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    files = sorted(p.name for p in out.iterdir())
    assert "scenario.XX.S0001.00.mseed" in files and "scenario.XX.S0001.01.mseed" in files
    assert "scenario.XX.S0001.png" in files and "scenario.XX.S0001.00.mseed.json" in files
    st = read(str(out / "scenario.XX.S0001.00.mseed"))
    assert len(st) == 3 and {tr.stats.npts for tr in st} == {N}
    assert st[0].stats.starttime == UTCDateTime("2021-05-01T12:00:00")
    side = json.loads((out / "scenario.XX.S0001.00.mseed.json").read_text())
    assert side["units"] == "m/s2" and side["heggs"]["seed"] == 5 and side["channels"]["HNN"]["cmpaz"] == 0.0
    # the target is a JSON object, not a Python repr string
    target = side["heggs"]["target"]
    assert isinstance(target, dict) and target["station_lat"] == pytest.approx(35.3) and target["n_records"] == 2
    assert UTCDateTime(target["origin_time"]) == UTCDateTime("2021-05-01T12:00:00")
    assert side["out_of_range"] == []  # in the training ranges
    # the intensity-measure table: one row per record, the numbers of heggs.evaluate.intensity on the files
    import pandas as pd

    from heggs.evaluate.intensity import intensity_measures

    table = pd.read_csv(out / "intensity_measures.csv", keep_default_na=False)
    assert table["member"].tolist() == [0, 1] and table["seed"].tolist() == [5, 6]
    assert set(table["station"]) == {"S0001"} and table["out_of_training_range"].tolist() == ["", ""]
    for col in ("pga_rotd50_g", "pga_Z_m_s2", "pgv_rotd50_m_s", "psa_rotd50_0.3s_g", "arias_E_m_s", "d5_95_N_s"):
        assert col in table.columns
    again = intensity_measures([read(str(out / f"scenario.XX.S0001.{k:02d}.mseed")) for k in range(2)])
    for col in ("pga_rotd50_m_s2", "pgv_E_m_s", "psa_rotd50_1s_g", "arias_Z_m_s", "d5_95_E_s"):
        np.testing.assert_allclose(table[col], again[col], rtol=1e-6)
    assert not (out / "psa_vs_gmpe.png").exists()  # one station: no PSA-vs-distance figure


def test_cli_out_of_range_is_marked_in_the_png_title_and_the_sidecar(tiny_model, tmp_path, monkeypatch):
    """A target outside the training ranges is generated with a warning and marked: the PNG's
    title says OUT OF TRAINING RANGE and what, the sidecar has an out_of_range list (empty in
    range); the title names the distance (epicentral) and the spectrograms have colour bars."""
    from matplotlib.figure import Figure

    saved = {}
    real_savefig = Figure.savefig

    def savefig(fig, path, *args, **kwargs):
        saved[Path(path).name] = fig
        return real_savefig(fig, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    ranges = HEGGS.load(tiny_model / "run").training_ranges
    csv = tmp_path / "s.csv"
    csv.write_text("station_lat,station_lon,event_lat,event_lon,event_depth_km,magnitude,station\n"
                   "35.3,-117.2,35.1,-117.1,8,3.5,IN\n"
                   "35.3,-117.2,35.1,-117.1,8,7.9,MAG\n")
    out = tmp_path / "o"
    with pytest.warns(OutOfRangeWarning, match="magnitude"):
        res = _run(["generate", "--model", str(tiny_model / "run"), "--scenarios", str(csv), "--out", str(out),
                    "--no-progress"])
    assert res.exit_code == 0, res.output
    lo, hi = ranges["magnitude"]
    side = json.loads((out / "scenario.XX.MAG.00.mseed.json").read_text())
    assert side["out_of_range"] == [{"quantity": "magnitude", "value": 7.9, "range": [lo, hi]}]
    assert "out_of_range" not in side["heggs"]  # one place
    assert json.loads((out / "scenario.XX.IN.00.mseed.json").read_text())["out_of_range"] == []
    bad, good = saved["scenario.XX.MAG.png"], saved["scenario.XX.IN.png"]
    title = bad._suptitle.get_text()
    assert title.startswith(f"OUT OF TRAINING RANGE: magnitude 7.9 > {hi:.3g}") and "M7.9" in title
    assert "OUT OF" not in good._suptitle.get_text()
    d = make_target(station_lat=35.3, station_lon=-117.2, event_lat=35.1, event_lon=-117.1, event_depth_km=8,
                    magnitude=3.5).distance_km
    assert f"epicentral distance {d:.1f} km" in good._suptitle.get_text()
    bars = [c.colorbar for ax in good.get_axes() for c in ax.collections if c.colorbar is not None]
    assert len(bars) == 3 and all("dB" in b.ax.get_ylabel() and "(m/s²)²/Hz" in b.ax.get_ylabel() for b in bars)
    table = json.loads(pd.read_csv(out / "intensity_measures.csv", keep_default_na=False).to_json(orient="records"))
    assert [r["out_of_training_range"] for r in table] == ["", "magnitude"]
    assert (out / "psa_vs_gmpe.png").exists()  # a scenario CSV over two stations (here one site, two events)
    # a section reaching beyond the training distances says so in its title
    with pytest.warns(OutOfRangeWarning, match="distance_km"):
        res = _run(["generate", "--model", str(tiny_model / "run"), "--event", "35.1,-117.1,8,3.5", "--section",
                    "--n-stations", "2", "--max-distance", "500", "--out", str(tmp_path / "sec"), "--no-progress"])
    assert res.exit_code == 0, res.output
    title = saved["scenario_section.png"]._suptitle.get_text().replace("\n", " ")
    assert re.match(r"OUT OF TRAINING RANGE: 2 of 2 stations \(e\.g\. distance (499|500) km > \d+ km\) — HEGGS section",
                    title), title


def test_api_streams_carry_out_of_range(tiny_model):
    model = HEGGS.load(tiny_model / "run")
    far = make_target(station_lat=35.3, station_lon=-117.2, event_lat=35.1, event_lon=-117.1, event_depth_km=8,
                      magnitude=7.9)
    with pytest.warns(OutOfRangeWarning):
        st = model.generate(far, progress=False)[0]
    assert [v["quantity"] for v in st[0].stats.heggs.out_of_range] == ["magnitude"]
    near = make_target(station_lat=35.3, station_lon=-117.2, event_lat=35.1, event_lon=-117.1, event_depth_km=8,
                       magnitude=3.5)
    assert model.generate(near, progress=False)[0][0].stats.heggs.out_of_range == []


def test_cli_csv_bad_rows_do_not_lose_good_ones(tiny_model, tmp_path):
    csv = tmp_path / "s.csv"
    csv.write_text("station_lat,station_lon,event_lat,event_lon,event_depth_km,magnitude,n_records\n"
                   "35.3,-117.2,35.1,-117.1,8,3.5,1\n"
                   "135.3,-117.2,35.1,-117.1,8,3.5,1\n"
                   "35.0,-117.0,35.1,-117.1,8,3.0,2\n")
    out = tmp_path / "o"
    res = CliRunner().invoke(main, ["generate", "--model", str(tiny_model / "run"), "--scenarios", str(csv),
                                    "--format", "sac", "--out", str(out), "--no-progress", "--no-png"])
    assert res.exit_code == 1
    assert "row 2" in res.output and "station_lat" in res.output
    sacs = sorted(out.glob("*.sac"))
    assert len(sacs) == 3 * 3  # rows 1 (1 member) and 3 (2 members), 3 components each
    tr = read(str(sacs[0]))[0]
    assert tr.stats.sac.evdp == pytest.approx(8.0) and tr.stats.sac.idep == 8 and tr.stats.npts == N
    missing = tmp_path / "m.csv"
    missing.write_text("station_lat,station_lon,magnitude\n1,2,3\n")
    res = CliRunner().invoke(main, ["generate", "--model", str(tiny_model / "run"), "--scenarios", str(missing),
                                    "--out", str(out)])
    assert res.exit_code != 0 and "lacks column" in res.output


def test_cli_section_hdf5_and_seisbench(tiny_model, tmp_path):
    import h5py

    out = tmp_path / "sec"
    res = _run(["generate", "--model", str(tiny_model / "run"), "--event", "35.1,-117.1,8,3.5", "--section",
                "--n-stations", "4", "--max-distance", "40", "--azimuth", "45", "--format", "hdf5", "--out",
                str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    with h5py.File(out / "generated.h5") as f:
        assert f["waveforms"].shape == (4, 3, N) and f["waveforms"].attrs["units"] == "m/s2"
        d = [t["station"] for t in json.loads(f.attrs["targets"])]
    assert d == ["V0000", "V0001", "V0002", "V0003"] and (out / "scenario_section.png").exists()
    assert (out / "psa_vs_gmpe.png").exists() and len((out / "intensity_measures.csv").read_text().splitlines()) == 5
    sb = pytest.importorskip("seisbench.data")
    out2 = tmp_path / "sb"
    res = _run(["generate", "--model", str(tiny_model / "run"), "--event", "35.1,-117.1,8,3.5", "--station",
                "35.3,-117.2", "-n", "3", "--format", "seisbench", "--out", str(out2), "--no-progress", "--no-png",
                "--no-intensity"])
    assert res.exit_code == 0, res.output
    assert not (out2 / "intensity_measures.csv").exists()
    ds = sb.WaveformDataset(out2 / "generated", component_order="ENZ")
    assert len(ds) == 3 and ds.get_waveforms(0).shape == (3, N)


def test_cli_source_imputation_and_guard_rails(tiny_model, tmp_path):
    src = _source_file(tmp_path)
    out = tmp_path / "imp"
    ev = EVENTS[0]
    base = ["generate", "--model", str(tiny_model / "run"), "--event", f"{ev[0]},{ev[1]},{ev[2]},{ev[3]}",
            "--station", "35.3,-117.2", "--origin-time", str(ORIGIN), "--out", str(out), "--no-progress", "--no-png"]
    res = _run(base + ["--source", str(src), "--source-station", "35.05,-117.05", "--source-units", "m/s2"])
    assert res.exit_code == 0, res.output
    side = json.loads(next(out.glob("*.json")).read_text())
    assert side["heggs"]["with_source"] and side["heggs"]["source_station"] == "XX.S0"
    res = CliRunner().invoke(main, base + ["--source", str(src)])
    assert res.exit_code != 0 and "coordinates are unknown" in res.output
    bad = tmp_path / "bad.mseed"
    bad.write_bytes(b"not a seismogram")
    res = CliRunner().invoke(main, base + ["--source", str(bad), "--source-station", "35.05,-117.05"])
    assert res.exit_code != 0 and "cannot read source" in res.output
    res = CliRunner().invoke(main, ["generate", "--model", str(tiny_model / "run"), "--event", "95,-117,8,3",
                                    "--station", "35,-117", "--out", str(out)])
    assert res.exit_code != 0 and "event_lat" in res.output and "outside" in res.output
    res = CliRunner().invoke(main, ["generate", "--model", str(tiny_model / "run"), "--event", "35,-117,8,big",
                                    "--station", "35,-117", "--out", str(out)])
    assert res.exit_code != 0 and "magnitude" in res.output and "not a number" in res.output
    res = CliRunner().invoke(main, ["generate", "--model", str(tiny_model / "run"), "--event", "35,-117,-12,3",
                                    "--station", "35,-117", "--out", str(out)])
    assert res.exit_code != 0 and "below -10 km" in res.output
    res = CliRunner().invoke(main, ["generate", "--model", str(tiny_model / "run"), "--event", "35,-117,8,7.9",
                                    "--station", "35,-117", "--out", str(out), "--strict"])
    assert res.exit_code != 0 and "strict" in res.output


def test_cli_csv_split_across_processes_with_torchrun(tiny_model, tmp_path):
    """`torchrun --nproc_per_node 2 -m heggs.cli generate --scenarios ...`: each process takes every
    2nd row; together they write every row once, identical to a single-process run."""
    import subprocess
    import sys

    import h5py

    csv = tmp_path / "s.csv"
    rows = "\n".join(f"{35.0 + 0.05 * i},-117.2,35.1,-117.1,8,3.5,1,{100 + i}" for i in range(5))
    csv.write_text("station_lat,station_lon,event_lat,event_lon,event_depth_km,magnitude,n_records,seed\n" + rows + "\n")
    args = ["generate", "--model", str(tiny_model / "run"), "--scenarios", str(csv), "--format", "hdf5",
            "--no-png", "--no-progress", "--device", "cpu"]
    out = tmp_path / "multi"
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "heggs.cli",
                          *args, "--out", str(out)], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    parts = {}
    for p in sorted(out.glob("generated.rank*.h5")):
        with h5py.File(p) as f:
            for t, w in zip(json.loads(f.attrs["targets"]), f["waveforms"][()]):
                parts[t["seed"]] = w
    assert sorted(parts) == [100, 101, 102, 103, 104] and len(list(out.glob("generated.rank*.h5"))) == 2
    single = tmp_path / "single"
    assert _run([*args, "--out", str(single)]).exit_code == 0
    with h5py.File(single / "generated.h5") as f:
        for t, w in zip(json.loads(f.attrs["targets"]), f["waveforms"][()]):
            # 1 thread per process vs the default thread count: float summation order differs
            np.testing.assert_allclose(parts[t["seed"]], w, rtol=1e-4, atol=1e-4 * np.abs(w).max())


def test_cli_argument_errors_are_one_line_and_name_the_flag(tmp_path):
    """Common mistakes end in a one-line usage error naming the flag (no traceback, no model load)."""
    existing = tmp_path / "existing_file.txt"
    existing.write_text("x")
    base = ["generate", "--event", "35,-117,8,4.5", "--station", "35.3,-117.2"]
    res = CliRunner().invoke(main, base + ["--out", str(existing)])
    assert res.exit_code == 2 and res.exception is not None and isinstance(res.exception, SystemExit)
    assert "--out" in res.output and "is a file" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, base + ["--out", str(existing / "sub")])
    assert res.exit_code == 2 and "--out" in res.output and "not a folder" in res.output
    res = CliRunner().invoke(main, base + ["--out", str(tmp_path / "o"), "-n", "0"])
    assert res.exit_code == 2 and "'-n' / '--n-records'" in res.output and "n_samples" not in res.output
    assert "n_records" not in res.output and not (tmp_path / "o").exists()
    res = CliRunner().invoke(main, base + ["--out", str(tmp_path / "o"), "--model", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "--model" in res.output and "does not exist" in res.output


def test_cli_argument_checks_come_before_torch(tmp_path):
    """Argument errors appear before torch is imported (torch and the model take seconds to load)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from heggs.cli import main\n"
        f"out = {str(tmp_path / 'o')!r}\n"
        "for args in (['-n', '0'], ['--event', '95,-117,8,3'], ['--origin-time', 'soon'], ['--station', 'x'],\n"
        "             ['--source', 's.mseed', '--source-station', 'a,b']):\n"
        "    a = {'--event': '35,-117,8,4.5', '--station': '35.3,-117.2'}\n"
        "    for k, v in zip(args[::2], args[1::2]): a[k] = v\n"
        "    r = CliRunner().invoke(main, ['generate', '--out', out] + [x for kv in a.items() for x in kv])\n"
        "    assert r.exit_code != 0, (args, r.output)\n"
        "    print(r.exit_code, r.output.strip().splitlines()[-1])\n"
        "print('torch' in sys.modules)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.strip().splitlines()
    assert lines[-1] == "False", res.stdout
    assert "'-n' / '--n-records'" in lines[0] and "event_lat" in lines[1] and "origin_time" in lines[2]
    assert "--station" in lines[3] and "--source-station" in lines[4]


def test_cli_flag_names_are_shared():
    """--no-progress in every command (--quiet still read where it existed), --velocity-model in
    simulate, one default origin time shown by generate and simulate."""
    from heggs.config import DEFAULT_ORIGIN_TIME
    from heggs.scenario import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, Target

    runner = CliRunner()
    for cmd in ("ingest", "simulate", "train", "generate", "evaluate"):
        text = runner.invoke(main, [cmd, "--help"]).output
        assert "--no-progress" in text and "--quiet" not in text, cmd
    gen = runner.invoke(main, ["generate", "--help"]).output
    sim = runner.invoke(main, ["simulate", "--help"]).output
    assert DEFAULT_ORIGIN_TIME in gen and DEFAULT_ORIGIN_TIME in sim
    assert Target(0, 0, 0, 0, 0, 0).origin_time == UTCDateTime(DEFAULT_ORIGIN_TIME)
    for col in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:  # the --scenarios help lists every CSV column
        assert col in " ".join(gen.split()), col
    assert "--velocity-model" in sim and "--samples" not in gen and "--n-records" in gen
    res = runner.invoke(main, ["simulate", "--model", "iasp91", "--out", "x.mseed"])
    assert res.exit_code == 2 and "--velocity-model" in res.output
