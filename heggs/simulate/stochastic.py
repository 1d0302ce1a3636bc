"""Stage simulate (physics) — the stochastic point-source method, vectorised over records.

The method of Boore (2003, PAGEOPH 160, "Simulation of ground motion using the stochastic
method"): band-limited Gaussian noise, windowed in time by a Saragoni-Hart envelope, is given
the Fourier amplitude spectrum of a seismological model

    A(f) = C · M0 (2πf)² / (1 + (f/fc)²) · G(R) · exp(−π f R / (Q(f) v)) · exp(−π κ f) · S(f)

with C = F_free · R_rad / (4π ρ v³) (SI units; M0 in N·m, R in m, A in m/s), Brune corner
frequency fc = 4.906e6 β (Δσ/M0)^(1/3) (β km/s, Δσ bar, M0 dyne·cm), geometric spreading G
(1/R to ``geometric_transition_km`` then R^-0.5, with Yenier & Atkinson 2015 near-source
saturation), Q(f) = max(q_min, q0 f^η), kappa and the site term S(f) below.

Three components. P, SV and SH are synthesised as three independent windowed-noise series
with their own spectra (P with α, Q_P, fc_P; SV and SH with β, Q_S, fc_S) and radiation
amplitudes from the event's double couple (Aki & Richards 2002, eq. 4.89, for the TauP
take-off angle and the source-to-station azimuth), partly isotropised:
R² = (1 − γ) F² + γ ⟨F²⟩ with ⟨F_P²⟩ = 4/15, ⟨F_SV²⟩ = ⟨F_SH²⟩ = 1/5. They are projected on
the free surface with the incidence angle sin i = p · v_near-surface (p the TauP horizontal
slowness, v_S = Vs30, v_P = √3 Vs30, so rays arrive nearly vertically as on real sites):
Z = cos i_P · P − sin i_S · SV, radial = sin i_P · P + cos i_S · SV, transverse = SH, then
rotated to E/N with the back azimuth. Each phase's envelope starts exactly at its TauP onset:
a Saragoni-Hart window of duration T = 1/fc + b·R (Boore 2003), peaking early
(``window_eps`` = ``window_eps_p`` = 0.05: impulsive onsets that pickers see), plus a coda, an
exponential tail of relative level ``coda_level`` and decay time τ = τ0 + τ1·R after the
window's peak, so the coda lasts longer with distance (and stays above the noise longer for
larger events). The P coda fades out within 1 s after the S onset. Because the spectrum fixes
the total energy, the coda takes energy from the peak, as in Boore's method where the
duration includes the coda.

Site term: the Boore (2016) generic crustal amplification for Vs30 = 760 m/s (relative to
β = 3.5 km/s, ρ = 2.72 g/cm³), times the BSSA14 linear site scaling (Vs30/760)^-0.6 phased in
from 0.1 Hz to 1 Hz, times a per-station log-normal random factor (drawn by the caller).

Noise: stationary Gaussian noise whose PSD (acceleration, dB re 1 (m/s²)²/Hz) is
NLNM + level × (NHNM − NLNM) (Peterson 1993 via ObsPy; held constant beyond 10 Hz, the
models' shortest period), added to all samples.

Output: band-passed like ingested data (Butterworth, zero phase, applied as |H(f)|² in the
frequency domain, equal to ObsPy's ``bandpass(..., zerophase=True)``), in m/s².
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import scipy.fft
from scipy import signal

#: Boore (2016) WUS generic rock amplification for Vs30 = 760 m/s: frequency (Hz), amplification.
BOORE2016_760_F = np.array([0.010, 0.015, 0.021, 0.031, 0.045, 0.065, 0.095, 0.138, 0.200, 0.291, 0.423, 0.615,
                            0.894, 1.301, 1.892, 2.751, 4.000, 5.817, 8.459, 12.301, 17.889, 26.014, 37.830,
                            55.012, 80.000])
BOORE2016_760_A = np.array([1.00, 1.01, 1.02, 1.02, 1.04, 1.06, 1.09, 1.13, 1.18, 1.25, 1.32, 1.41, 1.51, 1.64,
                            1.80, 1.99, 2.18, 2.38, 2.56, 2.75, 2.95, 3.17, 3.42, 3.68, 3.96])
#: BSSA14 linear site coefficient c at PGA (ln amplification per ln(Vs30/760))
BSSA14_SITE_C = -0.6

#: mean squared radiation coefficients of a double couple over the focal sphere
MEAN_SQ_RADIATION = {"P": 4.0 / 15.0, "SV": 1.0 / 5.0, "SH": 1.0 / 5.0}


def seismic_moment_nm(mw) -> np.ndarray:
    """Seismic moment (N·m) of moment magnitude ``mw`` (Hanks & Kanamori 1979)."""
    return 10.0 ** (1.5 * np.asarray(mw, dtype=float) + 9.05)


def corner_frequency_hz(mw, stress_drop_bar, beta_km_s: float = 3.5) -> np.ndarray:
    """Brune corner frequency fc = 4.906e6 β (Δσ/M0)^(1/3) (β km/s, Δσ bar, M0 dyne·cm)."""
    m0_dyne_cm = seismic_moment_nm(mw) * 1e7
    return 4.906e6 * beta_km_s * (np.asarray(stress_drop_bar, dtype=float) / m0_dyne_cm) ** (1.0 / 3.0)


def near_source_distance_km(r_hyp_km, mw) -> np.ndarray:
    """Effective distance sqrt(R² + h²), h = 10^(-0.05 + 0.15 M) km (Yenier & Atkinson 2015)."""
    h = 10.0 ** (-0.05 + 0.15 * np.asarray(mw, dtype=float))
    return np.sqrt(np.asarray(r_hyp_km, dtype=float) ** 2 + h**2)


def geometric_spreading(r_km, transition_km: float = 40.0, n_near: float = 1.0, n_far: float = 0.5) -> np.ndarray:
    """G(R) in 1/m: R^-n_near up to ``transition_km``, then continuing as R^-n_far.

    r_km : (...) distance, km. Returns (...) 1/m (so that M0·G has the units of Boore's C/R0).
    """
    r = np.maximum(np.asarray(r_km, dtype=float), 1e-3)
    r1 = float(transition_km)
    near = (r1 / r) ** n_near
    far = (r1 / r) ** n_far
    return np.where(r <= r1, near, far) / (r1 * 1000.0)


def quality_factor(f, q0: float = 180.0, eta: float = 0.45, q_min: float = 60.0) -> np.ndarray:
    """Q(f) = max(q_min, q0 f^η). f : (...) Hz."""
    f = np.maximum(np.asarray(f, dtype=float), 1e-6)
    return np.maximum(q_min, q0 * f**eta)


def site_amplification(f, vs30_m_s) -> np.ndarray:
    """Generic crustal amplification for Vs30 (see module docstring).

    f : (nf,) Hz. vs30_m_s : (n,) m/s. Returns (n, nf) amplification (dimensionless).
    """
    f = np.maximum(np.asarray(f, dtype=float), BOORE2016_760_F[0])
    base = np.exp(np.interp(np.log(f), np.log(BOORE2016_760_F), np.log(BOORE2016_760_A)))
    phase_in = np.clip(np.log10(f / 0.1), 0.0, 1.0)  # 0 below 0.1 Hz, 1 above 1 Hz
    vs30 = np.atleast_1d(np.asarray(vs30_m_s, dtype=float))
    return base[None, :] * np.exp(BSSA14_SITE_C * np.log(vs30 / 760.0)[:, None] * phase_in[None, :])


def radiation_pattern(strike_deg, dip_deg, rake_deg, takeoff_deg, azimuth_deg) -> tuple[np.ndarray, ...]:
    """Far-field double-couple radiation coefficients (Aki & Richards 2002, eq. 4.89).

    All arguments (...) degrees; take-off from the downward vertical, azimuth of the station
    seen from the epicentre (clockwise from north). Returns (F_P, F_SV, F_SH), each (...).
    """
    d2r = np.pi / 180.0
    lam = np.asarray(rake_deg, dtype=float) * d2r
    dlt = np.asarray(dip_deg, dtype=float) * d2r
    i = np.asarray(takeoff_deg, dtype=float) * d2r
    phi = (np.asarray(azimuth_deg, dtype=float) - np.asarray(strike_deg, dtype=float)) * d2r
    cl, sl, cd, sd = np.cos(lam), np.sin(lam), np.cos(dlt), np.sin(dlt)
    s2d, c2d = np.sin(2 * dlt), np.cos(2 * dlt)
    si, ci, s2i, c2i = np.sin(i), np.cos(i), np.sin(2 * i), np.cos(2 * i)
    sp, cp, s2p, c2p = np.sin(phi), np.cos(phi), np.sin(2 * phi), np.cos(2 * phi)
    fp = cl * sd * si**2 * s2p - cl * cd * s2i * cp + sl * s2d * (ci**2 - si**2 * sp**2) + sl * c2d * s2i * sp
    fsv = sl * c2d * c2i * sp - cl * cd * c2i * cp + 0.5 * cl * sd * s2i * s2p - 0.5 * sl * s2d * s2i * (1 + sp**2)
    fsh = cl * cd * ci * sp + cl * sd * si * c2p + sl * c2d * ci * cp - 0.5 * sl * s2d * si * s2p
    return fp, fsv, fsh


def effective_radiation(f_coef, wave: str, isotropic_fraction: float) -> np.ndarray:
    """sqrt((1 − γ) F² + γ ⟨F²⟩): the pattern partly isotropised by scattering. (...) -> (...)."""
    g = float(isotropic_fraction)
    return np.sqrt((1.0 - g) * np.asarray(f_coef, dtype=float) ** 2 + g * MEAN_SQ_RADIATION[wave])


def saragoni_hart(t_s, duration_s, eps: float = 0.2, eta: float = 0.05, f_tgm: float = 2.0) -> np.ndarray:
    """Saragoni-Hart envelope w(t) = a (t/tη)^b exp(−c t/tη), tη = f_tgm · duration (peak 1).

    t_s : (..., nt) time after the phase onset, s (negative -> 0). duration_s : (..., 1) s.
    """
    b = -eps * math.log(eta) / (1.0 + eps * (math.log(eps) - 1.0))
    c = b / eps
    a = (math.e / eps) ** b
    t_s = np.asarray(t_s)
    dtype = t_s.dtype if t_s.dtype in (np.float32, np.float64) else np.float64
    x = np.maximum(t_s.astype(dtype, copy=False), 0) / (f_tgm * np.asarray(duration_s, dtype=dtype))
    pos = x > 0
    x[~pos] = 1.0
    w = np.log(x)
    w *= dtype.type(b)
    w -= dtype.type(c) * x
    np.exp(w, out=w)
    w *= dtype.type(a)
    w[~pos] = 0.0
    return w


def envelope_with_coda(t_s, duration_s, coda_tau_s, coda_level: float, eps: float = 0.2, eta: float = 0.05,
                       f_tgm: float = 2.0) -> np.ndarray:
    """Saragoni-Hart envelope plus a coda: ``w + L·(w before the peak, exp(−(t − t_peak)/τ) after)``.

    t_s : (..., nt) time after the phase onset, s. duration_s, coda_tau_s : (..., 1) s.
    The coda term rises with the window and decays exponentially after its peak
    (t_peak = eps · f_tgm · duration), continuously.
    """
    w = saragoni_hart(t_s, duration_s, eps, eta, f_tgm)
    if coda_level <= 0:
        return w
    t_s = np.asarray(t_s)
    t_peak = eps * f_tgm * np.asarray(duration_s, dtype=t_s.dtype)
    after = t_s > t_peak
    tail = np.exp(-np.maximum(t_s - t_peak, 0) / np.asarray(coda_tau_s, dtype=t_s.dtype))
    return w + w.dtype.type(coda_level) * np.where(after, tail, w)


def noise_psd(f, level) -> np.ndarray:
    """Background-noise PSD, (m/s²)²/Hz: NLNM + level × (NHNM − NLNM) in dB (Peterson 1993).

    f : (nf,) Hz. level : (n,) in [0, 1]. Returns (n, nf). Beyond 10 Hz (the models' shortest
    period, 0.1 s) the values at 10 Hz are held.
    """
    from obspy.signal.spectral_estimation import get_nhnm, get_nlnm

    pl, dl = get_nlnm()
    ph, dh = get_nhnm()
    logp = np.log10(1.0 / np.maximum(np.asarray(f, dtype=float), 1e-4))
    ol, oh = np.argsort(pl), np.argsort(ph)  # ObsPy lists periods in decreasing order
    lo = np.interp(logp, np.log10(pl[ol]), dl[ol])
    hi = np.interp(logp, np.log10(ph[oh]), dh[oh])
    lvl = np.atleast_1d(np.asarray(level, dtype=float))[:, None]
    return 10.0 ** ((lo[None, :] + lvl * (hi - lo)[None, :]) / 10.0)


def bandpass_response(f, f_min: float, f_max: float, fs: float, corners: int = 4) -> np.ndarray:
    """|H(f)|² of a Butterworth band-pass run forward and backward (zero phase). f : (nf,) Hz."""
    sos = signal.butter(corners, [f_min, f_max], btype="bandpass", fs=fs, output="sos")
    _, h = signal.sosfreqz(sos, worN=np.asarray(f, dtype=float), fs=fs)
    return np.abs(h) ** 2


def synthesize(
    *,
    magnitude: np.ndarray,
    stress_drop_bar: np.ndarray,
    r_hyp_km: np.ndarray,
    t_p_s: np.ndarray,
    t_s_s: np.ndarray,
    rad_p: np.ndarray,
    rad_sv: np.ndarray,
    rad_sh: np.ndarray,
    incidence_p_deg: np.ndarray,
    incidence_s_deg: np.ndarray,
    back_azimuth_deg: np.ndarray,
    vs30_m_s: np.ndarray,
    site_factor: np.ndarray,
    noise_level: np.ndarray,
    rngs: Sequence[np.random.Generator],
    cfg,
    return_parts: bool = False,
):
    """Simulate a batch of 3-component acceleration records.

    Every argument is an (n,) array (one value per record): magnitude (Mw), stress drop (bar),
    hypocentral distance (km), P and S onsets (s after the WINDOW START), effective radiation
    amplitudes (dimensionless, >= 0), surface incidence angles (deg from vertical), back
    azimuth (deg), Vs30 (m/s), random site factor (dimensionless), noise level in [0, 1].
    rngs : one Generator per record (its whole random draw comes from it, so a record does
    not depend on the batch it is in). cfg : :class:`heggs.config.SimulateConfig`.

    Returns waveforms : (n, n_components, n_samples) float32, m/s², in the component order of
    ``cfg.window.components`` (letters from "ENZ"); with ``return_parts`` also a dict of the
    noise-free signal and the noise alone, each (n, 3, n_samples) float32 in E, N, Z order.
    """
    w = cfg.window
    fs = float(w.sampling_rate_hz)
    dt = 1.0 / fs
    n = w.n_samples
    comps = w.components.upper()
    if any(c not in "ENZ" for c in comps) or len(set(comps)) != len(comps):
        raise ValueError(f"simulated components must be distinct letters of 'ENZ', got {w.components!r}")
    m = len(rngs)
    arrs = [np.broadcast_to(np.asarray(a, dtype=float), (m,)) for a in (
        magnitude, stress_drop_bar, r_hyp_km, t_p_s, t_s_s, rad_p, rad_sv, rad_sh, incidence_p_deg,
        incidence_s_deg, back_azimuth_deg, vs30_m_s, site_factor, noise_level)]
    mw, dsig, r_hyp, tp, ts, rp, rsv, rsh, ip, is_, baz, vs30, sfac, nlev = arrs
    pad = int(round(max(10.0, 0.25 * w.length_s) * fs))
    nfft = scipy.fft.next_fast_len(n + pad, real=True)
    t = (np.arange(nfft) * dt).astype(np.float32)
    f = scipy.fft.rfftfreq(nfft, dt)
    nf = f.size
    # taper the envelopes to zero over the last quarter of the padding (no wrap-around)
    edge = np.clip((nfft * dt - t) / (0.25 * pad * dt), 0.0, 1.0).astype(np.float32)

    # --- target Fourier amplitude spectra, (m, nf) float32 ---------------------------------
    r_eff = near_source_distance_km(r_hyp, mw) if cfg.finite_fault_saturation else r_hyp
    g = geometric_spreading(r_eff, cfg.geometric_transition_km, cfg.geometric_exponent_near,
                            cfg.geometric_exponent_far)
    rho = cfg.density_g_cm3 * 1000.0
    # per-record scalar: M0 G F_free / (4π ρ) ; per-frequency: (2πf)² κ-filter |H(f)|²
    scal = (seismic_moment_nm(mw) * g * cfg.free_surface_factor / (4 * np.pi * rho)).astype(np.float32)[:, None]
    freq_term = (2 * np.pi * f) ** 2 * np.exp(-np.pi * cfg.kappa_s * f)
    if cfg.bandpass:
        f_max = min(w.band_max_hz, w.nyquist_fraction * fs / 2.0)
        h2 = bandpass_response(f, w.band_min_hz, f_max, fs, cfg.filter_corners)
    else:
        h2 = np.ones_like(f)
    freq_term = (freq_term * h2).astype(np.float32)[None, :]
    site = (site_amplification(f, vs30) * sfac[:, None]).astype(np.float32)
    base = scal * freq_term * site
    q_s = quality_factor(f, cfg.q0, cfg.q_eta, cfg.q_min)
    fc_s = corner_frequency_hz(mw, dsig, cfg.beta_km_s)
    fc_p = cfg.p_corner_ratio * fc_s
    f32 = f.astype(np.float32)[None, :]

    def spectrum(v_km_s: float, q: np.ndarray, fc: np.ndarray) -> np.ndarray:
        v = v_km_s * 1000.0
        decay = (np.pi * f / (q * v_km_s)).astype(np.float32)[None, :]
        path = np.exp(-decay * r_hyp.astype(np.float32)[:, None])
        src = 1.0 / (1.0 + (f32 / fc.astype(np.float32)[:, None]) ** 2)
        return base * path * src * np.float32(1.0 / v**3)

    a_s = spectrum(cfg.beta_km_s, q_s, fc_s)
    a_p = spectrum(cfg.alpha_km_s, cfg.qp_over_qs * q_s, fc_p)

    # --- windowed noise for P, SV, SH (time domain) and station noise (frequency domain) ----
    dur_s = 1.0 / fc_s + cfg.path_duration_s_per_km * r_hyp
    dur_p = 1.0 / fc_p + cfg.path_duration_s_per_km * r_hyp
    tau = (cfg.coda_tau_s + cfg.coda_tau_s_per_km * r_hyp).astype(np.float32)[:, None]
    env_p = envelope_with_coda(t[None, :] - tp.astype(np.float32)[:, None], dur_p.astype(np.float32)[:, None], tau,
                               cfg.coda_level, cfg.window_eps_p, cfg.window_eta, cfg.window_f_tgm)
    env_s = envelope_with_coda(t[None, :] - ts.astype(np.float32)[:, None], dur_s.astype(np.float32)[:, None], tau,
                               cfg.coda_level, cfg.window_eps, cfg.window_eta, cfg.window_f_tgm)
    # the P coda gives way to S: taper it out over one second after the S onset
    env_p *= np.clip(1.0 - (t[None, :] - ts.astype(np.float32)[:, None]), 0.0, 1.0)
    env_p *= edge
    env_s *= edge
    white = np.empty((m, 3, nfft), dtype=np.float32)
    wnoise = np.empty((m, 3, 2, nf), dtype=np.float32)
    for k, rng in enumerate(rngs):  # record by record: independent of batch composition
        white[k] = rng.standard_normal((3, nfft), dtype=np.float32)
        wnoise[k] = rng.standard_normal((3, 2, nf), dtype=np.float32)
    white[:, 0] *= env_p
    white[:, 1:] *= env_s[:, None, :]
    spec = scipy.fft.rfft(white, axis=-1)  # (m, 3, nf) complex64
    # Boore's normalisation: unit mean-square Fourier amplitude of each windowed noise series
    rms = np.sqrt(np.mean(spec.real[..., 1:] ** 2 + spec.imag[..., 1:] ** 2, axis=-1))  # (m, 3)
    rms = np.where(rms > 0, rms, 1.0)
    spec[:, 0] *= a_p
    spec[:, 1] *= a_s
    spec[:, 2] *= a_s
    # projections on E, N, Z (per-record scalars; radial points away from the source)
    d2r = np.pi / 180.0
    cip, sip = np.cos(ip * d2r), np.sin(ip * d2r)
    cis, sis = np.cos(is_ * d2r), np.sin(is_ * d2r)
    re, rn = -np.sin(baz * d2r), -np.cos(baz * d2r)
    te, tn = rn, -re
    # A(f) is the continuous Fourier amplitude (m/s); numpy's rfft of the series is A/dt
    cp, csv, csh = rp / rms[:, 0] * fs, rsv / rms[:, 1] * fs, rsh / rms[:, 2] * fs
    coef = np.stack([
        np.stack([re * sip * cp, re * cis * csv, te * csh], axis=1),   # E
        np.stack([rn * sip * cp, rn * cis * csv, tn * csh], axis=1),   # N
        np.stack([cip * cp, -sis * csv, np.zeros(m)], axis=1),         # Z
    ], axis=1).astype(np.float32)  # (m, 3 components, 3 phases)
    sig = np.einsum("mcp,mpf->mcf", coef, spec)  # (m, 3, nf): numpy-rfft convention
    # station noise: rfft of white noise is complex Gaussian with variance nfft/2 per part
    namp = (np.sqrt(noise_psd(f, nlev) * fs / 2.0 * nfft / 2.0) * h2[None, :]).astype(np.float32)
    noise = (wnoise[:, :, 0] + 1j * wnoise[:, :, 1]).astype(np.complex64)
    noise[..., 0] = wnoise[..., 0, 0] * np.float32(math.sqrt(2.0))
    if nfft % 2 == 0:
        noise[..., -1] = wnoise[..., 0, -1] * np.float32(math.sqrt(2.0))
    noise *= namp[:, None, :]
    order = ["ENZ".index(c) for c in comps]
    out = scipy.fft.irfft(sig + noise, n=nfft, axis=-1)[:, order, :n].astype(np.float32)
    if return_parts:
        return out, {"signal": scipy.fft.irfft(sig, n=nfft, axis=-1)[:, :, :n],
                     "noise": scipy.fft.irfft(noise, n=nfft, axis=-1)[:, :, :n]}
    return out
