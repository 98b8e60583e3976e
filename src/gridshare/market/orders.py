"""Orders: what a member signs, and the rules an order must pass before it is booked.

An order is an EIP-712 typed-data struct, so the same signature the off-chain book checks
is checked again by the P2PTrading contract at settlement::

    Order(address maker,uint8 side,uint64 first_interval,uint32 intervals,
          uint64 quantity_wh,uint64 price,uint64 nonce,uint64 expiry,uint8 kind,bytes32 terms)

``quantity_wh`` is the most the order buys or sells in *each* interval it covers
(``first_interval`` and ``intervals`` following it), ``price`` its limit in micro-units
per kWh. ``terms`` is the keccak hash of the order's off-chain terms (preferences, a
recurring rule, a group or forward agreement: :func:`terms_hash`), so the member's
signature covers them too and an auditor can recompute it.

:class:`OrderBook` is the market's front door: each order offered ends either booked or
refused with a :class:`OrderRejection` (a :class:`Reason` and a detail a person can act
on), and every refusal is counted.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import coincurve
import orjson

from gridshare.errors import DataError
from gridshare.evm import (
    address_of_public_key,
    checksum_address,
    keccak256,
    recover_address,
    uint_word,
    uint_words,
)
from gridshare.model.records import MarketOrderRecord, OrderStatus
from gridshare.units import energy_cost_micros, mul_div


class Side(enum.IntEnum):
    BUY = 0
    SELL = 1


class Kind(enum.IntEnum):
    SPOT = 0
    """The next interval(s), placed before gate closure."""
    FORWARD = 1
    """A future interval or block of intervals at an agreed price."""
    RECURRING = 2
    """A standing rule (e.g. weekdays 18:00-21:00), one signature for its whole span."""
    GROUP = 3
    """A member's share of a pooled group purchase."""


ORDER_TYPE = (
    "Order(address maker,uint8 side,uint64 first_interval,uint32 intervals,uint64 quantity_wh,"
    "uint64 price,uint64 nonce,uint64 expiry,uint8 kind,bytes32 terms)"
)
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
DOMAIN_NAME = "gridshare P2PTrading"
DOMAIN_VERSION = "1"
NO_EXPIRY = 2**63 - 1
"""Good till cancelled (simulated agents' orders; also fits a signed 64-bit column)."""
NO_TERMS = bytes(32)
_UINT_BITS = {"side": 8, "first_interval": 64, "intervals": 32, "quantity_wh": 64}
_UINT_BITS |= {"price": 64, "nonce": 64, "expiry": 64, "kind": 8}


ORDER_TYPEHASH = keccak256(ORDER_TYPE.encode())
DOMAIN_TYPEHASH = keccak256(DOMAIN_TYPE.encode())


def domain_separator(chain_id: int, contract: bytes) -> bytes:
    """The EIP-712 domain of the P2PTrading contract at ``contract`` (20 bytes)."""
    return keccak256(
        DOMAIN_TYPEHASH
        + keccak256(DOMAIN_NAME.encode())
        + keccak256(DOMAIN_VERSION.encode())
        + uint_word(chain_id)
        + contract.rjust(32, b"\0")
    )


@dataclass(frozen=True, slots=True)
class Order:
    """One signed limit order (fields exactly as the contract's ``Order`` struct)."""

    maker: bytes
    """20-byte account."""
    side: Side
    first_interval: int
    """Start of the first delivery interval, unix seconds (UTC, epoch-aligned)."""
    intervals: int
    quantity_wh: int
    price: int
    nonce: int
    expiry: int = NO_EXPIRY
    kind: Kind = Kind.SPOT
    terms: bytes = NO_TERMS
    signature: bytes = b""
    _hash: bytes = field(default=b"", init=False, compare=False, repr=False)
    """The struct hash, once computed (not copied by ``dataclasses.replace``)."""

    def struct_hash(self) -> bytes:
        """``hashStruct(order)``: identifies the order (computed once)."""
        if self._hash:
            return self._hash
        words = uint_words(self._uints())
        digest = keccak256(ORDER_TYPEHASH + self.maker.rjust(32, b"\0") + words + self.terms)
        object.__setattr__(self, "_hash", digest)
        return digest

    def digest(self, domain: bytes) -> bytes:
        """What the maker signs (EIP-712: ``keccak(0x1901 ++ domain ++ structHash)``)."""
        return keccak256(b"\x19\x01" + domain + self.struct_hash())

    def signed(self, private_key: bytes, domain: bytes) -> Order:
        """This order signed with the maker's 32-byte secp256k1 key (``r ++ s ++ v``)."""
        raw = _private_key(private_key).sign_recoverable(self.digest(domain), hasher=None)
        return _replace_signature(self, raw[:64] + bytes([raw[64] + 27]))

    def signer(self, domain: bytes) -> bytes | None:
        """The address that signed this order, or None for a missing or unusable signature."""
        return recover(self.digest(domain), self.signature)

    def covers(self, start_s: int, interval_s: int) -> bool:
        """Whether the interval starting at ``start_s`` is one this order delivers in."""
        return self.first_interval <= start_s < self.first_interval + self.intervals * interval_s

    def as_tuple(self) -> tuple[object, ...]:
        """The contract's ``Order`` struct, as web3 takes it (checksummed address)."""
        return (checksum_address(self.maker), *self._uints(), self.terms)

    def _uints(self) -> tuple[int, ...]:
        """The struct's unsigned fields, between ``maker`` and ``terms``, in its order."""
        return (
            int(self.side),
            int(self.first_interval),
            int(self.intervals),
            int(self.quantity_wh),
            int(self.price),
            int(self.nonce),
            int(self.expiry),
            int(self.kind),
        )

    def as_json(self) -> dict[str, object]:
        return {
            "maker": "0x" + self.maker.hex(),
            "side": self.side.name.lower(),
            "first_interval": self.first_interval,
            "intervals": self.intervals,
            "quantity_wh": self.quantity_wh,
            "price": self.price,
            "nonce": self.nonce,
            "expiry": self.expiry,
            "kind": self.kind.name.lower(),
            "terms": "0x" + self.terms.hex(),
            "signature": "0x" + self.signature.hex(),
        }


def _replace_signature(order: Order, signature: bytes) -> Order:
    from dataclasses import replace

    signed = replace(order, signature=signature)
    object.__setattr__(signed, "_hash", order.struct_hash())
    return signed


def recover(digest: bytes, signature: bytes) -> bytes | None:
    """The 20-byte address behind an ``r ++ s ++ v`` signature (v 27/28, low s) of
    ``digest``, as the EVM's ``ecrecover`` would accept it; None when unusable."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    return recover_address(digest, signature[:64], signature[64] - 27)


_KEYS: dict[bytes, coincurve.PrivateKey] = {}


def _private_key(private_key: bytes) -> coincurve.PrivateKey:
    key = _KEYS.get(private_key)
    if key is None:
        key = coincurve.PrivateKey(private_key)
        if len(_KEYS) < 100_000:  # a community's members, not unbounded
            _KEYS[private_key] = key
    return key


def address_of(private_key: bytes) -> bytes:
    """The 20-byte account of a 32-byte secp256k1 private key."""
    return address_of_public_key(_private_key(private_key).public_key.format(False))


def terms_hash(terms: Mapping[str, object]) -> bytes:
    """keccak256 of the canonical JSON of an order's off-chain terms (sorted keys);
    the zero hash for no terms."""
    if not terms:
        return NO_TERMS
    return keccak256(orjson.dumps(dict(terms), option=orjson.OPT_SORT_KEYS))


def fee_micros(filled_wh: int, amount: int, fee_per_kwh: int, fee_bps: int) -> int:
    """The fee a buyer pays on top of ``amount`` for ``filled_wh``, as the contract's
    ``fee_of``: per kWh and per cent of the amount, each rounded up."""
    per_kwh = energy_cost_micros(filled_wh, fee_per_kwh, round_up=True)
    return per_kwh + mul_div(amount, fee_bps, 10_000, round_up=True)


class Reason(enum.StrEnum):
    """Why an order was refused (off-chain here; the contract refuses the same)."""

    MALFORMED = "malformed"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_PARTICIPANT = "unknown_participant"
    EXPIRED = "expired"
    INTERVAL_CLOSED = "interval_closed"
    MISALIGNED_INTERVAL = "misaligned_interval"
    NON_POSITIVE_QUANTITY = "non_positive_quantity"
    PRICE_OUT_OF_BAND = "price_out_of_band"
    INSUFFICIENT_ESCROW = "insufficient_escrow"
    REPLAYED_NONCE = "replayed_nonce"


@dataclass(frozen=True, slots=True)
class OrderRejection:
    order: Order
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class MarketRules:
    """The community's market parameters (mirrored by the contract's parameters)."""

    interval_s: int
    min_price: int = 0
    max_price: int = 10_000_000
    """Price band, micro-units per kWh (10 currency units/kWh by default)."""
    fee_per_kwh: int = 0
    """Fee per kWh bought, micro-units (to the community fund)."""
    fee_bps: int = 0
    """Fee in basis points of what a buyer pays (to the community fund)."""
    max_quantity_wh: int = 10_000_000
    """The most one order may ask for per interval (10 MWh): absurd orders are refused."""
    max_intervals: int = 35_136
    """The longest span one order may book (a leap year of 15-minute intervals)."""

    def fee(self, filled_wh: int, amount: int) -> int:
        return fee_micros(filled_wh, amount, self.fee_per_kwh, self.fee_bps)

    def max_cost(self, quantity_wh: int, price: int) -> int:
        """The most a buy order can cost per interval, fee included (what escrow must hold)."""
        amount = energy_cost_micros(quantity_wh, price, round_up=True)
        return amount + self.fee(quantity_wh, amount)


@dataclass(frozen=True, slots=True)
class MarketVenue:
    """Where members send their orders: the community's market on its chain (the EIP-712
    domain they sign for) and its rules."""

    community_id: str
    chain_id: int
    contract: bytes
    """The P2PTrading contract (20 bytes), the domain's ``verifyingContract``."""
    rules: MarketRules

    @property
    def domain(self) -> bytes:
        return domain_separator(self.chain_id, self.contract)


@dataclass
class OrderBook:
    """Orders booked for delivery intervals, each checked before it is accepted.

    ``escrow`` is what each account holds in the market's escrow (micro-units); a buy
    order is booked only while the account's escrow covers all its booked buy orders'
    worst-case cost for the interval, fee included, so settlement never finds it short.
    """

    rules: MarketRules
    domain: bytes
    members: frozenset[bytes]
    escrow: dict[bytes, int] = field(default_factory=dict)
    closed_before_s: int = 0
    """Delivery intervals starting before this are closed (gate closure passed)."""
    now_s: int = 0
    """The book's clock, for expiry (unix seconds)."""
    require_signatures: bool = True
    """False only for research runs without a ledger: nothing would check the
    signatures again, and signing is most of an unsettled market's cost."""
    rejected: Counter[Reason] = field(default_factory=Counter)
    _orders: dict[int, list[Order]] = field(default_factory=dict)
    _nonces: dict[tuple[bytes, int], bytes] = field(default_factory=dict)
    _reserved: dict[tuple[bytes, int], int] = field(default_factory=dict)
    _reserved_total: dict[bytes, int] = field(default_factory=dict)

    def submit(self, order: Order, starts: Iterable[int] | None = None) -> OrderRejection | None:
        """Book ``order`` in every interval it covers (or in those of ``starts`` it
        covers: a recurring rule's active intervals), or say why not."""
        step = self.rules.interval_s
        problem = self._check_shape(order)
        booked: list[int] = []
        if problem is None:
            booked = (
                list(self._starts(order))
                if starts is None
                else sorted({s for s in starts if order.covers(s, step) and s % step == 0})
            )
            problem = self._check(order, len(booked))
        if problem is not None:
            reason, detail = problem
            self.rejected[reason] += 1
            return OrderRejection(order, reason, detail)
        self._nonces[(order.maker, order.nonce)] = order.struct_hash()
        for start in booked:
            self._orders.setdefault(start, []).append(order)
            if order.side is Side.BUY:
                key = (order.maker, start)
                cost = self.rules.max_cost(order.quantity_wh, order.price)
                self._reserved[key] = self._reserved.get(key, 0) + cost
                self._reserved_total[order.maker] = self._reserved_total.get(order.maker, 0) + cost
        return None

    def submit_all(self, orders: Iterable[Order]) -> list[OrderRejection]:
        return [r for o in orders if (r := self.submit(o)) is not None]

    def orders_for(self, start_s: int) -> list[Order]:
        """Booked orders delivering in the interval, in arrival order."""
        return list(self._orders.get(start_s, ()))

    def close(self, start_s: int) -> list[Order]:
        """Gate closure of one interval: its orders leave the book (returned) and their
        reservations are released (settlement then debits what they actually cost)."""
        self.closed_before_s = max(self.closed_before_s, start_s + self.rules.interval_s)
        orders = self._orders.pop(start_s, [])
        for maker in {o.maker for o in orders if o.side is Side.BUY}:
            cost = self._reserved.pop((maker, start_s), 0)
            self._reserved_total[maker] -= cost
        return orders

    def cancel(self, order_hash: bytes) -> bool:
        """Take the order out of every interval not yet closed and release what it
        reserved; False when the book does not hold it (its nonce stays used)."""
        found = False
        for start in sorted(self._orders):
            orders = self._orders[start]
            kept = [o for o in orders if o.struct_hash() != order_hash]
            if len(kept) == len(orders):
                continue
            found = True
            for order in orders:
                if order.struct_hash() == order_hash and order.side is Side.BUY:
                    cost = self.rules.max_cost(order.quantity_wh, order.price)
                    self._reserved[(order.maker, start)] -= cost
                    self._reserved_total[order.maker] -= cost
            if kept:
                self._orders[start] = kept
            else:
                del self._orders[start]
        return found

    def debit(self, account: bytes, amount: int) -> None:
        """Settlement took ``amount`` from the account's escrow."""
        self.escrow[account] = self.escrow.get(account, 0) - amount

    def credit(self, account: bytes, amount: int) -> None:
        """Released proceeds or a deposit added ``amount`` to the account's escrow."""
        self.escrow[account] = self.escrow.get(account, 0) + amount

    def reserved(self, account: bytes, start_s: int) -> int:
        return self._reserved.get((account, start_s), 0)

    def _starts(self, order: Order) -> range:
        step = self.rules.interval_s
        return range(order.first_interval, order.first_interval + order.intervals * step, step)

    def _check_shape(self, order: Order) -> tuple[Reason, str] | None:
        """What can be told from the order alone, before its intervals are listed."""
        if len(order.maker) != 20 or len(order.terms) != 32:
            return Reason.MALFORMED, "maker must be a 20-byte account and terms a 32-byte hash"
        for name, bits in _UINT_BITS.items():
            value = int(getattr(order, name))
            if value >= 2**bits or (value < 0 and name not in ("quantity_wh", "intervals")):
                return Reason.MALFORMED, f"{name} {value} does not fit uint{bits}"
        if int(order.side) not in (Side.BUY, Side.SELL):
            return Reason.MALFORMED, f"side {int(order.side)} is neither 0 (buy) nor 1 (sell)"
        if int(order.kind) not in set(Kind):
            return Reason.MALFORMED, f"kind {int(order.kind)} is not a known order kind"
        if order.intervals > self.rules.max_intervals:
            return Reason.MALFORMED, (
                f"the order spans {order.intervals} intervals; at most "
                f"{self.rules.max_intervals} (a year) may be booked at once"
            )
        return None

    def _check(self, order: Order, n_intervals: int) -> tuple[Reason, str] | None:
        rules = self.rules
        if order.quantity_wh <= 0 or order.intervals <= 0 or n_intervals <= 0:
            return Reason.NON_POSITIVE_QUANTITY, (
                f"quantity {order.quantity_wh} Wh over {order.intervals} intervals; both > 0"
            )
        if self.require_signatures and not order.signature:
            return Reason.UNSIGNED, "the order carries no signature; sign it with the maker's key"
        if (order.signature or self.require_signatures) and order.signer(
            self.domain
        ) != order.maker:
            return Reason.BAD_SIGNATURE, (
                "the signature does not recover the maker 0x"
                f"{order.maker.hex()} for this market (wrong key, chain or contract)"
            )
        if order.maker not in self.members:
            return Reason.UNKNOWN_PARTICIPANT, (
                f"0x{order.maker.hex()} is not an active member of this community"
            )
        if order.quantity_wh > rules.max_quantity_wh:
            return Reason.NON_POSITIVE_QUANTITY, (
                f"quantity {order.quantity_wh} Wh per interval is above the market's "
                f"{rules.max_quantity_wh} Wh limit"
            )
        if order.first_interval % rules.interval_s:
            return Reason.MISALIGNED_INTERVAL, (
                f"first interval {order.first_interval} is not a multiple of {rules.interval_s} s"
            )
        if order.expiry < self.now_s:
            return Reason.EXPIRED, f"the order expired at {order.expiry} (now {self.now_s})"
        if order.first_interval < self.closed_before_s:
            return Reason.INTERVAL_CLOSED, (
                f"delivery from {order.first_interval} is closed; the next open interval "
                f"starts at {self.closed_before_s}"
            )
        if not rules.min_price <= order.price <= rules.max_price:
            return Reason.PRICE_OUT_OF_BAND, (
                f"price {order.price} micro-units/kWh is outside the band "
                f"[{rules.min_price}, {rules.max_price}]"
            )
        if (order.maker, order.nonce) in self._nonces:
            return Reason.REPLAYED_NONCE, (
                f"nonce {order.nonce} of 0x{order.maker.hex()} was used already; use a fresh nonce"
            )
        if order.side is Side.BUY:
            cost = rules.max_cost(order.quantity_wh, order.price)
            cost *= n_intervals
            held = self.escrow.get(order.maker, 0)
            reserved = self._reserved_total.get(order.maker, 0)
            if reserved + cost > held:
                return Reason.INSUFFICIENT_ESCROW, (
                    f"the order may cost {cost} micro-units (fee included) and {reserved} "
                    f"are already reserved for open orders, but escrow holds {held}; "
                    "deposit more"
                )
        return None


class OrderError(DataError):
    """Orders that do not fit together (e.g. a group whose members' limits differ)."""


def order_record(
    order: Order,
    community_id: str,
    submitted_at_s: int,
    status: OrderStatus,
    terms: Mapping[str, object] | None = None,
) -> MarketOrderRecord:
    """The order as the store keeps a member's submission, with the off-chain terms its
    ``terms`` hash stands for."""
    return MarketOrderRecord(
        community_id=community_id,
        order_hash="0x" + order.struct_hash().hex(),
        maker="0x" + order.maker.hex(),
        side=order.side.name.lower(),
        first_interval=order.first_interval,
        intervals=order.intervals,
        quantity_wh=order.quantity_wh,
        price_micros_per_kwh=order.price,
        nonce=order.nonce,
        expiry=order.expiry,
        kind=order.kind.name.lower(),
        terms="0x" + order.terms.hex(),
        signature="0x" + order.signature.hex(),
        submitted_at_s=submitted_at_s,
        status=status.value,
        terms_json=orjson.dumps(dict(terms), option=orjson.OPT_SORT_KEYS).decode() if terms else "",
    )


def order_from_json(
    *,
    maker: str,
    side: str,
    first_interval: int,
    intervals: int,
    quantity_wh: int,
    price: int,
    nonce: int,
    expiry: int,
    kind: str,
    terms: str,
    signature: str,
) -> Order:
    """An order from its JSON form (:meth:`Order.as_json`): 0x-hex bytes, side and kind
    by name (as a member posts it and the store keeps it)."""
    return Order(
        maker=bytes.fromhex(maker[2:]),
        side=Side[side.upper()],
        first_interval=first_interval,
        intervals=intervals,
        quantity_wh=quantity_wh,
        price=price,
        nonce=nonce,
        expiry=expiry,
        kind=Kind[kind.upper()],
        terms=bytes.fromhex(terms[2:]),
        signature=bytes.fromhex(signature[2:]),
    )


def order_of_record(record: MarketOrderRecord) -> Order:
    """The signed order a stored submission holds (its hash is recomputed, not trusted)."""
    return order_from_json(
        maker=record.maker,
        side=record.side,
        first_interval=record.first_interval,
        intervals=record.intervals,
        quantity_wh=record.quantity_wh,
        price=record.price_micros_per_kwh,
        nonce=record.nonce,
        expiry=record.expiry,
        kind=record.kind,
        terms=record.terms,
        signature=record.signature,
    )
