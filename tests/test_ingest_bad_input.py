"""Issue criterion: a small archive built from real files of ../shared/data plus damaged copies
(truncated miniSEED, missing component, gap, NaN, start time 10 years off, event file naming the
wrong event). Each bad input is a reported skip with the right reason; the rest still ingests."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from obspy import Stream, read

from heggs.ingest.catalog import Catalog
from heggs.config import IngestConfig
from heggs.ingest.run import ingest
from heggs.ingest.generic import scan_archive
from heggs.ingest.headers import read_event_json

FDSN = "gmprocess/fdsn"


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _rewrite(path, fn):
    """Read one MSEED file, let ``fn`` change the Stream, write it back (float32 keeps NaN)."""
    st = fn(read(str(path)))
    for tr in st:
        tr.data = np.asarray(tr.data, dtype=np.float32)
    st.write(str(path), format="MSEED", encoding="FLOAT32")


@pytest.fixture(scope="module")
def bad_archive(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    src = shared_data / FDSN
    clc = src / "ci38457511"
    _copy(clc, root / "good" / "clc")  # Ridgecrest M7.1 at CLC: HN + StationXML
    _copy(src / "uu60363602", root / "good" / "hru")  # Magna M5.7
    _copy(src / "nc73300395", root / "good" / "valb")  # HN1/HN2/HN3: azimuths from StationXML

    d = _copy(src / "us70008dx7", root / "truncated")
    f = next(d.glob("*HNE*.mseed"))
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2 + 300])

    d = _copy(clc, root / "missing")
    next(d.glob("*HNZ.mseed")).unlink()

    d = _copy(clc, root / "gap")
    _rewrite(next(d.glob("*HNE.mseed")),
             lambda st: Stream([st[0].slice(endtime=st[0].stats.starttime + 40),
                                st[0].slice(st[0].stats.starttime + 45)]))

    d = _copy(clc, root / "nan")

    def add_nan(st):
        st[0].data = st[0].data.astype(np.float64)
        st[0].data[st[0].stats.npts // 3] = np.nan
        return st

    _rewrite(next(d.glob("*HNN.mseed")), add_nan)

    d = _copy(clc, root / "tenyears")

    def shift(st):
        for tr in st:
            tr.stats.starttime += 10 * 365.25 * 86400
        return st

    for f in d.glob("*.mseed"):
        _rewrite(f, shift)

    d = _copy(src / "ci38445975", root / "wrongevent")  # MIKB (HN + BN), named as the Zagreb event
    shutil.copy(src / "us70008dx7" / "event.json", d / "event.json")

    report = ingest(scan_archive(root), root.parent / f"{root.name}-store", IngestConfig(), progress=False)
    return root, report


def _reasons(report, folder):
    return sorted(s.reason for s in report.skips if f"/{folder}/" in s.origin)


def test_each_bad_input_is_reported_with_its_reason(bad_archive):
    root, rep = bad_archive
    assert "unreadable file" in _reasons(rep, "truncated")
    trunc = [s for s in rep.skips if "/truncated/" in s.origin and s.reason == "unreadable file"][0]
    assert "truncated" in trunc.detail
    assert _reasons(rep, "missing") == ["missing component"]
    assert _reasons(rep, "gap") == ["gap"]
    assert _reasons(rep, "nan") == ["NaN"]
    assert _reasons(rep, "tenyears") == ["time span misses window"]
    assert _reasons(rep, "wrongevent") == ["time span misses window"] * 2  # HN and BN instruments


def test_the_good_records_still_ingest(bad_archive):
    root, rep = bad_archive
    store = rep.store
    meta = pd.read_csv(store / "metadata.csv")
    assert sorted(meta["station_code"]) == ["CLC", "HRU", "VALB"]
    assert set(meta["trace_units"]) == {"m/s2"}
    assert not any("/good/" in s.origin for s in rep.skips)
    report = pd.read_csv(store / "ingest_report.csv")
    assert len(report) == len(rep.skips) == rep.summary["skipped"]
    assert rep.summary["records"] == 3
    # the 1/2/3 channels were rotated with the StationXML azimuths: three non-zero components
    from heggs.store import Store

    w = Store(store).waveform(int(np.flatnonzero(meta["station_code"] == "VALB")[0]))
    assert np.all(np.abs(w).max(axis=1) > 0)


def test_wrong_event_file_is_rescued_by_catalog_time_matching(bad_archive, shared_data, tmp_path):
    root, _ = bad_archive
    right = read_event_json(shared_data / FDSN / "ci38445975" / "event.json")
    rep = ingest(scan_archive(root / "wrongevent"), tmp_path / "s", catalog=Catalog([right]), progress=False)
    meta = pd.read_csv(tmp_path / "s" / "metadata.csv")
    assert list(meta["source_id"]) == ["ci38445975"] and list(meta["trace_channel"]) == ["HN"]
    assert [s.reason for s in rep.skips] == ["duplicate (co-located instrument)"]
