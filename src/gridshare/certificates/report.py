"""Certificate report: what each account was issued, moved, retired and holds, and the CO2.

Pure aggregation over the EnergyCertificate contract's events (decoded from the stored
chain events by :func:`decode_certificate_events`); no I/O. A period selects certificates
by the interval they certify (the lower 64 bits of the token id), not by when they moved:
"issued in June" means the Wh produced in June, wherever they went since.

For every account and the period:

* ``issued_wh``: certificates minted to the account (its generators' metered export);
* ``transferred_in_wh`` / ``transferred_out_wh``: moved by ``safeTransferFrom`` or
  ``safeBatchTransferFrom`` (mints and burns are not transfers);
* ``retired_wh``: burnt by the account with ``retire`` (each retirement is a claim);
* ``held_wh`` = issued + in - out - retired: the account's balance of those certificates.

Avoided emissions: a certificate carries its generator's ``avoided_g_per_kwh`` as
registered when it was minted, so 1 Wh avoids ``avoided_g_per_kwh`` mg CO2e exactly
(1 Wh x 1 g/kWh = 1 mg). Sums are kept in exact milligrams; grams are rounded down at
the end (like :func:`gridshare.certificates.issuance.avoided_co2_g`), so a totals row may
exceed the sum of the rows' grams by less than 1 g per row. ``avoided`` counts what an
account was issued; ``claimed`` counts what it retired.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gridshare.certificates.issuance import split_token_id
from gridshare.errors import DataError
from gridshare.model.chain import ChainEvent, JsonScalar
from gridshare.units import from_unix_seconds

ZERO_ADDRESS = "0x" + "00" * 20
MG_PER_G = 1_000
MG_PER_KG = 1_000_000
CERTIFICATE_CONTRACT = "EnergyCertificate"
REGISTRY_CONTRACT = "ParticipantRegistry"

ReportJson = dict[str, "str | int | float | None | list[ReportJson] | ReportJson"]


class CertificateEventError(DataError):
    """A stored certificate event does not have the shape the contract emits."""


@dataclass(frozen=True, slots=True)
class GeneratorRegistration:
    """A generator's metadata, registered or updated (``GeneratorRegistered``)."""

    device: bytes
    participant: str
    source: int
    capacity_w: int
    avoided_g_per_kwh: int


@dataclass(frozen=True, slots=True)
class Mint:
    """``amount_wh`` certificates of ``token_id`` issued to ``receiver``."""

    receiver: str
    token_id: int
    amount_wh: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """``amount_wh`` certificates of ``token_id`` moved from ``sender`` to ``receiver``."""

    sender: str
    receiver: str
    token_id: int
    amount_wh: int


@dataclass(frozen=True, slots=True)
class Retirement:
    """``amount_wh`` certificates of ``token_id`` burnt by ``holder`` as claim ``claim_id``."""

    holder: str
    token_id: int
    amount_wh: int
    claim_id: int
    beneficiary: str
    purpose: str


CertificateEvent = GeneratorRegistration | Mint | Transfer | Retirement


def avoided_co2_mg(energy_wh: int, g_per_kwh: int) -> int:
    """Emissions avoided by ``energy_wh`` at ``g_per_kwh``, in mg CO2e (exact)."""
    return energy_wh * g_per_kwh


def _int(event: ChainEvent, name: str) -> int:
    value = event.arg(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CertificateEventError(
            f"block {event.block_number} log {event.log_index}: {event.event}.{name} is "
            f"{value!r}, not an integer"
        )
    return value


def _ints(event: ChainEvent, name: str) -> list[int]:
    """An array argument: the indexer stores arrays as their text, e.g. ``(1, 2)``."""
    value: JsonScalar = event.arg(name)
    text = str(value).strip().strip("()[]")
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(re.fullmatch(r"\d+", p) for p in parts):
        raise CertificateEventError(
            f"block {event.block_number} log {event.log_index}: {event.event}.{name} is "
            f"{value!r}, not a list of integers"
        )
    return [int(p) for p in parts]


def _address_bytes(event: ChainEvent, name: str) -> bytes:
    value = str(event.arg(name))
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        raise CertificateEventError(
            f"block {event.block_number} log {event.log_index}: {event.event}.{name} is "
            f"{value!r}, not an address"
        )
    return bytes.fromhex(value[2:])


def decode_certificate_events(events: Iterable[ChainEvent]) -> list[CertificateEvent]:
    """The EnergyCertificate events among ``events`` (in chain order), decoded.

    Burns (transfers to the zero address) are left out: only ``retire`` burns, and its
    ``Retired`` event carries the claim.
    """
    decoded: list[CertificateEvent] = []
    for event in events:
        if event.contract != CERTIFICATE_CONTRACT:
            continue
        if event.event == "GeneratorRegistered":
            decoded.append(
                GeneratorRegistration(
                    device=_address_bytes(event, "device"),
                    participant=str(event.arg("participant")),
                    source=_int(event, "source"),
                    capacity_w=_int(event, "capacity_w"),
                    avoided_g_per_kwh=_int(event, "avoided_g_per_kwh"),
                )
            )
        elif event.event in ("TransferSingle", "TransferBatch"):
            sender, receiver = str(event.arg("sender")), str(event.arg("receiver"))
            if event.event == "TransferSingle":
                moves = [(_int(event, "id"), _int(event, "value"))]
            else:
                ids, values = _ints(event, "ids"), _ints(event, "values")
                if len(ids) != len(values):
                    raise CertificateEventError(
                        f"block {event.block_number} log {event.log_index}: TransferBatch has "
                        f"{len(ids)} ids and {len(values)} values"
                    )
                moves = list(zip(ids, values, strict=True))
            for token, amount in moves:
                if sender == ZERO_ADDRESS:
                    decoded.append(Mint(receiver, token, amount))
                elif receiver != ZERO_ADDRESS:
                    decoded.append(Transfer(sender, receiver, token, amount))
        elif event.event == "Retired":
            decoded.append(
                Retirement(
                    holder=str(event.arg("holder")),
                    token_id=_int(event, "id"),
                    amount_wh=_int(event, "amount"),
                    claim_id=_int(event, "claim_id"),
                    beneficiary=str(event.arg("beneficiary")),
                    purpose=str(event.arg("purpose")),
                )
            )
    return decoded


def account_participants(
    events: Iterable[ChainEvent], device_participants: Mapping[str, str]
) -> dict[str, str]:
    """Participant id of each account that owns a registered device.

    ``device_participants`` maps device addresses (any case) to the participant id of the
    meter they sign for (the store's meters and meter devices); the registry's
    ``DeviceRegistered`` events give each device's owner account. An account linked to
    several participant ids gets them all, sorted and comma-separated.
    """
    by_device = {device.lower(): pid for device, pid in device_participants.items()}
    linked: dict[str, set[str]] = {}
    for event in events:
        if event.contract == REGISTRY_CONTRACT and event.event == "DeviceRegistered":
            participant_id = by_device.get(str(event.arg("device")).lower())
            if participant_id is not None:
                linked.setdefault(str(event.arg("participant")), set()).add(participant_id)
    return {account: ", ".join(sorted(ids)) for account, ids in linked.items()}


@dataclass(frozen=True, slots=True)
class CertificateFlows:
    """Certificate quantities of one account (or all) in a period; energy in Wh."""

    issued_wh: int = 0
    transferred_in_wh: int = 0
    transferred_out_wh: int = 0
    retired_wh: int = 0
    avoided_co2_mg: int = 0
    """Emissions avoided by the certificates issued, mg CO2e (exact)."""
    claimed_co2_mg: int = 0
    """Emissions avoided by the certificates retired, mg CO2e (exact)."""

    @property
    def held_wh(self) -> int:
        return self.issued_wh + self.transferred_in_wh - self.transferred_out_wh - self.retired_wh

    @property
    def avoided_co2_g(self) -> int:
        """Rounded down."""
        return self.avoided_co2_mg // MG_PER_G

    @property
    def claimed_co2_g(self) -> int:
        """Rounded down."""
        return self.claimed_co2_mg // MG_PER_G

    def __add__(self, other: CertificateFlows) -> CertificateFlows:
        return CertificateFlows(
            self.issued_wh + other.issued_wh,
            self.transferred_in_wh + other.transferred_in_wh,
            self.transferred_out_wh + other.transferred_out_wh,
            self.retired_wh + other.retired_wh,
            self.avoided_co2_mg + other.avoided_co2_mg,
            self.claimed_co2_mg + other.claimed_co2_mg,
        )

    def as_json(self) -> ReportJson:
        return {
            "issued_wh": self.issued_wh,
            "transferred_in_wh": self.transferred_in_wh,
            "transferred_out_wh": self.transferred_out_wh,
            "retired_wh": self.retired_wh,
            "held_wh": self.held_wh,
            "avoided_co2_g": self.avoided_co2_g,
            "avoided_co2_kg": self.avoided_co2_mg / MG_PER_KG,
            "claimed_co2_g": self.claimed_co2_g,
            "claimed_co2_kg": self.claimed_co2_mg / MG_PER_KG,
        }


@dataclass(frozen=True, slots=True)
class AccountCertificates:
    account: str
    participant_id: str | None
    flows: CertificateFlows

    def as_json(self) -> ReportJson:
        return {"account": self.account, "participant_id": self.participant_id} | (
            self.flows.as_json()
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """One retirement of certificates of the period: who claimed what, for whom."""

    claim_id: int
    holder: str
    participant_id: str | None
    token_id: int
    amount_wh: int
    beneficiary: str
    purpose: str
    avoided_co2_mg: int

    @property
    def device(self) -> str:
        return "0x" + split_token_id(self.token_id)[0].hex()

    @property
    def interval_start_s(self) -> int:
        return split_token_id(self.token_id)[1]

    def as_json(self) -> ReportJson:
        return {
            "claim_id": self.claim_id,
            "holder": self.holder,
            "participant_id": self.participant_id,
            "token_id": hex(self.token_id),
            "device": self.device,
            "interval_start": from_unix_seconds(self.interval_start_s).isoformat(),
            "amount_wh": self.amount_wh,
            "beneficiary": self.beneficiary,
            "purpose": self.purpose,
            "avoided_co2_g": self.avoided_co2_mg // MG_PER_G,
            "avoided_co2_kg": self.avoided_co2_mg / MG_PER_KG,
        }


@dataclass(frozen=True, slots=True)
class CertificateReport:
    """Per-account certificate flows of a period, their totals and the claims made."""

    start_s: int | None
    end_s: int | None
    accounts: list[AccountCertificates]
    claims: list[Claim]
    totals: CertificateFlows = field(default_factory=CertificateFlows)

    def as_json(self) -> ReportJson:
        def moment(seconds: int | None) -> str | None:
            return None if seconds is None else from_unix_seconds(seconds).isoformat()

        return {
            "start": moment(self.start_s),
            "end": moment(self.end_s),
            "participants": [a.as_json() for a in self.accounts],
            "totals": self.totals.as_json(),
            "claims": [c.as_json() for c in self.claims],
        }


@dataclass(slots=True)
class _Tally:
    issued_wh: int = 0
    in_wh: int = 0
    out_wh: int = 0
    retired_wh: int = 0
    avoided_mg: int = 0
    claimed_mg: int = 0

    def frozen(self) -> CertificateFlows:
        return CertificateFlows(
            self.issued_wh,
            self.in_wh,
            self.out_wh,
            self.retired_wh,
            self.avoided_mg,
            self.claimed_mg,
        )


def certificate_report(
    events: Iterable[CertificateEvent],
    *,
    start_s: int | None = None,
    end_s: int | None = None,
    participant_ids: Mapping[str, str] | None = None,
) -> CertificateReport:
    """Aggregate certificate events (in chain order) per account, for one period.

    Only certificates whose interval starts in ``[start_s, end_s)`` (unix seconds; None:
    unbounded) count. ``participant_ids`` names accounts (any case). Every account with
    certificates of the period is listed, and every generator owner (with zeros if its
    generators produced nothing in the period), sorted by participant id, then account.
    """
    names = {account.lower(): pid for account, pid in (participant_ids or {}).items()}
    rate: dict[bytes, int] = {}  # avoided g/kWh of each generator, as registered so far
    token_rate: dict[int, int] = {}  # ... of each certificate, as of its mint
    tallies: dict[str, _Tally] = {}
    claims: list[Claim] = []

    def tally(account: str) -> _Tally:
        return tallies.setdefault(account, _Tally())

    def in_period(token: int) -> bool:
        start = split_token_id(token)[1]
        return (start_s is None or start >= start_s) and (end_s is None or start < end_s)

    for event in events:
        if isinstance(event, GeneratorRegistration):
            rate[event.device] = event.avoided_g_per_kwh
            tally(event.participant)
            continue
        if not in_period(event.token_id):
            continue
        if isinstance(event, Mint):
            g_per_kwh = rate.get(split_token_id(event.token_id)[0], 0)
            token_rate[event.token_id] = g_per_kwh
            receiver = tally(event.receiver)
            receiver.issued_wh += event.amount_wh
            receiver.avoided_mg += avoided_co2_mg(event.amount_wh, g_per_kwh)
        elif isinstance(event, Transfer):
            tally(event.sender).out_wh += event.amount_wh
            tally(event.receiver).in_wh += event.amount_wh
        else:
            g_per_kwh = token_rate.get(
                event.token_id, rate.get(split_token_id(event.token_id)[0], 0)
            )
            co2_mg = avoided_co2_mg(event.amount_wh, g_per_kwh)
            holder = tally(event.holder)
            holder.retired_wh += event.amount_wh
            holder.claimed_mg += co2_mg
            claims.append(
                Claim(
                    claim_id=event.claim_id,
                    holder=event.holder,
                    participant_id=names.get(event.holder.lower()),
                    token_id=event.token_id,
                    amount_wh=event.amount_wh,
                    beneficiary=event.beneficiary,
                    purpose=event.purpose,
                    avoided_co2_mg=co2_mg,
                )
            )
    accounts = [
        AccountCertificates(account, names.get(account.lower()), t.frozen())
        for account, t in tallies.items()
    ]
    accounts.sort(key=lambda a: (a.participant_id is None, a.participant_id or "", a.account))
    totals = CertificateFlows()
    for row in accounts:
        totals += row.flows
    return CertificateReport(
        start_s, end_s, accounts, sorted(claims, key=lambda c: c.claim_id), totals
    )
