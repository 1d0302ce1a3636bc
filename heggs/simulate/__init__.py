"""Stage: simulate — the stochastic point-source method (Boore 2003): the physics baseline and
synthetic paired stores with exact arrivals.

:mod:`heggs.simulate.stochastic` (source, path, site spectra; windowed noise),
:mod:`heggs.simulate.inputs` (events and stations: random, CSV), :mod:`heggs.simulate.simulator`
(records and whole stores). Imports: config, store, traveltimes, data above it.
"""
