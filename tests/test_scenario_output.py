"""Scenario inputs (guard rails) and writing generated records (heggs.output; round trips through ObsPy/SeisBench)."""

import warnings

import numpy as np
import pytest
from obspy import UTCDateTime, read

from heggs.output import to_stream, write_hdf5, write_seisbench, write_stream
from heggs.scenario import (
    OutOfRangeWarning,
    ScenarioError,
    check_training_ranges,
    make_target,
    read_scenarios,
    section_targets,
)

GOOD = dict(station_lat=35.7, station_lon=-117.5, event_lat=35.77, event_lon=-117.6, event_depth_km=8.0, magnitude=4.2)


def test_make_target_validates_fields():
    t = make_target(**GOOD, origin_time="2019-07-06T03:19:53", n_records=3, seed=7)
    assert t.origin_time == UTCDateTime("2019-07-06T03:19:53") and t.n_records == 3 and 5 < t.distance_km < 20
    with pytest.raises(ScenarioError, match="'n_records'.*positive integer"):
        make_target(**GOOD, n_records=0)
    with pytest.raises(ScenarioError, match="'station_lat'.*outside"):
        make_target(**{**GOOD, "station_lat": 91})
    with pytest.raises(ScenarioError, match="below -10 km"):
        make_target(**{**GOOD, "event_depth_km": -11})
    with pytest.raises(ScenarioError, match="row 4, field 'magnitude'.*not a number"):
        make_target(row=4, **{**GOOD, "magnitude": "big"})
    with pytest.raises(ScenarioError, match="missing event_lon"):
        make_target(**{k: v for k, v in GOOD.items() if k != "event_lon"})
    with pytest.raises(ScenarioError, match="origin_time"):
        make_target(**GOOD, origin_time="yesterday-ish")
    assert make_target(**{**GOOD, "event_lon": 242.4}).event_lon == pytest.approx(-117.6)


def test_read_scenarios_keeps_good_rows_and_names_bad_ones(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text(
        "stla,stlo,evla,evlo,evdp,mag,n_records\n"
        "35.7,-117.5,35.77,-117.6,8,4.2,2\n"
        "95,-117.5,35.77,-117.6,8,4.2,1\n"
        "35.9,-117.4,35.77,-117.6,8,abc,1\n"
        "36.0,-117.3,35.77,-117.6,8,4.5,1\n"
    )
    rows = read_scenarios(p, default_seed=10)
    assert [type(r).__name__ for r in rows] == ["Target", "ScenarioError", "ScenarioError", "Target"]
    assert "row 2" in str(rows[1]) and "station_lat" in str(rows[1])
    assert "row 3" in str(rows[2]) and "magnitude" in str(rows[2])
    assert rows[0].n_records == 2 and rows[0].seed != rows[3].seed
    bad = tmp_path / "bad.csv"
    bad.write_text("station_lat,station_lon,magnitude\n1,2,3\n")
    with pytest.raises(ScenarioError, match="lacks column.*event_lat"):
        read_scenarios(bad)


def test_read_scenarios_reads_the_old_column_name_with_a_warning(tmp_path):
    """``n_samples`` (records per target) was renamed ``n_records``; old CSVs still load."""
    p = tmp_path / "old.csv"
    p.write_text("station_lat,station_lon,event_lat,event_lon,event_depth_km,magnitude,n_samples\n"
                 "35.7,-117.5,35.77,-117.6,8,4.2,3\n")
    with pytest.warns(DeprecationWarning, match="'n_samples'.*'n_records'"):
        rows = read_scenarios(p)
    assert rows[0].n_records == 3
    both = tmp_path / "both.csv"
    both.write_text("station_lat,station_lon,event_lat,event_lon,event_depth_km,magnitude,n_samples,n_records\n"
                    "35.7,-117.5,35.77,-117.6,8,4.2,3,2\n")
    with pytest.warns(DeprecationWarning), pytest.raises(ScenarioError, match="both"):
        read_scenarios(both)


def test_section_line_and_grid():
    ev = make_target(**GOOD)
    line = section_targets(ev, azimuth_deg=90, max_distance_km=50, n_stations=5)
    d = [t.distance_km for t in line]
    assert np.allclose(d, [10, 20, 30, 40, 50], rtol=0.01)
    assert len({t.station for t in line}) == 5 and len({t.seed for t in line}) == 5
    grid = section_targets(ev, max_distance_km=20, n_stations=3, grid=True)
    assert len(grid) == 9 and min(t.distance_km for t in grid) < 0.5


def test_training_range_warn_and_strict():
    t = make_target(**{**GOOD, "magnitude": 7.5})
    ranges = {"magnitude": [1.0, 5.0], "distance_km": [0, 200]}
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        msgs = check_training_ranges([t], ranges)
    assert len(msgs) == 1 and "magnitude" in msgs[0] and any(issubclass(x.category, OutOfRangeWarning) for x in w)
    with pytest.raises(ScenarioError, match="strict"):
        check_training_ranges([t], ranges, strict=True)
    assert check_training_ranges([make_target(**GOOD)], ranges) == []


def test_range_violations_are_data_and_read_as_one_line():
    from heggs.scenario import describe_violation, range_violations

    far = make_target(**{**GOOD, "station_lat": 57.0, "station_lon": -117.5})  # ~2,360 km north
    ranges = {"magnitude": [3.2, 7.1], "distance_km": [0.4, 39.0], "depth_km": [10.0, 20.0]}
    v = range_violations(far, ranges)
    assert [x["quantity"] for x in v] == ["distance_km", "depth_km"]
    assert v[0]["value"] == pytest.approx(far.distance_km) and v[0]["range"] == [0.4, 39.0]
    assert type(v[0]["value"]) is float and type(v[1]["range"][0]) is float  # JSON-ready
    assert describe_violation(v[0]) == f"distance {far.distance_km:.3g} km > 39 km"
    assert describe_violation(v[1]) == "depth 8 km < 10 km"
    assert range_violations(make_target(**{**GOOD, "event_depth_km": 12.0}), ranges) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfRangeWarning)
        assert len(check_training_ranges([far], ranges)) == len(v)  # the same comparison


def _record(n=500):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(3, n)) * [[1e-3], [2e-3], [3e-3]]).astype(np.float32)


def test_stream_mseed_and_sac_roundtrip(tmp_path):
    t = make_target(**GOOD, origin_time="2019-07-06T03:19:53", seed=5)
    w = _record()
    st = to_stream(w, t, 100.0, member=1, params={"model": "tiny", "seed": 6})
    assert [tr.stats.channel for tr in st] == ["HNE", "HNN", "HNZ"]
    files = write_stream(st, tmp_path / "rec.mseed", "mseed")
    back = read(str(files[0]))
    assert len(back) == 3 and back[0].stats.starttime == t.origin_time and back[0].stats.sampling_rate == 100.0
    np.testing.assert_allclose(np.stack([tr.data for tr in back.sort(["channel"])]), w, rtol=0)
    import json

    side = json.loads(files[1].read_text())
    assert side["units"] == "m/s2" and side["heggs"]["model"] == "tiny"
    # stats.heggs.target is an ObsPy AttribDict: the sidecar holds it as a JSON object
    assert side["heggs"]["target"] == {**t.as_dict(), "origin_time": "2019-07-06T03:19:53.000000Z"}
    assert side["heggs"]["member"] == 1 and side["heggs"]["seed"] == 6
    assert side["out_of_range"] == []  # not checked here: an empty list, never missing
    oor = [{"quantity": "magnitude", "value": 9.5, "range": [3.2, 7.1]}]
    st2 = to_stream(w, t, 100.0, params={"seed": 6, "out_of_range": oor})
    side2 = json.loads(write_stream(st2, tmp_path / "far.mseed", "mseed")[1].read_text())
    assert side2["out_of_range"] == oor and "out_of_range" not in side2["heggs"]
    sac = write_stream(st, tmp_path / "rec", "sac")
    assert len(sac) == 3
    tr = read(str(sac[1]))[0]  # HNN
    assert tr.stats.channel == "HNN" and tr.stats.sac.cmpaz == 0.0 and tr.stats.sac.cmpinc == 90.0
    assert tr.stats.sac.stla == pytest.approx(35.7) and tr.stats.sac.evdp == pytest.approx(8.0)
    assert tr.stats.sac.mag == pytest.approx(4.2) and tr.stats.sac.idep == 8
    assert tr.stats.starttime + tr.stats.sac.o - tr.stats.sac.b == t.origin_time
    np.testing.assert_allclose(tr.data, w[1])


def test_hdf5_and_seisbench_outputs(tmp_path):
    import h5py
    import json

    ts = [make_target(**GOOD, seed=1), make_target(**{**GOOD, "station_lat": 35.9}, seed=2)]
    w = np.stack([_record(), _record()])
    write_hdf5(tmp_path / "g.h5", w, ts, [0, 0], 100.0, "ENZ", "m/s2", {"steps": 25})
    with h5py.File(tmp_path / "g.h5") as f:
        np.testing.assert_array_equal(f["waveforms"][()], w)
        assert f["waveforms"].attrs["units"] == "m/s2" and len(json.loads(f.attrs["targets"])) == 2
    sbd = pytest.importorskip("seisbench.data")
    write_seisbench(tmp_path / "sb", w, ts, [0, 0], 100.0, "ENZ", "m/s2", {"steps": 25})
    ds = sbd.WaveformDataset(tmp_path / "sb", component_order="ENZ")
    assert len(ds) == 2
    np.testing.assert_array_equal(ds.get_waveforms(1), w[1])
    assert ds.metadata["trace_units"].tolist() == ["m/s2", "m/s2"]
