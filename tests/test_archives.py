"""Unit tests of the archive adapters' small readers, on tiny text snippets and synthetic files."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from obspy import Stream, Trace, UTCDateTime

from heggs.ingest.archives import ADAPTERS, detect_kind, iter_archive, resolve_kind
from heggs.ingest.gmprocess import _folder_event_for, _unsupported, unsupported_format
from heggs.ingest.headers import read_event_json
from heggs.ingest.instruments import split_instruments
from heggs.ingest.quakemigrate import iceland_dike_records, parse_qm_event, parse_qm_picks, parse_qm_stations
from heggs.ingest.seisan import parse_station0_hyp, sac_folder_records, sfile_wav_names
from heggs.ingest.isola import isola_response, parse_isola_event, parse_isola_pz, parse_isola_stations
from heggs.ingest.seisbench import normalise_units, seisbench_records
from heggs.ingest.cwb import is_cwb, parse_cwb_time, read_cwb
from heggs.ingest.geonet import bearing_to_azimuth, is_geonet_v1a, read_geonet_v1a
from heggs.ingest.nsmn import is_nsmn, parse_latlon, read_nsmn
from heggs.ingest.records import EventInfo, RawRecord, Skip

CWB = """#Earthquake Information
#Origin Time(GMT+08): 2021/04/18-22:11:39
#EpicenterLongitude(E): 121.49
#EpicenterLatitude(N): 23.87
#Depth(km): 15.0
#Magnitude(Ml): 5.8

#Station Information
#StationCode: ANP
#StationName: Yangmingshan
#StationLongitude(E): 121.529
#StationLatitude(N): 25.183
#InstrumentKind: FBA
#StartTime(GMT+08): 2021/04/18-22:11:30.000
#RecordLength(sec): 0.05
#SampleRate(Hz): {rate}
#AmplitudeUnit:  gal. DCoffset(corr)
#DataSequence: Time U(+); N(+); E(+)
#Data: 4F10.3
     0.000    -0.001     0.100     1.000
     0.010     0.001     0.200     2.000
     0.020     0.000     0.300     3.000
"""


def test_cwb_header_utc_plus_8_and_units(tmp_path):
    p = tmp_path / "1-ANP.dat"
    p.write_text(CWB.format(rate=100))
    assert is_cwb(p)
    st, ev, sta = read_cwb(p)
    assert ev.origin_time == UTCDateTime("2021-04-18T14:11:39")  # 22:11:39 UTC+8
    assert ev.event_id == "cwb202104182211"
    assert (ev.latitude, ev.longitude, ev.depth_km, ev.magnitude, ev.magnitude_type) == (23.87, 121.49, 15.0, 5.8, "ML")
    assert [tr.stats.channel for tr in st] == ["HNZ", "HNN", "HNE"]
    assert all(tr.stats.starttime == UTCDateTime("2021-04-18T14:11:30") for tr in st)
    np.testing.assert_allclose(st.select(channel="HNE")[0].data, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(st.select(channel="HNN")[0].data, [0.1, 0.2, 0.3])
    assert (sta.network, sta.station, sta.latitude, sta.longitude) == ("TW", "ANP", 25.183, 121.529)
    assert parse_cwb_time("2018/02/06-23:50:29.500") == UTCDateTime("2018-02-06T15:50:29.5")


def test_cwb_50hz_band_code_and_bad_unit(tmp_path):
    p = tmp_path / "a.dat"
    p.write_text(CWB.format(rate=50))
    st, _, _ = read_cwb(p)
    assert {tr.stats.channel for tr in st} == {"BNZ", "BNN", "BNE"}
    p.write_text(CWB.format(rate=50).replace("gal.", "counts."))
    with pytest.raises(ValueError, match="unit"):
        read_cwb(p)
    p.write_text("#Earthquake Information\n#Depth(km): 3\n")
    with pytest.raises(ValueError, match="lacks"):
        read_cwb(p)


NSMN = """STRONG GROUND MOTION RECORDS OF TURKIYE
PLACE                   : AYD\xfdN GERMENCIK DEVLET HASTANESI
EARTHQUAKE DATE         : 2017/07/20 22:31:09 (GMT)
EPICENTER COORDINATES   : 36.91980N-27.44350E
EARTHQUAKE DEPTH (km)   : 19.44
EARTHQUAKE MAGNITUDE    : 6.5 Mw
STATION ID              : 0921
STATION COORDINATES     : 37.87470N-27.59223E
STATION ALTITUDE (m)    : 66
RECORD TIME             : 20/07/2017 22:30:58.000000 (GMT)
NUMBER OF DATA          : 3
SAMPLING INTERVAL (sec) : 0.01
RAW PGA VALUES (gal)    : (N-S) 13.2 (E-W) 12.1 (U-D) 9.8
       N-S          E-W          U-D
    0.000909     -0.000191    -0.000092
   13.200000     12.100000     9.800000
    0.000919     -0.000199    -0.000099
"""


def test_nsmn_reader(tmp_path):
    p = tmp_path / "20170720223109_0921.txt"
    p.write_text(NSMN, encoding="latin-1")
    assert is_nsmn(p) and not is_cwb(p)
    st, ev, sta = read_nsmn(p)
    assert ev.event_id == "afad201707202231" and ev.origin_time == UTCDateTime("2017-07-20T22:31:09")
    assert (ev.latitude, ev.longitude, ev.depth_km, ev.magnitude, ev.magnitude_type) == (36.9198, 27.4435, 19.44, 6.5, "Mw")
    assert (sta.station, sta.latitude, sta.longitude, sta.elevation_m) == ("0921", 37.8747, 27.59223, 66.0)
    assert [tr.stats.channel for tr in st] == ["HNZ", "HNN", "HNE"]
    assert st[0].stats.starttime == UTCDateTime("2017-07-20T22:30:58") and st[0].stats.sampling_rate == 100.0
    assert st.select(channel="HNN")[0].data[1] == 13.2 and st.select(channel="HNE")[0].data[1] == 12.1
    assert parse_latlon("12.5S-70.25W") == (-12.5, -70.25)
    with pytest.raises(ValueError):
        parse_latlon("somewhere")


def _v1a_block(component: str, values: list[float]) -> str:
    n = len(values)
    text = [
        "Uncorrected accelerogram 20190427_072646_HCDS_20 GNS Science",
        "Site HCDS      39 38 45S  176 50 34E     Cusp file:  20190427_072659_HCDS",
        "Hastings", "Instrument Cusp_42281", "Resolution: 18-bit", "Accelerogram 20190427_072646_HCDS_20",
        "49 km south-east of Turangi", "2019 April 27         07:26:46 UT",
        "Epicentre  39 12 07S 176 18 30E  Bearing N43W  Dist   67km  Depth   37km M  4.09",
        f"Number of points  {n}    Duration 0.06 s",
        "Raw readings in units of 1.00 mm/s/s  at intervals of 0.005 s",
        "Data is unfiltered", f"Component {component}", "Acceleration:  Peak", "Velocity", "Displacement",
    ]
    ints = [
        [2019, 4, 27, 7, 26, 460, 0, 0, 2019, 4], [39, 12, 7, 176, 18, 30, 37, 0, 27, 7],
        [39, 38, 45, 176, 50, 34, 320, 320, 317, 67], [n, 0, 0, n, 0, 0, 0, 0, 26, 19600],
    ]
    lines = text + ["".join(f"{v:8d}" for v in row) for row in ints] + ["    0.00" * 10] * 6
    lines += ["".join(f"{v:8.1f}" for v in values[k : k + 10]) for k in range(0, n, 10)]
    return "\n".join(lines) + "\n"


def test_geonet_v1a_reader(tmp_path):
    assert (bearing_to_azimuth("N40W"), bearing_to_azimuth("S65E"), bearing_to_azimuth("S50W")) == (320.0, 115.0, 230.0)
    assert bearing_to_azimuth("N10E") == 10.0 and bearing_to_azimuth("Up") is None
    vals = [float(v) for v in range(-5, 7)]  # 12 samples, two data lines
    p = tmp_path / "20190427_072659_HCDS_20.V1A"
    p.write_text(_v1a_block("N40W", vals) + _v1a_block("S50W", vals[::-1]) + _v1a_block("Up", [-1234.5] * 12))
    assert is_geonet_v1a(p)
    st, ev, sta, az = read_geonet_v1a(p)
    assert [tr.stats.channel for tr in st] == ["HN1", "HN2", "HNZ"] and az == {"HN1": 320.0, "HN2": 230.0}
    assert st[0].stats.starttime == UTCDateTime("2019-04-27T07:26:19.6") and st[0].stats.sampling_rate == 200.0
    np.testing.assert_allclose(st[0].data, np.array(vals) / 1000.0)  # mm/s² -> m/s²
    np.testing.assert_allclose(st[2].data, -1.2345)
    assert ev.origin_time == UTCDateTime("2019-04-27T07:26:46") and ev.magnitude == 4.09 and ev.depth_km == 37
    assert ev.latitude == pytest.approx(-(39 + 12 / 60 + 7 / 3600)) and ev.longitude == pytest.approx(176 + 18 / 60 + 30 / 3600)
    assert (sta.station, round(sta.latitude, 4), round(sta.longitude, 4)) == ("HCDS", -39.6458, 176.8428)
    p.write_text(_v1a_block("N40W", vals)[:-60])
    with pytest.raises(ValueError, match="samples"):
        read_geonet_v1a(p)


STATION0 = """RESET TEST(02)=9.0
RESET TEST(07)=-2.31

  WHFS4315.66S17021.54E  60
  FRAN4322806S170 9624E 129
 FRAN24322806S170 9624E 130
 .WV014316.85S17023.73E  88
  WV014316.85S17023.73E  88
  NORT4500.00N00730.00W -12

  3.0  6.0
"""


def test_station0_hyp_parsing(tmp_path):
    p = tmp_path / "STATION0.HYP"
    p.write_text(STATION0)
    s = parse_station0_hyp(p)
    assert set(s) == {"WHFS", "FRAN", "FRAN2", "WV01", "NORT"}
    assert s["WHFS"].latitude == pytest.approx(-(43 + 15.66 / 60))
    assert s["WHFS"].longitude == pytest.approx(170 + 21.54 / 60)
    assert s["WHFS"].elevation_m == 60
    # minutes without a decimal point have three implied decimals
    assert s["FRAN"].latitude == pytest.approx(-43.3801, abs=1e-4)
    assert s["FRAN"].longitude == pytest.approx(170.1604, abs=1e-4)
    assert s["FRAN2"].elevation_m == 130
    assert s["NORT"].latitude == pytest.approx(45.0) and s["NORT"].longitude == pytest.approx(-7.5)
    assert s["NORT"].elevation_m == -12


def test_sfile_wav_names(tmp_path):
    line1 = " 2013  9 1 0411 15.7 L -43.340 170.376  8.5  VUW  8 0.2 0.6LVUW                1"
    line6 = " 2013-09-01-0410-35.DFDPC_024_00                                               6"
    assert len(line1) == 80 and len(line6) == 80
    p = tmp_path / "01-0411-15L.S201309"
    p.write_text(line1 + "\n" + line6 + "\n")
    assert sfile_wav_names(p) == ["2013-09-01-0410-35.DFDPC_024_00"]


QM_EVENT = (
    "EventID,DT,X,Y,Z,COA,ML,ML_Err\n"
    "20140824000109140,2014-08-24T00:01:08.920000Z,-16.946445,64.754563,6.0,4.9,{ml},0.1\n"
)
QM_PICKS = """Station,Phase,ModelledTime,PickTime,PickError,SNR,Residual
DYJN,P,2014-08-24T00:01:11.925293Z,2014-08-24T00:01:11.952429Z,0.0826,16.2,0.027
DYJS,P,2014-08-24T00:01:12.117475Z,-1,-1,-1,-1
DYJS,S,2014-08-24T00:01:14.611629Z,2014-08-24T00:01:14.525710Z,0.0891,20.1,-0.08
"""


def test_quakemigrate_event_picks_stations(tmp_path):
    ev = tmp_path / "e.event"
    ev.write_text(QM_EVENT.format(ml="1.11"))
    e = parse_qm_event(ev)
    assert (e.longitude, e.latitude, e.depth_km, e.magnitude, e.magnitude_type) == (-16.946445, 64.754563, 6.0, 1.11, "ML")
    assert e.origin_time == UTCDateTime("2014-08-24T00:01:08.92")
    ev.write_text(QM_EVENT.format(ml=""))
    assert parse_qm_event(ev).magnitude is None
    pk = tmp_path / "e.picks"
    pk.write_text(QM_PICKS)
    picks = parse_qm_picks(pk)
    assert picks["DYJN"] == {"P": UTCDateTime("2014-08-24T00:01:11.952429")}
    assert picks["DYJS"] == {"S": UTCDateTime("2014-08-24T00:01:14.525710")}  # -1 = not picked
    stf = tmp_path / "iceland_stations.txt"
    stf.write_text("Latitude,Longitude,Elevation,Name\n64.68360,-17.13372,1.381,DYJN\n")
    s = parse_qm_stations(stf)["DYJN"]
    assert (s.latitude, s.longitude) == (64.6836, -17.13372) and s.elevation_m == pytest.approx(1381.0)


def _trace(net, sta, cha, start, n=500, rate=100.0, loc=""):
    tr = Trace(data=np.random.default_rng(0).normal(size=n).astype(np.int32))
    tr.stats.update(dict(network=net, station=sta, location=loc, channel=cha, sampling_rate=rate, starttime=start))
    return tr


def test_iceland_adapter_streams_records_and_passes_missing_magnitude(tmp_path):
    t0 = UTCDateTime("2014-08-24T00:01:00")
    (tmp_path / "iceland_stations.txt").write_text("Latitude,Longitude,Elevation,Name\n64.6836,-17.13372,1.381,DYJN\n")
    for eid, ml in (("A", "1.1"), ("B", "")):
        (tmp_path / f"{eid}.event").write_text(QM_EVENT.replace("20140824000109140", eid).format(ml=ml))
        (tmp_path / f"{eid}.picks").write_text(QM_PICKS)
        st = Stream([_trace("Z7", "DYJN", c, t0) for c in ("HHE", "HHN", "HHZ")] + [_trace("Z7", "XXXX", "HHZ", t0)])
        st.write(str(tmp_path / f"{eid}.m"), format="MSEED")
    assert detect_kind(tmp_path) == "iceland_dike"
    gen = iceland_dike_records(tmp_path)
    assert iter(gen) is gen  # a generator: streams, does not load the archive
    items = list(gen)
    recs = [i for i in items if isinstance(i, RawRecord)]
    skips = [i for i in items if isinstance(i, Skip)]
    assert len(recs) == 2 and len(skips) == 2
    assert {s.reason for s in skips} == {"no station coordinates"}
    by_ev = {r.event.event_id: r for r in recs}
    assert by_ev["A"].event.magnitude == 1.1 and by_ev["B"].event.magnitude is None
    assert by_ev["A"].units == "counts" and by_ev["A"].station.elevation_m == pytest.approx(1381.0)
    assert "DYJN" in by_ev["A"].event.picks


def test_isola_event_station_pz(tmp_path):
    stn = tmp_path / "network.stn"
    stn.write_text("CH:LIENZ::HH   47.2946    9.4927\nOE:DAVA::HH   47.2870    9.8800\n")
    stations = parse_isola_stations(stn)
    assert stations["DAVA"].network == "OE" and stations["LIENZ"].latitude == 47.2946
    isl = tmp_path / "event.isl"
    isl.write_text("9.486  47.057\n3.6\n4.2\n20131212\n00\n59\n18.84\nSED\n")
    e = parse_isola_event(isl, stations)
    # the epicentre order is chosen by proximity to the stations (Switzerland, not Africa)
    assert (e.latitude, e.longitude) == (47.057, 9.486)
    assert e.origin_time == UTCDateTime("2013-12-12T00:59:18.84")
    assert (e.depth_km, e.magnitude) == (3.6, 4.2)
    isl.write_text("47.057  9.486\n3.6\n4.2\n20131212\n00\n59\n18.84\nSED\n")
    assert (parse_isola_event(isl, stations).latitude, parse_isola_event(isl).latitude) == (47.057, 47.057)
    pz = tmp_path / "LIENZHHZ.pz"
    pz.write_text(
        "A0\n2.0e+11\ncount-->m/sec2\n1.0\nzeros\n2\n0.0 0.0\n0.0 0.0\npoles\n3\n-0.037 -0.037\n-0.037 0.037\n-500.0 0.0\n"
    )
    d = parse_isola_pz(pz)
    assert len(d["zeros"]) == 2 and len(d["poles"]) == 3 and d["a0"] == 2.0e11
    resp = isola_response(d)
    s = 2j * np.pi * 1.0
    expect = abs(2.0e11 * s * s / ((s - complex(-0.037, -0.037)) * (s - complex(-0.037, 0.037)) * (s + 500.0)))
    got = abs(resp.get_evalresp_response_for_frequencies([1.0], output="VEL")[0])
    assert got == pytest.approx(expect, rel=1e-6)
    assert resp.instrument_sensitivity.input_units == "M/S"
    pz.write_text("A0\nnot a number\n")
    with pytest.raises(ValueError, match="poles-and-zeros"):
        parse_isola_pz(pz)


def test_sac_folder_header_event_and_azimuths(tmp_path):
    t0 = UTCDateTime("2014-08-15T03:55:21.057")
    for cha, az in (("HH1", 5.0), ("HH2", 95.0), ("HHZ", 0.0)):
        tr = _trace("NZ", "RPZ", cha, t0 - 0.009, loc="10")
        tr.stats.sac = {"stla": -43.7, "stlo": 171.05, "stel": 40.0, "evla": -43.3, "evlo": 170.3, "evdp": 5.1625e6,
                        "mag": 2.9, "cmpaz": az, "iztype": 11, "b": -0.009}
        tr.write(str(tmp_path / f"x.{cha}.sac"), format="SAC")
    (rec,) = list(sac_folder_records(tmp_path))
    assert rec.azimuths_deg == {"HH1": 5.0, "HH2": 95.0}
    assert abs(rec.event.origin_time - t0) < 0.002  # iztype IO: reference time = origin
    assert rec.event.depth_km == pytest.approx(5.1625)
    assert rec.station.latitude == pytest.approx(-43.7)


def test_split_instruments_groups_by_band_and_location():
    t0 = UTCDateTime(2020, 1, 1)
    st = Stream([_trace("CI", "MIKB", c, t0) for c in ("HNE", "HNN", "HNZ", "BNE", "BNN", "BNZ")] + [_trace("CI", "MIKB", "HNZ", t0, loc="01")])
    groups = split_instruments(st)
    assert list(groups) == [("CI", "MIKB", "", "HN"), ("CI", "MIKB", "", "BN"), ("CI", "MIKB", "01", "HN")]
    assert len(groups[("CI", "MIKB", "", "HN")]) == 3


def test_gmprocess_event_json_formats_and_wrong_label(tmp_path):
    flat = tmp_path / "a" / "event.json"
    flat.parent.mkdir()
    flat.write_text(json.dumps({"id": "us2000cnnl", "time": "2018-01-24T10:51:19.090000", "lat": 41.1, "lon": 142.4, "depth": 31, "magnitude": 6.3}))
    e = read_event_json(flat)
    assert e.event_id == "us2000cnnl" and e.origin_time == UTCDateTime("2018-01-24T10:51:19.09") and e.depth_km == 31
    geo = tmp_path / "b" / "event.json"
    geo.parent.mkdir()
    geo.write_text(json.dumps({"type": "Feature", "id": "nc73631381", "properties": {"mag": 3.23, "magType": "ml", "time": 1633005903170},
                               "geometry": {"type": "Point", "coordinates": [-122.67, 38.44, 9.27]}}))
    g = read_event_json(geo)
    assert (g.latitude, g.longitude, g.depth_km, g.magnitude, g.magnitude_type) == (38.44, -122.67, 9.27, 3.23, "ml")
    assert g.origin_time == UTCDateTime(1633005903.17)
    # an event.json whose origin is not inside the record names another event: not used
    st = Stream([_trace("BO", "X", "HNE", UTCDateTime("2011-06-30T14:45:33"), n=12000)])
    wrong = EventInfo("usp000hzq8", UTCDateTime("2011-04-11T08:16:12"), 37.0, 140.4, 11, 6.6)
    right = EventInfo("ok", UTCDateTime("2011-06-30T14:45:40"), 37.0, 140.4, 11, 6.6)
    assert _folder_event_for(st, wrong) is None and _folder_event_for(st, right) is right


@pytest.mark.parametrize(
    "name,head,fmt",
    [
        ("HI.ARS1..HNE.D.20190728.160908.C.ACC.ASC", "EVENT_NAME: GREECE\nEVENT_ID: EMSC-1\n", "ESM ASCII"),
        ("x.V1c", "Uncorrected acceleration  (Format v01.20 with 13 text lines)\n", "COSMOS"),
        ("20161113_110259_WTMC_20.V1A", "Uncorrected accelerogram 20161113_110256_WTMC_20 GNS Science\n", "GeoNet V1A"),
        ("CIWLT.RAW", "Uncorrected Accelerogram Data             Processed: 04/30/14, CGS\nRcrd of\n", "DMG (CSMIP)"),
        ("CE54388.v1", "Uncorrected Accelerogram Data   CGS\nx\ny\nz\nStation No. 54388\nBishop - 2-story Office Bldg\n",
         "DMG (CSMIP); building/structure sensor"),
        ("20170720223109_0921.txt", "STRONG GROUND MOTION RECORDS OF TURKIYE\n", "AFAD/NSMN"),
        ("5520-1.V1", "* VOL1DS FILE:  5520/01\n", "BHRC"),
        ("ACAC1709.191", "*****\n      INSTITUTO DE INGENIERIA, UNAM\n", "UNAM"),
        ("017m30lw.e0a", "CORRECTED ACCELEROGRAM  IIBB127  94.610.0 COMP N08W   FILE   0  CORRESPONDING\n", "USC"),
    ],
)
def test_unsupported_format_names(tmp_path, name, head, fmt):
    p = tmp_path / name
    p.write_text(head)
    assert unsupported_format(p) == fmt


def test_unsupported_files_one_skip_per_record(tmp_path):
    files = []
    for c in "ENZ":
        p = tmp_path / f"HI.ARS1..HN{c}.D.20190728.160908.C.ACC.ASC"
        p.write_text("EVENT_NAME: GREECE\n")
        files.append(p)
    other = tmp_path / "HL.DLFA..HNE.D.20190728.160908.C.ACC.ASC"
    other.write_text("EVENT_NAME: GREECE\n")
    skips = list(_unsupported(files + [other]))
    assert len(skips) == 2
    assert all(s.reason == "format not supported" and s.detail == "ESM ASCII" for s in skips)
    assert skips[0].origin.count(";") == 2


def test_detect_kind_layouts(tmp_path):
    def mk(name, files):
        d = tmp_path / name
        for f in files:
            (d / f).parent.mkdir(parents=True, exist_ok=True)
            (d / f).write_text("x")
        return d

    assert detect_kind(mk("sb", ["metadata.csv", "waveforms.hdf5"])) == "seisbench"
    assert detect_kind(mk("alp", ["STATION0.HYP", "REA/TEST_/01-0411-15L.S201309", "WAV/TEST_/w"])) == "eqcorrscan_alpine"
    assert detect_kind(mk("ice", ["1.event", "1.m", "1.picks"])) == "iceland_dike"
    assert detect_kind(mk("isola", ["example/event.isl", "example/network.stn"])) == "bayesisola"
    assert detect_kind(mk("gm", ["ev1/event.json", "ev1/raw/a.mseed"])) == "gmprocess"
    assert detect_kind(mk("ps", ["a.mseed", "inv.xml"])) == "pysep"
    assert detect_kind(mk("none", ["readme.md"])) is None
    assert detect_kind(tmp_path / "missing") is None
    assert set(ADAPTERS) == {"generic", "gmprocess", "eqcorrscan_alpine", "iceland_dike", "bayesisola", "pysep", "seisbench"}
    assert resolve_kind(tmp_path / "none") == "generic" and resolve_kind(tmp_path / "ps", "auto") == "pysep"
    assert list(iter_archive(tmp_path / "none")) == []  # generic scan: readme.md is not a waveform
    with pytest.raises(ValueError, match="unknown archive kind"):
        iter_archive(tmp_path / "none", "nonsense")


# --- SeisBench import ---------------------------------------------------------------------------

ORIGIN = UTCDateTime("2020-01-01T00:00:10")


def _sb_rows(n=2, pick_case="P"):
    rows = []
    for i in range(n):
        rows.append({
            "source_id": f"ev{i}", "source_origin_time": str(ORIGIN), "source_latitude_deg": 35.0,
            "source_longitude_deg": -117.0, "source_depth_km": 8.0, "source_magnitude": 3.0 + i,
            "source_magnitude_type": "ML", "station_network_code": "CI", "station_code": f"S{i}",
            "station_location_code": "", "station_latitude_deg": 35.1 + 0.1 * i, "station_longitude_deg": -117.1,
            "station_elevation_m": 10.0, "trace_start_time": str(ORIGIN - 5), "trace_sampling_rate_hz": 100.0,
            f"trace_{pick_case}_arrival_sample": 700 + 10 * i, f"trace_{'S' if pick_case == 'P' else 's'}_arrival_sample": 1100,
            "trace_channel": "HH",
        })
    return rows


def _waves(n, nc=3, ns=8000):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, nc, ns)).astype(np.float32)


def test_seisbench_import_bucketed(tmp_path):
    from heggs.store import StoreWriter

    w = _waves(2)
    with StoreWriter(tmp_path / "ds", "ZNE", 100.0, 8000, bucket_size=1) as sw:
        for row, wf in zip(_sb_rows(2), w):
            row = {**row, "trace_units": "m/s"}
            sw.add(wf, row)
    assert detect_kind(tmp_path / "ds") == "seisbench"
    recs = list(seisbench_records(tmp_path / "ds", chunksize=1))  # chunked metadata reading
    assert len(recs) == 2 and all(isinstance(r, RawRecord) for r in recs)
    r = recs[1]
    assert [tr.stats.channel for tr in r.stream] == ["HHZ", "HHN", "HHE"]
    np.testing.assert_array_equal(r.stream[2].data, w[1, 2])  # E is the third row in ZNE
    assert r.stream[0].stats.starttime == ORIGIN - 5 and r.units == "m/s"
    assert r.event.event_id == "ev1" and r.event.magnitude == 4.0 and r.event.magnitude_type == "ML"
    assert r.event.picks["CI.S1"]["P"] == ORIGIN - 5 + 7.1
    assert r.event.picks["CI.S1"]["S"] == ORIGIN - 5 + 11.0
    assert r.station.latitude == pytest.approx(35.2)


def _write_plain_seisbench(path: Path, rows, waves, order="ZNE", dim="CW", unit=None):
    path.mkdir(parents=True)
    names = []
    with h5py.File(path / "waveforms.hdf5", "w") as f:
        fmt = f.create_group("data_format")
        fmt.attrs["component_order"] = order
        fmt.attrs["dimension_order"] = dim
        fmt.attrs["sampling_rate"] = 100.0
        if unit:
            fmt.attrs["unit"] = unit
        g = f.create_group("data")
        for i, wf in enumerate(waves):
            name = f"trace_{i}"
            g.create_dataset(name, data=wf.T if dim == "WC" else wf)
            names.append(name)
    df = pd.DataFrame(rows)
    df.insert(0, "trace_name", names)
    df = df.drop(columns=["trace_sampling_rate_hz", "trace_channel"])
    df.to_csv(path / "metadata.csv", index=False)


def test_seisbench_import_plain_names_lowercase_picks_wc_layout(tmp_path):
    w = _waves(2)
    rows = _sb_rows(2, pick_case="p")
    rows[1]["source_origin_time"] = ""
    _write_plain_seisbench(tmp_path / "ds", rows, w, order="ENZ", dim="WC", unit="mps2")
    items = list(seisbench_records(tmp_path / "ds"))
    rec, skip = items
    assert isinstance(skip, Skip) and skip.reason == "no event origin"
    assert [tr.stats.channel for tr in rec.stream] == ["HHE", "HHN", "HHZ"]  # 100 Hz, no trace_channel -> HH
    np.testing.assert_array_equal(rec.stream[0].data, w[0, 0])
    assert rec.units == "m/s2"
    assert rec.event.picks["CI.S0"]["P"] == ORIGIN - 5 + 7.0
    assert normalise_units("counts") == "counts" and normalise_units("m/s2 (see metadata)") == "m/s2"
    assert normalise_units("furlongs") is None


def test_seisbench_import_then_ingest(tmp_path):
    """A tiny SeisBench dataset (plain names, counts, no response) goes through ingest."""
    import heggs.ingest.run as ingest_mod
    from heggs.config import IngestConfig
    from heggs.store import Store

    w = _waves(3, ns=9000)
    rows = _sb_rows(3)
    rows[2]["source_magnitude"] = float("nan")
    _write_plain_seisbench(tmp_path / "ds", rows, w)
    out = tmp_path / "store"
    report = ingest_mod.ingest(seisbench_records(tmp_path / "ds"), out, IngestConfig(), progress=False)
    store = Store(out)
    md = store.metadata
    assert len(md) == 2
    assert set(md["source_id"]) == {"ev0", "ev1"}
    assert set(md["trace_units"]) == {"counts"}
    assert (md["trace_component_order"] == "ENZ").all()
    assert store.waveform(0).shape == (3, 6000)
    assert set(md["trace_arrivals_source"]) == {"picked"}
    # P picked 7.0 s after the start, i.e. 2.0 s after the origin = sample 200 of the window
    row = md[md["source_id"] == "ev0"].iloc[0]
    assert row["trace_P_arrival_sample"] == pytest.approx(200, abs=1)
    assert [s.reason for s in report.skips] == ["no magnitude"]
    assert "no magnitude" in (out / "ingest_report.csv").read_text()
