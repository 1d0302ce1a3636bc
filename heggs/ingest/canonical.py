"""Stage 1 — one raw record -> one canonical window (the per-record chain of ingest).

:func:`process_record` turns one :class:`heggs.ingest.records.RawRecord`, already associated with its
event by :func:`heggs.ingest.run.resolve_event`, into one canonical window
(``(n_components, n_samples)`` float32 in m/s², or counts where the response is unknown) with
its metadata row, or a :class:`heggs.ingest.records.Skip` with its reason (docs/data-contract.md). The chain,
in order:

1. event: done before, by :func:`heggs.ingest.run.resolve_event` (header event, catalog refinement).
2. arrivals: analyst picks of the station when the catalog has them, else first P/S from a
   cached TauP travel-time table (:class:`heggs.traveltimes.TravelTimeTable`, depth clipped at 0
   for travel times only); ``trace_arrivals_source`` is ``picked`` (P and S picked),
   ``theoretical`` (neither) or ``mixed``.
3. time sanity: a record whose span cannot contain the window's P..S part (1970 dates, a start
   time years off) is skipped ("time span misses window"), never shifted; a record starting
   after P -> "starts after P"; ending before min(S + s_margin_s, window end) ->
   "ends before S + margin".
4. cleaning: NaN/inf -> "NaN"; overlapping identical segments are merged, any gap -> "gap";
   Z plus E/N or 1/2 required -> "missing component"; building sensors -> "building sensor".
5. trim to the window ± ``margin_s`` (one (3, n) array at the original rate), linear detrend
   (mean included), cosine (Tukey) taper of ``taper_s`` at the trimmed ends only: outside the
   window when the record covers window ± margin, else on the first/last second of the record.
6. units -> m/s²: counts with an inventory response -> spectral division by the acceleration
   response exactly as ObsPy's ``remove_response(output="ACC")`` does it (velocity sensors are
   differentiated by it) with ``pre_filt = (0.5·f_min, 0.8·f_min, 1.05·f_max, Nyquist)`` and
   ``water_level_db`` (default None: the pre-filter alone stabilises the division); the
   evalresp spectrum is evaluated on 1,024 frequencies, interpolated and cached per channel
   epoch, and rescaled to the reported overall sensitivity where the stages disagree with it
   by > 5 %; a response with a sensitivity only -> division by it. cm/s² × 0.01; m/s and cm/s
   differentiated. Counts without response stay counts (``trace_units = "counts"``,
   shape-only use).
7. rotation: 1/2(/3) channels -> E/N/Z with inventory orientations (or
   ``RawRecord.azimuths_deg``) through ``obspy.signal.rotate.rotate2zne``; without azimuths ->
   "1/2 channels without azimuth".
8. band: zero-phase Butterworth band-pass ``[band_min_hz, f_max]`` (``filter_corners`` = 4
   poles, run forward and backward as ObsPy's ``bandpass(zerophase=True)``, so 8th order
   effective) with ``f_max = min(band_max_hz, nyquist_fraction × original Nyquist,
   nyquist_fraction × window Nyquist)`` at the ORIGINAL rate; then FFT resampling to the
   window rate (everything above the new Nyquist cut: anti-aliased) with the sub-sample
   shift that puts the samples exactly on the window's grid ``origin + offset + k / rate``.
9. window: zeros outside the record (head/tail padding); ``trace_valid_start_sample`` /
   ``trace_valid_end_sample`` (end exclusive) mark the recorded part.

Clipping (between steps 4 and 5, on the RAW samples of the window ± margin, before detrending
and response removal): :func:`clipping` flags a record whose channel reaches a digitiser's full
scale or has a flat top; ``trace_clipped`` is True, the record is kept and used as shape only
(amplitude metrics and amplitude loss terms leave it out, docs/ingest.md "Clipping").

Short archives (e.g. iceland_dike, 32.5 s) are PADDED into the configured window with a validity
range rather than ingested with a shorter window: one store has one window.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.signal
from obspy import Stream, Trace

from ..config import IngestConfig
from .records import EventInfo, RawRecord, Skip, StationInfo
from ..store import UNITS_PHYSICAL
from ..traveltimes import TravelTimeTable, epicentral_distance_km, geodesics, get_table, taup_first_arrivals

#: second letter of a SEED channel code meaning an acceleration sensor (HN?, HL?, BN?, HG?)
ACCEL_INSTRUMENTS = set("NLG")

#: full scales of common digitisers, counts: signed 16, 24 and 32 bit (2^(b-1) - 1)
FULL_SCALE_COUNTS = (2**15 - 1, 2**23 - 1, 2**31 - 1)
#: a channel reaches full scale when this many consecutive samples lie within 0.1 % of one
CLIP_FULL_SCALE_RUN = 2
#: a flat top: at least this many consecutive identical samples at the channel's extreme ...
CLIP_FLAT_RUN = 5
#: ... where the extreme is at least this many quanta (smallest step between sample values)
#: from the median, so that quantisation of a weak signal is not a flat top
CLIP_MIN_QUANTA = 10_000


def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a 1-D bool array."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def clipping(x: np.ndarray, counts: bool) -> str:
    """Why one channel's raw samples look clipped, or "" (docs/ingest.md, "Clipping").

    x : (n,) raw samples (counts, or the file's physical unit), not detrended;
    counts : whether ``x`` is in digitiser counts (the full-scale rule applies only then).
    Rules: "full scale" — counts whose peak does not exceed a full scale of
    :data:`FULL_SCALE_COUNTS` (+1 count) and reaches 0.999 x it for at least
    :data:`CLIP_FULL_SCALE_RUN` consecutive samples; "flat top" — a run of at least
    :data:`CLIP_FLAT_RUN` consecutive identical samples at the extreme (|x - median| >= 0.995 x
    its maximum), that extreme being at least :data:`CLIP_MIN_QUANTA` quanta from the median.
    A smooth peak of A quanta and period T sampled at fs stays within half a quantum for about
    fs·T / (π √A) samples: under 5 for A >= 10,000 and fs·T <= 1,500 (15 s periods at 100 Hz),
    while a 4 Hz wave clipped at half its amplitude at 100 Hz is flat for 8 samples.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size < 2 or not np.all(np.isfinite(x)):
        return ""
    a = np.abs(x)
    if counts:
        # the smallest full scale the record does not exceed: its peak must sit AT that scale
        scale = next((f for f in FULL_SCALE_COUNTS if a.max() <= f + 1), None)
        if scale is not None and _longest_run(a >= 0.999 * scale) >= CLIP_FULL_SCALE_RUN:
            return "full scale"
    dev = x - np.median(x)
    peak = float(np.abs(dev).max())
    if peak <= 0:
        return ""
    extreme = np.abs(dev) >= 0.995 * peak
    same = np.concatenate(([False], x[1:] == x[:-1])) & extreme
    # a run of k identical samples is k - 1 consecutive "equal to the previous one" flags
    if _longest_run(same & np.concatenate(([False], extreme[:-1]))) + 1 < CLIP_FLAT_RUN:
        return ""
    steps = np.diff(np.unique(x))
    quantum = float(steps.min()) if steps.size else 0.0
    return "flat top" if quantum > 0 and peak / quantum >= CLIP_MIN_QUANTA else ""


def _clipped(three: Stream, a, b, units: str) -> str:
    """Clipping reasons of the three channels between times ``a`` and ``b`` ("" when none),
    e.g. ``"HNE: full scale; HNZ: full scale"``."""
    found = []
    for tr in three:
        why = clipping(tr.slice(a, b).data, units == "counts")
        if why:
            found.append(f"{tr.stats.channel}: {why}")
    return "; ".join(found)

def travel_time_table(model: str) -> TravelTimeTable:
    """The process-wide cached :class:`heggs.traveltimes.TravelTimeTable` of ``model``."""
    return get_table(model)


def first_arrivals(model: str, distance_km: float, depth_km: float) -> tuple[float, float]:
    """(P, S) first-arrival travel times (s): the cached regional table, or a direct TauP call
    beyond its 1,500 km (rare here: teleseismic records). ValueError when there is none."""
    table = travel_time_table(model)
    if distance_km <= table.max_distance_km:
        return table.arrivals(distance_km, depth_km)
    try:
        return taup_first_arrivals(model, distance_km, depth_km)
    except IndexError:
        raise ValueError(f"no P/S arrival at {distance_km:.0f} km, depth {depth_km:.1f} km") from None


# --- one record -----------------------------------------------------------------------------


@dataclass
class Processed:
    """A canonical record: waveform (n_components, n_samples) float32 in ``meta['trace_units']``."""

    waveform: np.ndarray
    meta: dict[str, Any]
    rank: tuple  # duplicate preference key (larger is better)
    origin: str = ""  # the RawRecord's origin (file paths), for the report


def _station(raw: RawRecord) -> StationInfo | None:
    if raw.station is not None:
        return raw.station
    if raw.inventory is not None:
        s = raw.stream[0].stats
        for net in raw.inventory:
            for sta in net:
                if sta.code == s.station:
                    return StationInfo(net.code, sta.code, s.location, sta.latitude, sta.longitude,
                                       sta.elevation or 0.0)
    return None


def _response(raw: RawRecord, tr):
    """(response, cache key) of the channel at the trace start, or None: among several matching
    epochs (real StationXML files repeat them) the first with response stages, else one with a
    sensitivity."""
    if raw.inventory is None:
        return None
    s = tr.stats
    sel = raw.inventory.select(network=s.network, station=s.station, location=s.location, channel=s.channel,
                               time=s.starttime)
    chans = [c for n in sel for st in n for c in st if c.response is not None]
    ok = [c for c in chans if c.response.response_stages] or [
        c for c in chans if c.response.instrument_sensitivity is not None and c.response.instrument_sensitivity.value]
    if not ok:
        return None
    c = ok[0]
    sens = c.response.instrument_sensitivity
    key = (tr.id, str(c.start_date), len(c.response.response_stages), sens.value if sens is not None else None)
    return c.response, key


def _has_response(raw: RawRecord) -> bool:
    """True when every channel has a response (full stages, or at least a sensitivity)."""
    return raw.inventory is not None and all(_response(raw, tr) is not None for tr in raw.stream)


#: input units of an instrument sensitivity -> (scale to SI, time derivatives needed for m/s²)
_SENS_UNITS = {"M/S**2": (1.0, 0), "M/S/S": (1.0, 0), "CM/S**2": (0.01, 0), "CM/S/S": (0.01, 0),
               "M/S": (1.0, 1), "CM/S": (0.01, 1), "NM/S": (1e-9, 1), "NM/S**2": (1e-9, 0)}


def _sensitivity_mismatch(resp) -> float:
    """|stages gain| / reported sensitivity at the sensitivity frequency, when they disagree by
    more than 5 % (real StationXML files do: a stage gain written twice), else 1.

    The reported overall sensitivity is what data centres calibrate, so the response-removed
    data are rescaled to agree with it; the response shape still comes from the stages.
    """
    sens = resp.instrument_sensitivity
    unit = ((sens.input_units if sens is not None else "") or "").upper().replace(" ", "")
    if sens is None or not sens.value or not sens.frequency or unit not in _SENS_UNITS:
        return 1.0
    scale, n_diff = _SENS_UNITS[unit]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = abs(resp.get_evalresp_response_for_frequencies([float(sens.frequency)],
                                                                output=("ACC", "VEL")[n_diff])[0])
    except Exception:  # noqa: BLE001 - keep the stages' answer
        return 1.0
    ratio = h / (float(sens.value) / scale)  # both in counts per SI unit
    return ratio if ratio > 0 and abs(ratio - 1.0) > 0.05 else 1.0


#: inverse frequency responses (with the pre-filter taper) by (channel epoch, nfft, rate, ...):
#: a station records many events, and records trimmed to the window share one nfft
_INVERSE_CACHE: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
_INVERSE_CACHE_SIZE = 256


#: the response is evaluated on at most this many frequencies and interpolated (amplitude and
#: unwrapped phase) onto the rfft grid: evalresp costs 1-600 ms per call on the full grid of
#: real responses (long FIR chains); the interpolation error is < 1e-3 in the band
RESPONSE_EVAL_POINTS = 1024


def _evalresp_acc(resp, nfft: int, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(complex acceleration response, frequencies) on the rfft grid of ``nfft`` at ``fs``."""
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
    step = max(1, (len(freqs) - 1) // RESPONSE_EVAL_POINTS)
    if step == 1:
        return resp.get_evalresp_response(1.0 / fs, nfft, output="ACC")
    sub = freqs[::step]
    if sub[-1] != freqs[-1]:
        sub = np.append(sub, freqs[-1])
    h = resp.get_evalresp_response_for_frequencies(np.ascontiguousarray(sub), output="ACC")
    amp = np.interp(freqs, sub, np.abs(h))
    phase = np.interp(freqs, sub, np.unwrap(np.angle(h)))
    return amp * np.exp(1j * phase), freqs


def _inverse_response(resp, key, nfft: int, fs: float, pre_filt, water_level_db) -> np.ndarray:
    """Pre-filtered inverse acceleration response on the rfft grid, as ``Trace.remove_response``
    builds it (evalresp through ObsPy; ~30 ms each, hence cached), rescaled by
    :func:`_sensitivity_mismatch`."""
    from obspy.signal.invsim import cosine_sac_taper, invert_spectrum

    k = (key, nfft, fs, tuple(pre_filt), water_level_db)
    if k in _INVERSE_CACHE:
        _INVERSE_CACHE.move_to_end(k)
        return _INVERSE_CACHE[k]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fr, freqs = _evalresp_acc(resp, nfft, fs)
        if water_level_db is None:
            fr[0] = 0.0
            fr[1:] = 1.0 / fr[1:]
        else:
            invert_spectrum(fr, water_level_db)
        inv = fr * cosine_sac_taper(freqs, flimit=pre_filt) * _sensitivity_mismatch(resp)
    inv = inv.astype(np.complex64)
    _INVERSE_CACHE[k] = inv
    if len(_INVERSE_CACHE) > _INVERSE_CACHE_SIZE:
        _INVERSE_CACHE.popitem(last=False)
    return inv


def _to_acceleration(data: np.ndarray, tr, raw: RawRecord, fs: float, pre_filt, water_level_db) -> np.ndarray:
    """One channel, counts -> m/s².

    data : (n,) float64, counts (detrended, tapered). Returns (n,) float64, m/s².
    Full response: spectral division as ObsPy's ``Trace.remove_response(output="ACC",
    pre_filt=..., water_level=...)`` does it (velocity sensors are differentiated by it), with
    the evalresp spectrum evaluated on ``RESPONSE_EVAL_POINTS`` frequencies, interpolated and
    cached per channel epoch. Sensitivity only (no stages): division by it, flat response
    assumed within the band.
    """
    from obspy.signal.util import _npts2nfft

    found = _response(raw, tr)
    if found is None:
        raise _SkipError("no response", f"{tr.id}: no response for this channel")
    resp, key = found
    if resp.response_stages:
        nfft = _npts2nfft(len(data))
        try:
            inv = _inverse_response(resp, key, nfft, fs, pre_filt, water_level_db)
        except Exception as e:  # noqa: BLE001
            raise _SkipError("no response", f"{tr.id}: response evaluation failed: {e}") from None
        spec = np.fft.rfft(data, n=nfft) * inv
        spec[-1] = abs(spec[-1]) + 0.0j
        return np.fft.irfft(spec, n=nfft)[: len(data)]
    sens = resp.instrument_sensitivity
    unit = (sens.input_units or "").upper().replace(" ", "")
    if unit not in _SENS_UNITS:
        raise _SkipError("no response", f"{tr.id}: sensitivity-only response in unsupported units {unit!r}")
    scale, n_diff = _SENS_UNITS[unit]
    out = data / float(sens.value) * scale
    for _ in range(n_diff):
        out = np.gradient(out, 1.0 / fs)
    return out


@lru_cache(maxsize=64)
def _bandpass_sos(f_min: float, f_max: float, fs: float, corners: int) -> np.ndarray:
    """Butterworth band-pass in second-order sections, designed as ``obspy.signal.filter.bandpass``
    does; applied forward and backward (zero phase) by the caller."""
    nyq = 0.5 * fs
    return scipy.signal.iirfilter(corners, [f_min / nyq, f_max / nyq], btype="band", ftype="butter", output="sos")


def _resample_onto_grid(arr: np.ndarray, fs: float, rate: float, delay_s: float) -> np.ndarray:
    """Band-limited resampling by FFT (anti-aliased: everything above the new Nyquist is cut)
    with a sub-sample shift, so output sample j is the signal at ``delay_s + j / rate`` seconds
    after the first input sample.

    arr : (c, n) float64 sampled at ``fs``. Returns (c, m) float64, m = floor((n/fs - delay_s)·rate).
    """
    n = arr.shape[1]
    m_full = int(round(n * rate / fs))
    if abs(fs - rate) < 1e-9 and abs(delay_s) < 1e-6:
        return arr
    spec = np.fft.rfft(arr, axis=-1)
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    spec = spec * np.exp(2j * np.pi * freqs * delay_s)  # advance by delay_s
    n_keep = m_full // 2 + 1
    if spec.shape[1] >= n_keep:
        spec = spec[:, :n_keep]
    else:
        spec = np.concatenate([spec, np.zeros((arr.shape[0], n_keep - spec.shape[1]), complex)], axis=1)
    if m_full % 2 == 0:
        spec[:, -1] = spec[:, -1].real  # the new Nyquist bin of an even-length signal is real
    out = np.fft.irfft(spec, n=m_full, axis=-1) * (m_full / n)
    m = int(math.floor((n / fs - delay_s) * rate + 1e-6))
    return out[:, : max(min(m, m_full), 0)]


def _orientation(raw: RawRecord, tr) -> tuple[float, float] | None:
    """(azimuth, dip) in degrees of a trace's channel, from inventory or header azimuths."""
    if raw.inventory is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                o = raw.inventory.get_orientation(tr.id, tr.stats.starttime)
            if o.get("azimuth") is not None and o.get("dip") is not None:
                return float(o["azimuth"]), float(o["dip"])
        except Exception:  # noqa: BLE001
            pass
    code = tr.stats.channel[-1]
    if tr.stats.channel in raw.azimuths_deg:
        return float(raw.azimuths_deg[tr.stats.channel]), 0.0
    return {"E": (90.0, 0.0), "N": (0.0, 0.0), "Z": (0.0, -90.0)}.get(code)


def process_record(raw: RawRecord, event: EventInfo, cfg: IngestConfig, adapter: str = "",
                   travel_times: tuple[float, float] | None = None) -> Processed | Skip:
    """One RawRecord -> one canonical window (see the module docstring for the chain).

    travel_times : (P, S) theoretical travel times in s from :func:`theoretical_travel_times`
        when the caller has them (ingest computes them in its main process, so pool workers
        need no TauP table); None: computed here.
    """
    try:
        return _process(raw, event, cfg, adapter, travel_times)
    except _SkipError as e:
        return Skip(raw.origin, e.reason, e.detail)


class _SkipError(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def theoretical_travel_times(raw: RawRecord, ev: EventInfo, cfg: IngestConfig) -> tuple[float, float] | None:
    """(P, S) first-arrival travel times in s from the cached TauP table; None when the
    station is unknown or no arrival exists (process_record then reports why)."""
    sta = _station(raw)
    if sta is None:
        return None
    dist_km = float(epicentral_distance_km(ev.latitude, ev.longitude, sta.latitude, sta.longitude))
    try:
        return first_arrivals(cfg.velocity_model, dist_km, ev.depth_km)
    except ValueError:
        return None


def _arrivals(ev: EventInfo, sta: StationInfo, dist_km: float, velocity_model: str,
              travel_times: tuple[float, float] | None) -> tuple[Any, Any, str]:
    """Step 2 — (P time, S time, ``trace_arrivals_source``): the station's picks, else first
    arrivals from ``travel_times`` (P, S in s after the origin) or the cached TauP table."""
    picks = ev.picks.get(f"{sta.network}.{sta.station}") or ev.picks.get(sta.station) or {}
    tP = picks.get("P")
    tS = picks.get("S")
    if tP is None or tS is None:
        try:
            ttp, tts = travel_times or first_arrivals(velocity_model, dist_km, ev.depth_km)
        except ValueError as e:
            raise _SkipError("no theoretical arrival", str(e)) from None
        tP = tP if tP is not None else ev.origin_time + ttp
        tS = tS if tS is not None else ev.origin_time + tts
    n_picked = int(picks.get("P") is not None) + int(picks.get("S") is not None)
    return tP, tS, {2: "picked", 0: "theoretical"}.get(n_picked, "mixed")


def _check_span(st: Stream, t0, t_end, tP, origin_time) -> None:
    """Step 3 — time sanity on the raw span (cheap; before any processing)."""
    rs = min(tr.stats.starttime for tr in st)
    re_ = max(tr.stats.endtime for tr in st)
    if re_ < t0 or rs > t_end:
        raise _SkipError("time span misses window", f"record {rs}..{re_}, window {t0}..{t_end}")
    if not (t0 <= tP < t_end):
        raise _SkipError("P outside window", f"P at {tP - origin_time:.1f} s after origin")


def _three_components(st: Stream) -> tuple[Stream, float]:
    """Step 4 — cleaning: a light float64 copy of the record (the adapter's stream is not
    modified; its stats may hold large header dicts), identical overlaps merged, gaps and
    missing components refused. Returns (Stream [H1, H2, Z] (E, N or 1, 2), original rate Hz)."""
    st = Stream([Trace(np.array(tr.data, dtype=np.float64),
                       header={k: tr.stats[k] for k in ("network", "station", "location", "channel",
                                                        "starttime", "sampling_rate")}) for tr in st])
    try:
        st.merge(method=1, fill_value=None, interpolation_samples=0)
    except Exception as e:  # noqa: BLE001 - e.g. differing sampling rates of one channel
        raise _SkipError("gap", f"cannot merge segments: {e}") from None
    for tr in st:
        if np.ma.isMaskedArray(tr.data) and np.ma.is_masked(tr.data):
            raise _SkipError("gap", f"{tr.id} has a gap or differing overlap")
        tr.data = np.ma.getdata(tr.data)
    comps = {tr.stats.channel[-1]: tr for tr in st}
    if len(comps) != len(st):
        raise _SkipError("gap", "several segments of one channel")
    has_z = "Z" in comps or "3" in comps
    has_h = ("E" in comps and "N" in comps) or ("1" in comps and "2" in comps)
    if not (has_z and has_h):
        raise _SkipError("missing component", f"channels {sorted(comps)}")
    ztr = comps["Z"] if "Z" in comps else comps["3"]
    htr = [comps["E"], comps["N"]] if ("E" in comps and "N" in comps) else [comps["1"], comps["2"]]
    three = Stream([htr[0], htr[1], ztr])
    fs_orig = min(tr.stats.sampling_rate for tr in three)
    if any(abs(tr.stats.sampling_rate - fs_orig) > 1e-6 for tr in three):
        raise _SkipError("gap", "components sampled at different rates")
    return three, fs_orig


def _check_validity(three: Stream, tP, tS, t_end, s_margin_s: float) -> tuple[Any, Any]:
    """Step 3 (on the cleaned record) — the common span (start, end) of the three channels,
    which must hold P and reach min(S + ``s_margin_s``, window end)."""
    rs = max(tr.stats.starttime for tr in three)
    re_ = min(tr.stats.endtime for tr in three)
    if rs > tP:
        raise _SkipError("starts after P", f"record starts {rs - tP:.2f} s after P")
    need_end = min(tS + s_margin_s, t_end)
    if re_ < need_end:
        raise _SkipError("ends before S + margin", f"record ends {need_end - re_:.2f} s before S + {s_margin_s} s")
    return rs, re_


def _trim(three: Stream, fs: float, a, b, taper_s: float) -> tuple[np.ndarray, Any]:
    """Step 5 — samples between times ``a`` and ``b`` on the Z trace's grid -> ((3, n) float64
    at the original rate ``fs``, time of sample 0), linearly detrended and Tukey-tapered over
    ``taper_s`` at both ends."""
    ref = three[2].stats.starttime
    i_a = int(math.ceil((a - ref) * fs - 1e-6))
    start = ref + i_a / fs
    n = int(math.floor((b - start) * fs + 1e-6)) + 1
    rows = []
    for tr in three:
        i0 = int(round((start - tr.stats.starttime) * fs))
        rows.append(tr.data[max(i0, 0) : max(i0, 0) + n])
    n = min(len(r) for r in rows)
    if n < 10:
        raise _SkipError("time span misses window", "too few samples in the window")
    arr = np.stack([r[:n] for r in rows]).astype(np.float64)
    arr = scipy.signal.detrend(arr, axis=-1, type="linear")  # removes mean and trend
    if taper_s > 0:
        arr *= scipy.signal.windows.tukey(n, alpha=min(1.0, 2.0 * taper_s * fs / n))
    return arr, start


def _to_units(arr: np.ndarray, three: Stream, raw: RawRecord, fs: float, f_min: float, f_max: float,
              water_level_db) -> tuple[np.ndarray, str]:
    """Step 6 — (3, n) samples in ``raw.units`` -> (samples in m/s², ``UNITS_PHYSICAL``), or
    unchanged with ``"counts"`` when counts have no response."""
    nyq = fs / 2.0
    units = raw.units
    if units == "counts" and _has_response(raw):
        pre = (0.5 * f_min, 0.8 * f_min, min(f_max * 1.05, 0.95 * nyq), nyq)
        for i, tr in enumerate(three):
            arr[i] = _to_acceleration(arr[i], tr, raw, fs, pre, water_level_db)
        units = UNITS_PHYSICAL
    elif units in ("cm/s2", "m/s2", "m/s", "cm/s"):
        arr *= 0.01 if units.startswith("cm") else 1.0
        if units.endswith("/s"):
            arr = np.gradient(arr, 1.0 / fs, axis=-1)
        units = UNITS_PHYSICAL
    elif units != "counts":
        raise _SkipError("unknown units", units)
    return arr, units


def _rotate(arr: np.ndarray, orient: list, rotate: bool) -> np.ndarray:
    """Step 7 — (3, n) [H1, H2, Z] with (azimuth, dip) per channel -> (3, n) E, N, Z."""
    nominal = [(90.0, 0.0), (0.0, 0.0)]
    off_nominal = any(o is not None and ((o[0] % 360, o[1]) != nominal[i]) for i, o in enumerate(orient[:2]))
    if rotate or off_nominal or (orient[2] is not None and orient[2][1] != -90.0):
        from obspy.signal.rotate import rotate2zne

        zo = orient[2] or (0.0, -90.0)
        z, nn, e = rotate2zne(arr[2], zo[0], zo[1], arr[0], orient[0][0], orient[0][1],
                              arr[1], orient[1][0], orient[1][1])
        arr = np.stack([e, nn, z])
    return arr


def _band(arr: np.ndarray, f_min: float, f_max: float, fs: float, corners: int) -> np.ndarray:
    """Step 8a — zero-phase Butterworth band-pass (forward and backward) at the rate ``fs``."""
    sos = _bandpass_sos(f_min, f_max, fs, corners)
    return scipy.signal.sosfilt(sos, scipy.signal.sosfilt(sos, arr, axis=-1)[:, ::-1], axis=-1)[:, ::-1]


def _window(arr: np.ndarray, fs: float, start, t0, rate: float, components: str, n_samples: int,
            rs, re_) -> tuple[np.ndarray, int, int]:
    """Steps 8b-9 — (3, n) E, N, Z at ``fs`` starting at ``start`` -> the window
    ((len(components), n_samples) float32 from ``t0`` at ``rate``, zero-padded) and its valid
    range [vs, ve) (the recorded part between ``rs`` and ``re_``)."""
    k0 = int(math.ceil((start - t0) * rate - 1e-6))  # first window sample at or after start
    res = _resample_onto_grid(arr, fs, rate, (t0 + k0 / rate) - start)
    out = np.zeros((len(components), n_samples), dtype=np.float32)
    vs, ve = max(k0, 0), min(k0 + res.shape[1], n_samples)
    for i, chan in enumerate("ENZ"):
        if chan in components and ve > vs:
            out[components.index(chan), vs:ve] = res[i, vs - k0 : ve - k0]
    # the valid range is the recorded part of the window (the raw record, not the margins)
    vs = max(vs, int(math.ceil((rs - t0) * rate - 1e-6)))
    ve = min(ve, int(math.floor((re_ - t0) * rate + 1e-6)) + 1)
    if ve - vs < 1:
        raise _SkipError("time span misses window", "no valid sample in the window")
    if not np.all(np.isfinite(out)):
        raise _SkipError("NaN", "non-finite values after processing")
    return out, vs, ve


def _process(raw: RawRecord, ev: EventInfo, cfg: IngestConfig, adapter: str,
             travel_times: tuple[float, float] | None = None) -> Processed:
    """The chain of the module docstring, one named step per function."""
    w = cfg.window
    if raw.is_building:
        raise _SkipError("building sensor")
    sta = _station(raw)
    if sta is None:
        raise _SkipError("no station coordinates", "neither inventory nor header gives them")
    for tr in raw.stream:
        if not np.all(np.isfinite(np.asarray(tr.data, dtype=np.float64))):
            raise _SkipError("NaN", f"{tr.id} contains NaN/inf")
    dist_km, az, baz = (float(v) for v in geodesics(ev.latitude, ev.longitude, sta.latitude, sta.longitude))
    t0 = ev.origin_time + w.offset_s
    t_end = t0 + w.length_s
    rate = w.sampling_rate_hz
    tP, tS, arr_src = _arrivals(ev, sta, dist_km, cfg.velocity_model, travel_times)
    _check_span(raw.stream, t0, t_end, tP, ev.origin_time)
    three, fs_orig = _three_components(raw.stream)
    rs, re_ = _check_validity(three, tP, tS, t_end, w.s_margin_s)
    orient = [_orientation(raw, tr) for tr in three]
    rotate = any(tr.stats.channel[-1] in "123" for tr in three)
    if rotate and any(o is None for o in orient[:2]):
        raise _SkipError("1/2 channels without azimuth", ", ".join(tr.id for tr in three[:2]))
    fs = fs_orig
    clipped = _clipped(three, max(rs, t0 - cfg.margin_s), min(re_, t_end + cfg.margin_s), raw.units)
    arr, start = _trim(three, fs, max(rs, t0 - cfg.margin_s), min(re_, t_end + cfg.margin_s), cfg.taper_s)
    f_max = min(w.band_max_hz, w.nyquist_fraction * fs / 2.0, w.nyquist_fraction * rate / 2.0)
    f_min = w.band_min_hz
    if f_max <= f_min:
        raise _SkipError("band empty", f"band max {f_max:.1f} Hz <= band min {f_min} Hz")
    arr, units = _to_units(arr, three, raw, fs, f_min, f_max, cfg.water_level_db)
    arr = _rotate(arr, orient, rotate)
    arr = _band(arr, f_min, f_max, fs, cfg.filter_corners)
    out, vs, ve = _window(arr, fs, start, t0, rate, w.components, w.n_samples, rs, re_)
    inst = three[2].stats.channel[:2]
    s = three[2].stats
    meta = {
        "source_id": ev.event_id,
        "source_origin_time": str(ev.origin_time),
        "source_latitude_deg": ev.latitude,
        "source_longitude_deg": ev.longitude,
        "source_depth_km": ev.depth_km,
        "source_magnitude": ev.magnitude,
        "source_magnitude_type": ev.magnitude_type or "",
        "station_network_code": s.network,
        "station_code": s.station,
        "station_location_code": s.location,
        "station_latitude_deg": sta.latitude,
        "station_longitude_deg": sta.longitude,
        "station_elevation_m": sta.elevation_m,
        "trace_channel": inst,
        "trace_sampling_rate_hz": rate,
        "trace_start_time": str(t0),
        "trace_npts": w.n_samples,
        "trace_component_order": w.components,
        "trace_units": units,
        "trace_clipped": bool(clipped),
        "trace_clipping": clipped,
        "trace_P_arrival_sample": int(round((tP - t0) * rate)),
        "trace_S_arrival_sample": int(round((tS - t0) * rate)),
        "trace_arrivals_source": arr_src,
        "trace_valid_start_sample": int(vs),
        "trace_valid_end_sample": int(ve),
        "trace_band_min_hz": f_min,
        "trace_band_max_hz": round(float(f_max), 6),
        "trace_original_sampling_rate_hz": fs_orig,
        "path_ep_distance_km": dist_km,
        "path_azimuth_deg": az,
        "path_back_azimuth_deg": baz,
        "provenance": f"{adapter}:{raw.origin}" if adapter else raw.origin,
    }
    rank = (
        units == UNITS_PHYSICAL,
        len(inst) > 1 and inst[1] in ACCEL_INSTRUMENTS,
        fs_orig,
        int(ve - vs),
    )
    return Processed(out, meta, rank, raw.origin)
