"""Stage 1 (archive adapters) — instrument helpers shared by every adapter.

An adapter turns a file's traces into records of one instrument each: (network, station,
location, band+instrument code), e.g. ``HN?`` and ``BH?`` at one station are two instruments.
These helpers group traces that way, name an instrument, and resolve co-located channel sets.
They take and return ObsPy objects and never read files (file readers:
:mod:`heggs.ingest.formats`).
"""

from __future__ import annotations

from collections import OrderedDict

from obspy import Stream


def instrument_key(trace) -> tuple[str, str, str, str]:
    """(network, station, location, band+instrument code) of an ObsPy trace (a two-letter
    channel code gives its first letter)."""
    s = trace.stats
    return (s.network, s.station, s.location, s.channel[:2] if len(s.channel) >= 3 else s.channel[:-1])


def split_instruments(stream: Stream) -> "OrderedDict[tuple[str, str, str, str], Stream]":
    """Group traces by instrument: (network, station, location, first two channel letters).

    Order of first appearance is kept. ``stream`` is not modified (traces are shared).
    """
    groups: OrderedDict[tuple[str, str, str, str], Stream] = OrderedDict()
    for tr in stream:
        s = tr.stats
        key = (s.network, s.station, s.location, s.channel[:2])
        groups.setdefault(key, Stream()).append(tr)
    return groups


def instrument_id(key: tuple[str, str, str, str]) -> str:
    """``("NZ", "WEL", "10", "HH")`` -> ``"NZ.WEL.10.HH?"``."""
    return f"{key[0]}.{key[1]}.{key[2]}.{key[3]}?"


def component_codes(stream: Stream) -> set[str]:
    """Last letters of the channel codes, e.g. ``{"E", "N", "Z"}``."""
    return {tr.stats.channel[-1:] for tr in stream}


def keep_enz(stream: Stream) -> Stream:
    """When one instrument has both E/N/Z and other (1/2/3) channels, keep the E/N/Z ones."""
    if {"E", "N", "Z"} <= component_codes(stream):
        return Stream([tr for tr in stream if tr.stats.channel[-1:] in "ENZ"])
    return stream
