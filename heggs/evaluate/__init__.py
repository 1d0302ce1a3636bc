"""Stage: evaluate — seismological measures and the ``heggs evaluate`` harness.

Measures: :mod:`~heggs.evaluate.metrics` (waveform metrics, bootstrap),
:mod:`~heggs.evaluate.spectra` (FAS, Konno-Ohmachi, response spectra, Brune fit),
:mod:`~heggs.evaluate.picking` (EQTransformer / PhaseNet / classical picks),
:mod:`~heggs.evaluate.gmpe` (pygmm / OpenQuake medians), :mod:`~heggs.evaluate.sweep`
(magnitude sweep), :mod:`~heggs.evaluate.intensity` (the per-record intensity-measure table
and PSA-vs-GMPE figure that ``heggs generate`` writes). Harness: :mod:`~heggs.evaluate.run` (:func:`~heggs.evaluate.run.evaluate`,
what ``heggs evaluate`` does), :mod:`~heggs.evaluate.scoring` (targets, generators, per-record
scores, summaries) and :mod:`~heggs.evaluate.report` (figures, report.md);
:mod:`~heggs.evaluate.calibration` (amplitude calibration of an exported model). Imports everything
above it (simulate for the stochastic baseline, generate for trained models); only the CLI
imports it.
"""
