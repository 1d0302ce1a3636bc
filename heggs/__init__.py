"""HEGGS — High-fidelity Earthquake Groundmotion Generation System.

Pair-exploiting conditional latent diffusion for 3-component (E, N, Z) ground motions
(Jung, Lee et al., ICML 2025, arXiv 2412.17333). Modules, in data-flow order:
config → store → records → archives → ingest → data → inspect → simulate → spectrogram →
autoencoder → unet → diffusion → sampling → model → train → metrics → plots → evaluate → cli.
"""

__version__ = "0.1.0.dev0"
