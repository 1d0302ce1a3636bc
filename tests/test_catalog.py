"""Catalog readers, association and duplicate merging; the generic scan on real files."""

from __future__ import annotations

import numpy as np
import pytest
from obspy import UTCDateTime

from heggs.ingest.catalog import Catalog, merge_duplicates, read_catalog, read_csv_catalog
from heggs.ingest.records import EventInfo, RawRecord, Skip

T0 = UTCDateTime(2014, 8, 24, 0, 0, 0)


def _ev(i, dt, lat=64.6, lon=-17.0, mag=1.0, prov="", **kw):
    return EventInfo(f"e{i}", T0 + dt, lat, lon, 5.0, mag, "ML", provenance=prov or f"file{i}", **kw)


def test_csv_catalog_flexible_columns(tmp_path):
    p = tmp_path / "cat.csv"
    p.write_text("Origin_Time,Lat,Lon,Depth_km,Magnitude,MagType,EventID\n"
                 "2019-07-06T03:19:53.04Z,35.77,-117.60,8.0,7.1,mw,ci38457511\n"
                 "2019-07-06T03:20:10Z,35.70,-117.50,-0.83,,,\n")
    evs = read_csv_catalog(p)
    assert [e.event_id for e in evs][0] == "ci38457511"
    assert evs[0].magnitude == 7.1 and evs[0].magnitude_type == "mw" and evs[0].depth_km == 8.0
    assert evs[1].magnitude is None and evs[1].depth_km == pytest.approx(-0.83)  # kept negative
    bad = tmp_path / "bad.csv"
    bad.write_text("when,x,y\n1,2,3\n")
    with pytest.raises(ValueError, match="lacks column"):
        read_csv_catalog(bad)


def test_match_closest_in_time_within_both_tolerances():
    cat = Catalog([_ev(0, 0.0), _ev(1, 10.0), _ev(2, 30.0, lat=65.5)])  # e2 is ~100 km away
    assert cat.match(T0 + 7.0, 64.6, -17.0).event_id == "e1"
    assert cat.match(T0 + 2.0, 64.6, -17.0).event_id == "e0"
    assert cat.match(T0 + 29.0, 64.6, -17.0).event_id == "e1"  # e2 is closer in time but too far
    assert cat.match(T0 + 200.0, 64.6, -17.0) is None
    assert cat.match(T0 + 29.0, 64.6, -17.0, max_km=200).event_id == "e2"
    assert Catalog().match(T0, 0, 0) is None


def test_merge_duplicates_merges_relocations_not_swarm_events():
    evs = [
        _ev(0, 0.0, prov="a.S"), _ev(1, 0.3, lat=64.6 + 0.0144, prov="b.S"),  # 0.3 s, 1.6 km: same quake
        _ev(2, 10.0, prov="c.S"), _ev(3, 20.0, prov="d.S"),  # swarm: 10 s apart
        _ev(4, 40.0, prov="cat.csv"), _ev(5, 41.0, prov="cat.csv"),  # one catalog never repeats an event
        _ev(6, 60.0, mag=1.0, prov="x"), _ev(7, 60.5, mag=4.0, prov="y"),  # magnitudes disagree
    ]
    m = merge_duplicates(evs)
    assert m["e0"] == m["e1"]
    assert len({m[f"e{i}"] for i in (0, 2, 3)}) == 3
    assert m["e4"] != m["e5"] and m["e6"] != m["e7"]
    # canonical id: the most precise member, independent of input order
    evs[1].origin_uncertainty_s = 0.0
    evs[0].origin_uncertainty_s = 1.0
    assert merge_duplicates(evs)["e0"] == "e1" and merge_duplicates(evs[::-1])["e0"] == "e1"


def test_ridgecrest_catalog_match_is_fast_and_keeps_events_distinct(shared_data):
    cat = Catalog.from_files([shared_data / "gmprocess/multiple_events/catalog.csv"])
    assert len(cat) == 2197
    e = cat.events[1000]
    hit = cat.match(e.origin_time + 3.0, e.latitude + 0.05, e.longitude)
    assert hit is not None and abs(hit.origin_time - e.origin_time) <= 3.0
    m = merge_duplicates(cat.events)
    assert len(set(m.values())) == 2197  # rows of one catalog are never merged


def test_nordic_sfiles_with_picks_and_double_locations(shared_data):
    rea = sorted(p for p in (shared_data / "eqcorrscan_alpine" / "REA").rglob("*") if p.is_file())
    evs = [e for p in rea for e in read_catalog(p)]
    assert len(evs) == len(rea) and all(e.magnitude_type for e in evs if e.magnitude is not None)
    with_picks = [e for e in evs if e.picks]
    assert with_picks and all(set(ph) <= {"P", "S"} for e in with_picks for ph in e.picks.values())
    groups = set(merge_duplicates(evs).values())
    assert len(groups) < len(evs)  # some events were located twice (two S-files)
    assert len(groups) == 33


def test_quakeml_reader(shared_data):
    (ev,) = read_catalog(shared_data / "pysep" / "test_event.xml")
    assert ev.magnitude == pytest.approx(4.6) and ev.magnitude_type == "Mw"
    assert ev.depth_km == pytest.approx(33.033, abs=0.01)


def test_scan_splits_instruments_and_reads_knet_units(shared_data):
    from heggs.ingest.generic import scan_archive

    items = list(scan_archive(shared_data / "gmprocess" / "fdsn" / "ci38445975"))
    recs = [r for r in items if isinstance(r, RawRecord)]
    assert sorted(r.stream[0].stats.channel[:2] for r in recs) == ["BN", "HN"]  # two instruments
    assert all(r.event is not None and r.event.event_id == "ci38445975" for r in recs)
    assert all(len(r.stream) == 3 and r.units == "counts" and r.inventory is not None for r in recs)
    knet = [r for r in scan_archive(shared_data / "gmprocess" / "knet" / "us2000cnnl") if isinstance(r, RawRecord)]
    assert knet and all(r.units == "cm/s2" for r in knet)
    r = knet[0]
    assert sorted(tr.stats.channel for tr in r.stream) == ["HNE", "HNN", "HNZ"]
    assert r.event.origin_uncertainty_s == 60.0 and r.station is not None
    # gal: the demeaned peak equals the header's "Max. Acc. (gal)" (ObsPy's calib gives m/s²)
    peak = max(np.abs(tr.data - tr.data.mean()).max() for tr in r.stream)
    assert peak == pytest.approx(max(tr.stats.knet.accmax for tr in r.stream), rel=0.02)


def test_scan_splits_multi_station_seisan_wav(shared_data):
    from heggs.ingest.generic import scan_archive

    wav = sorted((shared_data / "eqcorrscan_alpine" / "WAV").rglob("*DFDPC*"))[0]
    recs = [r for r in scan_archive(wav) if isinstance(r, RawRecord)]
    stations = [r.stream[0].stats.station for r in recs]
    assert len(recs) > 3 and len(set(stations)) > 3
    for r in recs:
        ids = {(tr.stats.network, tr.stats.station, tr.stats.location, tr.stats.channel[:2]) for tr in r.stream}
        assert len(ids) == 1


def test_scan_reports_unreadable_files(tmp_path):
    from heggs.ingest.generic import scan_archive

    (tmp_path / "junk.mseed").write_bytes(b"this is not seismic data" * 10)
    items = list(scan_archive(tmp_path))
    assert len(items) == 1 and isinstance(items[0], Skip) and items[0].reason == "unreadable file"


def test_event_json_gmprocess_and_geojson(shared_data):
    (ev,) = read_catalog(shared_data / "gmprocess" / "fdsn" / "ci38445975" / "event.json")
    assert ev.event_id == "ci38445975" and ev.magnitude == 4.0 and ev.depth_km == 2.6
    assert ev.origin_time == UTCDateTime(2019, 7, 5, 0, 18, 1)
    (geo,) = read_catalog(shared_data / "gmprocess" / "tutorials" / "nc73291880" / "event.json")
    assert geo.event_id == "nc73291880" and geo.magnitude_type == "mw" and geo.depth_km == pytest.approx(13.97)
    assert geo.origin_time == UTCDateTime(2019, 10, 15, 5, 33, 42, 810000)
