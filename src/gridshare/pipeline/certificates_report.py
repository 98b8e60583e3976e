"""The certificate report of a community's chain (``gridshare certificates report``).

New chain events are indexed into the store first; the report is then computed from the
stored events (:func:`gridshare.certificates.report.certificate_report`), with accounts
named through the devices the store binds to meters, and the period's days taken in the
community's time zone (UTC when the chain's devices span several zones or none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from gridshare.certificates.report import (
    CertificateReport,
    GeneratorRegistration,
    Mint,
    account_participants,
    certificate_report,
    decode_certificate_events,
)
from gridshare.errors import GridshareError
from gridshare.model.chain import ChainEvent
from gridshare.pipeline.chain_sync import EventSource, index_chain
from gridshare.storage.store import SqlStore
from gridshare.units import to_unix_seconds


class CertificateReportError(GridshareError):
    """The report cannot be made: no chain, nothing deployed, or no certificates."""


@dataclass(frozen=True, slots=True)
class ChainCertificateReport:
    """The report, and where on which chain it was read."""

    report: CertificateReport
    chain_id: int
    head: int
    """The last block read."""
    new_events: int
    """Events indexed into the store for this report."""
    time_zone: tzinfo
    """The zone of the period's days."""


def period_bounds(
    first: date | None, last: date | None, zone: tzinfo
) -> tuple[int | None, int | None]:
    """Unix seconds of local midnight starting ``first`` and ending ``last`` (inclusive)."""
    if first is not None and last is not None and last < first:
        raise CertificateReportError(f"--to {last} is before --from {first}")

    def midnight(day: date) -> int:
        return to_unix_seconds(datetime(day.year, day.month, day.day, tzinfo=zone))

    return (
        None if first is None else midnight(first),
        None if last is None else midnight(last + timedelta(days=1)),
    )


def report_time_zone(
    stored: Sequence[ChainEvent], device_links: Mapping[str, tuple[str, str]]
) -> tzinfo:
    """The one time zone of the communities whose devices are registered on chain, else UTC."""
    on_chain = {str(e.arg("device")).lower() for e in stored if e.event == "DeviceRegistered"}
    zones = {zone for device, (_, zone) in device_links.items() if device in on_chain}
    return ZoneInfo(zones.pop()) if len(zones) == 1 else UTC


def chain_certificate_report(
    store: SqlStore,
    events: EventSource,
    chain_id: int,
    head: int,
    *,
    first: date | None = None,
    last: date | None = None,
) -> ChainCertificateReport:
    """Index the chain up to block ``head``, then report the certificates of the days
    ``first`` to ``last`` (inclusive; None: unbounded)."""
    new = index_chain(events, store, chain_id, head).new_events
    stored = store.chain_events(chain_id)
    links = store.device_links()
    decoded = decode_certificate_events(stored)
    if not any(isinstance(e, GeneratorRegistration | Mint) for e in decoded):
        raise CertificateReportError(
            f"no generators or certificates on chain {chain_id} yet (up to "
            f"block {head}): certificates are minted by `gridshare simulate` or the "
            "certification pipeline"
        )
    names = account_participants(stored, {d: pid for d, (pid, _) in links.items()})
    zone = report_time_zone(stored, links)
    start_s, end_s = period_bounds(first, last, zone)
    report = certificate_report(decoded, start_s=start_s, end_s=end_s, participant_ids=names)
    return ChainCertificateReport(report, chain_id, head, new, zone)
