"""Stage 1 — what an archive adapter hands to ingest.

Adapters (``heggs.archives``) read a user's archive in whatever format it comes and yield
:class:`RawRecord` (one instrument at one station for one event, all its channels, raw) or
:class:`Skip` (an input that cannot become a record, with its reason). ``heggs.ingest`` does
everything else: units, rotation, band, resampling, window, validity, arrivals, event
association and the report. Adapters therefore stay small and never drop anything silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from obspy import Inventory, Stream, UTCDateTime


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
