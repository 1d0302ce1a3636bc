"""Metrics and spectra on analytic signals (heggs.evaluate.metrics, heggs.evaluate.spectra)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal
from scipy.integrate import solve_ivp

from heggs.evaluate import metrics as M
from heggs.evaluate import spectra as S

DT = 0.01
FS = 100.0


def _t(n=6000):
    return np.arange(n) * DT


def _bandlimited_noise(shape, seed=0, fmin=1.0, fmax=20.0, taper=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    sos = signal.butter(4, [fmin, fmax], btype="band", fs=FS, output="sos")
    x = signal.sosfiltfilt(sos, x, axis=-1)
    if taper:
        x = x * signal.windows.tukey(x.shape[-1], 0.2)
    return x


# ----------------------------------------------------------------------------- peaks


def test_pga_known_amplitude_and_shape():
    t = _t()
    acc = np.stack([2.5 * np.sin(2 * np.pi * 1.0 * t), -3.0 * np.sin(2 * np.pi * 2.5 * t), np.zeros_like(t)])
    out = M.pga(acc[None])  # (1, 3)
    assert out.shape == (1, 3)
    np.testing.assert_allclose(out[0], [2.5, 3.0, 0.0], rtol=1e-12)


def test_pgv_of_cosine_acceleration():
    t = _t()
    w = 2 * np.pi * 0.5
    acc = 0.2 * w * np.cos(w * t)  # v = 0.2 sin(wt)
    assert M.pgv(acc, DT) == pytest.approx(0.2, rel=2e-3)


def test_log_residual():
    np.testing.assert_allclose(M.log_residual([2.0, 1.0], [1.0, 1.0]), [np.log(2.0), 0.0])
    assert np.isnan(M.log_residual(0.0, 1.0))


# ----------------------------------------------------------------------------- envelopes, SNR


def test_envelope_of_am_signal_and_identity_correlation():
    t = _t()
    amp = 1.0 + 0.5 * np.sin(2 * np.pi * 0.2 * t)
    x = amp * np.cos(2 * np.pi * 10.0 * t)
    env = M.envelope(x)
    np.testing.assert_allclose(env[500:-500], amp[500:-500], atol=5e-3)
    recs = _bandlimited_noise((4, 3, 6000))
    cc = M.envelope_correlation(recs, recs)
    assert cc.shape == (4, 3)
    np.testing.assert_allclose(cc, 1.0, atol=1e-12)
    other = _bandlimited_noise((4, 3, 6000), seed=1)
    assert np.all(M.envelope_correlation(recs, other) < 0.9)
    # scale-free
    np.testing.assert_allclose(M.envelope_correlation(5.0 * recs, recs), 1.0, atol=1e-12)


def test_snr_psnr_known_values():
    t = _t()
    real = np.sin(2 * np.pi * 1.0 * t)  # power 0.5, peak 1 (a sample hits t = 0.25 s)
    gen = real + 0.1 * np.sin(2 * np.pi * 3.0 * t)  # error power 0.005, orthogonal
    assert M.snr_db(gen, real) == pytest.approx(20.0, abs=1e-6)
    assert M.psnr_db(gen, real) == pytest.approx(10 * np.log10(1.0 / 0.005), abs=1e-6)
    assert np.isinf(M.snr_db(real, real)) and np.isinf(M.psnr_db(real, real))
    with pytest.raises(ValueError, match="shapes differ"):
        M.snr_db(real[:-1], real)


def test_spectrogram_mse_identity_and_scale():
    recs = _bandlimited_noise((2, 3, 6000), fmax=45.0, taper=False)
    np.testing.assert_allclose(M.spectrogram_mse(recs, recs, FS), 0.0, atol=1e-15)
    np.testing.assert_allclose(M.spectrogram_mse(recs, recs, FS, scale="compressed"), 0.0, atol=1e-15)
    # a factor 10 everywhere is 1 log10 unit: MSE 1 (wherever both are above the floor)
    mse = M.spectrogram_mse(10.0 * recs, recs, FS, fmax=40.0, dynamic_range_db=200.0)
    np.testing.assert_allclose(mse, 1.0, rtol=1e-9)
    assert np.all(M.spectrogram_mse(2.0 * recs, recs, FS, fmax=40.0, dynamic_range_db=200.0) == pytest.approx(np.log10(2) ** 2))
    with pytest.raises(ValueError, match="scale"):
        M.spectrogram_mse(recs, recs, FS, scale="db")


# ----------------------------------------------------------------------------- Arias, duration


def test_arias_of_sine():
    A, f, D = 1.5, 2.0, 60.0
    t = np.arange(int(D / DT) + 1) * DT
    acc = A * np.sin(2 * np.pi * f * t)
    expected = np.pi / (2 * M.G) * A**2 * D / 2
    assert M.arias_intensity(acc, DT) == pytest.approx(expected, rel=1e-6)


def test_significant_duration_of_uniform_burst():
    t = np.arange(6001) * DT
    acc = np.where((t >= 10) & (t < 30), np.sin(2 * np.pi * 5.0 * t), 0.0)
    # Husid rises linearly from 10 s to 30 s: D5-95 = 0.9 × 20 s
    assert M.significant_duration(acc, DT) == pytest.approx(18.0, abs=0.05)
    assert M.significant_duration(np.stack([acc, acc]), DT).shape == (2,)
    assert np.isnan(M.significant_duration(np.zeros(100), DT))


# ----------------------------------------------------------------------------- Fourier spectra


def test_fas_of_sine_peaks_at_known_amplitude():
    A, f0 = 2.0, 5.0
    t = _t()
    freqs, amp = S.fourier_amplitude_spectrum(A * np.sin(2 * np.pi * f0 * t), DT)
    assert freqs[np.argmax(amp)] == pytest.approx(f0)
    assert amp.max() == pytest.approx(A * 60.0 / 2, rel=1e-9)  # A·D/2, m/s for m/s²


def test_konno_ohmachi_keeps_flat_spectrum_and_smooths_peak():
    freqs = np.fft.rfftfreq(6000, DT)
    fc, sm = S.konno_ohmachi(np.ones((2, freqs.size)), freqs, center_freqs=[1.0, 5.0, 20.0])
    np.testing.assert_allclose(sm, 1.0, rtol=1e-9)
    spike = np.zeros(freqs.size)
    spike[np.argmin(abs(freqs - 5.0))] = 1.0
    _, sm = S.konno_ohmachi(spike, freqs, center_freqs=[4.0, 5.0, 6.0])
    assert sm[1] > sm[0] and sm[1] > sm[2] and sm[1] < 1.0


# ----------------------------------------------------------------------------- response spectra


def test_psa_at_resonance_matches_closed_form():
    # steady state of a 5 %-damped oscillator driven at resonance: PSA = A / (2ζ)
    T, A = 1.0, 0.3
    acc = A * np.sin(2 * np.pi / T * _t())
    psa = S.response_spectrum(acc, DT, [T], damping=0.05)
    assert psa[0] == pytest.approx(A / (2 * 0.05), rel=2e-3)


def test_sdof_matches_independent_time_stepping():
    acc = _bandlimited_noise((6000,), seed=3)[2000:2500]
    acc[:50] *= np.linspace(0, 1, 50)  # start from rest
    periods = [0.1, 1.0]
    u = S.sdof_displacement(acc, DT, periods, damping=0.05, pad_s=0.0)
    tt = np.arange(acc.size) * DT
    for i, T in enumerate(periods):
        w = 2 * np.pi / T

        def rhs(t, y):
            a = np.interp(t, tt, acc)  # piecewise-linear input
            return [y[1], -a - 2 * 0.05 * w * y[1] - w * w * y[0]]

        sol = solve_ivp(rhs, (0, tt[-1]), [0.0, 0.0], t_eval=tt, rtol=1e-9, atol=1e-12, max_step=DT / 2)
        scale = np.abs(sol.y[0]).max()
        np.testing.assert_allclose(u[i], sol.y[0], atol=1e-5 * scale)


def test_rotd_exact_against_brute_force_and_ordering():
    recs = _bandlimited_noise((3, 2, 3000), seed=4)
    periods = np.array([0.05, 0.3, 1.0, 3.0])
    got = S.rotd(recs, DT, periods, percentiles=(0, 50, 100))
    assert got.shape == (3, 4, 3)
    u = S.sdof_displacement(recs, DT, periods)
    ang = np.deg2rad(np.arange(180.0))
    peaks = np.abs(u[:, 0, :, None, :] * np.cos(ang)[:, None] + u[:, 1, :, None, :] * np.sin(ang)[:, None]).max(-1)
    brute = np.moveaxis(np.percentile(peaks, [0, 50, 100], axis=-1), 0, -1) * ((2 * np.pi / periods) ** 2)[:, None]
    np.testing.assert_allclose(got, brute, rtol=1e-12)
    psa = S.response_spectrum(recs, DT, periods)  # (3, 2, 4) per component
    assert np.all(got[..., 0] <= got[..., 1]) and np.all(got[..., 1] <= got[..., 2])
    assert np.all(got[..., 2] >= psa.max(axis=1) * (1 - 1e-12))  # 0° and 90° are among the angles
    assert np.all(got[..., 0] <= psa.min(axis=1) * (1 + 1e-12))


def test_rotd_rotation_invariant_and_linear_polarisation():
    recs = _bandlimited_noise((2, 3000), seed=5)
    periods = [0.2, 1.0]
    th = np.deg2rad(30.0)
    rot = np.stack([recs[0] * np.cos(th) - recs[1] * np.sin(th), recs[0] * np.sin(th) + recs[1] * np.cos(th)])
    np.testing.assert_allclose(S.rotd(rot, DT, periods), S.rotd(recs, DT, periods), rtol=1e-9)
    # one-component motion: RotD100 = PSA, RotD50 = PSA · median_θ |cos θ| = PSA · cos 45°
    lin = np.stack([recs[0], np.zeros_like(recs[0])])
    r = S.rotd(lin, DT, periods)
    psa = S.response_spectrum(recs[0], DT, periods)
    np.testing.assert_allclose(r[:, 1], psa, rtol=1e-12)
    np.testing.assert_allclose(r[:, 0], psa * np.median(np.abs(np.cos(np.deg2rad(np.arange(180))))), rtol=1e-12)


def test_short_period_psa_equals_pga_rotd50():
    recs = _bandlimited_noise((2, 2, 6000), seed=6)
    pga50 = S.rotd_peak(recs, percentiles=(50,))[..., 0]
    psa50 = S.rotd(recs, DT, [0.001], percentiles=(50,))[..., 0, 0]
    np.testing.assert_allclose(psa50, pga50, rtol=2e-3)
    np.testing.assert_allclose(S.rotd_peak(recs, (100,))[..., 0], np.hypot(recs[:, 0], recs[:, 1]).max(-1), rtol=1e-3)


def test_response_spectrum_input_errors():
    with pytest.raises(ValueError, match="periods"):
        S.response_spectrum(np.zeros(100), DT, [0.0])
    with pytest.raises(ValueError, match="dt"):
        S.response_spectrum(np.zeros(100), 0.0, [1.0])
    with pytest.raises(ValueError, match="2 components"):
        S.rotd(np.zeros((3, 100)), DT, [1.0])
    with pytest.raises(ValueError, match="NaN"):
        S.response_spectrum(np.full(100, np.nan), DT, [1.0])


# ----------------------------------------------------------------------------- Brune fit


@pytest.mark.parametrize("kind", ["acceleration", "displacement"])
def test_brune_fit_recovers_known_corner(kind):
    freqs = np.fft.rfftfreq(6000, DT)[1:]
    fc = np.array([0.8, 2.0, 5.0, 12.0])
    omega0 = np.array([1e-2, 3e-3, 1e-4, 2e-6])
    spec = S.brune_spectrum(freqs, omega0, fc, kind=kind)
    fit = S.fit_brune(freqs, spec, fmin=1.0, fmax=45.0, kind=kind)
    np.testing.assert_allclose(fit.fc, fc, rtol=2e-3)
    np.testing.assert_allclose(fit.omega0, omega0, rtol=5e-3)
    assert not fit.fc_at_bound.any()
    # with 30 % log-normal scatter the corner is still within 10 %
    rng = np.random.default_rng(0)
    noisy = spec * np.exp(0.3 * rng.standard_normal(spec.shape))
    fit = S.fit_brune(freqs, noisy, fmin=1.0, fmax=45.0, kind=kind)
    np.testing.assert_allclose(fit.fc, fc, rtol=0.1)
    # a known kappa is divided out; ignoring it biases fc low
    damped = spec * np.exp(-np.pi * 0.03 * freqs)
    np.testing.assert_allclose(S.fit_brune(freqs, damped, 1.0, 45.0, kind=kind, kappa_s=0.03).fc, fc, rtol=2e-3)
    assert np.all(S.fit_brune(freqs, damped, 1.0, 45.0, kind=kind).fc < 0.95 * fc)


def test_brune_fit_on_fas_of_synthetic_record():
    # a record whose FAS is a Brune acceleration spectrum (random phase) gives back fc
    n = 2**14
    freqs = np.fft.rfftfreq(n, DT)
    target = S.brune_spectrum(np.maximum(freqs, 1e-3), 1e-3, 3.0, kind="acceleration")
    rng = np.random.default_rng(1)
    acc = np.fft.irfft(target / DT * np.exp(2j * np.pi * rng.random(freqs.size)), n)
    f, amp = S.fourier_amplitude_spectrum(acc, DT)
    fc, sm = S.konno_ohmachi(amp, f, np.geomspace(0.5, 45, 80))
    fit = S.fit_brune(fc, sm, fmin=1.0, fmax=45.0)
    assert fit.fc == pytest.approx(3.0, rel=0.1)


# ----------------------------------------------------------------------------- arrivals, bootstrap


def test_arrival_errors_known_shift_and_rates():
    real = np.array([5.0, 6.0, 7.0, np.nan])
    gen = np.array([5.5, 5.0, np.nan, 3.0])
    e = M.arrival_errors(gen, real)
    assert e.mae == pytest.approx(0.75) and e.n == 2 and e.n_total == 4
    assert e.bias == pytest.approx(-0.25)
    assert e.pick_rate_generated == 0.75 and e.pick_rate_real == 0.75


def test_bootstrap_resamples_groups_not_records():
    # 5 events, 200 records each, constant within an event: all variance is between events
    event_values = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    values = np.repeat(event_values, 200)
    groups = np.repeat(np.arange(5), 200)
    ci = M.bootstrap_ci(values, groups, n=4000, seed=1)
    assert ci.estimate == pytest.approx(2.0) and ci.n_groups == 5
    # mean of 5 draws from {0..4}: sd = sqrt(2)/sqrt(5) = 0.632 -> 95 % half-width ≈ 1.24
    assert 1.0 < (ci.high - ci.low) / 2 < 1.5
    # a record-level bootstrap (one group per record) is much narrower (~14x here)
    narrow = M.bootstrap_ci(values, np.arange(values.size), n=2000, seed=1)
    assert (narrow.high - narrow.low) < 0.25 * (ci.high - ci.low)
    # generic stat path agrees with the fast mean path in distribution
    med = M.bootstrap_ci(values, groups, stat=lambda v: float(np.mean(v)), n=4000, seed=1)
    assert med.low == pytest.approx(ci.low) and med.high == pytest.approx(ci.high)
    assert M.bootstrap_ci(values, groups, seed=3).low == M.bootstrap_ci(values, groups, seed=3).low
    with pytest.raises(ValueError):
        M.bootstrap_ci(values, groups[:-1])
