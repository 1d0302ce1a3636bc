"""GMPE curves and residuals (heggs.evaluate.gmpe) against published check values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from heggs.evaluate import gmpe

# Check values: PGA (g) of the NGA-West2 models from the PEER NGA-West2 GMPE spreadsheet, as
# distributed with pygmm 0.8.0 (tests/data/ngaw2_tests.json.gz), for three scenarios.
SCENARIOS = [
    (
        dict(mag=6.0, dist_jb=1.0, dist_rup=3.16, dist_x=1.0, v_s30=300.0, mechanism="SS", dip=90.0,
             depth_hyp=8.0, depth_tor=0.0, width=10.0, depth_1_0=0.4, depth_2_5=1.8, region="global",
             on_hanging_wall=False, vs_source="measured"),
        {"BSSA14": 0.4892727047024942, "ASK14": 0.34594596942855044, "CB14": 0.35376234712629223, "CY14": 0.3916203366433927},
    ),
    (
        dict(mag=7.1, dist_jb=2.0, dist_rup=10.0, dist_x=16.0, v_s30=450.0, mechanism="RS", dip=50.0,
             depth_hyp=8.0, depth_tor=1.0, width=15.0, depth_1_0=0.3, depth_2_5=1.1, region="california",
             on_hanging_wall=True, vs_source="inferred"),
        {"BSSA14": 0.5169661676048073, "ASK14": 0.4318920293558558, "CB14": 0.47454073313760103, "CY14": 0.5880762651043634},
    ),
    (
        dict(mag=4.5, dist_jb=8.0, dist_rup=10.0, dist_x=-8.0, v_s30=760.0, mechanism="RS", dip=60.0,
             depth_hyp=5.0, depth_tor=4.0, width=2.0, depth_1_0=0.04, depth_2_5=0.4, region="china",
             on_hanging_wall=False, vs_source="measured"),
        {"BSSA14": 0.030706320074942426, "ASK14": 0.0348020474743297, "CB14": 0.0267777688653836, "CY14": 0.026926867993686772},
    ),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("scenario,expected", SCENARIOS)
@pytest.mark.parametrize("model", gmpe.DEFAULT_MODELS)
def test_pga_matches_nga_west2_spreadsheet(scenario, expected, model):
    sc = dict(scenario)
    mag, vs30, mech, dip, depth = sc.pop("mag"), sc.pop("v_s30"), sc.pop("mechanism"), sc.pop("dip"), sc.pop("depth_hyp")
    rjb, rrup = sc.pop("dist_jb"), sc.pop("dist_rup")
    med, sig = gmpe.gmpe_pga(model, mag, rjb, depth, vs30, mech, dip, dist_jb_km=rjb, dist_rup_km=rrup, **sc)
    assert float(med) == pytest.approx(expected[model], rel=0.01)
    assert 0.3 < float(sig) < 1.0


def test_point_source_distances():
    d = gmpe.point_source_distances([0.0, 30.0], 40.0)
    np.testing.assert_allclose(d["dist_jb"], [0.0, 30.0])
    np.testing.assert_allclose(d["dist_rup"], [40.0, 50.0])
    np.testing.assert_allclose(gmpe.point_source_distances(10.0, -0.8)["dist_rup"], 10.0)  # depth clipped


def test_pga_vs_distance_curves():
    d = np.array([2.0, 10.0, 50.0, 200.0])
    curves = gmpe.pga_vs_distance(6.0, d, v_s30=760.0, mechanism="SS", n_sigma=1.0)
    assert [c.model for c in curves] == list(gmpe.DEFAULT_MODELS)
    for c in curves:
        assert c.median_g.shape == d.shape and np.all(np.diff(c.median_g) < 0)  # decays with distance
        np.testing.assert_allclose(c.upper_g / c.median_g, np.exp(c.ln_std))
        np.testing.assert_allclose(c.lower_g * c.upper_g, c.median_g**2)
        assert c.magnitude_type == "Mw"
    # a larger magnitude gives larger motions at every distance
    big = gmpe.pga_vs_distance(7.0, d, models=("BSSA14",))[0]
    assert np.all(big.median_g > curves[0].median_g)
    # BSSA14 at Rjb = Repi = 10 km, point source, M6, Vs30 760: 0.18 g (same as pygmm direct)
    import pygmm

    direct = pygmm.BooreStewartSeyhanAtkinson2014(pygmm.Scenario(mag=6.0, dist_jb=10.0, v_s30=760.0, mechanism="SS")).pga
    assert curves[0].median_g[1] == pytest.approx(direct, rel=1e-9)


def test_residuals_and_magnitude_type():
    mags = np.array([5.0, 5.5, 6.0])
    dist = np.array([10.0, 30.0, 60.0])
    med, sig = gmpe.gmpe_pga("BSSA14", mags, dist, 8.0, 760.0)
    res = gmpe.gmpe_residuals(med * np.exp([0.2, 0.3, 0.4]), mags, dist, 8.0, magnitude_type="Mw")
    assert res.mean == pytest.approx(0.3) and res.std == pytest.approx(0.1) and res.n == 3
    np.testing.assert_allclose(res.normalized, np.array([0.2, 0.3, 0.4]) / sig)
    assert res.notes == []
    with pytest.warns(gmpe.MagnitudeTypeWarning, match="ML"):
        res = gmpe.gmpe_residuals(med, mags, dist, 8.0, magnitude_type="ML")
    assert res.magnitude_type == "ML" and "proxies" in res.notes[0]
    with pytest.raises(TypeError):
        gmpe.gmpe_residuals(med, mags, dist, 8.0)  # the magnitude type must be stated
    with pytest.raises(ValueError, match="magnitude type"):
        gmpe.gmpe_residuals(med, mags, dist, 8.0, magnitude_type="")
    nan = gmpe.gmpe_residuals(np.array([0.0, 0.1, 0.1]), mags, dist, 8.0, magnitude_type="Mw")
    assert np.isnan(nan.residuals[0]) and nan.n == 2


def test_event_terms_split_between_and_within():
    mags = np.array([5.0, 5.0, 5.0, 6.0, 6.0, 6.0])
    dist = np.array([10.0, 20.0, 40.0, 10.0, 20.0, 40.0])
    med, _ = gmpe.gmpe_pga("BSSA14", mags, dist, 8.0, 760.0)
    within = np.array([0.1, -0.1, 0.0, 0.2, -0.2, 0.0])
    event = np.array([0.5, 0.5, 0.5, -0.3, -0.3, -0.3])
    res = gmpe.gmpe_residuals(med * np.exp(event + within), mags, dist, 8.0, magnitude_type="Mw",
                              groups=["a", "a", "a", "b", "b", "b"])
    np.testing.assert_allclose(res.event_terms, [0.5, -0.3])
    np.testing.assert_allclose(res.within, within, atol=1e-12)
    assert res.tau == pytest.approx(np.std([0.5, -0.3], ddof=1))
    assert res.phi == pytest.approx(np.std(within, ddof=1))
    assert list(res.event_ids) == ["a", "b"]


def test_openquake_models_by_name_or_clear_error():
    try:
        import openquake.hazardlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"heggs\[openquake\]"):
            gmpe.gmpe_pga("BindiEtAl2014Rjb", 5.0, 20.0, 10.0, 760.0)
    else:  # pragma: no cover - only with the optional extra
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            med, sig = gmpe.gmpe_pga("BindiEtAl2014Rjb", 5.0, [10.0, 50.0], 10.0, 760.0)
            oq_bssa, _ = gmpe.gmpe_pga("BooreEtAl2014", [5.0, 6.0], [10.0, 50.0], 10.0, 760.0)
        assert np.all(np.isfinite(med)) and med[0] > med[1] > 0 and np.all(sig > 0)
        # OpenQuake's BSSA14 and pygmm's agree for the same point-source scenario
        np.testing.assert_allclose(oq_bssa, gmpe.gmpe_pga("BSSA14", [5.0, 6.0], [10.0, 50.0], 10.0, 760.0)[0], rtol=1e-6)


def test_pga_rotd50_g():
    t = np.arange(2000) * 0.01
    e = 0.5 * gmpe.G * np.sin(2 * np.pi * 2.5 * t)  # 0.5 g on E only
    acc = np.stack([e, np.zeros_like(e), 3 * e])  # Z is ignored
    # one-component motion: RotD50 = PGA · median_θ |cos θ| (cos 45° ~ 0.707)
    assert gmpe.pga_rotd50_g(acc) == pytest.approx(0.5 * np.median(np.abs(np.cos(np.deg2rad(np.arange(180))))), rel=1e-9)
    assert gmpe.pga_rotd50_g(acc[None]).shape == (1,)
    with pytest.raises(ValueError):
        gmpe.pga_rotd50_g(e)


def test_bad_mechanism():
    with pytest.raises(ValueError, match="mechanism"):
        gmpe.gmpe_pga("BSSA14", 5.0, 10.0, mechanism="thrust")
