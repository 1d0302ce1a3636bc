"""Clipped records (heggs.ingest.canonical.clipping, ``trace_clipped``): flagged at ingest on the raw
samples, kept in the store, shape only in training items and evaluation (docs/ingest.md, "Clipping")."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from obspy import Stream, Trace, UTCDateTime

from heggs.config import IngestConfig
from heggs.ingest.canonical import CLIP_FLAT_RUN, FULL_SCALE_COUNTS, clipping
from heggs.ingest.records import EventInfo, RawRecord, Skip, StationInfo
from heggs.ingest.run import process_record

T0 = UTCDateTime(2020, 1, 1, 0, 0, 0)
EV = EventInfo("ev1", T0, 0.0, 0.0, 10.0, 4.5, "ML")
RATE = 100.0


def _burst(amp, n=12000, f=4.0, seed=0, noise=30.0):
    """A 4 Hz burst peaking at 40 s (of 120 s at 100 Hz) in white noise, rounded to counts."""
    t = np.arange(n) / RATE
    rng = np.random.default_rng(seed)
    x = amp * np.sin(2 * np.pi * f * t + rng.random()) * np.exp(-(((t - 40.0) / 4.0) ** 2))
    return np.round(x + noise * rng.standard_normal(n))


def test_unclipped_records_are_not_flagged():
    for amp in (50.0, 3e3, 5e4, 3e6):  # weak (quantised) to strong, on 16- and 24-bit scales
        assert clipping(_burst(amp), counts=True) == "", amp
        assert clipping(_burst(amp) * 1e-7, counts=False) == "", amp
    # a long-period wave oversampled (0.1 Hz at 100 Hz, 20,000 counts) has no flat top
    t = np.arange(12000) / RATE
    assert clipping(np.round(20000 * np.sin(2 * np.pi * 0.1 * t)), counts=True) == ""
    # a 24-bit record whose peak passes the 16-bit scale (5e4 counts, above) is not clipped at 2^15 - 1
    assert np.abs(_burst(5e4)).max() > FULL_SCALE_COUNTS[0]


def test_made_clipped_records_are_flagged():
    x = _burst(2e7)
    full = np.clip(x, -(2**23 - 1), 2**23 - 1)  # a 24-bit digitiser saturating
    assert clipping(full, counts=True) == "full scale"
    # the same saturation in m/s² (a file already converted) is a flat top
    assert clipping(full * 1e-7, counts=False) == "flat top"
    flat = np.clip(_burst(5e4), -3e4, 3e4)  # flat-topped below any full scale (analogue stage)
    assert clipping(flat, counts=True) == "flat top"
    # the flat run must be long enough
    short = _burst(5e4)
    k = int(np.argmax(short))
    short[k : k + CLIP_FLAT_RUN - 1] = short[k]
    assert clipping(short, counts=True) == ""
    short[k : k + CLIP_FLAT_RUN] = short[k]
    assert clipping(short, counts=True) == "flat top"
    # two samples at a 32-bit full scale
    big = _burst(1e9)
    big[5000:5002] = FULL_SCALE_COUNTS[2]
    assert clipping(big, counts=True) == "full scale"


def _record(datas, units):
    st = Stream([Trace(np.asarray(d, dtype=np.float64), header=dict(network="XX", station="AAA", location="",
                                                                     channel=c, sampling_rate=RATE, starttime=T0 - 10))
                 for c, d in zip(("HNE", "HNN", "HNZ"), datas)])
    return RawRecord(stream=st, units=units, origin="synthetic:AAA", station=StationInfo("XX", "AAA", "", 0.0, 0.2),
                     event=EV)


def test_ingest_flags_a_clipped_record_and_keeps_it():
    x = [_burst(3e4, seed=s) * 1e-3 for s in range(3)]  # cm/s² (float, 1e-3 quanta), peaks ~30
    ok = process_record(_record(x, "cm/s2"), EV, IngestConfig())
    assert not isinstance(ok, Skip) and ok.meta["trace_clipped"] is False and ok.meta["trace_clipping"] == ""
    x[1] = np.clip(x[1], -20.0, 20.0)  # the N channel flat-topped at 20 cm/s²
    out = process_record(_record(x, "cm/s2"), EV, IngestConfig())
    assert not isinstance(out, Skip), out
    assert out.meta["trace_clipped"] is True and out.meta["trace_clipping"] == "HNN: flat top"
    assert out.meta["trace_units"] == "m/s2"


def test_clipped_records_are_shape_only_in_training_and_evaluation(tmp_path):
    """A store with one event marked clipped: its items are not physical (the loss's shape-only
    path) and its rows have no amplitude metrics in evaluation, unless asked for."""
    from heggs import config as C
    from heggs.data import PairDataset
    from heggs.evaluate.scoring import evaluate_generator, load_test_set, real_picks
    from heggs.simulate.simulator import random_events, random_stations, simulate_store
    from heggs.store import Store

    cfg = C.SimulateConfig(window=C.WindowConfig(length_s=30.0, sampling_rate_hz=50.0, band_max_hz=20.0),
                           split_fractions=(0.5, 0.0, 0.5))
    region = (35.0, 35.6, -117.4, -116.8)
    simulate_store(tmp_path / "s", random_events(8, region, mag_min=3.5, mag_max=4.5, seed=1, cfg=cfg),
                   random_stations(3, region, seed=1, cfg=cfg), cfg, seed=1, progress=False)
    meta = pd.read_csv(tmp_path / "s" / "metadata.csv")
    assert "trace_clipped" in meta and not meta["trace_clipped"].any()  # the simulator clips nothing
    test_events = meta.loc[meta["split"] == "test", "source_id"].unique()
    clipped_event = test_events[0]
    meta["trace_clipped"] = meta["source_id"] == clipped_event
    shutil.copytree(tmp_path / "s", tmp_path / "c")
    meta.to_csv(tmp_path / "c" / "metadata.csv", index=False)

    ds = PairDataset(Store(tmp_path / "c"), "test", p_same=0.0)
    for i in range(len(ds)):
        item = ds[i]
        assert bool(item["tgt_physical"]) == (meta["source_id"].iloc[int(item["tgt_index"])] != clipped_event)

    class Oracle:
        name, units, uses_source, band_max_hz = "oracle", "m/s2", False, 20.0

        def generate(self, test, targets, seeds, with_source, cfg):
            return test.waveforms[targets].copy()

    test = load_test_set(tmp_path / "c", "test")
    assert test.clipped.sum() == (test.meta["source_id"] == clipped_event).sum() > 0
    assert not test.physical[test.clipped].any() and test.physical[~test.clipped].all()
    ecfg = C.EvalConfig(n_records=1, picker="classical", n_boot=50, gmpe_models=("BSSA14",), modes=("without_source",))
    picks = real_picks(test, ecfg)
    rows = evaluate_generator(Oracle(), test, ecfg, picks, progress=False).rows
    clip = rows["clipped"].to_numpy(bool)
    assert clip.any() and not rows.loc[clip, "amplitude"].any() and rows.loc[~clip, "amplitude"].all()
    assert rows.loc[clip, "ln_pga"].isna().all() and np.isfinite(rows.loc[~clip, "ln_pga"]).all()
    assert rows.loc[clip, "gmpe_BSSA14_real"].isna().all() and np.isfinite(rows.loc[clip, "env_corr"]).all()
    forced = evaluate_generator(Oracle(), test, C.EvalConfig(**{**ecfg.__dict__, "amplitude_clipped": True}), picks,
                                progress=False).rows
    assert forced["amplitude"].all()


# ----------------------------------------------------------------------------- real data

#: records kept by `heggs ingest` per shared source and how many are flagged clipped: none of the
#: 630 records of ../shared/data is clipped (docs/ingest.md, "Clipping")
REAL_RECORDS = {"bayesisola": 9, "pysep": 1, "gmprocess": 169, "iceland_dike": 252, "eqcorrscan_alpine": 199}
FAST_SOURCES = ("bayesisola", "pysep")


def _raw_counts(shared_data, pattern):
    import obspy

    files = sorted((shared_data / "gmprocess").glob(pattern))
    if not files:
        pytest.skip(f"{pattern} not in {shared_data / 'gmprocess'}")
    return np.asarray(obspy.read(str(files[0]))[0].data, dtype=np.float64)


def test_real_records_near_and_at_full_scale(shared_data):
    # BK.BRIB (a 26-bit digitiser) peaks at 8.45e6 and 8.74e6 counts, just ABOVE the 24-bit full
    # scale (8,388,607) without a flat top: not clipped
    for ch in ("HHE", "HHN"):
        x = _raw_counts(shared_data, f"tutorials/nc73291880/raw/BK.BRIB.01.{ch}__*.mseed")
        assert np.abs(x).max() > FULL_SCALE_COUNTS[1]
        assert clipping(x, counts=True) == "", ch
    # CI.CCC (Ridgecrest M7.1, 1.18e6 counts) as recorded, and driven into a 24-bit digitiser's
    # saturation (x20, clipped at ±(2^23 - 1))
    x = _raw_counts(shared_data, "multiple_events/ci38457511/CI.CCC..HNE.mseed")
    assert clipping(x, counts=True) == ""
    sat = np.clip(20 * x, -FULL_SCALE_COUNTS[1], FULL_SCALE_COUNTS[1])
    assert (np.abs(sat) >= FULL_SCALE_COUNTS[1]).sum() > 10
    assert clipping(sat, counts=True) == "full scale"


@pytest.mark.parametrize("source", [pytest.param(s, marks=() if s in FAST_SOURCES else pytest.mark.slow)
                                    for s in sorted(REAL_RECORDS)])
def test_real_sources_have_no_clipped_record(shared_data, tmp_path, source):
    from click.testing import CliRunner

    from heggs.cli import main
    from heggs.store import Store

    out = tmp_path / "st"
    r = CliRunner().invoke(main, ["ingest", str(shared_data / source), "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    meta = Store(out).metadata
    assert len(meta) == REAL_RECORDS[source]
    assert meta["trace_clipped"].dtype == bool and not meta["trace_clipped"].any()
    summary = __import__("json").loads((out / "ingest_summary.json").read_text())
    assert summary["clipped"] == 0 and summary["clipped_records"] == {}
    assert "trace_clipping" not in meta  # the reasons go to the summary, not the metadata
