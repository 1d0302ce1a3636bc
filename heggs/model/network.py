"""Stage: model — the composed HEGGS network, its objective, generation and weight files.

``HEGGSNet(cfg)`` holds every trained part, all trained jointly end to end (nothing pretrained):

- spectrogram S (``heggs.model.spectrogram``): fixed power-law compressed complex STFT;
- E_AE / D_AE (``heggs.model.autoencoder``) and the ACM (``heggs.model.acm``);
- τ_θ (condition MLP) and x_θ (latent U-Net, ``heggs.model.unet``);
- η (``heggs.model.diffusion.Eta``).

Decisions where the paper (arXiv 2412.17333) is silent:

- The encoder sees the source spectrogram divided by its own masked RMS, so counts records
  and m/s² records are equally usable as sources; the latent carries shape and timing.
- The decoder outputs a unit-RMS compressed complex spectrogram (shape and phase); the ACM's
  positive gain multiplies its compressed magnitude and sets the absolute level, learnt from
  the target condition (pooled τ_θ embedding, FiLM; ``acm_uses_condition``).
- Loss (:meth:`HEGGSNet.loss`): ``‖X_tgt − D_AE(m_θ(z_t^src, c_tgt, t))‖²`` in compressed
  spectrogram space, averaged over the target's valid frames and bins below its band edge;
  waveforms are zeroed outside their valid range before the STFT, so padded samples cannot
  change the loss. Counts targets (``tgt_physical`` False) are compared after normalising both
  sides by their own masked RMS: they teach shape, never absolute amplitude. A masked
  compressed-magnitude term (``magnitude_loss_weight``, default 1) is added: the complex error
  alone is minimised by predicting zero wherever the phase cannot be predicted, which throws
  the amplitude away (measured in ``benchmarks/model_loss_terms.py``).
- ``same`` items use the target itself as source (plain denoiser); η then gets
  ``c_src = c_tgt``. In the reverse chain the input after the first step is a noised target
  estimate, so η gets ``c_src = c_tgt`` there too; only the first step from a real source
  record gets the real ``c_src``.
- Each item's ``t`` and ``ε`` come from a generator seeded with its ``noise_seed``.
- Generation from a source starts at ``t_start = round(t_start_fraction · T)`` (default 0.6·T);
  without a source it starts from pure noise at ``T``. Output in m/s² (the ACM learnt the level
  from physical-unit records).
- The DDIM chain (``heggs.model.sampling``) lives in the ENCODER's latent space: training inputs are
  ``sqrt(ᾱ)·E_AE(X) + sqrt(1-ᾱ)·ε``. The objective ties only ``D_AE(x_θ)`` to the target, so
  x_θ's x0 lives in the decoder's input space; each intermediate estimate is therefore
  re-projected, ``x0 ← E_AE(D_AE(x0))`` (:meth:`HEGGSNet.reproject`, ``sampler_reproject``), and
  the noise estimate is taken from the chain state, not from η's output (η is internal to m_θ;
  its output is no noised latent). Without both the multi-step chain drifted away from
  memorised targets although the one-step estimate was right; an auxiliary latent term
  (``latent_loss_weight``) helped less (``benchmarks/model_sampling_ablation.py``).

Generator physics options (docs/model_v2.md; all off by default, so older weights behave as
before): ``complex_loss_weight`` / ``mrstft_loss_weight`` (losses that need no matching phase,
the latter on ISTFT(pred)), ``phase_iterations`` / ``phase_init`` / ``output_band_min_hz``
(:meth:`HEGGSNet.synthesize`), ``level_head`` / ``level_uses_source`` (output = unit-RMS shape x
exp(predicted ln RMS), the source's residual as event term; spectral terms then compare shapes)
and ``time_channels`` (time coordinate and TauP P/S steps into x_θ and η).

Performance: ``torch.compile`` is optional — compile the parts in place (``model.unet.compile()``,
``model.eta.compile()``, ...; the seeded noise and masks stay eager). Mixed precision: run
:meth:`HEGGSNet.loss` under ``torch.autocast("cuda", dtype=torch.bfloat16)``; the STFTs, the
ACM's softplus and the loss are computed in float32 regardless. On shared CPUs use
``torch.set_num_threads(1)``: spinning intra-op threads made a step 20x slower here.

Checkpoint concerns (normaliser statistics, provenance, optimiser) belong to ``heggs.train``;
this module only saves and loads weights (safetensors, config JSON in the metadata).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from .acm import AmplitudeCorrection
from .arrivals import N_ETA_TIME, N_UNET_TIME, first_arrivals, fit_arrival_stats, time_channels, unnormalise
from .autoencoder import Decoder, Encoder, crop, pad_to_multiple, rms_normalise
from ..config import ModelConfig, from_dict, to_dict
from .diffusion import (
    Eta,
    alpha_bar_schedule,
    q_sample,
    seeded_noise,
    seeded_timesteps,
    mrstft_loss,
    spectrogram_objective,
)
from .level import LevelHead, log_rms, residual_draw, unit_rms
from .phase import griffin_lim
from .sampling import ddim_sample, ddim_timesteps
from .spectrogram import (
    compressed_stft,
    inverse_compressed_stft,
    mask_waveform,
    masked_rms,
    n_frames,
    n_freqs,
    spectrogram_mask,
)
from .unet import ConditionMLP, LatentUNet

__all__ = ["HEGGSNet", "dummy_batch", "WEIGHTS_FORMAT"]

WEIGHTS_FORMAT = "heggs-model-weights-v1"
#: batch keys :meth:`HEGGSNet.loss` reads (the collated ``heggs.data.PairDataset`` layout)
BATCH_KEYS = (
    "src", "tgt", "src_valid", "tgt_valid", "src_band_max_hz", "tgt_band_max_hz",
    "c_src", "c_tgt", "same", "tgt_physical", "noise_seed",
)  # fmt: skip


class HEGGSNet(nn.Module):
    """Pair-exploiting conditional latent diffusion model for 3-component ground motions.

    Parameters
    ----------
    cfg : ModelConfig (see :func:`heggs.config.model_preset`)
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        _validate(cfg)
        self.cfg = cfg
        c = cfg.n_components
        self.n_freqs = n_freqs(cfg.n_fft)
        self.n_frames = n_frames(cfg.n_samples, cfg.hop_length)
        ae_factor = 2 ** (len(cfg.ae_channels) - 1)
        #: seconds per latent frame (latent frame j is centred at j·latent_frame_s)
        self.latent_frame_s = ae_factor * cfg.hop_length / cfg.sampling_rate_hz
        self.multiple = ae_factor * 2 ** (len(cfg.unet_channels) - 1)
        fp = -(-self.n_freqs // self.multiple) * self.multiple
        tp = -(-self.n_frames // self.multiple) * self.multiple
        #: latent shape (C_z, F', T') of one record
        self.latent_shape = (cfg.latent_channels, fp // ae_factor, tp // ae_factor)

        self.encoder = Encoder(2 * c, tuple(cfg.ae_channels), cfg.latent_channels, cfg.ae_res_blocks)
        self.decoder = Decoder(cfg.latent_channels, tuple(cfg.ae_channels), 2 * c, cfg.ae_res_blocks)
        self.acm = None if not cfg.use_acm else AmplitudeCorrection(
            cfg.latent_channels,
            c,
            self.n_freqs,
            self.n_frames,
            up_levels=len(cfg.ae_channels) - 1,
            ch=cfg.acm_channels,
            dense_depth=cfg.acm_dense_depth,
            attention_blocks=cfg.acm_attention_blocks,
            heads=cfg.acm_heads,
            cond_dim=cfg.cond_dim if cfg.acm_uses_condition else None,
        )
        self.cond = ConditionMLP(cfg.n_conditions, cfg.cond_hidden, cfg.cond_layers, cfg.cond_tokens, cfg.cond_dim)
        self.unet = LatentUNet(
            cfg.latent_channels,
            tuple(cfg.unet_channels),
            cfg.unet_res_blocks,
            tuple(cfg.unet_attention_levels),
            cfg.unet_heads,
            cfg.cond_dim,
            cfg.n_timesteps,
            cfg.dropout,
            extra_channels=N_UNET_TIME if cfg.time_channels else 0,
        )
        self.eta = Eta(cfg.latent_channels, cfg.eta_channels, cfg.eta_blocks, cfg.n_conditions, cfg.n_timesteps, cfg.eta_uses_c_src,
                       extra_channels=N_ETA_TIME if cfg.time_channels else 0)
        #: explicit per-component log level (``cfg.level_head``; heggs.model.level)
        self.level = LevelHead(cfg.cond_dim, c, cfg.cond_hidden) if cfg.level_head else None
        # float64 table kept off the state dict (it follows from the config)
        self._alpha_bar = alpha_bar_schedule(cfg.schedule, cfg.n_timesteps)

    # ------------------------------------------------------------------ construction / io
    @classmethod
    def from_config_dict(cls, data: dict[str, Any]) -> "HEGGSNet":
        """Build from a (possibly partial) ModelConfig dict, e.g. a checkpoint's JSON."""
        return cls(from_dict(ModelConfig, data))

    def config_dict(self) -> dict[str, Any]:
        """The resolved ModelConfig as a JSON-serialisable dict."""
        return to_dict(self.cfg)

    def save_weights(self, path: str | Path) -> None:
        """Write all weights to a safetensors file; the config JSON goes in its metadata."""
        from safetensors.torch import save_file

        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        meta = {"format": WEIGHTS_FORMAT, "model_config": json.dumps(self.config_dict(), sort_keys=True)}
        save_file(state, str(path), metadata=meta)

    def load_weights(self, path: str | Path, strict: bool = True) -> None:
        """Load weights written by :meth:`save_weights` (warns if the stored config differs)."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        mine = json.loads(json.dumps(self.config_dict(), sort_keys=True))
        stored = json.loads(meta.get("model_config", "{}"))
        # keys a newer HEGGS added are absent from older files: compare what the file states
        if "model_config" in meta and any(mine.get(k) != v for k, v in stored.items()):
            warnings.warn(f"{path}: stored model config differs from this model's config", stacklevel=2)
        device = next(self.parameters()).device
        self.load_state_dict(load_file(str(path), device=str(device)), strict=strict)

    @classmethod
    def from_weights(cls, path: str | Path, map_location: str | torch.device = "cpu") -> "HEGGSNet":
        """Build the model from the config stored in a weights file and load its weights."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if "model_config" not in meta:
            raise ValueError(f"{path} has no HEGGS model config in its metadata")
        model = cls.from_config_dict(json.loads(meta["model_config"])).to(map_location)
        model.load_weights(path)
        return model

    def n_parameters(self, trainable_only: bool = True) -> int:
        """Number of (trainable) parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per part: encoder, decoder, acm, cond (τ_θ), unet (x_θ), eta."""
        names = ("encoder", "decoder", "acm", "cond", "unet", "eta", "level")
        parts = {k: getattr(self, k) for k in names if getattr(self, k) is not None}
        return {k: sum(p.numel() for p in m.parameters()) for k, m in parts.items()}

    # ------------------------------------------------------------------ building blocks
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def spectrogram(self, waveforms: torch.Tensor) -> torch.Tensor:
        """S: waveforms (B, C, n_samples) store units -> (B, 2C, F, T) compressed STFT."""
        c = self.cfg
        return compressed_stft(
            waveforms, n_fft=c.n_fft, hop_length=c.hop_length, alpha=c.compression_alpha, scale=c.amplitude_scale, window=c.window
        )

    def waveform(self, spec: torch.Tensor) -> torch.Tensor:
        """S^-1: (B, 2C, F, T) compressed STFT -> (B, C, n_samples) float32 store units."""
        c = self.cfg
        return inverse_compressed_stft(
            spec,
            n_samples=c.n_samples,
            n_fft=c.n_fft,
            hop_length=c.hop_length,
            alpha=c.compression_alpha,
            scale=c.amplitude_scale,
            window=c.window,
        )

    def synthesize(self, spec: torch.Tensor, seeds: Sequence[int] | None = None) -> torch.Tensor:
        """Waveforms from decoded spectrograms: (B, 2C, F, T) compressed STFT -> (B, C, n_samples) store units.

        With ``cfg.phase_iterations`` > 0, that many fast Griffin-Lim iterations
        (:func:`heggs.model.phase.griffin_lim`) run with magnitude ``|P|^(1/alpha)``, started
        from the decoded phase (``cfg.phase_init = "model"``) or from a random phase drawn from
        each row's seed (``"random"``; ``seeds`` : B ints); otherwise the exact inverse
        (:meth:`waveform`). With ``cfg.output_band_min_hz`` > 0 the waveform is then high-passed
        there (:meth:`_high_pass`).
        """
        c = self.cfg
        if c.phase_iterations <= 0:
            return self._high_pass(self.waveform(spec))
        b, c2, f, t = spec.shape
        with torch.autocast(device_type=spec.device.type, enabled=False):
            z = torch.view_as_complex(spec.float().reshape(b, c2 // 2, 2, f, t).permute(0, 1, 3, 4, 2).contiguous())
            z = z.reshape(b * (c2 // 2), f, t)
            if c.compression_alpha != 1.0:
                z = z * z.abs().pow(1.0 / c.compression_alpha - 1.0)
            if c.phase_init == "random":
                if seeds is None or len(seeds) != b:
                    raise ValueError("phase_init='random' needs one seed per row")
                gens = [torch.Generator().manual_seed((int(s) * 7919 + 17) & 0xFFFF_FFFF) for s in seeds]
                ph = torch.stack([2 * torch.pi * torch.rand(c2 // 2, f, t, generator=g) for g in gens]).reshape(-1, f, t)
                z = torch.polar(z.abs(), ph.to(z.device))
            elif c.phase_init != "model":
                raise ValueError(f"phase_init must be 'model' or 'random', got {c.phase_init!r}")
            w = griffin_lim(z, c.phase_iterations, n_samples=c.n_samples, n_fft=c.n_fft, hop_length=c.hop_length, window=c.window)
            return self._high_pass((w * c.amplitude_scale).reshape(b, c2 // 2, c.n_samples))

    def _high_pass(self, w: torch.Tensor) -> torch.Tensor:
        """Zero-phase 4-corner Butterworth high-pass at ``cfg.output_band_min_hz`` (off at 0):
        the store's records were band-passed the same way (docs/data-contract.md), while the
        STFT's 0.78-1.56 Hz bins cannot make a sharp band edge. w : (B, C, n) -> (B, C, n)."""
        fc = self.cfg.output_band_min_hz
        if fc <= 0:
            return w
        from scipy.signal import butter, sosfiltfilt

        sos = butter(4, fc, btype="highpass", fs=self.cfg.sampling_rate_hz, output="sos")
        y = sosfiltfilt(sos, w.detach().cpu().double().numpy(), axis=-1)
        return torch.as_tensor(y.copy(), dtype=torch.float32, device=w.device)

    # ------------------------------------------------------------------ time and level paths
    def arrivals_from_conditions(self, c: torch.Tensor) -> torch.Tensor:
        """TauP first P and S arrivals (B, 2) s after the window start, from normalised conditions (B, 11).

        Raw distance and depth are recovered with ``cfg.arrival_stats`` (recorded from the
        training batches); a model without them needs explicit ``arrivals``.
        """
        st = self.cfg.arrival_stats
        if not st:
            raise ValueError("this model has no arrival_stats (recorded in training): pass arrivals (B, 2) seconds")
        dist, dep = unnormalise(c, st)
        arr = first_arrivals(dist, dep, st.get("window_offset_s", 0.0), self.cfg.time_channels_model)
        return torch.as_tensor(arr, dtype=torch.float32, device=c.device)

    def time_maps(self, arr_tgt: torch.Tensor, arr_src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Extra input maps of x_θ (B, 3, F', T') and η (B, 5, F', T') from target and source
        arrivals (B, 2) s (:func:`heggs.model.arrivals.time_channels`; constant along frequency)."""
        _, fp, tp = self.latent_shape
        length = self.cfg.n_samples / self.cfg.sampling_rate_hz
        w = self.latent_frame_s
        both = time_channels(torch.cat([arr_tgt, arr_src], dim=1), tp, w, length, w)
        eta_extra = both[:, :, None, :].expand(-1, -1, fp, -1)
        return eta_extra[:, :N_UNET_TIME], eta_extra

    def _record_arrival_stats(self, g: dict[str, torch.Tensor], c_tgt: torch.Tensor) -> None:
        """Record ``cfg.arrival_stats`` from the first training batch that allows it (saved with the config)."""
        if self.cfg.arrival_stats or not all(k in g for k in ("tgt_distance_km", "tgt_depth_km", "tgt_arrivals_s")):
            return
        stats = fit_arrival_stats(c_tgt, g["tgt_distance_km"], g["tgt_depth_km"], g["tgt_arrivals_s"], self.cfg.time_channels_model)
        if stats is not None:
            self.cfg.arrival_stats = stats

    def predicted_level(self, pooled: torch.Tensor) -> torch.Tensor:
        """Level head: pooled τ_θ(c) (B, E) -> (B, C) ln(RMS / amplitude_scale) per component."""
        if self.level is None:
            raise ValueError("this model has no level head (cfg.level_head is off)")
        return self.level(pooled)

    def measured_level(self, waveforms: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """ln(RMS / amplitude_scale) per component over the valid range: (B, C, n) store units -> (B, C)."""
        return log_rms(waveforms.float() / self.cfg.amplitude_scale, valid)

    def apply_level(self, waveforms: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Unit-RMS shape times ``amplitude_scale · exp(level)``: (B, C, n), (B, C) -> (B, C, n) store units."""
        return unit_rms(waveforms.float()) * (self.cfg.amplitude_scale * torch.exp(level.float()))[..., None]

    def mask(self, valid: torch.Tensor, band_max_hz: torch.Tensor) -> torch.Tensor:
        """(B, 1, F, T) loss mask from valid ranges (B, 2) samples and band edges (B,) Hz."""
        c = self.cfg
        return spectrogram_mask(
            valid, band_max_hz, n_samples=c.n_samples, n_fft=c.n_fft, hop_length=c.hop_length, sampling_rate_hz=c.sampling_rate_hz
        )

    def _check_waveforms(self, w: torch.Tensor, name: str) -> None:
        want = (self.cfg.n_components, self.cfg.n_samples)
        if w.ndim != 3 or tuple(w.shape[1:]) != want:
            raise ValueError(f"{name} must be (B, {want[0]}, {want[1]}) for this model, got {tuple(w.shape)}")

    def _full_valid(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        valid = torch.tensor([[0, self.cfg.n_samples]] * b, dtype=torch.int64, device=self.device)
        band = torch.full((b,), self.cfg.sampling_rate_hz / 2, dtype=torch.float32, device=self.device)
        return valid, band

    def spectrogram_and_mask(
        self, waveforms: torch.Tensor, valid: torch.Tensor, band_max_hz: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Compressed STFT of the waveforms zeroed outside their valid range, and its mask."""
        return self.spectrogram(mask_waveform(waveforms, valid)), self.mask(valid, band_max_hz)

    def encode(self, spec: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """E_AE: (B, 2C, F, T) compressed STFT (normalised here by its masked RMS) -> (B, C_z, F', T')."""
        x = spec / masked_rms(spec, mask)
        return self.encoder(pad_to_multiple(x, self.multiple)).float()

    def decode(self, z: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """D_AE + ACM: latent (B, C_z, F', T'), pooled condition (B, E) -> (B, 2C, F, T) compressed STFT.

        The decoder's unit-RMS complex spectrogram times the ACM's positive gain (per component,
        applied to real and imaginary parts alike, i.e. to the compressed magnitude). Without
        an ACM (``cfg.use_acm`` False, an ablation) the decoder's raw output is returned.
        """
        out = crop(self.decoder(z), self.n_freqs, self.n_frames).float()
        if self.acm is None:
            return out
        shape = rms_normalise(out)
        gain = self.acm(z, pooled if self.cfg.acm_uses_condition else None)
        return shape * gain.repeat_interleave(2, dim=1)

    def reproject(self, z: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """x0 <- E_AE(D_AE(x0)): a latent (B, C_z, F', T') mapped onto the encoder's latent space.

        The full output spectrogram (decoder x ACM gain, pooled target condition (B, E)) is
        encoded again, over all bins, as a source record would be. The objective constrains
        only D_AE(x_θ), so x_θ's raw x0 can lie off the latents E_AE(X) that noised inputs are
        built from in training; the DDIM chain re-noises the projected estimate instead
        (``cfg.sampler_reproject``).
        """
        x = self.decode(z, pooled)
        valid, band = self._full_valid(z.shape[0])
        return self.encode(x, self.mask(valid, band))

    def m_theta(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        c_tgt: torch.Tensor,
        c_src: torch.Tensor,
        tokens: torch.Tensor,
        pooled: torch.Tensor,
        unet_extra: torch.Tensor | None = None,
        eta_extra: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """m_θ(x, c, t) = x_θ(η(x, c_tgt, c_src, t), c_tgt, t).

        x : (B, C_z, F', T') noised latent; t : (B,) int; c_* : (B, n_cond) normalised conditions;
        tokens, pooled : τ_θ(c_tgt); unet_extra, eta_extra : time maps (:meth:`time_maps`,
        with ``cfg.time_channels``). Returns (η output, x0 estimate), both (B, C_z, F', T').
        """
        ab = self._alpha_bar.to(x.device)[t].float()
        y = self.eta(x, c_tgt, c_src, t, eta_extra)
        return y, self.unet.predict_x0(y, t, ab, tokens, pooled, unet_extra).float()

    # ------------------------------------------------------------------ objective
    def objective(
        self, pred: torch.Tensor, x_tgt: torch.Tensor, m_tgt: torch.Tensor, physical: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Per-item spectrogram-space loss of a prediction with this model's settings.

        pred, x_tgt : (B, 2C, F, T) compressed STFT; m_tgt : (B, 1, F, T) mask; physical : (B,)
        bool. Returns ``(per_item (B,), terms)`` (:func:`heggs.model.diffusion.spectrogram_objective`):
        the masked complex term plus ``magnitude_loss_weight`` x the magnitude term; the
        optional latent term is not included (it has no meaning for a spectrogram predictor).
        """
        shape_only = self.cfg.shape_only_targets or self.cfg.level_head
        if shape_only:  # every target teaches shape only (normalised-waveform baselines; level head: level apart)
            physical = torch.zeros_like(physical, dtype=torch.bool)
        return spectrogram_objective(
            pred, x_tgt, m_tgt, physical, self.cfg.magnitude_loss_weight,
            self.cfg.counts_shape_only or shape_only, self.cfg.complex_loss_weight,
        )

    def waveform_objective(
        self, pred: torch.Tensor, tgt: torch.Tensor, valid: torch.Tensor, band_max_hz: torch.Tensor, physical: torch.Tensor
    ) -> torch.Tensor:
        """Per-item multi-resolution STFT loss of ISTFT(pred) against the target waveform.

        pred : (B, 2C, F, T) compressed STFT; tgt : (B, C, n) store units; valid (B, 2);
        band_max_hz (B,); physical (B,) bool. Shapes (each component at unit RMS over the valid
        range) are compared when the level head sets the level or the target is in counts;
        otherwise waveforms divided by ``amplitude_scale``. Returns (B,) float32.
        """
        c = self.cfg
        w = self.waveform(pred)
        shape = torch.ones_like(physical, dtype=torch.bool) if (c.level_head or c.shape_only_targets) else ~physical.bool()
        sw = shape[:, None, None]
        w = torch.where(sw, unit_rms(mask_waveform(w, valid), valid), w / c.amplitude_scale)
        t = torch.where(sw, unit_rms(mask_waveform(tgt.float(), valid), valid), tgt.float() / c.amplitude_scale)
        return mrstft_loss(w, t, valid, band_max_hz, sampling_rate_hz=c.sampling_rate_hz, ffts=tuple(c.mrstft_ffts), window=c.window)

    @property
    def output_units(self) -> str:
        """``"m/s2"``, or ``"normalised"`` for a model trained on shapes only (arbitrary level)."""
        return "normalised" if self.cfg.shape_only_targets else "m/s2"

    def autoencoder_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Reconstruction objective of the autoencoder alone: ``‖X_tgt − D_AE(E_AE(X_tgt))‖²``.

        The same masked spectrogram objective as :meth:`loss` (counts targets shape-only), with
        the ACM conditioned on τ_θ(c_tgt); no diffusion. Used by the "AE pretrained" ablation
        (``TrainConfig.ae_pretrain_steps``) before E_AE, D_AE and the ACM are frozen.
        batch : as :meth:`loss`. Returns (scalar loss, logs of floats).
        """
        dev = self.device
        tgt = batch["tgt"].to(dev)
        self._check_waveforms(tgt, "batch['tgt']")
        x_tgt, m_tgt = self.spectrogram_and_mask(tgt, batch["tgt_valid"].to(dev), batch["tgt_band_max_hz"].to(dev))
        _, pooled = self.cond(batch["c_tgt"].to(dev).float())
        pred = self.decode(self.encode(x_tgt, m_tgt), pooled)
        per_item, terms = self.objective(pred, x_tgt, m_tgt, batch["tgt_physical"].to(dev).bool())
        loss = per_item.mean()
        logs = {"loss_ae_" + k: float(v.detach().mean()) for k, v in terms.items()}
        logs["loss"] = logs["loss_objective"] = float(loss.detach())
        return loss, logs

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        """Parameters of E_AE, D_AE and the ACM (frozen after ``ae_pretrain_steps``)."""
        parts = [self.encoder, self.decoder] + ([self.acm] if self.acm is not None else [])
        return [p for m in parts for p in m.parameters()]

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """The pair-exploiting masked objective on one batch (see module docstring).

        batch : the collated ``PairDataset`` dict (``src``/``tgt`` (B, C, n) store units,
        ``*_valid`` (B, 2), ``*_band_max_hz`` (B,), ``c_src``/``c_tgt`` (B, 11), ``same``,
        ``*_physical`` (B,) bool, ``noise_seed`` (B,) int64).
        Returns (scalar loss, logs of floats).
        """
        dev = self.device
        g = {k: (v.to(dev) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        missing = [k for k in BATCH_KEYS if k not in g]
        if missing:
            raise KeyError(f"batch lacks {missing}")
        tgt, c_tgt = g["tgt"], g["c_tgt"].float()
        self._check_waveforms(tgt, "batch['tgt']")
        same = g["same"].bool()
        s2 = same[:, None]
        src = torch.where(s2[:, :, None], tgt, g["src"])
        src_valid = torch.where(s2, g["tgt_valid"], g["src_valid"])
        src_band = torch.where(same, g["tgt_band_max_hz"], g["src_band_max_hz"])
        c_src = torch.where(s2, c_tgt, g["c_src"].float())
        seeds = [int(s) for s in g["noise_seed"].tolist()]
        t = seeded_timesteps(seeds, self.cfg.n_timesteps, dev)
        eps = seeded_noise(seeds, self.latent_shape, dev, skip_timestep=True)

        cfg = self.cfg
        unet_extra = eta_extra = None
        if cfg.time_channels:
            for k in ("tgt_arrivals_s", "src_arrivals_s"):
                if k not in g:
                    raise KeyError(f"time_channels needs batch[{k!r}] (heggs.data.PairDataset provides it)")
            self._record_arrival_stats(g, c_tgt)
            arr_tgt = g["tgt_arrivals_s"].float()
            arr_src = torch.where(s2, arr_tgt, g["src_arrivals_s"].float())
            unet_extra, eta_extra = self.time_maps(arr_tgt, arr_src)

        x_src, m_src = self.spectrogram_and_mask(src, src_valid, src_band)
        z0 = self.encode(x_src, m_src)
        z_t = q_sample(z0, self._alpha_bar.to(dev)[t].float(), eps)
        tokens, pooled = self.cond(c_tgt)
        _, x0 = self.m_theta(z_t, t, c_tgt, c_src, tokens, pooled, unet_extra, eta_extra)
        pred = self.decode(x0, pooled)

        x_tgt, m_tgt = self.spectrogram_and_mask(tgt, g["tgt_valid"], g["tgt_band_max_hz"])
        physical = g["tgt_physical"].bool()
        per_item, terms = self.objective(pred, x_tgt, m_tgt, physical)
        if cfg.mrstft_loss_weight > 0:
            wl = self.waveform_objective(pred, tgt, g["tgt_valid"], g["tgt_band_max_hz"], physical)
            terms["mrstft"] = wl
            per_item = per_item + cfg.mrstft_loss_weight * wl
        if self.level is not None:
            level = self.predicted_level(pooled)
            if cfg.level_uses_source:
                src_phys = torch.where(same, physical, g["src_physical"].bool()) if "src_physical" in g else physical
                use = (~same) & src_phys & residual_draw(seeds).to(dev)
                _, pooled_src = self.cond(c_src)
                resid = self.measured_level(src, src_valid) - self.predicted_level(pooled_src)
                level = level + torch.where(use[:, None], resid, torch.zeros_like(resid))
                src_frac = float(use.float().mean())
            lvl = (level - self.measured_level(tgt, g["tgt_valid"])).square().mean(dim=1) * physical.float()
            terms["level"] = lvl
            per_item = per_item + cfg.level_loss_weight * lvl
        logs: dict[str, float] = {"loss_" + k: float(v.detach().mean()) for k, v in terms.items()}
        if self.level is not None and cfg.level_uses_source:
            logs["level_src_frac"] = src_frac
        loss = per_item.mean()
        if self.cfg.latent_loss_weight > 0:
            z_tgt = self.encode(x_tgt, m_tgt)
            if self.cfg.latent_target_stop_grad:
                z_tgt = z_tgt.detach()
            lat = (x0 - z_tgt).square().mean(dim=(1, 2, 3)).mean()
            loss = loss + self.cfg.latent_loss_weight * lat
            logs["loss_latent"] = float(lat.detach())
        with torch.no_grad():
            pd = per_item.detach()
            logs["loss"] = float(loss.detach())
            logs["loss_objective"] = float(pd.mean())  # spectrogram-space terms only (no latent term)
            if bool(physical.any()):
                logs["loss_physical"] = float(pd[physical].mean())
            if bool((~physical).any()):
                logs["loss_counts"] = float(pd[~physical].mean())
            logs["frac_same"] = float(same.float().mean())
            logs["t_mean"] = float(t.float().mean())
            logs["mask_frac"] = float(m_tgt.mean())
        return loss, logs

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(
        self,
        c_tgt: torch.Tensor,
        seeds: Sequence[int],
        src: torch.Tensor | None = None,
        c_src: torch.Tensor | None = None,
        steps: int | None = None,
        t_start: int | None = None,
        *,
        src_valid: torch.Tensor | None = None,
        src_band_max_hz: torch.Tensor | None = None,
        progress: bool = False,
        reproject: bool | None = None,
        arrivals: torch.Tensor | None = None,
        src_arrivals: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Generate target waveforms with the deterministic seeded DDIM sampler.

        c_tgt : (B, n_cond) normalised target conditions
        seeds : B ints, one per row (a row's output depends only on its inputs and seed)
        src : (B, C, n_samples) source records in store units (m/s² or counts), or None
            (then generation starts from pure noise)
        c_src : (B, n_cond) normalised source conditions; required with ``src``
        steps : DDIM steps (default ``cfg.sampler_steps``)
        t_start : start level with a source (default ``round(cfg.t_start_fraction · T)``);
            without a source only ``None`` or ``T`` are accepted
        src_valid : (B, 2) valid ``[start, end)`` samples of ``src`` (default: all)
        src_band_max_hz : (B,) upper band edges of ``src`` in Hz (default: Nyquist)
        reproject : re-project intermediate x0 estimates onto the encoder's latent space
            (default ``cfg.sampler_reproject``; see :meth:`reproject`)
        arrivals, src_arrivals : (B, 2) TauP P and S times of the target / source station in s
            after the window start (``cfg.time_channels`` only; default: computed from the
            conditions, :meth:`arrivals_from_conditions`)
        Returns (B, C, n_samples) float32 waveforms in m/s². With ``cfg.phase_iterations`` the
        waveform comes from :meth:`synthesize`; with ``cfg.level_head`` its level per component
        is the head's (plus the source's residual with ``cfg.level_uses_source`` and a source).
        """
        cfg = self.cfg
        dev = self.device
        c_tgt = torch.as_tensor(c_tgt, dtype=torch.float32, device=dev)
        if c_tgt.ndim != 2 or c_tgt.shape[1] != cfg.n_conditions:
            raise ValueError(f"c_tgt must be (B, {cfg.n_conditions}), got {tuple(c_tgt.shape)}")
        b = c_tgt.shape[0]
        seeds = [int(s) for s in seeds]
        if len(seeds) != b:
            raise ValueError(f"need one seed per target row: {len(seeds)} seeds for {b} rows")
        steps = cfg.sampler_steps if steps is None else int(steps)
        T = cfg.n_timesteps
        if src is None:
            if c_src is not None:
                raise ValueError("c_src given without src")
            if t_start not in (None, T):
                raise ValueError(f"without a source record generation starts from pure noise at T={T}; t_start={t_start}")
            t0 = T
        else:
            if c_src is None:
                raise ValueError("generation from a source record needs c_src (the source station's condition)")
            src = torch.as_tensor(src, dtype=torch.float32, device=dev)
            self._check_waveforms(src, "src")
            c_src = torch.as_tensor(c_src, dtype=torch.float32, device=dev)
            if src.shape[0] != b or tuple(c_src.shape) != tuple(c_tgt.shape):
                raise ValueError(f"src {tuple(src.shape)} / c_src {tuple(c_src.shape)} do not match c_tgt {tuple(c_tgt.shape)}")
            t0 = int(round(cfg.t_start_fraction * T)) if t_start is None else int(t_start)
            if not 1 <= t0 <= T:
                raise ValueError(f"t_start must be in 1..{T}, got {t0}")

        was_training = self.training
        self.eval()
        try:
            eps = seeded_noise(seeds, self.latent_shape, dev)
            ab = self._alpha_bar.to(dev)
            if src is None:
                z = eps
            else:
                fv, fb = self._full_valid(b)
                valid = fv if src_valid is None else torch.as_tensor(src_valid, dtype=torch.int64, device=dev)
                band = fb if src_band_max_hz is None else torch.as_tensor(src_band_max_hz, dtype=torch.float32, device=dev)
                x_src, m_src = self.spectrogram_and_mask(src, valid, band)
                z = q_sample(self.encode(x_src, m_src), ab[torch.full((b,), t0, device=dev)].float(), eps)
            tokens, pooled = self.cond(c_tgt)
            maps_first = maps_later = (None, None)
            if cfg.time_channels:
                a_tgt = self.arrivals_from_conditions(c_tgt) if arrivals is None else torch.as_tensor(
                    arrivals, dtype=torch.float32, device=dev)
                if src is not None:
                    a_src = self.arrivals_from_conditions(c_src) if src_arrivals is None else torch.as_tensor(
                        src_arrivals, dtype=torch.float32, device=dev)
                    maps_first = self.time_maps(a_tgt, a_src)
                maps_later = self.time_maps(a_tgt, a_tgt)
                if src is None:
                    maps_first = maps_later

            def x0_fn(y: torch.Tensor, t: int, first: bool) -> torch.Tensor:
                tt = torch.full((b,), t, dtype=torch.int64, device=dev)
                cs = c_src if (first and src is not None) else c_tgt
                ue, ee = maps_first if first else maps_later
                return self.m_theta(y, tt, c_tgt, cs, tokens, pooled, ue, ee)[1]

            reproject = cfg.sampler_reproject if reproject is None else bool(reproject)
            z0 = ddim_sample(
                x0_fn, z, self._alpha_bar, ddim_timesteps(t0, steps), progress=progress,
                project=(lambda x0: self.reproject(x0, pooled)) if reproject else None, noise_init=eps,
            )
            w = self.synthesize(self.decode(z0, pooled), seeds).float()
            if self.level is None:
                return w
            level = self.predicted_level(pooled)
            if src is not None and cfg.level_uses_source:
                level = level + self.measured_level(src, valid) - self.predicted_level(self.cond(c_src)[1])
            return self.apply_level(w, level)
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ cost
    def flops_per_sample(self, kind: str = "train") -> int:
        """Measured FLOPs for one record (torch.utils.flop_counter on a batch of 1).

        kind : ``"train"`` (forward + backward of :meth:`loss`), ``"forward"`` (forward of
        :meth:`loss`), or ``"generate"`` (one :meth:`generate` call with ``cfg.sampler_steps``).
        Counts matmuls/convolutions (what FlopCounterMode counts); STFTs are not included.
        """
        from torch.utils.flop_counter import FlopCounterMode

        batch = dummy_batch(self.cfg, 1, device=self.device)
        counter = FlopCounterMode(display=False)
        if kind in ("train", "forward"):
            with counter:
                loss, _ = self.loss(batch)
                if kind == "train":
                    loss.backward()
            if kind == "train":
                self.zero_grad(set_to_none=True)
        elif kind == "generate":
            with counter:
                self.generate(batch["c_tgt"], [0], arrivals=batch["tgt_arrivals_s"] if self.cfg.time_channels else None)
        else:
            raise ValueError(f"kind must be 'train', 'forward' or 'generate', got {kind!r}")
        return int(counter.get_total_flops())


def _validate(cfg: ModelConfig) -> None:
    """Clear errors for configurations that cannot build a working model."""
    problems = []
    if cfg.n_samples < cfg.n_fft:
        problems.append(f"n_samples={cfg.n_samples} shorter than n_fft={cfg.n_fft}")
    if not 0 < cfg.hop_length <= cfg.n_fft // 2:
        problems.append(f"hop_length={cfg.hop_length} must be in 1..n_fft/2={cfg.n_fft // 2} for an exact inverse STFT")
    if not 0 < cfg.compression_alpha <= 1:
        problems.append(f"compression_alpha={cfg.compression_alpha} must be in (0, 1]")
    if not cfg.amplitude_scale > 0:
        problems.append(f"amplitude_scale={cfg.amplitude_scale} must be > 0")
    if not cfg.ae_channels or not cfg.unet_channels:
        problems.append("ae_channels and unet_channels need at least one entry")
    if cfg.acm_channels % cfg.acm_heads:
        problems.append(f"acm_channels={cfg.acm_channels} not divisible by acm_heads={cfg.acm_heads}")
    bad = [c for c in cfg.unet_channels if c % cfg.unet_heads]
    if bad:
        problems.append(f"unet_channels {bad} not divisible by unet_heads={cfg.unet_heads}")
    if cfg.cond_layers < 2:
        problems.append(f"cond_layers={cfg.cond_layers} must be >= 2")
    if cfg.schedule not in ("cosine", "linear"):
        problems.append(f"schedule={cfg.schedule!r} must be 'cosine' or 'linear'")
    if cfg.n_timesteps < 1 or cfg.sampler_steps < 1:
        problems.append("n_timesteps and sampler_steps must be >= 1")
    if not 0 < cfg.t_start_fraction <= 1:
        problems.append(f"t_start_fraction={cfg.t_start_fraction} must be in (0, 1]")
    if cfg.phase_iterations < 0 or cfg.phase_init not in ("model", "random"):
        problems.append(f"phase_iterations={cfg.phase_iterations} must be >= 0 and phase_init={cfg.phase_init!r} "
                        "'model' or 'random'")
    if cfg.mrstft_loss_weight > 0 and (not cfg.mrstft_ffts or min(cfg.mrstft_ffts) < 8 or max(cfg.mrstft_ffts) > cfg.n_samples):
        problems.append(f"mrstft_ffts={cfg.mrstft_ffts} must be STFT sizes in 8..n_samples")
    if not 0 <= cfg.output_band_min_hz < cfg.sampling_rate_hz / 2:
        problems.append(f"output_band_min_hz={cfg.output_band_min_hz} must be in [0, Nyquist)")
    if cfg.level_uses_source and not cfg.level_head:
        problems.append("level_uses_source needs level_head")
    if problems:
        raise ValueError("invalid ModelConfig: " + "; ".join(problems))


def dummy_batch(cfg: ModelConfig, batch_size: int, seed: int = 0, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """A synthetic batch in the ``PairDataset`` layout (for tests, benchmarks, FLOP counts).

    Waveforms are decaying noise bursts in m/s² scaled like ``cfg.amplitude_scale``; every
    other item is a ``same`` pair and every third is in counts. The raw distance/depth and the
    arrival times (time channels) follow the normalised conditions (distance = 60 + 30·c km,
    depth = 10 + 4·c km, P/S at hypocentral distance / 6 and / 3.5 km/s). Not data.
    """
    gen = torch.Generator().manual_seed(seed)
    n, c = cfg.n_samples, cfg.n_components
    tt = torch.arange(n, dtype=torch.float32) / cfg.sampling_rate_hz

    def burst() -> torch.Tensor:
        onset = float(torch.rand((), generator=gen)) * n / cfg.sampling_rate_hz * 0.3
        env = torch.where(tt >= onset, torch.exp(-(tt - onset).clamp_min(0) / 3.0), torch.zeros(()))
        return torch.randn(batch_size, c, n, generator=gen) * env * cfg.amplitude_scale

    b = batch_size
    idx = torch.arange(b)
    w_src, w_tgt = burst(), burst()  # draw order as before: src, tgt, c_src, c_tgt
    c_src = torch.randn(b, cfg.n_conditions, generator=gen)
    c_tgt = torch.randn(b, cfg.n_conditions, generator=gen)
    # raw distance / depth consistent with the normalised conditions (distance = 60 + 30·c,
    # depth = 10 + 4·c) and rough arrival times, for the time channels
    from ..condition import FEATURE_NAMES

    i_d, i_h = FEATURE_NAMES.index("path_ep_distance_km"), FEATURE_NAMES.index("source_depth_km")

    def raw(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d, h = (60 + 30 * c[:, i_d]).clamp_min(1.0), (10 + 4 * c[:, i_h]).clamp_min(0.0)
        r = (d.square() + h.square()).sqrt()
        return d, h, torch.stack([r / 6.0, r / 3.5], dim=1)

    if cfg.n_conditions == len(FEATURE_NAMES):
        d_t, h_t, a_t = raw(c_tgt)
        _, _, a_s = raw(c_src)
    else:
        d_t, h_t, a_t, a_s = torch.full((b,), 50.0), torch.full((b,), 10.0), torch.full((b, 2), 8.0), torch.full((b, 2), 8.0)
    return {
        k: v.to(device)
        for k, v in {
            "src": w_src,
            "tgt": w_tgt,
            "src_valid": torch.tensor([[0, n]] * b, dtype=torch.int64),
            "tgt_valid": torch.tensor([[0, n]] * b, dtype=torch.int64),
            "src_band_max_hz": torch.full((b,), cfg.sampling_rate_hz * 0.45),
            "tgt_band_max_hz": torch.full((b,), cfg.sampling_rate_hz * 0.45),
            "c_src": c_src,
            "c_tgt": c_tgt,
            "tgt_arrivals_s": a_t.float(),
            "src_arrivals_s": a_s.float(),
            "tgt_distance_km": d_t.float(),
            "tgt_depth_km": h_t.float(),
            "same": idx % 2 == 1,
            "src_physical": idx % 3 != 2,
            "tgt_physical": idx % 3 != 2,
            "src_index": idx,
            "tgt_index": idx + b,
            "noise_seed": idx + 1000 * seed,
        }.items()
    }
