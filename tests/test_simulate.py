"""Tests of the stochastic simulator (heggs.simulate.stochastic, heggs.simulate.simulator, heggs.traveltimes)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from heggs.simulate import simulator as sim
from heggs.simulate import stochastic as sto
from heggs.config import SimulateConfig, WindowConfig
from heggs.store import COLUMNS, Store
from heggs.traveltimes import KM_PER_DEG

FS = 100.0


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    """Keep travel-time tables of this test session out of the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HEGGS_CACHE", str(tmp_path_factory.mktemp("heggs_cache")))
    yield
    mp.undo()


def _ring(n, r_km, lat0=34.0, lon0=-118.0, az0=0.0):
    """n station coordinates at epicentral distance r_km around (lat0, lon0)."""
    az = np.radians(az0 + np.linspace(0, 360, n, endpoint=False))
    lat = lat0 + r_km / KM_PER_DEG * np.cos(az)
    lon = lon0 + r_km / KM_PER_DEG * np.sin(az) / np.cos(np.radians(lat0))
    return lat, lon


def _rotd50(e, n):
    """RotD50 peak of two horizontal components (n_rec, n_samples) -> (n_rec,)."""
    ang = np.radians(np.arange(0, 180, 2.0))
    peaks = np.stack([np.abs(np.cos(a) * e + np.sin(a) * n).max(-1) for a in ang], axis=1)
    return np.median(peaks, axis=1)


# --- travel times -----------------------------------------------------------------------------

def test_arrival_samples_match_taup():
    from obspy.geodetics import gps2dist_azimuth
    from obspy.taup import TauPyModel

    rng = np.random.default_rng(11)
    n = 16
    ev_lat, ev_lon = rng.uniform(33, 35, n), rng.uniform(-119, -117, n)
    dist = np.concatenate([rng.uniform(0.5, 20, 6), rng.uniform(20, 250, n - 6)])
    az = rng.uniform(0, 360, n)
    st_lat = ev_lat + dist / KM_PER_DEG * np.cos(np.radians(az))
    st_lon = ev_lon + dist / KM_PER_DEG * np.sin(np.radians(az)) / np.cos(np.radians(ev_lat))
    depth = np.concatenate([rng.uniform(-0.8, 2, 4), rng.uniform(2, 40, n - 4)])
    cfg = SimulateConfig(window=WindowConfig(length_s=120.0))
    arr, _ = sim.arrivals(ev_lat, ev_lon, depth, st_lat, st_lon, cfg)
    model = TauPyModel("iasp91")
    for i in range(n):
        # distance on WGS84 (as in real stores), travel times at that distance on TauP's sphere
        d_km = gps2dist_azimuth(ev_lat[i], ev_lon[i], st_lat[i], st_lon[i])[0] / 1000.0
        assert arr.distance_km[i] == pytest.approx(d_km, rel=1e-9)
        deg = d_km / KM_PER_DEG
        tp = model.get_travel_times(max(depth[i], 0.0), deg, ["ttp"])[0].time
        ts = model.get_travel_times(max(depth[i], 0.0), deg, ["tts"])[0].time
        assert abs(arr.p_sample[i] - tp * FS) <= 1.0, (i, dist[i], depth[i], arr.p_sample[i], tp * FS)
        assert abs(arr.s_sample[i] - ts * FS) <= 1.0, (i, dist[i], depth[i], arr.s_sample[i], ts * FS)


def test_geometry_azimuths():
    d, az, baz = sim.geometry([0.0], [0.0], [1.0], [0.0])
    assert d[0] == pytest.approx(110.574, abs=1e-3)  # one degree of latitude at the equator on WGS84
    assert az[0] == pytest.approx(0.0, abs=1e-9) and baz[0] == pytest.approx(180.0)
    d, az, baz = sim.geometry([0.0], [0.0], [0.0], [-1.0])
    assert az[0] == pytest.approx(270.0) and baz[0] == pytest.approx(90.0)


# --- physics ----------------------------------------------------------------------------------

def test_radiation_pattern_focal_sphere_averages():
    rng = np.random.default_rng(0)
    n = 200_000
    take = np.degrees(np.arccos(rng.uniform(-1, 1, n)))  # uniform on the sphere
    az = rng.uniform(0, 360, n)
    fp, fsv, fsh = sto.radiation_pattern(30.0, 60.0, 45.0, take, az)
    assert np.mean(fp**2) == pytest.approx(4 / 15, rel=0.02)
    assert np.mean(fsv**2) == pytest.approx(1 / 5, rel=0.02)
    assert np.mean(fsh**2) == pytest.approx(1 / 5, rel=0.02)
    # vertical strike-slip: no P straight down, pure SH maximum along strike at the horizon
    fp, fsv, fsh = sto.radiation_pattern(0.0, 90.0, 0.0, np.array([0.0, 90.0]), np.array([0.0, 0.0]))
    assert abs(fp[0]) < 1e-12 and abs(fsh[1]) == pytest.approx(1.0)


def test_gutenberg_richter_b_value():
    rng = np.random.default_rng(1)
    m = sim.gutenberg_richter(rng.random(20000), 2.0, 8.0, b_value=1.0)
    assert m.min() >= 2.0 and m.max() <= 8.0
    b_hat = np.log10(np.e) / (m.mean() - 2.0)  # Aki (1965) estimator, truncation negligible
    assert b_hat == pytest.approx(1.0, rel=0.05)
    events = sim.random_events(300, (33, 35, -119, -117), 3.0, 6.0, 1.2, seed=4)
    assert events["latitude"].between(33, 35).all() and events["longitude"].between(-119, -117).all()
    assert events["magnitude"].between(3.0, 6.0).all()
    assert (events["magnitude"] < 4.0).mean() > 0.8  # b = 1.2: most events are small


def test_pga_medians_follow_bssa14():
    pygmm = pytest.importorskip("pygmm")
    cfg = SimulateConfig()
    n = 20
    sims = {}
    for mag in (4.0, 5.0, 6.0):
        for r in (10.0, 30.0, 100.0):
            lat, lon = _ring(n, r, az0=7.0 * mag)
            w, _ = sim.simulate_records(np.full(n, 34.0), np.full(n, -118.0), np.full(n, 8.0), np.full(n, mag), lat,
                                        lon, seeds=[[5, int(mag * 10), int(r), i] for i in range(n)], cfg=cfg,
                                        vs30_m_s=760.0, site_factor=1.0)
            pga = _rotd50(w[:, 0].astype(float), w[:, 1].astype(float)) / 9.80665
            sims[mag, r] = float(np.exp(np.median(np.log(pga))))
            bssa = pygmm.BooreStewartSeyhanAtkinson2014(
                pygmm.Scenario(mag=mag, dist_jb=r, v_s30=760.0, mechanism="U")).pga
            assert 0.5 < sims[mag, r] / bssa < 2.0, (mag, r, sims[mag, r], bssa)
    for r in (10.0, 30.0, 100.0):
        assert sims[4.0, r] < sims[5.0, r] < sims[6.0, r]
    for mag in (4.0, 5.0, 6.0):
        assert sims[mag, 10.0] > sims[mag, 30.0] > sims[mag, 100.0]


def _transverse_fas(mag, stress_drop, n=12, r=20.0):
    """Mean Fourier amplitude of the transverse (SH-only) component with path/site removed."""
    cfg = SimulateConfig(kappa_s=0.0, q0=1e12, q_min=1e12, bandpass=False, radiation_isotropic_fraction=1.0,
                         window=WindowConfig(length_s=80.0))
    lat, lon = _ring(n, r)
    w, arr = sim.simulate_records(np.full(n, 34.0), np.full(n, -118.0), np.full(n, 10.0), np.full(n, mag), lat, lon,
                                  seeds=range(n), cfg=cfg, stress_drop_bar=stress_drop, site_factor=1.0,
                                  noise_level=0.0)
    b = np.radians(arr.back_azimuth_deg)[:, None]
    e, nn = w[:, 0].astype(float), w[:, 1].astype(float)
    trans = -e * np.cos(b) + nn * np.sin(b)  # perpendicular to the radial direction
    f = np.fft.rfftfreq(trans.shape[1], 1 / FS)
    fas = np.sqrt(np.mean(np.abs(np.fft.rfft(trans, axis=1) / FS) ** 2, axis=0))
    fas /= sto.site_amplification(f, [760.0])[0]
    return f, fas


def _fit_brune(f, fas, fmin=0.1, fmax=30.0):
    """Least-squares fit of log A = log(Ω (2πf)² / (1 + (f/fc)²)) over log-spaced bins."""
    edges = np.geomspace(fmin, fmax, 40)
    fc_bins = np.sqrt(edges[:-1] * edges[1:])
    logs = np.array([np.log(np.mean(fas[(f >= a) & (f < b)])) for a, b in zip(edges[:-1], edges[1:])])
    best = None
    for fc in np.geomspace(0.05, 30, 400):
        shape = np.log((2 * np.pi * fc_bins) ** 2 / (1 + (fc_bins / fc) ** 2))
        off = np.mean(logs - shape)
        res = np.sqrt(np.mean((logs - shape - off) ** 2))
        if best is None or res < best[1]:
            best = (fc, res)
    return best


def test_spectrum_is_omega_squared_with_expected_corner():
    fits = {}
    for mag, dsig in ((4.0, 50.0), (5.0, 50.0), (4.0, 400.0)):
        f, fas = _transverse_fas(mag, dsig)
        fc_fit, res = _fit_brune(f, fas)
        fc_true = float(sto.corner_frequency_hz(mag, dsig))
        assert res < 0.25, (mag, dsig, res)  # the ω² shape fits
        assert fc_fit == pytest.approx(fc_true, rel=0.3), (mag, dsig, fc_fit, fc_true)
        fits[mag, dsig] = fc_fit
    # corner falls with magnitude (10^(-0.5) per unit) and rises with stress drop (Δσ^(1/3))
    assert fits[5.0, 50.0] / fits[4.0, 50.0] == pytest.approx(10**-0.5, rel=0.3)
    assert fits[4.0, 400.0] / fits[4.0, 50.0] == pytest.approx(2.0, rel=0.3)


def test_pre_event_noise_between_peterson_models():
    from obspy.signal.spectral_estimation import get_nhnm, get_nlnm
    from scipy.signal import welch

    n = 12
    lat, lon = _ring(n, 150.0)
    cfg = SimulateConfig()
    w, arr = sim.simulate_records(np.full(n, 34.0), np.full(n, -118.0), np.full(n, 10.0), np.full(n, 3.5), lat, lon,
                                  seeds=range(n), cfg=cfg)
    start = int(np.min(arr.p_sample)) - 50
    assert start > 1500
    f, p = welch(w[:, :, :start].astype(float), fs=FS, nperseg=512, axis=-1)
    psd_db = 10 * np.log10(np.mean(p, axis=(0, 1)))
    band = (f >= 2.0) & (f <= 10.0)
    lo_p, lo_db = get_nlnm()
    hi_p, hi_db = get_nhnm()
    nlnm = np.interp(np.log10(1 / f[band]), np.log10(lo_p), lo_db)
    nhnm = np.interp(np.log10(1 / f[band]), np.log10(hi_p), hi_db)
    assert np.all(psd_db[band] > nlnm) and np.all(psd_db[band] < nhnm)
    # the level is configurable: quiet stations are quieter
    wq, _ = sim.simulate_records(np.full(n, 34.0), np.full(n, -118.0), np.full(n, 10.0), np.full(n, 3.5), lat, lon,
                                 seeds=range(n), cfg=cfg, noise_level=0.1)
    assert np.std(wq[:, :, :start]) < 0.5 * np.std(w[:, :, :start])
    # and the signal is far above it after the P onset
    assert np.abs(w[:, 2, start + 50:start + 1500]).max() > 10 * np.abs(w[:, 2, :start]).max()


# --- API --------------------------------------------------------------------------------------

def test_simulate_record_api_deterministic_and_validated():
    w1, info = sim.simulate_record(34.0, -118.0, 10.0, 4.5, 34.3, -117.8, seed=3)
    w2, _ = sim.simulate_record(34.0, -118.0, 10.0, 4.5, 34.3, -117.8, seed=3)
    w3, _ = sim.simulate_record(34.0, -118.0, 10.0, 4.5, 34.3, -117.8, seed=4)
    assert w1.shape == (3, 6000) and w1.dtype == np.float32
    assert np.array_equal(w1, w2) and not np.array_equal(w1, w3)
    assert 0 < info["p_sample"] < info["s_sample"] < 6000
    # the batch gives the same record whatever it is batched with
    wb, arr = sim.simulate_records([34.0, 34.0], [-118.0, -118.0], [10.0, 5.0], [4.5, 3.0], [34.3, 33.9],
                                   [-117.8, -118.4], seeds=[3, 9])
    assert np.array_equal(wb[0], w1) and arr.p_sample[0] == info["p_sample"]
    # component order follows the window config
    zne, _ = sim.simulate_record(34.0, -118.0, 10.0, 4.5, 34.3, -117.8, seed=3,
                                 cfg=SimulateConfig(window=WindowConfig(components="ZNE")))
    assert np.array_equal(zne[0], w1[2]) and np.array_equal(zne[2], w1[0])
    # the magnitude raises the motion
    big, _ = sim.simulate_record(34.0, -118.0, 10.0, 6.0, 34.3, -117.8, seed=3)
    assert np.abs(big).max() > 5 * np.abs(w1).max()
    for bad in (dict(event_lat=95.0), dict(station_lon=400.0), dict(magnitude=np.nan), dict(depth_km=900.0)):
        args = dict(event_lat=34.0, event_lon=-118.0, depth_km=10.0, magnitude=4.0, station_lat=34.3,
                    station_lon=-117.8)
        args.update(bad)
        with pytest.raises(ValueError):
            sim.simulate_record(**args)


def test_store_is_deterministic_valid_and_split_by_event(tmp_path):
    cfg = SimulateConfig()
    events = sim.random_events(6, (34.0, 34.6, -118.0, -117.4), 3.0, 5.5, seed=2, cfg=cfg)
    stations = sim.random_stations(5, (33.8, 34.8, -118.2, -117.2), seed=2, cfg=cfg)
    s1 = sim.simulate_store(tmp_path / "a", events, stations, cfg, seed=7, workers=1, progress=False)
    sim.simulate_store(tmp_path / "b", events, stations, cfg, seed=7, workers=2, progress=False)
    sim.simulate_store(tmp_path / "c", events, stations, cfg, seed=8, workers=1, progress=False)
    a, b, c = Store(tmp_path / "a"), Store(tmp_path / "b"), Store(tmp_path / "c")
    assert len(a) == s1["records"] == 30
    wa, wb, wc = (s.waveforms(range(len(s))) for s in (a, b, c))
    assert np.array_equal(wa, wb) and a.metadata.equals(b.metadata)
    assert not np.array_equal(wa, wc)
    meta = a.metadata
    assert list(meta.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert (meta["trace_units"] == "m/s2").all() and (meta["trace_arrivals_source"] == "simulated").all()
    assert (meta["source_magnitude_type"] == "Mw").all()
    assert (meta["trace_valid_start_sample"] == 0).all() and (meta["trace_valid_end_sample"] == 6000).all()
    assert (meta["trace_band_min_hz"] == 1.0).all() and (meta["trace_band_max_hz"] == 45.0).all()
    assert (meta.groupby("source_id")["split"].nunique() == 1).all()
    assert (meta["trace_S_arrival_sample"] + cfg.window.s_margin_s * FS <= 6000).all()
    assert (meta["trace_P_arrival_sample"] < meta["trace_S_arrival_sample"]).all()
    np.testing.assert_allclose(meta["trace_P_arrival_sample"], np.round(meta["trace_P_arrival_time_s"] * FS))
    fmt = a.data_format
    assert json.loads(fmt["heggs_simulate_config"])["velocity_model"] == "iasp91"
    assert int(fmt["heggs_simulate_seed"]) == 7 and "Boore" in fmt["heggs_simulator"]
    # amplitudes are physical: larger events give larger PGA on average
    pga = np.abs(wa).max(axis=(1, 2))
    assert np.corrcoef(meta["source_magnitude"] - np.log10(meta["path_ep_distance_km"]), np.log10(pga))[0, 1] > 0.5


def test_pairs_outside_window_are_left_out():
    cfg = SimulateConfig(max_distance_km=1000.0)
    events = pd.DataFrame({"event_id": ["e"], "origin_time": ["2020-01-01T00:00:00"], "latitude": [0.0],
                           "longitude": [0.0], "depth_km": [10.0], "magnitude": [4.0]})
    stations = pd.DataFrame({"latitude": [0.0, 0.0, 0.0], "longitude": [0.5, 2.0, 8.0]})
    pairs, skipped = sim.select_pairs(events, stations, cfg)
    assert list(pairs["station_index"]) == [0]  # 56 km: S at ~16 s; 222 and 890 km: S after 55 s
    assert skipped == {"beyond_max_distance": 0, "p_before_window": 0, "s_plus_margin_after_window": 2}


def test_catalog_and_station_csv_validation(tmp_path):
    good = tmp_path / "cat.csv"
    pd.DataFrame({"event_id": ["a", "b"], "latitude": [34.0, 34.2], "longitude": [-118.0, -117.9],
                  "depth_km": [8.0, 12.0], "magnitude": [4.0, 5.0], "strike_deg": [10.0, np.nan]}).to_csv(good, index=False)
    cat = sim.read_catalog(good)
    assert list(cat["event_id"]) == ["a", "b"] and cat["origin_time"].str.endswith("Z").all()
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"latitude": [134.0], "longitude": [0.0], "depth_km": [5.0], "magnitude": [4.0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="latitude"):
        sim.read_catalog(bad)
    nomag = tmp_path / "nomag.csv"
    pd.DataFrame({"latitude": [34.0], "longitude": [0.0], "depth_km": [5.0]}).to_csv(nomag, index=False)
    with pytest.raises(ValueError, match="magnitude"):
        sim.read_catalog(nomag)
    st = tmp_path / "st.csv"
    pd.DataFrame({"network": ["XX", "XX"], "station": ["A", "B"], "latitude": [34.1, 34.3],
                  "longitude": [-118.1, -117.7], "vs30_m_s": [400.0, np.nan]}).to_csv(st, index=False)
    stations = sim.read_stations(st)
    assert list(stations["vs30_m_s"]) == [400.0, 760.0]
    dup = tmp_path / "dup.csv"
    pd.DataFrame({"station": ["A", "A"], "latitude": [34.1, 34.3], "longitude": [-118.1, -117.7]}).to_csv(dup, index=False)
    with pytest.raises(ValueError, match="duplicate"):
        sim.read_stations(dup)


def test_cli_store_and_single_record(tmp_path):
    from click.testing import CliRunner
    from obspy import UTCDateTime, read

    from heggs.cli import main

    runner = CliRunner()
    cat = tmp_path / "cat.csv"
    pd.DataFrame({"latitude": [34.0, 34.2], "longitude": [-118.0, -117.9], "depth_km": [8.0, 12.0],
                  "magnitude": [4.0, 5.0]}).to_csv(cat, index=False)
    st = tmp_path / "st.csv"
    pd.DataFrame({"station": ["A", "B", "C"], "latitude": [34.1, 34.3, 34.5],
                  "longitude": [-118.1, -117.7, -117.5]}).to_csv(st, index=False)
    res = runner.invoke(main, ["simulate", "--out", str(tmp_path / "s"), "--catalog", str(cat), "--stations", str(st),
                               "--seed", "3", "--no-progress"])
    assert res.exit_code == 0, res.output
    store = Store(tmp_path / "s")
    assert len(store) == 6 and set(store.metadata["station_code"]) == {"A", "B", "C"}
    res = runner.invoke(main, ["simulate", "--out", str(tmp_path / "r"), "--n-events", "3", "--region",
                               "34,34.5,-118,-117.5", "--n-stations", "4", "--mag-min", "3", "--mag-max", "5",
                               "--no-progress"])
    assert res.exit_code == 0, res.output
    assert len(Store(tmp_path / "r")) == 12
    out = tmp_path / "one.mseed"
    res = runner.invoke(main, ["simulate", "--event", "34,-118,10,5", "--station", "34.4,-118", "--out", str(out),
                               "--origin-time", "2021-06-01T12:00:00"])
    assert res.exit_code == 0, res.output
    stream = read(str(out))
    assert sorted(tr.stats.channel for tr in stream) == ["HNE", "HNN", "HNZ"]
    assert stream[0].stats.starttime == UTCDateTime("2021-06-01T12:00:00") and stream[0].stats.npts == 6000
    w, _ = sim.simulate_record(34.0, -118.0, 10.0, 5.0, 34.4, -118.0, seed=0)
    np.testing.assert_array_equal(stream.select(channel="HNZ")[0].data, w[2])
    new = str(tmp_path / "two.mseed")
    for args, msg in ((["--event", "95,-118,10,5", "--station", "34,-118", "--out", new], "latitude"),
                      (["--event", "34,-118,10", "--station", "34,-118", "--out", new], "4 comma"),
                      (["--event", "34,-118,10,5", "--station", "34.4,-118", "--out", str(out)], "--overwrite"),
                      (["--out", str(tmp_path / "x"), "--n-events", "3", "--n-stations", "2"], "--region"),
                      (["--out", str(tmp_path / "x"), "--catalog", str(cat), "--n-events", "3", "--n-stations", "2",
                        "--region", "0,1,0,1"], "exactly one")):
        res = runner.invoke(main, ["simulate", *args])
        assert res.exit_code != 0 and msg in res.output, res.output


# --- a real picker sees the simulated phases ----------------------------------------------------

@pytest.mark.slow
def test_eqtransformer_picks_simulated_p_and_s(seisbench_cache):
    import seisbench.models as sbm
    import torch
    from obspy import UTCDateTime

    torch.set_num_threads(2)
    model = sbm.EQTransformer.from_pretrained("original")
    rng = np.random.default_rng(0)
    n = 24
    r = rng.uniform(15, 120, n)
    az = rng.uniform(0, 360, n)
    lat = 34.0 + r / KM_PER_DEG * np.cos(np.radians(az))
    lon = -118.0 + r / KM_PER_DEG * np.sin(np.radians(az)) / np.cos(np.radians(34.0))
    # EQTransformer blinds 5 s at each edge of its 60 s window: simulate 30 s of noise before
    # the origin and a longer window, as a continuous record would give it
    cfg = SimulateConfig(window=WindowConfig(offset_s=-30.0, length_s=120.0))
    w, arr = sim.simulate_records(np.full(n, 34.0), np.full(n, -118.0), rng.uniform(3, 15, n),
                                  rng.uniform(3.5, 5.0, n), lat, lon, seeds=range(n), cfg=cfg)
    t0 = UTCDateTime("2020-01-01T00:00:00")
    ok_p = ok_s = 0
    for i in range(n):
        stream = sim.to_stream(w[i], {}, station=f"S{i:03d}", cfg=cfg)
        assert stream[0].stats.starttime == t0 - 30
        picks = model.classify(stream, P_threshold=0.3, S_threshold=0.3).picks
        dp = min([abs((p.peak_time - t0) - arr.p_time_s[i]) for p in picks if p.phase == "P"], default=np.inf)
        ds = min([abs((p.peak_time - t0) - arr.s_time_s[i]) for p in picks if p.phase == "S"], default=np.inf)
        ok_p += dp < 0.5
        ok_s += ds < 1.0
    assert ok_p > n / 2 and ok_s > n / 2, (ok_p, ok_s, n)


def test_user_velocity_model_file(tmp_path):
    import os
    import shutil

    import obspy.taup
    from obspy.taup import TauPyModel

    from heggs.traveltimes import TravelTimeTable

    src = os.path.join(os.path.dirname(obspy.taup.__file__), "data", "prem.nd")
    user = tmp_path / "mycrust.nd"
    shutil.copy(src, user)
    tab = TravelTimeTable(str(user), max_distance_km=300.0)
    got = tab.lookup([40.0, 150.0], [12.0, 12.0])
    ref = TauPyModel("prem")
    for k, d in enumerate((40.0, 150.0)):
        tp = ref.get_travel_times(12.0, d / KM_PER_DEG, ["ttp"])[0].time
        assert got["p_time_s"][k] == pytest.approx(tp, abs=0.01)
    iasp = TravelTimeTable("iasp91", max_distance_km=300.0).lookup([150.0], [12.0])
    assert abs(iasp["p_time_s"][0] - got["p_time_s"][1]) > 0.05  # a different model is used
    with pytest.raises(FileNotFoundError):
        TravelTimeTable(str(tmp_path / "missing.tvel"))
    with pytest.raises(ValueError, match="unknown velocity model"):
        TravelTimeTable("no_such_model")
