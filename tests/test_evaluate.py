"""Evaluation pipeline (heggs.evaluate.scoring, heggs.evaluate.report, `heggs evaluate`) on tiny simulated stores.

The metric functions themselves are tested on analytic signals in test_metrics.py; here the
pipeline is checked with ORACLE generators whose answers are known: the real record itself
(env. corr 1, zero spectrogram MSE, zero PGA residual, generated = real GMPE residuals), the
real record delayed by a known time (arrival errors of that time), and an end-to-end run of a
tiny trained model, a baseline and the stochastic method through `heggs evaluate`.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from heggs import config as C
from heggs.evaluate.scoring import (
    StochasticGenerator,
    evaluate_generator,
    load_test_set,
    prepare_generated,
    record_metrics,
    summarize,
)
from heggs.simulate.simulator import random_events, random_stations, simulate_store
from heggs.store import Store

RATE, LENGTH = 50.0, 30.0
REGION = (35.0, 35.6, -117.4, -116.8)


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory):
    """10 events x 6 stations, 30 s at 50 Hz, 1-20 Hz, exact arrivals; splits 60/0/40 by event."""
    root = tmp_path_factory.mktemp("evalstore")
    cfg = C.SimulateConfig(window=C.WindowConfig(length_s=LENGTH, sampling_rate_hz=RATE, band_max_hz=20.0),
                           split_fractions=(0.6, 0.0, 0.4))
    ev = random_events(10, REGION, mag_min=3.5, mag_max=4.5, seed=3, cfg=cfg)
    st = random_stations(6, REGION, seed=3, cfg=cfg)
    simulate_store(root / "store", ev, st, cfg, seed=3, progress=False)
    return root / "store"


class Oracle:
    """Returns the real target record, optionally delayed by ``shift_s``. The samples shifted in
    are the record's own first ``shift_s`` of pre-event noise, time-reversed: zeros would make a
    step from silence to noise that a picker takes for an onset."""

    units = "m/s2"
    uses_source = True
    band_max_hz = 20.0  # the store's band: the pipeline does not filter it again

    def __init__(self, shift_s: float = 0.0, name: str = "oracle"):
        self.shift_s, self.name = shift_s, name

    def generate(self, test, targets, seeds, with_source, cfg):
        w = test.waveforms[targets].copy()
        k = int(round(self.shift_s * test.sampling_rate_hz))
        if k:
            w = np.concatenate([w[..., :k][..., ::-1], w[..., :-k]], axis=-1)
        return w


def _cfg(**kw):
    base = dict(n_records=1, picker="classical", n_boot=200, gmpe_models=("BSSA14",), max_sections=1)
    return C.EvalConfig(**{**base, **kw})


def test_test_set_sources_are_other_stations_of_the_same_event(sim_store):
    test = load_test_set(sim_store, "test", seed=0)
    meta = test.meta
    assert len(test) > 0 and set(Store(sim_store).metadata.iloc[test.rows]["split"]) == {"test"}
    assert test.waveforms.shape[1:] == (3, int(RATE * LENGTH))
    for i, s in enumerate(test.source):
        if s < 0:
            assert (meta["source_id"] == meta["source_id"].iloc[i]).sum() == 1
            continue
        assert meta["source_id"].iloc[s] == meta["source_id"].iloc[i]
        assert meta["station_code"].iloc[s] != meta["station_code"].iloc[i]
    # the draw is the same for every model (seeded), and max_targets keeps whole events
    again = load_test_set(sim_store, "test", seed=0)
    assert np.array_equal(again.source, test.source)
    capped = load_test_set(sim_store, "test", max_targets=8, seed=0)
    assert 0 < len(capped) <= max(8, capped.meta.groupby("source_id").size().max())
    full_counts = test.meta.groupby("source_id").size()
    for ev, n in capped.meta.groupby("source_id").size().items():
        assert n == full_counts[ev]


def test_prepare_generated_masks_padding_and_band():
    fs = 50.0
    t = np.arange(1000) / fs
    x = np.stack([np.sin(2 * np.pi * 2 * t) + np.sin(2 * np.pi * 20 * t)] * 3)[None]
    out = prepare_generated(x, np.array([[100, 900]]), np.array([8.0]), fs)
    assert np.all(out[..., :100] == 0) and np.all(out[..., 900:] == 0)
    mid = out[0, 0, 300:700]
    # the 20 Hz line is gone (above the 8 Hz band edge), the 2 Hz line stays
    spec = np.abs(np.fft.rfft(mid))
    f = np.fft.rfftfreq(mid.size, 1 / fs)
    assert spec[np.argmin(abs(f - 20))] < 0.01 * spec[np.argmin(abs(f - 2))]


def test_identical_records_score_perfectly(sim_store):
    test = load_test_set(sim_store, "test")
    real = test.waveforms[:4].astype(np.float64)
    cols, fas, psa = record_metrics(real, real, RATE, test.band_max_hz[:4], np.ones(4, bool))
    np.testing.assert_allclose(cols["env_corr"], 1.0, atol=1e-12)
    np.testing.assert_allclose(cols["spec_mse"], 0.0, atol=1e-20)
    np.testing.assert_allclose(cols["ln_pga"], 0.0, atol=1e-12)
    np.testing.assert_allclose(cols["ln_pgv"], 0.0, atol=1e-12)
    np.testing.assert_allclose(cols["d595_diff_s"], 0.0, atol=1e-12)
    assert np.all(np.isinf(cols["snr_db"]))
    assert np.nanmax(np.abs(fas)) < 1e-9 and np.nanmax(np.abs(psa)) < 1e-9
    # a factor 2 in amplitude is seen as ln 2 in PGA and 2 ln 2 in Arias intensity
    cols2, fas2, _ = record_metrics(2 * real, real, RATE, test.band_max_hz[:4], np.ones(4, bool))
    np.testing.assert_allclose(cols2["ln_pga"], np.log(2), atol=1e-9)
    np.testing.assert_allclose(cols2["ln_arias"], 2 * np.log(2), atol=1e-9)
    np.testing.assert_allclose(np.nanmean(fas2, axis=1), np.log10(2), atol=1e-9)
    # shape-only rows ignore the factor
    cols3, _, _ = record_metrics(2 * real, real, RATE, test.band_max_hz[:4], np.zeros(4, bool))
    np.testing.assert_allclose(cols3["spec_mse"], 0.0, atol=1e-20)
    assert np.all(np.isnan(cols3["ln_pga"]))


def test_oracle_pipeline_and_known_arrival_shift(sim_store):
    test = load_test_set(sim_store, "test")
    cfg = _cfg(modes=("without_source",))
    from heggs.evaluate.scoring import real_picks

    picks = real_picks(test, cfg)
    assert np.isfinite(picks[0]).mean() > 0.8  # the classical picker finds P on simulated records
    same = evaluate_generator(Oracle(), test, cfg, picks, progress=False).rows
    np.testing.assert_allclose(same["env_corr"], 1.0, atol=1e-9)
    np.testing.assert_allclose(same["ln_pga"], 0.0, atol=1e-9)
    np.testing.assert_allclose(same["gmpe_BSSA14_gen"], same["gmpe_BSSA14_real"], atol=1e-9)
    ok = np.isfinite(same["p_err_s"])
    assert ok.mean() > 0.8
    np.testing.assert_allclose(same.loc[ok, "p_err_s"], 0.0, atol=1e-9)
    shifted = evaluate_generator(Oracle(1.0, "late"), test, cfg, picks, progress=False).rows
    err = shifted["p_err_s"].to_numpy()
    err = err[np.isfinite(err)]
    assert err.size >= 0.8 * len(shifted)
    assert abs(np.median(err) - 1.0) <= 0.05
    s = summarize(shifted, cfg)["without_source"]
    # the AR-AIC picker has outliers on some records: the mean absolute error carries them, the
    # median is the known shift
    np.testing.assert_allclose(s["p_mae_s"]["estimate"], np.abs(err).mean())
    assert abs(s["p_median_abs_s"]["estimate"] - 1.0) <= 0.05
    assert s["p_mae_s"]["low"] <= s["p_mae_s"]["estimate"] <= s["p_mae_s"]["high"]
    assert abs(s["p_bias_s"]["estimate"] - err.mean()) < 1e-9
    assert s["n_events"] == test.meta["source_id"].nunique()


def test_stochastic_baseline_has_no_source_mode(sim_store):
    test = load_test_set(sim_store, "test", max_targets=6)
    cfg = _cfg()
    from heggs.evaluate.scoring import real_picks

    rows = evaluate_generator(StochasticGenerator(), test, cfg, real_picks(test, cfg), progress=False).rows
    assert set(rows["mode"]) == {"without_source"}
    assert rows["amplitude"].all() and np.isfinite(rows["ln_pga"]).all()
    # a simulator record is not the real one, but it is of the right order (same physics)
    assert abs(float(np.median(rows["ln_pga"]))) < 2.5
    # the simulator's records are valid waveforms: the validity checks pass them all
    assert rows["valid_all"].mean() == 1.0, rows[[c for c in rows if c.startswith("valid_")]].mean()
    s = summarize(rows, cfg)["without_source"]
    assert s["valid_all"]["estimate"] == 1.0 and s["valid_comb"]["n"] == len(rows)


def test_validity_columns_flag_an_offset_generator(sim_store):
    test = load_test_set(sim_store, "test", max_targets=6)
    cfg = _cfg(modes=("without_source",))
    from heggs.evaluate.scoring import real_picks

    class Offset(Oracle):
        def generate(self, test, targets, seeds, with_source, cfg):
            w = super().generate(test, targets, seeds, with_source, cfg)
            return w + 0.05 * np.abs(w).max(axis=-1, keepdims=True)

    rows = evaluate_generator(Offset(), test, cfg, real_picks(test, cfg), progress=False).rows
    assert rows["valid_mean"].mean() == 0.0 and rows["valid_all"].mean() == 0.0
    assert (rows["mean_ratio"] > 0.01).all()


def test_heggs_evaluate_cli_side_by_side(sim_store, tmp_path):
    from heggs.train import train

    tiny = {"ae_channels": [8, 8], "latent_channels": 4, "n_fft": 64, "hop_length": 32, "sampler_steps": 2,
            "unet_channels": [16, 16]}
    runs = {}
    for name, extra in (("heggs", {}), ("ldm", {"p_same": 1.0, "model": {"use_acm": False, "shape_only_targets": True}})):
        model = C.model_preset("tiny", **tiny, **extra.get("model", {}))
        cfg = C.TrainConfig(data=str(sim_store), preset="tiny", model=model, batch_size=4, steps=2, warmup_steps=1,
                            checkpoint_interval=2, log_interval=1, num_workers=0, p_same=extra.get("p_same", 0.2))
        train(cfg, tmp_path / name, progress=False)
        runs[name] = tmp_path / name
    (tmp_path / "eval.json").write_text(json.dumps({"picker": "classical", "n_boot": 100, "sweep_records": 2,
                                                     "max_sections": 1, "gmpe_models": ["BSSA14"]}))
    out = tmp_path / "eval"
    args = ["evaluate", "--model", f"heggs={runs['heggs']}", "--model", f"ldm={runs['ldm']}", "--stochastic",
            "--data", str(sim_store), "--out", str(out), "--config", str(tmp_path / "eval.json"), "-n", "1",
            "--max-targets", "8", "--no-progress"]
    res = CliRunner().invoke(__import__("heggs.cli", fromlist=["main"]).main, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    table = pd.read_csv(out / "summary.csv")
    got = set(zip(table["model"], table["mode"]))
    assert {("heggs", "with_source"), ("heggs", "without_source"), ("ldm", "without_source"),
            ("stochastic", "without_source")} <= got
    assert ("ldm", "with_source") not in got and ("stochastic", "with_source") not in got
    # the shape-only baseline has no amplitude metrics; the physical generators do
    ldm = table[table["model"] == "ldm"].iloc[0]
    assert np.isnan(ldm["ln_pga"]) and np.isfinite(ldm["env_corr"])
    assert np.isfinite(table[table["model"] == "stochastic"]["ln_pga"]).all()
    report = (out / "report.md").read_text()
    for needle in ("| heggs | with source", "| ldm | without source", "| stochastic | without source", "BSSA14",
                   "Magnitude sweep", "![fas](fas_ratio.png)", "section_"):
        assert needle in report, needle
    for f in ("metrics.png", "fas_ratio.png", "psa_ratio.png", "pga_distance.png", "sweep.png"):
        assert (out / f).stat().st_size > 1000, f
    summ = json.loads((out / "heggs" / "summary.json").read_text())
    assert summ["sweep"]["magnitudes"] == [3.0, 3.5, 4.0, 4.5] and summ["sections"]
    # --reuse adds nothing new and keeps the numbers
    res2 = CliRunner().invoke(__import__("heggs.cli", fromlist=["main"]).main, args + ["--reuse"])
    assert res2.exit_code == 0, res2.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), table)


def test_evaluate_cli_errors(sim_store, tmp_path):
    from heggs.cli import main

    r = CliRunner().invoke(main, ["evaluate", "--data", str(sim_store), "--out", str(tmp_path / "e")])
    assert r.exit_code != 0 and "nothing to evaluate" in r.output
    r = CliRunner().invoke(main, ["evaluate", "--model", str(tmp_path / "nope"), "--data", str(sim_store),
                                  "--out", str(tmp_path / "e")])
    assert r.exit_code != 0 and "nope" in r.output
    r = CliRunner().invoke(main, ["evaluate", "--stochastic", "--data", str(sim_store), "--out", str(tmp_path / "e"),
                                  "-n", "0"])
    assert r.exit_code == 2 and "'-n' / '--n-records'" in r.output
    (tmp_path / "typo.json").write_text('{"n_record": 2}')
    r = CliRunner().invoke(main, ["evaluate", "--stochastic", "--data", str(sim_store), "--out", str(tmp_path / "e"),
                                  "--config", str(tmp_path / "typo.json")])
    assert r.exit_code == 2 and "--config" in r.output and "n_record" in r.output and "Traceback" not in r.output


def test_eval_config_reads_renamed_keys_with_a_warning(tmp_path):
    """``n_samples`` / ``sweep_samples`` (records, not samples per trace) became ``n_records`` /
    ``sweep_records``; old config files still load, with a DeprecationWarning."""
    p = tmp_path / "old.json"
    p.write_text(json.dumps({"n_samples": 5, "sweep_samples": 3}))
    with pytest.warns(DeprecationWarning, match="'n_samples'.*'n_records'"):
        cfg = C.load(C.EvalConfig, p)
    assert cfg.n_records == 5 and cfg.sweep_records == 3
    with pytest.raises(ValueError, match="both"):
        C.from_dict(C.EvalConfig, {"n_samples": 5, "n_records": 2})
    with pytest.raises(ValueError, match="unknown config key 'n_samples'"):  # only EvalConfig had it
        C.from_dict(C.SimulateConfig, {"n_samples": 5})


def test_paired_source_effect_sees_a_known_improvement():
    from heggs.evaluate.scoring import paired_source_effect

    rng = np.random.default_rng(0)
    n_t, cfg = 30, _cfg()
    base = pd.DataFrame({"target": np.arange(n_t), "source_id": [f"e{t // 3}" for t in range(n_t)],
                         "p_err_s": rng.normal(0, 1.0, n_t), "s_err_s": rng.normal(0, 1.0, n_t),
                         "env_corr": rng.uniform(0.2, 0.6, n_t), "spec_mse": rng.uniform(1, 2, n_t)})
    better = base.assign(p_err_s=np.sign(base["p_err_s"]) * (base["p_err_s"].abs() * 0.5),
                         env_corr=base["env_corr"] + 0.1)
    rows = pd.concat([better.assign(mode="with_source"), base.assign(mode="without_source")], ignore_index=True)
    e = paired_source_effect(rows, cfg)
    assert e["p_abs_err_s"]["better"] and e["p_abs_err_s"]["estimate"] < 0
    assert e["env_corr"]["better"] and abs(e["env_corr"]["estimate"] - 0.1) < 1e-9
    # identical modes: nothing is better or worse
    assert not e["s_abs_err_s"]["better"] and not e["s_abs_err_s"]["worse"]
    assert e["spec_mse"]["estimate"] == 0
    assert paired_source_effect(base.assign(mode="without_source"), cfg) == {}


def test_any_split_or_list_of_splits(sim_store):
    from heggs.store import parse_splits

    assert parse_splits("test") == ("test",) and parse_splits(" test, dev ") == ("test", "dev")
    assert parse_splits(["dev", "test", "dev"]) == ("dev", "test")
    assert all(parse_splits(x) is None for x in ("all", "ALL", "", "none", None))
    with pytest.raises(ValueError, match="unknown split"):
        parse_splits("tset")
    # the config equivalents
    for value, want in ((None, None), ("all", None), ("test,dev", ("test", "dev")), (["test", "dev"], ("test", "dev"))):
        assert parse_splits(C.from_dict(C.EvalConfig, {"split": value}).split) == want
    meta = Store(sim_store).metadata
    every = load_test_set(sim_store, "all")
    assert len(every) == len(meta) and every.splits is None
    assert sorted(every.rows) == list(range(len(meta)))
    both = load_test_set(sim_store, "train,test")
    np.testing.assert_array_equal(both.rows, every.rows)
    test = load_test_set(sim_store, "test")
    listed = load_test_set(sim_store, "test,dev")  # no dev events: the test records
    np.testing.assert_array_equal(listed.rows, test.rows)
    assert listed.splits == ("test", "dev")
    # sources stay other stations of the same event (hence of the same split)
    ev = every.meta["source_id"].to_numpy()
    src = every.source
    assert (src >= 0).all() and (ev[src] == ev).all()
    assert (every.meta["station_code"].to_numpy()[src] != every.meta["station_code"].to_numpy()).all()
    with pytest.raises(ValueError, match="unknown split"):
        load_test_set(sim_store, "validation")


def test_in_range_flags_warning_and_picker_error_in_the_report(sim_store, tmp_path):
    from heggs.evaluate.run import evaluate

    meta = load_test_set(sim_store, "test").meta
    mags = np.sort(meta["source_magnitude"].unique())
    lo = float(mags[len(mags) // 2])  # the lower half of the events lies outside
    gen = Oracle()
    gen.training_ranges = {"magnitude": [lo, 9.0], "distance_km": [0.0, 1000.0]}
    report = evaluate([gen], sim_store, _cfg(modes=("without_source",)), tmp_path / "e", progress=False, sweep=False)
    rows = pd.read_csv(tmp_path / "e" / "oracle" / "rows.csv", keep_default_na=False)
    outside = rows["magnitude"].to_numpy(float) < lo
    np.testing.assert_array_equal(rows["in_training_range"].to_numpy(bool), ~outside)
    assert set(rows.loc[outside, "out_of_training_range"]) == {"magnitude"}
    assert set(rows.loc[~outside, "out_of_training_range"]) == {""}
    n_out = int(rows.loc[outside, "target"].nunique())
    assert n_out > 0
    text = report.read_text()
    assert (f"{n_out} of {rows['target'].nunique()} targets lie outside the training ranges of model oracle: "
            f"magnitude {n_out} ([{lo:.3g}, 9])") in text
    summ = json.loads((tmp_path / "e" / "oracle" / "summary.json").read_text())
    assert summ["training_ranges"]["n_outside"] == n_out and summ["training_ranges"]["by_key"] == {"magnitude": n_out}
    # the picker's own error on the real records against the exact arrivals, next to the P/S figures
    err = rows["p_real_s"] - rows["p_store_s"]
    np.testing.assert_allclose(rows["p_err_real_store_s"], err, equal_nan=True)
    s = summ["modes"]["without_source"]
    assert s["p_mae_real_store_s"]["estimate"] == pytest.approx(np.nanmean(np.abs(err)))
    assert "picker on real vs store" in text and "Picker `classical` passes the sub-second shift test" in text
    assert "Its own error on the real targets against the store's arrivals (simulated" in text


def test_evaluate_refuses_a_snapping_picker(sim_store, tmp_path):
    from heggs.cli import main

    args = ["evaluate", "--stochastic", "--data", str(sim_store), "--out", str(tmp_path / "e"), "--picker",
            "eqtransformer", "--picker-weights", "original_nonconservative", "--no-sweep", "--no-progress"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "snaps P picks to whole seconds" in r.output and "--force-picker" in r.output
    r = CliRunner().invoke(main, ["evaluate", "--stochastic", "--data", str(sim_store), "--out", str(tmp_path / "e"),
                                  "--split", "tset"])
    assert r.exit_code == 2 and "unknown split" in r.output and "--split" in r.output


def test_evaluate_cli_split_all(sim_store, tmp_path):
    from heggs.cli import main

    out = tmp_path / "e"
    r = CliRunner().invoke(main, ["evaluate", "--stochastic", "--data", str(sim_store), "--out", str(out), "--split",
                                  "all", "--picker", "classical", "-n", "1", "--n-boot", "50", "--no-sweep",
                                  "--gmpe", "BSSA14", "--no-progress"])
    assert r.exit_code == 0, r.output
    rows = pd.read_csv(out / "stochastic" / "rows.csv")
    assert rows["target"].nunique() == len(Store(sim_store))
    assert rows["in_training_range"].all()  # the stochastic method has no training ranges
    assert "split `all`" in (out / "report.md").read_text()
