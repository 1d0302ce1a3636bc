"""Tests of heggs.data: condition vector, normaliser, event splits and the pair contract."""

from __future__ import annotations

import itertools
import json
import math
import pickle

import numpy as np
import pytest
import torch
from conftest import shared_artefact

from heggs.data import (
    FEATURE_NAMES,
    ConditionNormalizer,
    PairDataset,
    assert_no_event_leak,
    condition_features,
    condition_vector,
    event_split,
    training_ranges,
)
from heggs.ingest.archives import iter_archive
from heggs.ingest.run import ingest
from heggs.store import Store, StoreWriter

N_SAMPLES = 200
#: stations per event; split per event
EVENTS = {"ev0": (1, "train"), "ev1": (2, "train"), "ev2": (3, "train"), "ev3": (5, "train"),
          "ev4": (4, "test"), "ev5": (2, "test")}
#: fixed station coordinates (degrees); event k is recorded by the first n stations
STATIONS = [(35.6 + 0.1 * s, -117.3 - 0.15 * s) for s in range(5)]


def make_store(path, with_paths=True, order="ENZ", counts_every=3, side_files=None):
    """A tiny store: 6 events x 1-5 stations, 200-sample traces whose values encode the row."""
    rows = []
    with StoreWriter(path, order, 100.0, N_SAMPLES, bucket_size=4) as w:
        for name, content in (side_files or {}).items():
            w.add_file(name, content)
        i = 0
        for e, (ev, (n_sta, split)) in enumerate(EVENTS.items()):
            elat, elon = 35.0 + 0.3 * e, -117.0 + 0.2 * e
            for s in range(n_sta):
                slat, slon = STATIONS[s]
                d, az, baz = _gps(elat, elon, slat, slon)
                meta = {
                    "source_id": ev, "split": split,
                    "source_latitude_deg": elat, "source_longitude_deg": elon,
                    "source_depth_km": 5.0 + e, "source_magnitude": 3.0 + 0.5 * e,
                    "source_magnitude_type": "ML",
                    "station_network_code": "XX", "station_code": f"S{s:02d}",
                    "station_latitude_deg": slat, "station_longitude_deg": slon,
                    "trace_units": "counts" if i % counts_every == 0 else "m/s2",
                    "trace_P_arrival_sample": 50, "trace_S_arrival_sample": 90,
                    "trace_valid_start_sample": 10 + s, "trace_valid_end_sample": N_SAMPLES - s,
                    "trace_band_max_hz": 45.0 - s,
                }
                if with_paths:
                    meta.update(path_ep_distance_km=d, path_azimuth_deg=az, path_back_azimuth_deg=baz)
                wave = np.zeros((3, N_SAMPLES), dtype=np.float32)
                for c, comp in enumerate(order):  # value = row*10 + index of component in "ENZ"
                    wave[c] = i * 10 + "ENZ".index(comp)
                w.add(wave, meta)
                rows.append(meta)
                i += 1
    return Store(path)


def _gps(elat, elon, slat, slon):
    from obspy.geodetics import gps2dist_azimuth

    d, az, baz = gps2dist_azimuth(elat, elon, slat, slon)
    return d / 1000, az, baz


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "s")


# --- condition vector ---------------------------------------------------------------------------


def test_condition_vector_known_pairs():
    # station 1 degree east of the event on the equator: a * pi / 180 on WGS84, azimuth 90, baz 270
    v = condition_vector(0.0, 1.0, 0.0, 0.0, 10.0, 5.5)
    assert v.shape == (11,) and v.dtype == np.float64
    assert v[:6].tolist() == [0.0, 1.0, 0.0, 0.0, 10.0, 5.5]
    assert v[6] == pytest.approx(6378.137 * math.pi / 180, rel=1e-6)
    np.testing.assert_allclose(v[7:], [1.0, 0.0, -1.0, 0.0], atol=1e-9)
    # station due north: azimuth 0, back-azimuth 180; meridian arc of 1 degree at the equator
    v = condition_vector(1.0, 0.0, 0.0, 0.0, 0.0, 3.0)
    assert v[6] == pytest.approx(110.574, abs=0.01)
    np.testing.assert_allclose(v[7:], [0.0, 1.0, 0.0, -1.0], atol=1e-6)
    with pytest.raises(ValueError, match="finite"):
        condition_vector(float("nan"), 0, 0, 0, 0, 3)


def test_condition_features_columns_or_coordinates_agree(store):
    meta = store.metadata
    with_paths = condition_features(meta)
    without = condition_features(meta.drop(columns=["path_ep_distance_km", "path_azimuth_deg", "path_back_azimuth_deg"]))
    assert with_paths.shape == (len(meta), len(FEATURE_NAMES)) == (17, 11)
    np.testing.assert_allclose(with_paths, without, rtol=1e-9, atol=1e-9)
    # one NaN path value is filled from the coordinates, same code path as condition_vector
    m2 = meta.copy()
    m2.loc[3, "path_azimuth_deg"] = np.nan
    np.testing.assert_allclose(condition_features(m2), with_paths, atol=1e-9)
    r = meta.iloc[3]
    v = condition_vector(r.station_latitude_deg, r.station_longitude_deg, r.source_latitude_deg,
                         r.source_longitude_deg, r.source_depth_km, r.source_magnitude)
    np.testing.assert_allclose(v, with_paths[3], atol=1e-9)
    with pytest.raises(ValueError, match="source_magnitude"):
        condition_features(meta.drop(columns=["source_magnitude"]))


# --- normaliser ---------------------------------------------------------------------------------


def test_normalizer_json_roundtrip_and_train_only(store):
    meta = store.metadata
    raw = condition_features(meta)
    train = (meta["split"] == "train").to_numpy()
    norm = ConditionNormalizer.fit(raw[train])
    z = norm.transform(raw[train])
    assert z.dtype == np.float32 and z.shape == (train.sum(), 11)
    np.testing.assert_allclose(z[:, :7].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(raw[:, 7:], norm.transform(raw)[:, 7:], atol=1e-6)  # sin/cos unscaled
    back = ConditionNormalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    np.testing.assert_array_equal(back.transform(raw), norm.transform(raw))
    np.testing.assert_allclose(back.inverse_transform(back.transform(raw)), raw, rtol=1e-5, atol=1e-4)
    # statistics come from the training split: the test events (larger magnitudes) are not in them
    assert norm.mean[5] == pytest.approx(raw[train, 5].mean())
    assert norm.mean[5] != pytest.approx(raw[:, 5].mean())
    ds = PairDataset(store, split="test")  # no normaliser given: fitted on TRAIN, not on test
    np.testing.assert_allclose(ds.normalizer.mean, norm.mean)
    with pytest.raises(ValueError, match="features"):
        ConditionNormalizer.from_dict({**norm.to_dict(), "feature_names": ["a"] * 11})


def test_normalizer_std_floor_and_antimeridian():
    x = np.tile(condition_vector(-17.0, 179.9, -17.5, 179.8, 10.0, 4.0), (5, 1))
    x[:, 1] = [179.9, -179.9, 179.8, -179.8, 180.0]  # stations across the antimeridian
    norm = ConditionNormalizer.fit(x)
    assert norm.std[4] == 1.0 and norm.std[5] == 0.1  # floors (single depth / magnitude)
    z = norm.transform(x)
    assert np.all(np.abs(z[:, 1]) < 2.0)  # contiguous, not +-180 degrees apart
    with pytest.raises(ValueError, match="no row"):
        ConditionNormalizer.fit(np.full((3, 11), np.nan))


# --- splits -------------------------------------------------------------------------------------


def test_event_split_uses_store_column_and_detects_leaks(store):
    meta = store.metadata
    s = event_split(meta)
    assert (s == meta["split"]).all()
    re = event_split(meta, fractions=(0.5, 0.0, 0.5), seed=3, resplit=True)
    assert_no_event_leak(meta.assign(split=re))
    assert set(re) <= {"train", "dev", "test"}
    leaky = meta.copy()
    leaky.loc[leaky.index[leaky.source_id == "ev3"][0], "split"] = "test"
    with pytest.raises(ValueError, match="ev3"):
        event_split(leaky)
    assert_no_event_leak(leaky.assign(split=event_split(leaky, resplit=True)))
    partial = meta.copy()
    partial.loc[0, "split"] = np.nan
    with pytest.warns(UserWarning, match="no split label"):
        s2 = event_split(partial, seed=5)
    assert_no_event_leak(partial.assign(split=s2))
    assert (s2 == event_split(meta, seed=5, resplit=True)).all()
    with pytest.raises(ValueError, match="source_id"):
        event_split(meta.drop(columns=["source_id"]))


def test_no_event_in_two_pair_datasets(store):
    tr, te = PairDataset(store, "train"), PairDataset(store, "test")
    sid = store.metadata["source_id"].to_numpy()
    assert set(sid[tr.target_indices]).isdisjoint(sid[te.target_indices])
    assert len(tr) + len(te) == len(store)


# --- pairs --------------------------------------------------------------------------------------

CONTRACT = {
    "src": (torch.float32, (3, N_SAMPLES)), "tgt": (torch.float32, (3, N_SAMPLES)),
    "src_valid": (torch.int64, (2,)), "tgt_valid": (torch.int64, (2,)),
    "src_band_max_hz": (torch.float32, ()), "tgt_band_max_hz": (torch.float32, ()),
    "c_src": (torch.float32, (11,)), "c_tgt": (torch.float32, (11,)),
    "same": (torch.bool, ()), "src_physical": (torch.bool, ()), "tgt_physical": (torch.bool, ()),
    "src_index": (torch.int64, ()), "tgt_index": (torch.int64, ()), "noise_seed": (torch.int64, ()),
    "src_arrivals_s": (torch.float32, (2,)), "tgt_arrivals_s": (torch.float32, (2,)),
    "tgt_distance_km": (torch.float32, ()), "tgt_depth_km": (torch.float32, ()),
}


def test_item_contract(store):
    ds = PairDataset(store, "train", p_same=0.0)
    meta = store.metadata
    for i in range(len(ds)):
        item = ds[i]
        assert set(item) == set(CONTRACT)
        for k, (dt, shape) in CONTRACT.items():
            assert item[k].dtype == dt and tuple(item[k].shape) == shape, k
        s, t = int(item["src_index"]), int(item["tgt_index"])
        # waveforms are the rows named by the indices (values encode row*10 + component)
        assert item["tgt"][:, 0].tolist() == [t * 10 + 0, t * 10 + 1, t * 10 + 2]
        assert item["src"][:, 0].tolist() == [s * 10 + 0, s * 10 + 1, s * 10 + 2]
        assert item["tgt_valid"].tolist() == [meta.trace_valid_start_sample[t], meta.trace_valid_end_sample[t]]
        assert float(item["src_band_max_hz"]) == meta.trace_band_max_hz[s]
        assert bool(item["tgt_physical"]) == (meta.trace_units[t] == "m/s2")
        np.testing.assert_allclose(item["c_tgt"].numpy(), ds.normalizer.transform(condition_features(meta.iloc[[t]]))[0])
        assert int(item["noise_seed"]) >= 0
        # arrivals: TauP from the raw distance and depth (the model's time channels)
        from heggs.traveltimes import get_table
        tt = get_table().lookup([meta.path_ep_distance_km[t]], [meta.source_depth_km[t]])
        np.testing.assert_allclose(item["tgt_arrivals_s"].numpy(), [tt["p_time_s"][0], tt["s_time_s"][0]], atol=1e-3)
        assert float(item["tgt_distance_km"]) == pytest.approx(meta.path_ep_distance_km[t], rel=1e-6)
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_pairs_same_event_different_station(store):
    ds = PairDataset(store, "train", p_same=0.3)
    meta = store.metadata
    n_same = 0
    for epoch in range(5):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            it = ds[i]
            s, t = int(it["src_index"]), int(it["tgt_index"])
            assert meta.source_id[s] == meta.source_id[t]
            assert bool(it["same"]) == (s == t)
            if s != t:
                assert meta.station_code[s] != meta.station_code[t]
            if meta.source_id[t] == "ev0":  # single-station event: always itself
                assert s == t
            n_same += s == t
    assert n_same < 5 * len(ds)
    c = ds.pair_counts()
    assert c == {"events": 4, "targets": 11, "paired_events": 3, "self_only_targets": 1, "physical_targets": 7}
    assert len(PairDataset(store, "train", min_stations=2)) == 10
    assert len(PairDataset(store, "train", physical_only=True)) == 7


def test_p_same_statistics(store):
    ds = PairDataset(store, "train", p_same=0.25, min_stations=2)
    same = []
    for epoch in range(120):
        ds.set_epoch(epoch)
        same += [ds.source_of(i) == ds.target_indices[i] for i in range(len(ds))]
    frac = np.mean(same)  # 1200 draws: binomial sd ~ 0.0125
    assert 0.19 < frac < 0.31, frac
    ds0 = PairDataset(store, "train", p_same=0.0, min_stations=2)
    assert all(ds0.source_of(i) != ds0.target_indices[i] for i in range(len(ds0)))
    ds1 = PairDataset(store, "train", p_same=1.0)
    assert all(bool(ds1[i]["same"]) for i in range(len(ds1)))
    with pytest.raises(ValueError, match="p_same"):
        PairDataset(store, "train", p_same=1.5)


def test_determinism_and_epochs(store, tmp_path):
    a = PairDataset(store, "train", p_same=0.2, seed=7)
    b = PairDataset(Store(store.path), "train", p_same=0.2, seed=7)
    draws = lambda d: [(int(d[i]["src_index"]), int(d[i]["noise_seed"])) for i in range(len(d))]  # noqa: E731
    assert draws(a) == draws(b)
    a.set_epoch(1)
    e1 = draws(a)
    assert e1 != draws(b)
    assert [s for s, _ in e1] != [s for s, _ in draws(b)]  # sources change across epochs too
    b.set_epoch(1)
    assert e1 == draws(b)
    c = PairDataset(store, "train", p_same=0.2, seed=8)
    assert draws(c) != draws(PairDataset(store, "train", p_same=0.2, seed=7))
    # noise seeds are unique per item and epoch
    seeds = [n for _, n in e1] + [n for _, n in draws(b.__class__(store, "train", seed=7))]
    assert len(set(seeds)) == len(seeds)


def test_dataloader_workers_match_single_process(store):
    ds = PairDataset(store, "train", p_same=0.2, seed=3)
    ds.set_epoch(2)
    ref = list(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=0))
    got = list(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2))
    assert len(ref) == len(got) == 3
    for r, g in zip(ref, got):
        assert set(r) == set(CONTRACT)
        for k in r:
            assert torch.equal(r[k], g[k]), k
    assert ref[0]["src"].shape == (4, 3, N_SAMPLES) and ref[0]["same"].dtype == torch.bool
    # picklable with an open HDF5 handle (spawn-started workers)
    ds2 = pickle.loads(pickle.dumps(ds))
    assert torch.equal(ds2[1]["src"], ds[1]["src"])


def test_missing_columns_seisbench_like(tmp_path):
    """No valid range, band, units or path columns, stored in ZNE order: defaults apply."""
    st = make_store(tmp_path / "zne", with_paths=False, order="ZNE")
    drop = ["trace_valid_start_sample", "trace_valid_end_sample", "trace_band_max_hz", "trace_units", "split"]
    st.metadata = st.metadata.drop(columns=drop)
    ds = PairDataset(st, "train", fractions=(0.5, 0.0, 0.5), split_seed=1)
    assert len(ds) > 0
    it = ds[0]
    t = int(it["tgt_index"])
    assert it["tgt_valid"].tolist() == [0, N_SAMPLES]
    assert float(it["tgt_band_max_hz"]) == pytest.approx(45.0)  # 0.9 x Nyquist of 100 Hz
    assert not bool(it["tgt_physical"])
    assert it["tgt"][:, 0].tolist() == [t * 10 + 0, t * 10 + 1, t * 10 + 2]  # back in E, N, Z order
    with pytest.raises(ValueError, match="component"):
        PairDataset(st, "train", components="ENH", fractions=(0.5, 0.0, 0.5))


def test_training_ranges(store):
    meta = store.metadata[store.metadata.split == "train"]
    r = training_ranges(meta)
    assert r["magnitude"] == [3.0, 4.5]
    assert r["depth_km"] == [5.0, 8.0]
    assert r["latitude"] == [35.0, pytest.approx(35.9)]
    assert r["n_events"] == 4 and r["n_records"] == 11
    assert r["magnitude_types"] == {"ML": 11}
    assert sum(r["units"].values()) == 11
    d = [_gps(m.source_latitude_deg, m.source_longitude_deg, m.station_latitude_deg, m.station_longitude_deg)[0]
         for m in meta.itertuples()]
    assert r["distance_km"] == [pytest.approx(min(d)), pytest.approx(max(d))]
    json.dumps(r)


def real_store(shared_data, tmp_path_factory) -> Store:
    """A store ingested with heggs.ingest.run from the first 100 records of
    ../shared/data/iceland_dike, built once per test run (also across pytest-xdist workers)."""
    def build(folder):
        items = itertools.islice(iter_archive(shared_data / "iceland_dike", "iceland_dike"), 100)
        ingest(items, folder / "iceland", progress=False, adapter="iceland_dike")

    folder = shared_artefact(tmp_path_factory, "iceland-100", {"archive": "iceland_dike", "records": 100}, build)
    return Store(folder / "iceland")


@pytest.mark.shared_data
def test_real_store_pairs(shared_data, tmp_path_factory):
    """Pairs from a real store (iceland_dike via heggs.ingest.run): the contract holds on real data."""
    store = real_store(shared_data, tmp_path_factory)
    meta = store.metadata
    assert len(meta) > 50 and meta["source_id"].nunique() >= 4
    ds = PairDataset(store, split=None, p_same=0.2, seed=1)
    assert len(ds) == len(meta)  # every ingested record has a finite condition
    assert ds.pair_counts()["paired_events"] >= meta["source_id"].nunique() - 1  # islice may cut the last event
    for i in range(0, len(ds), 7):
        it = ds[i]
        s, t = int(it["src_index"]), int(it["tgt_index"])
        assert meta.source_id[s] == meta.source_id[t]
        assert bool(it["same"]) or meta.station_code[s] != meta.station_code[t]
        assert torch.isfinite(it["tgt"]).all() and torch.isfinite(it["c_tgt"]).all()
        v0, v1 = it["tgt_valid"].tolist()
        assert 0 <= v0 < v1 <= it["tgt"].shape[-1]
        assert (it["tgt"][:, v1:] == 0).all() and it["tgt"][:, v0:v1].abs().max() > 0  # padding is zeros
        assert not bool(it["tgt_physical"])  # iceland_dike has no response: counts
        np.testing.assert_allclose(it["c_tgt"].numpy()[6], ds.normalizer.transform(
            condition_features(meta.iloc[[t]]))[0, 6], rtol=1e-6)
    train = meta[meta.split == "train"]
    r = training_ranges(train)
    assert r["units"] == {"counts": len(train)} and 0 < r["magnitude"][0] <= r["magnitude"][1] < 3
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["src"].shape == (4, 3, 6000) and batch["c_src"].shape == (4, 11)
