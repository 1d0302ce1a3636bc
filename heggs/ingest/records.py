"""Stage 1 — what an archive adapter hands to ingest.

Adapters (registered in :mod:`heggs.ingest.archives`) read a user's archive in whatever format it
comes and yield :data:`Item` s: :class:`RawRecord` (one instrument at one station for one event,
all its channels, raw) or :class:`Skip` (an input that cannot become a record, with its reason). ``heggs.ingest.run`` does
everything else: units, rotation, band, resampling, window, validity, arrivals, event
association and the report. Adapters therefore stay small and never drop anything silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from obspy import Inventory, Stream, Trace, UTCDateTime


@dataclass
class EventInfo:
    """An earthquake as a source describes it.

    origin_time : UTC.
    latitude, longitude : degrees. depth_km : km, positive down; may be slightly negative.
    magnitude : None when the source gives none (ingest skips such records with a reason).
    magnitude_type : e.g. ``"ML"``, ``"Mw"``, ``"Mj"``; kept as given.
    picks : ``"NET.STA"`` (or ``"STA"`` when the source has no network) -> {"P": t, "S": t}.
    origin_uncertainty_s : how coarse ``origin_time`` is (K-NET headers: 60 s); a catalog
        origin within the match tolerance refines it.
    """

    event_id: str
    origin_time: UTCDateTime
    latitude: float
    longitude: float
    depth_km: float
    magnitude: Optional[float]
    magnitude_type: Optional[str] = None
    picks: dict[str, dict[str, UTCDateTime]] = field(default_factory=dict)
    origin_uncertainty_s: float = 0.0
    provenance: str = ""


@dataclass
class StationInfo:
    """Station coordinates. latitude/longitude in degrees, elevation in m."""

    network: str
    station: str
    location: str
    latitude: float
    longitude: float
    elevation_m: float = 0.0


@dataclass
class RawRecord:
    """One instrument at one station for one event, as read.

    stream : the instrument's channels (any rate, any orientation codes E/N/Z or 1/2/3/Z),
        possibly with gaps; data as in the file.
    units : what ``stream`` holds: ``"counts"``, ``"m/s2"``, ``"cm/s2"``, ``"m/s"``, ``"cm/s"``.
    inventory : StationXML/RESP/PAZ-derived inventory carrying the response (used when
        ``units == "counts"``) and channel azimuths/dips; None when unknown.
    station : coordinates when the inventory does not have them (tables, headers).
    event : the event named by the file header or its folder's metadata, if any.
    azimuths_deg : channel code -> azimuth (deg from north) for 1/2 channels when known from a
        header instead of an inventory.
    is_building : True for structural-array / building sensors (skipped by ingest).
    origin : file path(s) for the ingest report.
    """

    stream: Stream
    units: str
    origin: str
    inventory: Optional[Inventory] = None
    station: Optional[StationInfo] = None
    event: Optional[EventInfo] = None
    azimuths_deg: dict[str, float] = field(default_factory=dict)
    is_building: bool = False


@dataclass
class Skip:
    """An input that does not become a record. reason: short, stable label (report key)."""

    origin: str
    reason: str
    detail: str = ""


#: what an adapter yields (the adapter contract: ``(root, **options) -> Iterator[Item]``)
Item = RawRecord | Skip


def stream_from_columns(
    data: np.ndarray,
    columns: dict[str, int],
    network: str,
    station: str,
    sampling_rate_hz: float,
    starttime: UTCDateTime,
) -> Stream:
    """An acceleration Stream from a text file's sample columns (strong-motion ASCII formats).

    data : (n_samples, n_columns) float; columns : component letter (``"Z"``, ``"N"``, ``"E"``)
    -> column index, in the order the traces should appear. Channels are ``HN?`` at 80 Hz and
    above, else ``BN?`` (SEED band codes for accelerometers); the location code is empty.
    """
    band = "H" if sampling_rate_hz >= 80 else "B"
    traces = []
    for comp, col in columns.items():
        tr = Trace(data=np.ascontiguousarray(data[:, col]))
        tr.stats.network, tr.stats.station, tr.stats.location = network, station, ""
        tr.stats.channel = f"{band}N{comp}"
        tr.stats.sampling_rate = sampling_rate_hz
        tr.stats.starttime = starttime
        traces.append(tr)
    return Stream(traces)
