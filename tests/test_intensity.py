"""Intensity measures of generated records (heggs.evaluate.intensity): known answers, the same
numbers as heggs.evaluate.metrics / spectra, Streams and arrays alike, and the PSA-vs-GMPE figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from heggs.evaluate import gmpe, metrics, spectra
from heggs.evaluate.intensity import (
    STANDARD_PERIODS_S,
    intensity_measures,
    plot_psa_vs_gmpe,
    psa_columns,
)
from heggs.output import to_stream
from heggs.scenario import make_target

DT = 0.01
GOOD = dict(station_lat=35.3, station_lon=-117.2, event_lat=35.0, event_lon=-117.0, event_depth_km=8.0, magnitude=4.5)


def _sine_record(amp_e=2.0, amp_z=0.5, f_hz=1.0, seconds=20.0):
    """E: amp_e·sin(2πft), N: 0, Z: amp_z·sin(2πft) (m/s²), whole cycles; samples hit the peaks."""
    t = np.arange(int(round(seconds / DT))) * DT
    s = np.sin(2 * np.pi * f_hz * t)
    return np.stack([amp_e * s, np.zeros_like(s), amp_z * s])[None], t


def test_pga_pgv_arias_duration_of_a_sine_are_the_known_values():
    rec, t = _sine_record()
    tab = intensity_measures(rec, DT)
    assert len(tab) == 1
    row = tab.iloc[0]
    assert row["pga_E_m_s2"] == pytest.approx(2.0, rel=1e-9) and row["pga_Z_m_s2"] == pytest.approx(0.5, rel=1e-9)
    assert row["pga_N_m_s2"] == 0.0 and row["pga_E_g"] == pytest.approx(2.0 / 9.80665, rel=1e-9)
    # one horizontal only: the rotated peaks are 2|cos θ|, their median over θ in [0°, 180°) is 2 cos 45°
    assert row["pga_rotd50_m_s2"] == pytest.approx(2.0 * np.cos(np.pi / 4), rel=0.01)
    assert row["pga_rotd50_g"] == pytest.approx(row["pga_rotd50_m_s2"] / metrics.G)
    # v = A/ω (1 − cos ωt): peak 2A/ω
    w = 2 * np.pi * 1.0
    assert row["pgv_E_m_s"] == pytest.approx(2 * 2.0 / w, rel=1e-3)
    assert row["pgv_rotd50_m_s"] == pytest.approx(2 * 2.0 / w * np.cos(np.pi / 4), rel=0.01)
    # Arias: π/(2g) · A²/2 · duration;  D5-95 of a stationary sine: 90 % of the duration
    duration = t[-1]
    assert row["arias_E_m_s"] == pytest.approx(np.pi / (2 * metrics.G) * 2.0**2 / 2 * duration, rel=1e-3)
    assert row["d5_95_Z_s"] == pytest.approx(0.9 * duration, rel=0.01)
    assert np.isnan(row["d5_95_N_s"])  # an all-zero trace has no duration
    assert list(tab.columns[:2]) == ["pga_rotd50_m_s2", "pga_rotd50_g"]  # no identity columns for a bare array


def _simulated(n=2):
    from heggs.simulate.simulator import simulate_records

    waves, _ = simulate_records([35.0] * n, [-117.0] * n, [8.0] * n, [4.5, 5.0][:n], [35.2, 35.4][:n],
                                [-117.1, -117.3][:n], seeds=list(range(n)))
    return waves.astype(np.float64)


def test_a_simulated_record_gives_the_numbers_of_metrics_and_spectra():
    """Same numbers as calling heggs.evaluate.metrics / spectra / gmpe directly: nothing re-implemented."""
    w = _simulated()
    dt = 0.01
    tab = intensity_measures(w, dt)
    for i, c in enumerate("ENZ"):
        np.testing.assert_allclose(tab[f"pga_{c}_m_s2"], metrics.pga(w[:, i]), rtol=1e-12)
        np.testing.assert_allclose(tab[f"pgv_{c}_m_s"], metrics.pgv(w[:, i], dt), rtol=1e-12)
        np.testing.assert_allclose(tab[f"arias_{c}_m_s"], metrics.arias_intensity(w[:, i], dt), rtol=1e-12)
        np.testing.assert_allclose(tab[f"d5_95_{c}_s"], metrics.significant_duration(w[:, i], dt), rtol=1e-12)
    np.testing.assert_allclose(tab["pga_rotd50_g"], gmpe.pga_rotd50_g(w), rtol=1e-12)
    psa = spectra.rotd(w[:, :2], dt, STANDARD_PERIODS_S, 0.05, percentiles=(50,))[..., 0]
    np.testing.assert_allclose(tab[psa_columns(STANDARD_PERIODS_S, "m_s2")].to_numpy(), psa, rtol=1e-12)
    np.testing.assert_allclose(tab[psa_columns(STANDARD_PERIODS_S, "g")].to_numpy(), psa / metrics.G, rtol=1e-12)
    assert psa_columns()[0] == "psa_rotd50_0.01s_g" and psa_columns()[-1] == "psa_rotd50_3s_g"
    assert (tab["pga_rotd50_m_s2"] > 0).all() and (tab["psa_rotd50_0.2s_g"] > 0).all()
    # a different component order names the same components
    nze = intensity_measures(w[:, [1, 2, 0]], dt, components="NZE")
    np.testing.assert_allclose(nze["pga_E_m_s2"], tab["pga_E_m_s2"])
    np.testing.assert_allclose(nze["psa_rotd50_1s_g"], tab["psa_rotd50_1s_g"], rtol=1e-9)


def test_streams_and_arrays_give_the_same_table_with_identity_columns():
    w = _simulated(1)[0]
    t = make_target(**GOOD, n_records=2, seed=7)
    streams = [to_stream(w * (k + 1), t, 100.0, member=k, params={"seed": t.seed + k}) for k in range(2)]
    from_streams = intensity_measures(streams)
    from_array = intensity_measures(np.stack([w, 2 * w]), DT, targets=[t, t], members=[0, 1])
    assert from_streams["member"].tolist() == [0, 1] and from_streams["seed"].tolist() == [7, 8]
    assert from_streams["station"].tolist() == ["S0001"] * 2 and from_streams["location"].tolist() == ["00", "01"]
    assert from_streams["epicentral_distance_km"].iloc[0] == pytest.approx(t.distance_km)
    cols = [c for c in from_array.columns]
    pd.testing.assert_frame_equal(from_streams[cols], from_array, rtol=1e-6)
    assert from_streams["pga_E_m_s2"].iloc[1] == pytest.approx(2 * from_streams["pga_E_m_s2"].iloc[0], rel=1e-6)
    one = intensity_measures(streams[0])
    assert len(one) == 1


def test_bad_inputs_are_refused_with_the_reason():
    w = _simulated(1)
    with pytest.raises(ValueError, match="dt"):
        intensity_measures(w)
    with pytest.raises(ValueError, match="shape"):
        intensity_measures(w[:, :2], DT)
    with pytest.raises(ValueError, match="E and N"):
        intensity_measures(w, DT, components="ZXY")
    t = make_target(**GOOD)
    st = to_stream(w[0], t, 100.0, units="counts")
    with pytest.raises(ValueError, match="m/s"):
        intensity_measures([st])
    with pytest.raises(ValueError, match="targets"):
        intensity_measures(w, DT, targets=[t, t])


def test_gmpe_psa_is_pygmm_and_near_pga_at_short_period():
    import pygmm

    med, sig = gmpe.gmpe_psa("BSSA14", [0.01, 0.3, 1.0], 5.0, [20.0, 50.0], 8.0, 760.0)
    assert med.shape == (2, 3) and sig.shape == (2, 3)
    d = gmpe.point_source_distances(20.0, 8.0)
    m = pygmm.BooreStewartSeyhanAtkinson2014(pygmm.Scenario(
        mag=5.0, dist_jb=20.0, dist_rup=float(d["dist_rup"]), dist_x=20.0, depth_hyp=8.0, depth_tor=8.0, v_s30=760.0,
        mechanism="SS", dip=90.0))
    np.testing.assert_allclose(med[0], m.interp_spec_accels([0.01, 0.3, 1.0]), rtol=1e-12)
    np.testing.assert_allclose(sig[0], m.interp_ln_stds([0.01, 0.3, 1.0]), rtol=1e-12)
    pga, _ = gmpe.gmpe_pga("BSSA14", 5.0, 20.0, 8.0, 760.0)
    assert med[0, 0] == pytest.approx(float(pga), rel=0.05) and med[1, 0] < med[0, 0]
    with pytest.raises(ValueError, match="pygmm"):
        gmpe.gmpe_psa("ZhaoEtAl2006Asc", [0.1], 5.0, 20.0)


def test_psa_vs_gmpe_figure_draws_the_ensemble_and_the_gmpe():
    from heggs.scenario import section_targets

    ev = make_target(**{**GOOD, "station_lat": 35.0, "station_lon": -117.0}, n_records=3)
    targets = section_targets(ev, azimuth_deg=0, max_distance_km=40, n_stations=3)
    rows = [(t, k) for t in targets for k in range(t.n_records)]
    w = np.concatenate([_simulated(2), _simulated(1)] * 3)[: len(rows)]
    tab = intensity_measures(w, DT, targets=[t for t, _ in rows], members=[k for _, k in rows])
    fig = plot_psa_vs_gmpe(tab, periods=(0.1, 1.0), v_s30=760.0)
    axes = fig.get_axes()
    assert len(axes) == 2 and "T = 0.1 s" in axes[0].get_title() and "BSSA14" in fig._suptitle.get_text()
    # the GMPE median line is gmpe_psa over the stations' distances
    line = axes[0].get_lines()[0]
    x, y = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose(y, gmpe.gmpe_psa("BSSA14", [0.1], 4.5, x, 8.0, 760.0)[0][:, 0], rtol=1e-12)
    # one dot per station at its distance: the ensemble median
    dots = [ln for ln in axes[0].get_lines() if ln.get_marker() == "o"]
    assert len(dots) == 1
    med = tab.groupby("station", sort=False)["psa_rotd50_0.1s_g"].median().to_numpy()
    np.testing.assert_allclose(dots[0].get_ydata(), med)
    np.testing.assert_allclose(dots[0].get_xdata(), [t.distance_km for t in targets])
    with pytest.raises(ValueError, match="PSA columns"):
        plot_psa_vs_gmpe(tab, periods=(0.15,))
    assert "beyond" not in fig._suptitle.get_text()
    far = tab.assign(epicentral_distance_km=tab["epicentral_distance_km"] * 20)  # 400-800 km: past BSSA14's limit
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the GMPE's warnings become one note in the title, not a flood
        text = plot_psa_vs_gmpe(far, periods=(0.1,))._suptitle.get_text()
    assert "BSSA14 used beyond its recommended limits (dist_jb" in text
