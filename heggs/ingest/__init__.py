"""Stage: ingest — real archives (miniSEED/SAC/K-NET/CWB/SEISAN/..., a catalog, station
metadata, or a SeisBench dataset) into the canonical SeisBench-format store.

Adapters (one module per archive layout: generic, gmprocess, seisan, quakemigrate, isola, pysep,
seisbench; registered in :mod:`heggs.ingest.archives`) yield
:class:`~heggs.ingest.records.RawRecord` / :class:`~heggs.ingest.records.Skip`, sharing the file
readers (:mod:`heggs.ingest.formats`), header parsers (:mod:`heggs.ingest.headers`) and
instrument helpers (:mod:`heggs.ingest.instruments`); the catalog
(:mod:`heggs.ingest.catalog`) associates events; :mod:`heggs.ingest.canonical` cuts the
canonical window; :func:`heggs.ingest.run.ingest` drives it all and writes the store.
Imports: config, store, traveltimes above; nothing below (data, simulate, model, ...).
"""
