"""HEGGS — High-fidelity Earthquake Groundmotion Generation System.

Pair-exploiting conditional latent diffusion for 3-component (E, N, Z) ground motions
(Jung, Lee et al., ICML 2025, arXiv 2412.17333).

Modules, in data-flow order (imports point one way):

- config — dataclass configs (window, ingest, model, training, simulation)
- store — the canonical SeisBench-format store (metadata.csv + waveforms.hdf5)
- records — what archive adapters hand to ingest (RawRecord, EventInfo, StationInfo, Skip)
- catalog, scan, cwb, nsmn, geonet, archives*, traveltimes, canonical, ingest — reading real
  archives into the store
- condition, data — the 11-feature condition vector, event splits, same-event pairs
- stochastic, simulate_inputs, simulate — the stochastic point-source simulator (baseline and
  synthetic paired data with exact arrivals)
- spectrogram, autoencoder, acm, unet, diffusion, sampling, model — the HEGGS network
- checkpoint, train — the training loop (torchrun DDP), atomic resumable checkpoints
- scenario, export, generate — user-facing generation (``heggs.HEGGS``)
- metrics, spectra, picking, gmpe, sweep — seismological evaluation measures
- plots, inspect — figures and store summaries
- evaluate, report — ``heggs evaluate``: every model and baseline on the same test targets,
  bootstrap CIs over events, figures and a side-by-side report
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
