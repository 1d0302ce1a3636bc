"""Stage: model — the HEGGS network and its pieces.

:mod:`~heggs.model.spectrogram` (STFT and its exact inverse), :mod:`~heggs.model.autoencoder`,
:mod:`~heggs.model.acm` (amplitude correction), :mod:`~heggs.model.unet` (latent U-Net and
condition MLP), :mod:`~heggs.model.diffusion` (noising, η, objective), :mod:`~heggs.model.sampling`
(DDIM), :mod:`~heggs.model.phase` (decode-time phase step), :mod:`~heggs.model.level` (explicit
log level), :mod:`~heggs.model.arrivals` (time and TauP arrival channels), and
:mod:`~heggs.model.network` (:class:`~heggs.model.network.HEGGSNet`, the composed
network). Imports: config, condition and traveltimes only; the training loop, checkpoints and generation sit below.
"""
