import numpy as np
import pytest

from heggs.store import Store, StoreWriter


def _meta(i):
    return {"source_id": f"ev{i // 2}", "station_code": f"S{i}", "trace_units": "m/s2"}


def test_store_roundtrip_buckets(tmp_path):
    rng = np.random.default_rng(0)
    waves = rng.normal(size=(5, 3, 100)).astype(np.float32)
    with StoreWriter(tmp_path / "s", "ENZ", 100.0, 100, bucket_size=2) as w:
        names = [w.add(waves[i], _meta(i)) for i in range(5)]
    st = Store(tmp_path / "s")
    assert list(st.metadata["trace_name"]) == names
    assert names[2] == "bucket1$0,:3,:100"
    np.testing.assert_array_equal(st.waveforms(range(5)), waves)
    assert st.data_format["component_order"] == "ENZ"


def test_store_failure_leaves_old_store_intact(tmp_path):
    with StoreWriter(tmp_path / "s", "ENZ", 100.0, 10) as w:
        w.add(np.ones((3, 10)), _meta(0))
    with pytest.raises(RuntimeError):
        with StoreWriter(tmp_path / "s", "ENZ", 100.0, 10) as w:
            w.add(np.zeros((3, 10)), _meta(1))
            raise RuntimeError("boom")
    st = Store(tmp_path / "s")
    assert len(st) == 1 and st.waveform(0)[0, 0] == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temp folders left behind


def test_store_rejects_bad_waveforms(tmp_path):
    with StoreWriter(tmp_path / "s", "ENZ", 100.0, 10) as w:
        with pytest.raises(ValueError, match="shape"):
            w.add(np.ones((2, 10)), _meta(0))
        bad = np.ones((3, 10))
        bad[0, 3] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            w.add(bad, _meta(0))
        w.add(np.ones((3, 10)), _meta(0))


def test_store_opens_with_seisbench(tmp_path):
    sbd = pytest.importorskip("seisbench.data", reason="seisbench is an optional extra")
    waves = np.arange(2 * 3 * 50, dtype=np.float32).reshape(2, 3, 50)
    with StoreWriter(tmp_path / "s", "ENZ", 100.0, 50) as w:
        for i in range(2):
            w.add(waves[i], {**_meta(i), "split": "train"})
    ds = sbd.WaveformDataset(tmp_path / "s", component_order="ENZ")
    assert len(ds) == 2
    np.testing.assert_array_equal(ds.get_waveforms(1), waves[1])


def test_assign_splits_by_event_is_stable():
    from heggs.store import assign_splits

    ids = [f"ev{i}" for i in range(200) for _ in range(3)]
    lab = assign_splits(ids, (0.8, 0.0, 0.2), seed=1)
    per_event = {}
    for sid, s in zip(ids, lab):
        per_event.setdefault(sid, set()).add(s)
    assert all(len(v) == 1 for v in per_event.values())  # never one event in two splits
    frac_test = np.mean([next(iter(v)) == "test" for v in per_event.values()])
    assert 0.1 < frac_test < 0.3
    assert "dev" not in lab
    # adding events does not move existing ones
    lab2 = assign_splits(ids[:30] + ["new1", "new2"], (0.8, 0.0, 0.2), seed=1)
    assert list(lab2[:30]) == list(lab[:30])
    with pytest.raises(ValueError):
        assign_splits(ids, (0.5, 0.1, 0.1))
