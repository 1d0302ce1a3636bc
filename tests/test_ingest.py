"""Ingest on tiny synthetic ObsPy streams: units, rotation, band, window, arrivals, duplicates,
idempotence and atomicity; plus the generic path end to end on real pysep data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from obspy import Stream, Trace, UTCDateTime
from obspy.core.inventory import Channel, Inventory, Network, Response, Station

from heggs.ingest.catalog import Catalog
from heggs.traveltimes import TravelTimeTable, taup_first_arrivals
from heggs.config import IngestConfig
from heggs.ingest.run import NoRecordsError, ingest, process_record
from heggs.ingest.records import EventInfo, RawRecord, Skip, StationInfo
from heggs.store import Store

T0 = UTCDateTime(2020, 1, 1, 0, 0, 0)
EV = EventInfo("ev1", T0, 0.0, 0.0, 10.0, 4.5, "ML")
STA_LAT, STA_LON = 0.0, 0.2  # ~22 km east of the epicentre: P ≈ 4.3 s, S ≈ 7.4 s


def _trace(code, data, rate, start, net="XX", sta="AAA", loc=""):
    return Trace(np.asarray(data, dtype=np.float64), header=dict(
        network=net, station=sta, location=loc, channel=code, sampling_rate=rate, starttime=start))


def _record(datas, codes=("HNE", "HNN", "HNZ"), rate=100.0, start=T0 - 10, units="m/s2", sta="AAA", **kw):
    st = Stream([_trace(c, d, rate, start, sta=sta) for c, d in zip(codes, datas)])
    station = StationInfo("XX", sta, "", STA_LAT, STA_LON)
    return RawRecord(stream=st, units=units, origin=f"synthetic:{sta}:{codes[0][:2]}", station=station,
                     event=kw.pop("event", EV), **kw)


def _sine(f, amp, rate, dur, phase=0.0):
    t = np.arange(int(dur * rate)) / rate
    return amp * np.sin(2 * np.pi * f * t + phase)


def _inventory(codes, response, azimuths=None, rate=100.0, sta="AAA"):
    chans = []
    for c in codes:
        az, dip = (azimuths or {}).get(c, {"E": (90.0, 0.0), "N": (0.0, 0.0), "Z": (0.0, -90.0)}.get(c[-1], (0, 0)))
        chans.append(Channel(c, "", STA_LAT, STA_LON, 0.0, 0.0, azimuth=az, dip=dip, sample_rate=rate,
                             response=response))
    return Inventory([Network("XX", [Station(sta, STA_LAT, STA_LON, 0.0, channels=chans)])], source="test")


def test_response_removal_velocity_sensor_gives_known_acceleration():
    # 1 Hz geophone (velocity sensor), sensitivity 1e9 counts/(m/s) at 10 Hz
    resp = Response.from_paz(zeros=[0j, 0j], poles=[-4.443 + 4.443j, -4.443 - 4.443j], stage_gain=1e9,
                             stage_gain_frequency=10.0, input_units="M/S", output_units="COUNTS",
                             normalization_frequency=10.0)
    f, v, rate, dur = 5.0, 1e-3, 100.0, 120.0
    h = resp.get_evalresp_response_for_frequencies([f], output="VEL")[0]  # counts per m/s
    counts = _sine(f, v * abs(h), rate, dur, phase=np.angle(h))
    raw = _record([counts] * 3, codes=("HHE", "HHN", "HHZ"), units="counts",
                  inventory=_inventory(("HHE", "HHN", "HHZ"), resp))
    out = process_record(raw, EV, IngestConfig())
    assert not isinstance(out, Skip), out
    assert out.meta["trace_units"] == "m/s2"
    mid = out.waveform[:, 1000:5000]
    np.testing.assert_allclose(np.abs(mid).max(axis=1), 2 * np.pi * f * v, rtol=0.03)


def test_cm_s2_scaled_to_m_s2_and_band_limited():
    rate = 100.0
    raw = _record([_sine(3.0, 100.0, rate, 120.0)] * 3, units="cm/s2")
    out = process_record(raw, EV, IngestConfig())
    assert np.abs(out.waveform[:, 1000:5000]).max() == pytest.approx(1.0, rel=0.03)
    assert out.meta["trace_band_max_hz"] == 45.0 and out.meta["trace_band_min_hz"] == 1.0


def test_band_limit_of_a_40_hz_record_is_18_hz():
    rng = np.random.default_rng(0)
    rate = 40.0
    raw = _record([rng.normal(size=int(120 * rate)) for _ in range(3)], rate=rate)
    out = process_record(raw, EV, IngestConfig())
    assert out.meta["trace_band_max_hz"] == pytest.approx(18.0)
    assert out.meta["trace_original_sampling_rate_hz"] == 40.0
    spec = np.abs(np.fft.rfft(out.waveform[2, 500:5500] * np.hanning(5000)))
    freqs = np.fft.rfftfreq(5000, 0.01)
    assert spec[freqs > 22].max() < 0.02 * spec[(freqs > 3) & (freqs < 15)].mean()


def test_rotation_of_1_2_channels_with_known_azimuths():
    rate = 100.0
    s = _sine(2.0, 1.0, rate, 120.0)
    a1, a2 = 30.0, 120.0  # a purely north motion projected on the two sensor axes
    raw = _record([s * np.cos(np.radians(a1)), s * np.cos(np.radians(a2)), 0 * s], codes=("HN1", "HN2", "HNZ"),
                  azimuths_deg={"HN1": a1, "HN2": a2})
    out = process_record(raw, EV, IngestConfig())
    e, n = np.abs(out.waveform[0, 1000:5000]).max(), np.abs(out.waveform[1, 1000:5000]).max()
    assert n == pytest.approx(1.0, rel=0.03) and e < 1e-3
    raw.azimuths_deg = {}
    skip = process_record(raw, EV, IngestConfig())
    assert isinstance(skip, Skip) and skip.reason == "1/2 channels without azimuth"


def test_rotation_from_inventory_orientation():
    s = _sine(2.0, 1.0, 100.0, 120.0)
    az = {"HN1": (90.0, 0.0), "HN2": (180.0, 0.0), "HNZ": (0.0, -90.0)}
    inv = _inventory(("HN1", "HN2", "HNZ"), None, azimuths=az)
    raw = _record([s, 0 * s, s], codes=("HN1", "HN2", "HNZ"), inventory=inv)  # 1 = east, 2 = south
    out = process_record(raw, EV, IngestConfig())
    assert np.abs(out.waveform[0, 1000:5000]).max() == pytest.approx(1.0, rel=0.03)
    assert np.abs(out.waveform[1, 1000:5000]).max() < 1e-3


def test_head_and_tail_padding_and_valid_range():
    rate = 100.0
    cfg = IngestConfig()
    # starts 2 s after the origin (before P at ~4.3 s), ends 40 s after it (after S + 5 s)
    raw = _record([_sine(5.0, 1.0, rate, 38.0)] * 3, start=T0 + 2.0)
    out = process_record(raw, EV, cfg)
    assert (out.meta["trace_valid_start_sample"], out.meta["trace_valid_end_sample"]) == (200, 4000)
    assert np.all(out.waveform[:, :200] == 0) and np.all(out.waveform[:, 4000:] == 0)
    assert np.abs(out.waveform[:, 300:3900]).max() > 0.9
    assert out.waveform.shape == (3, 6000)
    assert 200 < out.meta["trace_P_arrival_sample"] < out.meta["trace_S_arrival_sample"] < 4000


def test_starts_after_p_and_ends_before_s_are_skipped():
    rate = 100.0
    late = _record([_sine(5.0, 1.0, rate, 60.0)] * 3, start=T0 + 6.0)
    r = process_record(late, EV, IngestConfig())
    assert isinstance(r, Skip) and r.reason == "starts after P"
    short = _record([_sine(5.0, 1.0, rate, 19.0)] * 3, start=T0 - 10.0)  # ends at origin + 9 s
    r = process_record(short, EV, IngestConfig())
    assert isinstance(r, Skip) and r.reason == "ends before S + margin"


def test_nan_gap_and_missing_component_skips():
    s = _sine(5.0, 1.0, 100.0, 120.0)
    bad = s.copy()
    bad[500] = np.nan
    assert process_record(_record([s, bad, s]), EV, IngestConfig()).reason == "NaN"
    gap = _record([s, s, s])
    tr = gap.stream[0]
    gap.stream.remove(tr)
    gap.stream += Stream([tr.slice(endtime=T0 + 20), tr.slice(T0 + 25)])  # 5 s missing
    assert process_record(gap, EV, IngestConfig()).reason == "gap"
    dup = _record([s, s, s])
    dup.stream += dup.stream[0].copy()  # an identical overlapping segment merges cleanly
    assert not isinstance(process_record(dup, EV, IngestConfig()), Skip)
    two = _record([s, s], codes=("HNE", "HNN"))
    assert process_record(two, EV, IngestConfig()).reason == "missing component"


def test_travel_time_table_matches_direct_taup_within_one_sample():
    table = TravelTimeTable("iasp91")
    for dist_km, depth_km in [(3.0, 2.0), (22.0, 10.0), (75.0, 8.0), (150.0, 15.0), (300.0, 0.0), (40.0, -0.8)]:
        p, s = table.arrivals(dist_km, depth_km)
        p0, s0 = taup_first_arrivals("iasp91", dist_km, depth_km)
        assert abs(p - p0) <= 0.01 and abs(s - s0) <= 0.01, (dist_km, depth_km, p, p0, s, s0)


def test_picked_arrivals_take_precedence(tmp_path):
    ev = EventInfo("ev1", T0, 0.0, 0.0, 10.0, 4.5, "ML", picks={"XX.AAA": {"P": T0 + 4.0, "S": T0 + 7.0}})
    out = process_record(_record([_sine(5.0, 1.0, 100.0, 120.0)] * 3), ev, IngestConfig())
    assert out.meta["trace_arrivals_source"] == "picked"
    assert (out.meta["trace_P_arrival_sample"], out.meta["trace_S_arrival_sample"]) == (400, 700)


def _archive():
    s = _sine(5.0, 100.0, 100.0, 120.0)
    return [
        _record([s] * 3, units="cm/s2", sta="AAA"),
        _record([s * 0.5] * 3, codes=("BHE", "BHN", "BHZ"), units="counts", sta="AAA"),  # co-located
        _record([s * 2] * 3, units="cm/s2", sta="BBB"),
        _record([s * 2] * 3, units="cm/s2", sta="BBB"),  # the same data reached twice
        Skip("somefile", "unreadable file", "test"),
    ]


def test_ingest_duplicates_report_and_summary(tmp_path):
    rep = ingest(_archive(), tmp_path / "s", progress=False)
    meta = pd.read_csv(tmp_path / "s" / "metadata.csv")
    assert list(meta["station_code"]) == ["AAA", "BBB"]
    assert list(meta["trace_channel"]) == ["HN", "HN"]
    report = pd.read_csv(tmp_path / "s" / "ingest_report.csv")
    assert sorted(report["reason"]) == ["duplicate (co-located instrument)", "duplicate record", "unreadable file"]
    co = report[report["reason"] == "duplicate (co-located instrument)"].iloc[0]
    assert "kept XX.AAA..HN" in co["detail"]
    summary = json.loads((tmp_path / "s" / "ingest_summary.json").read_text())
    assert summary["records"] == 2 and summary["events"] == 1 and summary["paired_events"] == 1
    assert summary["stations"] == 2 and summary["units"] == {"m/s2": 2}
    assert rep.summary == summary
    assert set(meta["split"]) <= {"train", "dev", "test"} and meta["split"].nunique() == 1


def _store_contents(path):
    """{name: bytes or array}: every file of a store except the HDF5 file, whose every dataset
    (values and attributes) is listed instead (the HDF5 bytes hold timestamps)."""
    import h5py

    out = {}
    for f in sorted(path.iterdir()):
        if f.suffix != ".hdf5":
            out[f.name] = f.read_bytes()
            continue
        with h5py.File(f, "r") as h5:
            def visit(name, obj):
                out[f"{f.name}:{name}:attrs"] = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
                if isinstance(obj, h5py.Dataset):
                    out[f"{f.name}:{name}"] = obj[()]
            h5.visititems(visit)
    return out


def _assert_same_store(a, b):
    ca, cb = _store_contents(a), _store_contents(b)
    assert sorted(ca) == sorted(cb)
    assert any(k.startswith("waveforms.hdf5:data/") and not k.endswith(":attrs") for k in ca)
    for k in ca:
        if isinstance(ca[k], np.ndarray):
            np.testing.assert_array_equal(ca[k], cb[k], err_msg=k)
        else:
            assert ca[k] == cb[k], k


def test_ingest_is_idempotent(tmp_path):
    ingest(_archive(), tmp_path / "a", progress=False)
    import shutil

    shutil.copytree(tmp_path / "a", tmp_path.parent / f"{tmp_path.name}_first")
    ingest(_archive(), tmp_path / "a", progress=False)
    _assert_same_store(tmp_path / "a", tmp_path.parent / f"{tmp_path.name}_first")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_failure_midway_keeps_previous_store_and_no_temp_folder(tmp_path):
    ingest(_archive(), tmp_path / "s", progress=False)
    before = (tmp_path / "s" / "metadata.csv").read_bytes()

    def broken():
        yield from _archive()[:2]
        raise RuntimeError("adapter crashed")

    with pytest.raises(RuntimeError, match="adapter crashed"):
        ingest(broken(), tmp_path / "s", progress=False)
    assert (tmp_path / "s" / "metadata.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_coarse_header_origin_is_refined_by_catalog(tmp_path):
    # K-NET-like header: origin to the minute (19 s early); the catalog has the precise origin
    header = EventInfo("knet", T0 - 19, 0.01, 0.0, 10.0, 4.5, "Mj", origin_uncertainty_s=60.0)
    precise = EventInfo("cat1", T0, 0.0, 0.0, 10.0, None, None)
    rec = _record([_sine(5.0, 1.0, 100.0, 120.0)] * 3, units="m/s2", event=header)
    with pytest.raises(NoRecordsError, match="1 no event match") as e:
        ingest([rec], tmp_path / "s", progress=False)
    assert e.value.report.summary["records"] == 0
    assert e.value.report.summary["skips_by_reason"] == {"no event match": 1}
    rec = _record([_sine(5.0, 1.0, 100.0, 120.0)] * 3, units="m/s2", event=header)
    rep = ingest([rec], tmp_path / "s", catalog=Catalog([precise]), progress=False)
    meta = pd.read_csv(tmp_path / "s" / "metadata.csv")
    assert rep.summary["records"] == 1 and meta["source_id"][0] == "cat1"
    assert UTCDateTime(meta["source_origin_time"][0]) == T0 and meta["source_magnitude"][0] == 4.5


def test_duplicate_event_locations_share_one_source_id(tmp_path):
    a = EventInfo("sfile_a", T0, 0.0, 0.0, 10.0, 2.0, "ML", provenance="a.S")
    b = EventInfo("sfile_b", T0 + 0.3, 0.012, 0.0, 10.0, 2.1, "ML", provenance="b.S")
    s = _sine(5.0, 1.0, 100.0, 120.0)
    recs = [_record([s] * 3, event=a, sta="AAA"), _record([s * 2] * 3, event=b, sta="BBB")]
    ingest(recs, tmp_path / "s", progress=False)
    meta = pd.read_csv(tmp_path / "s" / "metadata.csv")
    assert meta["source_id"].nunique() == 1 and meta["split"].nunique() == 1


def test_workers_give_the_same_store(tmp_path):
    ingest(_archive(), tmp_path / "a", progress=False)
    ingest(_archive(), tmp_path / "b", progress=False, workers=2)
    _assert_same_store(tmp_path / "a", tmp_path / "b")


def test_generic_cli_end_to_end_on_pysep(tmp_path, shared_data):
    from click.testing import CliRunner

    from heggs.cli import main

    out = tmp_path / "pysep"
    res = CliRunner().invoke(main, ["ingest", str(shared_data / "pysep"), "--kind", "generic", "--out", str(out),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "records" in res.output and "ingest_report.csv" in res.output
    meta = pd.read_csv(out / "metadata.csv")
    assert len(meta) >= 1
    assert set(meta["trace_units"]) == {"m/s2"}
    assert set(meta["trace_component_order"]) == {"ENZ"} and set(meta["trace_npts"]) == {6000}
    assert (meta["trace_valid_start_sample"] >= 0).all() and (meta["trace_valid_end_sample"] <= 6000).all()
    assert (meta["trace_valid_start_sample"] < meta["trace_P_arrival_sample"]).all()
    assert set(meta["trace_band_max_hz"]) == {22.5}  # 50 Hz broadband: 0.9 × 25 Hz
    report = pd.read_csv(out / "ingest_report.csv")
    assert "P outside window" in set(report["reason"])  # the distant Alaska stations
    st = Store(out)
    w = st.waveform(0)
    assert w.shape == (3, 6000) and 1e-4 < np.abs(w).max() < 10.0  # m/s², an Mw 4.6 at ~26 km
    sbd = pytest.importorskip("seisbench.data", reason="seisbench is an optional extra")
    ds = sbd.WaveformDataset(out, component_order="ENZ")
    assert len(ds) == len(meta)
    np.testing.assert_allclose(ds.get_waveforms(0), w)


@pytest.mark.parametrize("rate,offset", [(200.0, 0.0043), (100.0, 0.0037), (40.0, 0.011)])
def test_resampling_keeps_absolute_timing(rate, offset):
    f = 2.0
    start = T0 - 10.0 + offset
    t = (start - T0) + np.arange(int(120 * rate)) / rate  # seconds after the origin
    raw = _record([np.sin(2 * np.pi * f * t)] * 3, rate=rate, start=start)
    out = process_record(raw, EV, IngestConfig())
    want = np.sin(2 * np.pi * f * np.arange(6000) / 100.0)
    np.testing.assert_allclose(out.waveform[2, 500:5500], want[500:5500], atol=0.01)


def test_knet_records_need_the_catalog_origin_and_are_head_padded(tmp_path, shared_data):
    """K-NET headers give the origin to the minute (19 s early for Aomori): without a catalog the
    records are reported; with the folder's event.json as catalog they start after the origin but
    before P and are padded at the head."""
    from heggs.ingest.generic import scan_archive

    folder = shared_data / "gmprocess" / "knet" / "us2000cnnl"
    with pytest.raises(NoRecordsError, match="no event match") as e:
        ingest(scan_archive(folder), tmp_path / "a", progress=False)
    rep = e.value.report
    assert rep.summary["records"] == 0 and set(rep.summary["skips_by_reason"]) == {"no event match"}
    assert not (tmp_path / "a").exists()
    rep = ingest(scan_archive(folder), tmp_path / "b", catalog=Catalog.from_files([folder / "event.json"]),
                 progress=False)
    meta = pd.read_csv(tmp_path / "b" / "metadata.csv")
    assert rep.summary["records"] == len(meta) >= 5 and set(meta["source_id"]) == {"us2000cnnl"}
    assert (meta["trace_valid_start_sample"] > 0).all()
    assert (meta["trace_valid_start_sample"] < meta["trace_P_arrival_sample"]).all()
    assert set(meta["trace_units"]) == {"m/s2"}
    w = Store(tmp_path / "b").waveforms(range(len(meta)))
    for i, vs in enumerate(meta["trace_valid_start_sample"]):
        assert np.all(w[i, :, :vs] == 0)
    assert 0.005 < np.abs(w).max() < 5.0  # an M6.2 at ~100-150 km: ~0.1-10 % g


def test_cli_fails_in_one_line_when_no_waveform_file_is_found(tmp_path):
    from click.testing import CliRunner

    from heggs.cli import main

    (tmp_path / "arch").mkdir()
    np.savez(tmp_path / "arch" / "record.npz", data=np.zeros((3, 100)))
    res = CliRunner().invoke(main, ["ingest", str(tmp_path / "arch"), "--kind", "generic", "--out",
                                    str(tmp_path / "store"), "--no-progress"])
    assert res.exit_code == 1, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.output
    assert "no waveform file was found" in errors[0] and ".npz" in errors[0] and "no records" in errors[0]
    assert str(tmp_path / "arch") in errors[0] and not (tmp_path / "store").exists()
