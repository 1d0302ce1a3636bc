"""Real-data reconciliation: each ../shared/data source through its adapter and ingest.

Every record of a source's reference inventory (``reference/records.csv``, made by an
independent pass) must be either in the store or in the ingest report with a reason that fits
it. Store-level checks: units, window length, valid ranges, band limits, component order.
Skipped cleanly (``shared_data`` fixture) where ../shared/data is absent.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from obspy import UTCDateTime

from heggs.ingest.archives import iter_archive, source_catalog
from heggs.ingest.catalog import Catalog
from heggs.config import IngestConfig
from heggs.store import Store

N_SAMPLES = 6000  # default window: 60 s at 100 Hz


def _run(shared_data: Path, tmp_path_factory, kind: str):
    from heggs.ingest.run import ingest

    root = shared_data / kind
    out = tmp_path_factory.mktemp(kind) / "store"
    events = source_catalog(root, kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = ingest(iter_archive(root, kind), out, IngestConfig(), catalog=Catalog(events) if events else None,
                        progress=False, adapter=kind)
    store = Store(out)
    skips = pd.read_csv(out / "ingest_report.csv", keep_default_na=False)
    return root, report, store, skips


def _check_store(store: Store, band_by_rate: bool = True) -> pd.DataFrame:
    """Invariants every store must satisfy; returns the metadata."""
    md = store.metadata
    assert len(md) > 0
    assert store.data_format["component_order"] == "ENZ"
    assert (md["trace_component_order"] == "ENZ").all()
    assert (md["trace_sampling_rate_hz"] == 100.0).all() and (md["trace_npts"] == N_SAMPLES).all()
    assert md["trace_units"].isin(["m/s2", "counts"]).all()
    vs, ve = md["trace_valid_start_sample"], md["trace_valid_end_sample"]
    assert ((vs >= 0) & (vs < ve) & (ve <= N_SAMPLES)).all()
    p = md["trace_P_arrival_sample"]
    assert ((p >= vs) & (p < ve)).all(), "P must lie in the recorded part"
    assert (md["trace_S_arrival_sample"] > p).all()
    assert (md["trace_band_min_hz"] == 1.0).all()
    expect = np.minimum(45.0, 0.9 * md["trace_original_sampling_rate_hz"] / 2)
    np.testing.assert_allclose(md["trace_band_max_hz"], expect, rtol=1e-6)
    for i in np.linspace(0, len(md) - 1, min(len(md), 12)).astype(int):
        w = store.waveform(int(i))
        assert w.shape == (3, N_SAMPLES) and np.isfinite(w).all()
        a, b = int(vs.iloc[i]), int(ve.iloc[i])
        assert np.all(w[:, :a] == 0) and np.all(w[:, b:] == 0), "padding must be zeros"
        assert np.abs(w[:, a:b]).max() > 0
    return md


def _accounted(key_in_origin, md: pd.DataFrame, skips: pd.DataFrame):
    """('store', row) or ('skip', reason) for the first store row / skip whose origin matches."""
    hit = md[md["provenance"].map(key_in_origin)]
    if len(hit):
        return "store", hit.iloc[0]
    sk = skips[skips["origin"].map(key_in_origin)]
    if len(sk):
        return "skip", sk.iloc[0]["reason"]
    return None, None


# --- iceland_dike -------------------------------------------------------------------------------


@pytest.mark.slow
def test_iceland_dike_reconciles(shared_data, tmp_path_factory):
    root, report, store, skips = _run(shared_data, tmp_path_factory, "iceland_dike")
    md = _check_store(store)
    ref = pd.read_csv(root / "reference" / "records.csv", dtype={"event_id": str})
    no_ml = "20140824000752340"
    for r in ref.itertuples():
        where, what = _accounted(lambda o, r=r: f"{r.event_id}.m#{r.net}.{r.sta}." in o, md, skips)
        assert where is not None, f"reference record {r.event_id} {r.sta} not accounted for"
        if r.event_id == no_ml:
            assert (where, what) == ("skip", "no magnitude")
        else:
            assert where == "store", f"{r.event_id} {r.sta}: skipped ({what})"
    assert (md["trace_units"] == "counts").all()  # no response in the archive
    assert no_ml not in set(md["source_id"])
    assert len(md) == int((ref["event_id"] != no_ml).sum())
    # 32.5 s files (origin - 8 s .. + 24 s): head inside the record, tail padded after ~24 s
    assert (md["trace_valid_start_sample"] == 0).all()
    assert md["trace_valid_end_sample"].between(2300, 2450).all()
    assert (md["trace_arrivals_source"] != "theoretical").any()  # QuakeMigrate picks are used
    s = report.summary
    assert s["events"] == ref["event_id"].nunique() - 1 and s["paired_events"] == s["events"]


# --- eqcorrscan_alpine --------------------------------------------------------------------------


@pytest.mark.slow
def test_eqcorrscan_alpine_reconciles(shared_data, tmp_path_factory):
    root, report, store, skips = _run(shared_data, tmp_path_factory, "eqcorrscan_alpine")
    md = _check_store(store)
    ref = pd.read_csv(root / "reference" / "records.csv")
    dup = {"duplicate record", "duplicate (co-located instrument)", "dead channel"}
    counts = {"store": 0}
    for r in ref.itertuples():
        key = f"{r.wav}#{r.net}.{r.sta}."

        def match(o, key=key, band=r.band):
            return key in o and f".{band}?" in o

        where, what = _accounted(match, md, skips)
        assert where is not None, f"reference record {key} not accounted for"
        counts[where if where == "store" else what] = counts.get(where if where == "store" else what, 0) + 1
        if r.comps == "12Z":
            assert what == "1/2 channels without azimuth", f"{key}: {where} {what}"
        elif np.isnan(r.sta_lat):
            assert what == "no station coordinates", f"{key}: {where} {what}"
        else:
            assert where == "store" or what in dup, f"{key}: {where} {what}"
    assert counts["store"] > 150 and counts["1/2 channels without azimuth"] >= 81
    assert (md["trace_units"] == "counts").all()
    dead = skips[skips["reason"] == "dead channel"]
    assert len(dead) >= 1 and dead["detail"].str.contains("-2147483648").all()
    # WAV files end ~50 s after the origin: tail-padded, never past S + margin
    assert (md["trace_valid_end_sample"] < N_SAMPLES).any()
    margin = IngestConfig().window.s_margin_s * 100
    assert (md["trace_valid_end_sample"] >= np.minimum(md["trace_S_arrival_sample"] + margin, N_SAMPLES) - 1).all()
    # events located twice (two S-files, one event_group) end up as one source_id
    ev = pd.read_csv(root / "reference" / "events.csv")
    for _, g in ev.groupby("event_group"):
        ids = set()
        for wav in g["wav"]:
            ids |= set(md.loc[md["provenance"].str.contains(wav, regex=False), "source_id"])
        assert len(ids) <= 1, f"event group {g['sfile'].tolist()} split into {ids}"
    assert report.summary["paired_events"] >= 25


# --- gmprocess ----------------------------------------------------------------------------------

UNSUPPORTED = {"cosmos", "dmg", "bhrc", "unam", "usc", "esm"}
READ_SKIPS = {
    "no event match", "missing component", "duplicate (co-located instrument)", "duplicate record",
    "P outside window", "band empty", "borehole sensor", "starts after P", "time span misses window",
}


@pytest.mark.slow
def test_gmprocess_reconciles(shared_data, tmp_path_factory):
    root, report, store, skips = _run(shared_data, tmp_path_factory, "gmprocess")
    md = _check_store(store)
    ref = pd.read_csv(root / "reference" / "records.csv", keep_default_na=False)
    seen = {}
    for r in ref.itertuples():
        files = [str(root / f) for f in r.files.split(";") if f]
        where, what = _accounted(lambda o, files=files: any(f in o for f in files), md, skips)
        assert where is not None, f"reference record {r.dir} {r.network}.{r.station} not accounted for"
        fmt = r.gmprocess_format.lower()
        if fmt in UNSUPPORTED or all(f.endswith(".V2A") for f in files):  # GeoNet V2A: processed
            assert what == "format not supported", f"{r.dir} {r.station}: {where} {what}"
        else:
            assert where == "store" or what in READ_SKIPS, f"{r.dir} {r.station}: {what}"
            if r.three_component == "False":
                assert what == "missing component", f"{r.dir} {r.station}: {where} {what}"
        seen[where if where == "store" else what] = seen.get(where if where == "store" else what, 0) + 1
    assert (md["trace_units"] == "m/s2").all()  # every read format has a response or physical units
    # CWB Taiwan 2021: 103 stations, header origin in UTC+8
    cwb = md[md["source_id"] == "cwb202104182211"]
    assert len(cwb) == 103
    assert (cwb["source_origin_time"].map(UTCDateTime) == UTCDateTime("2021-04-18T14:11:39")).all()
    # 50 Hz and 40 Hz instruments: band ends at 0.9 x Nyquist
    assert set(md.loc[md["trace_original_sampling_rate_hz"] == 50, "trace_band_max_hz"]) == {22.5}
    # K-NET Aomori: all 9 head-padded (start after the origin, before P) and the origin refined
    aom = md[md["station_code"].str.startswith("AOM")]
    assert len(aom) == 9
    assert (aom["trace_valid_start_sample"] > 0).all()
    dt = aom["source_origin_time"].map(UTCDateTime) - UTCDateTime("2018-01-24T10:51:00")
    assert np.allclose(dt.astype(float), 19.09, atol=0.05)
    # units: stored PGA (1-45 Hz, m/s²) is of the order of the header's max acceleration (gal)
    from obspy import read

    i = int(np.flatnonzero(md["station_code"] == "AOM001")[0])
    accmax = max(read(str(p))[0].stats.knet.accmax for p in (root / "knet" / "us2000cnnl").glob("AOM001*"))
    assert 0.5 < np.abs(store.waveform(i)).max() / (accmax / 100.0) < 2.0
    i = int(np.flatnonzero(md["station_code"] == "ANP")[0])  # CWB header: max |acc| 0.944 gal
    assert 0.3 < np.abs(store.waveform(i)).max() / 0.00944 < 2.0
    i = int(np.flatnonzero(md["station_code"] == "0921")[0])  # AFAD/NSMN: raw PGA 13.2 gal (N-S)
    # header event afad201707202231, refined by the folder's catalog entry us20009ynd
    assert md["source_id"].iloc[i] in ("afad201707202231", "us20009ynd")
    assert (md["source_id"] == md["source_id"].iloc[i]).sum() >= 2  # a paired event
    assert 0.3 < np.abs(store.waveform(i)).max() / 0.132 < 2.0
    # GeoNet V1A: raw mm/s², horizontals at bearings (N40W...) rotated by ingest; Peak -22.0 mm/s/s
    i = int(np.flatnonzero((md["station_code"] == "HCDS") & md["source_origin_time"].str.startswith("2019-04-27"))[0])
    assert 0.3 < np.abs(store.waveform(i)).max() / 0.0258 < 2.0
    assert md.loc[md["station_network_code"] == "NZ", "source_id"].nunique() >= 3
    # KiK-net: borehole sensors reported, surface sensors kept or reported with another reason
    bore = skips[skips["reason"] == "borehole sensor"]
    assert len(bore) == 2 and bore["origin"].str.contains("NGNH3").all()
    # building sensor (CESMD CE54388) is said to be one; BHRC (1970 start times) never reaches ingest
    ce = skips[skips["origin"].str.contains("CE54388")]
    assert len(ce) == 1 and "building" in ce.iloc[0]["detail"]
    bhrc = skips[skips["origin"].str.contains("/bhrc/")]
    assert len(bhrc) == 6 and (bhrc["reason"] == "format not supported").all()
    # co-located instruments: one kept per station and event
    assert not md.duplicated(["source_id", "station_network_code", "station_code"]).any()
    assert seen.get("duplicate (co-located instrument)", 0) >= 1
    s = report.summary
    assert s["paired_events"] >= 5 and s["records"] == len(md)


# --- bayesisola / pysep -------------------------------------------------------------------------


def test_bayesisola_paz_gives_physical_units(shared_data, tmp_path_factory):
    root, report, store, skips = _run(shared_data, tmp_path_factory, "bayesisola")
    md = _check_store(store)
    assert len(md) == 9 and len(skips) == 0
    assert (md["trace_units"] == "m/s2").all()
    assert md["source_id"].nunique() == 1
    assert md["source_latitude_deg"].iloc[0] == pytest.approx(47.057)
    assert md["source_magnitude"].iloc[0] == pytest.approx(4.2)
    # 80 Hz DAVA -> 36 Hz, 120/200 Hz -> 45 Hz
    assert md.loc[md["station_code"] == "DAVA", "trace_band_max_hz"].iloc[0] == pytest.approx(36.0)
    pga = np.array([np.abs(store.waveform(i)).max() for i in range(len(md))])
    assert np.all((pga > 1e-5) & (pga < 1.0)), f"PGA {pga} m/s² implausible for an M4.2 at 10-60 km"


def test_pysep_reconciles(shared_data, tmp_path_factory):
    root, report, store, skips = _run(shared_data, tmp_path_factory, "pysep")
    md = _check_store(store)
    assert list(md["station_code"]) == ["ALPI"] and (md["trace_units"] == "m/s2").all()
    assert md["trace_band_max_hz"].iloc[0] == pytest.approx(22.5)  # 50 Hz broadband
    cola = skips[skips["origin"].str.contains("test_12Z_data")]
    assert list(cola["reason"]) == ["no event match"]  # IU.COLA 2012: no event in the folder
    # ATKA and BESE are 230-700 km away: P after the 60 s window
    assert (skips["reason"] == "P outside window").sum() == 2
    assert report.summary["records"] + len(skips) == 4
