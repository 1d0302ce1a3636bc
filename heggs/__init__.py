"""HEGGS — High-fidelity Earthquake Groundmotion Generation System.

Pair-exploiting conditional latent diffusion for 3-component (E, N, Z) ground motions
(Jung, Lee et al., ICML 2025, arXiv 2412.17333).

Layout, one subpackage per stage, in data-flow order (each imports only what is above it;
docs/architecture.md says which module owns what):

- config, store — dataclass configs; the canonical SeisBench-format store
- traveltimes — TauP travel-time tables (ingest, simulate and model conditioning share them)
- ingest/ — archive adapters, header parsers, file readers, catalog, canonical window, ``heggs ingest``
- condition, data — the 11-feature condition vector, event splits, same-event pairs
- plots, inspect — figures and store summaries
- simulate/ — the stochastic point-source simulator (baseline, synthetic paired stores)
- model/ — spectrogram, autoencoder, ACM, U-Net, diffusion, sampling, the network
- checkpoint, train — safetensors checkpoints and loading; the training loop (torchrun DDP)
- scenario, output, generate — targets, writing generated records, the user-facing ``heggs.HEGGS``
- evaluate/ — metrics, spectra, picking, GMPEs, sweep, the evaluation harness and report
- cli — the ``heggs`` command
"""

__version__ = "0.1.0.dev0"

__all__ = ["HEGGS", "__version__"]


def __getattr__(name: str):
    # lazy: ``import heggs`` stays cheap (no torch) until the model API is used
    if name == "HEGGS":
        from .generate import HEGGS

        return HEGGS
    raise AttributeError(f"module 'heggs' has no attribute {name!r}")
