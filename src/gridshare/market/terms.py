"""An order's off-chain terms, as a member posts them beside the signed order.

The order's ``terms`` field is the keccak hash of the canonical JSON of its terms
(:func:`gridshare.market.orders.terms_hash`), so the member's signature covers them. The
terms say how the market treats the order:

- **preferences** (``preferred_sources``, ``preferred_partners``, ``excluded_partners``,
  ``min_reliability``): whom and what the order trades with
  (:class:`gridshare.market.session.Preferences`);
- **a recurring rule** (``"rule": "recurring"``, ``weekdays``, ``from``, ``to``,
  ``time_zone``), for a ``recurring`` order only: the order is booked in the intervals of
  its span the rule names, e.g. weekdays 18:00-21:00 local time
  (:class:`gridshare.market.agents.RecurringRule`).

:func:`parse_terms` checks that the terms are the ones signed and well formed, and says
what is wrong otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gridshare.errors import DataError
from gridshare.evm import EvmEncodingError, parse_address
from gridshare.market.agents import RecurringRule
from gridshare.market.orders import Kind, Order, terms_hash
from gridshare.market.session import Preferences
from gridshare.model.community import SOURCES

__all__ = ["OrderTerms", "TermsError", "parse_terms"]

_PREFERENCE_KEYS = {"preferred_sources", "preferred_partners", "excluded_partners"}
_PREFERENCE_KEYS |= {"min_reliability"}
_RULE_KEYS = {"rule", "weekdays", "from", "to", "time_zone"}


class TermsError(DataError):
    """Terms that are not the signed ones, or that the market cannot read."""


@dataclass(frozen=True, slots=True)
class OrderTerms:
    preferences: Preferences
    recurring: RecurringRule | None


def parse_terms(order: Order, terms: Mapping[str, object]) -> OrderTerms:
    """The market's reading of ``order``'s ``terms``; :class:`TermsError` if they do not
    hash to the order's ``terms`` or cannot be read."""
    if terms_hash(terms) != order.terms:
        raise TermsError(
            "the terms do not hash to the order's terms field: sign the order with "
            "terms = keccak256 of the terms' canonical JSON (sorted keys, no spaces)"
        )
    unknown = sorted(set(terms) - _PREFERENCE_KEYS - _RULE_KEYS)
    if unknown:
        raise TermsError(
            f"unknown terms {unknown}: known are {sorted(_PREFERENCE_KEYS | _RULE_KEYS)}"
        )
    recurring = _rule(order, terms) if set(terms) & _RULE_KEYS else None
    if (recurring is None) != (order.kind is not Kind.RECURRING):
        raise TermsError("a recurring order carries a recurring rule, and only it does")
    return OrderTerms(_preferences(terms), recurring)


def _preferences(terms: Mapping[str, object]) -> Preferences:
    sources = _strings(terms.get("preferred_sources", []), "preferred_sources")
    known = {s.value for s in SOURCES}
    if not set(sources) <= known:
        raise TermsError(f"preferred_sources {sorted(sources)}: choose from {sorted(known)}")
    reliability = terms.get("min_reliability", 0.0)
    if not isinstance(reliability, int | float) or not 0 <= reliability <= 1:
        raise TermsError(f"min_reliability {reliability!r}: a share between 0 and 1")
    return Preferences(
        preferred_sources=frozenset(sources),
        preferred_partners=_accounts(terms.get("preferred_partners", []), "preferred_partners"),
        excluded_partners=_accounts(terms.get("excluded_partners", []), "excluded_partners"),
        min_reliability=float(reliability),
    )


def _rule(order: Order, terms: Mapping[str, object]) -> RecurringRule:
    missing = sorted(_RULE_KEYS - set(terms))
    if missing or terms.get("rule") != "recurring":
        raise TermsError(
            f"a recurring rule names rule = 'recurring' and {sorted(_RULE_KEYS - {'rule'})}"
        )
    weekdays = terms["weekdays"]
    if (
        not isinstance(weekdays, list)
        or not weekdays
        or not all(isinstance(d, int) and 0 <= d <= 6 for d in weekdays)
    ):
        raise TermsError(f"weekdays {weekdays!r}: a list of days, 0 (Monday) to 6 (Sunday)")
    zone = terms["time_zone"]
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise TermsError(f"time_zone {zone!r} is not an IANA time zone") from None
    start, end = _clock(terms["from"], "from"), _clock(terms["to"], "to")
    if not start < end:
        raise TermsError(f"from {start} must be before to {end} (the same day)")
    return RecurringRule(
        order.side, order.quantity_wh, order.price, frozenset(weekdays), start, end, str(zone)
    )


def _clock(value: object, name: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise TermsError(f"{name} {value!r}: a local time such as 18:00") from None


def _strings(value: object, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TermsError(f"{name}: a list of strings")
    return list(value)


def _accounts(value: object, name: str) -> frozenset[bytes]:
    try:
        return frozenset(parse_address(a, checksummed=False) for a in _strings(value, name))
    except EvmEncodingError as exc:
        raise TermsError(f"{name}: {exc}") from None
