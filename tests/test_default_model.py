"""The default model shipped in heggs/weights/default: loads offline, generates through the API and
the CLI without --model (the README's main job), carries its card, its calibration and its ranges."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from obspy import read

from heggs.cli import main
from heggs.generate import DEFAULT_MODEL, HEGGS
from heggs.evaluate.gmpe import gmpe_pga, pga_rotd50_g
from heggs.scenario import make_target


@pytest.fixture(scope="module")
def model():
    return HEGGS.load(device="cpu")


def test_default_model_files_are_small_and_complete():
    files = {p.name: p.stat().st_size for p in DEFAULT_MODEL.iterdir()}
    assert {"checkpoint.json", "ema.safetensors", "MODEL_CARD.md"} <= set(files)
    assert sum(files.values()) < 5e6  # a few MB in the repository
    info = json.loads((DEFAULT_MODEL / "checkpoint.json").read_text())
    assert info["format"] == "heggs-checkpoint" and "optimizer" not in info
    # no fitted amplitude calibration: the level comes from the model (docs/model_v2.md, level head)
    assert "output_gain" not in info and "output_gain_fit" not in info
    card = (DEFAULT_MODEL / "MODEL_CARD.md").read_text()
    for needle in ("Training data", "Known limits", "heggs evaluate", "output_gain"):
        assert needle in card, needle


def test_default_model_generates_plausible_records(model):
    assert model.units == "m/s2" and model.sampling_rate_hz == 100.0 and model.n_samples == 6000
    t = make_target(station_lat=35.3, station_lon=-117.2, event_lat=35.0, event_lon=-117.0, event_depth_km=8,
                    magnitude=4.5, n_records=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        waves, _, _ = model.generate_arrays(t, progress=False)
    assert waves.shape == (4, 3, 6000) and np.isfinite(waves).all()
    # the calibrated level is within the GMPE's scatter: |ln(PGA / BSSA14 median)| < 3 sigma
    med, sig = gmpe_pga("BSSA14", 4.5, t.distance_km, 8.0)
    res = np.log(np.median(pga_rotd50_g(waves)) / float(med))
    assert abs(res) < 3 * float(sig), res
    # ensemble members differ, the same seed repeats
    assert not np.allclose(waves[0], waves[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again, _, _ = model.generate_arrays(t, progress=False)
    np.testing.assert_array_equal(again, waves)


def test_generate_cli_without_model_writes_mseed_and_png(tmp_path):
    out = tmp_path / "gen"
    r = CliRunner().invoke(main, ["generate", "--event", "35,-117,8,4.5", "--station", "35.3,-117.2", "--out", str(out),
                                  "--no-progress"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    mseed = sorted(out.rglob("*.mseed"))
    assert mseed and sorted(out.rglob("*.png"))
    st = read(str(mseed[0]))
    assert sorted(tr.stats.channel for tr in st) == ["HNE", "HNN", "HNZ"]
    assert all(tr.stats.sampling_rate == 100.0 and tr.stats.npts == 6000 for tr in st)


def test_export_with_calibration_round_trip(tmp_path):
    """`heggs export --calibrate-on` writes a loadable copy whose gain is applied to generation."""
    from heggs import config as C
    from heggs.simulate.simulator import random_events, random_stations, simulate_store
    from heggs.train import train

    cfg = C.SimulateConfig(window=C.WindowConfig(length_s=20.0, sampling_rate_hz=25.0, band_max_hz=10.0),
                           split_fractions=(1.0, 0.0, 0.0))
    region = (35.0, 35.2, -117.2, -117.0)
    simulate_store(tmp_path / "s", random_events(4, region, 3.5, 4.5, seed=1, cfg=cfg),
                   random_stations(4, region, seed=1, cfg=cfg), cfg, seed=1, progress=False)
    tiny = C.model_preset("tiny", ae_channels=(8, 8), latent_channels=4, n_fft=64, hop_length=32, unet_channels=(16, 16),
                          sampler_steps=2)
    train(C.TrainConfig(data=str(tmp_path / "s"), model=tiny, batch_size=4, steps=2, warmup_steps=1, checkpoint_interval=2,
                        num_workers=0), tmp_path / "run", progress=False)
    r = CliRunner().invoke(main, ["export", str(tmp_path / "run"), str(tmp_path / "exp"), "--calibrate-on", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output + repr(r.exception)
    plain, cal = HEGGS.load(tmp_path / "run"), HEGGS.load(tmp_path / "exp")
    assert plain.output_gain == 1.0 and cal.output_gain > 0 and "amplitude calibration" in r.output
    t = make_target(station_lat=35.1, station_lon=-117.1, event_lat=35.0, event_lon=-117.0, event_depth_km=8, magnitude=4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, _, _ = plain.generate_arrays(t, progress=False)
        b, _, _ = cal.generate_arrays(t, progress=False)
    np.testing.assert_allclose(b, a * cal.output_gain, rtol=1e-5, atol=1e-12)
    assert not (tmp_path / "exp" / "optimizer.safetensors").exists()
