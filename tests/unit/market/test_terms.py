"""An order's off-chain terms: read only when they are the signed ones and well formed."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from gridshare.market.orders import Kind, Order, Side, terms_hash
from gridshare.market.terms import TermsError, parse_terms

MAKER = bytes(range(20))
PARTNER = "0x" + "ab" * 20
RULE = {"rule": "recurring", "weekdays": [0, 1, 2, 3, 4], "from": "18:00", "to": "21:00",
        "time_zone": "America/New_York"}  # fmt: skip


def _order(terms: dict[str, Any], kind: Kind = Kind.SPOT) -> Order:
    return Order(MAKER, Side.BUY, 900, 96, 500, 200_000, 1, kind=kind, terms=terms_hash(terms))


def test_preferences_are_read_from_the_signed_terms() -> None:
    terms = {"preferred_sources": ["wind", "solar"], "excluded_partners": [PARTNER],
             "min_reliability": 0.9}  # fmt: skip
    read = parse_terms(_order(terms), terms)
    assert read.recurring is None
    assert read.preferences.preferred_sources == {"wind", "solar"}
    assert read.preferences.excluded_partners == {bytes.fromhex("ab" * 20)}
    assert read.preferences.min_reliability == 0.9


def test_a_recurring_rule_is_read_with_the_orders_side_quantity_and_price() -> None:
    read = parse_terms(_order(RULE, Kind.RECURRING), RULE)
    rule = read.recurring
    assert rule is not None
    assert (rule.side, rule.quantity_wh, rule.price) == (Side.BUY, 500, 200_000)
    assert (rule.start, rule.end, rule.weekdays) == (time(18), time(21), frozenset(range(5)))
    assert read.preferences.empty


def test_no_terms_are_the_zero_hash() -> None:
    read = parse_terms(_order({}), {})
    assert read.recurring is None
    assert read.preferences.empty


@pytest.mark.parametrize(
    ("terms", "kind", "signed", "message"),
    [
        ({"preferred_sources": ["wind"]}, Kind.SPOT, {"preferred_sources": ["solar"]}, "hash"),
        ({"colour": "green"}, Kind.SPOT, None, "unknown terms"),
        (RULE, Kind.SPOT, None, "recurring order"),
        ({}, Kind.RECURRING, None, "recurring order"),
        (RULE | {"weekdays": [7]}, Kind.RECURRING, None, "weekdays"),
        (RULE | {"weekdays": []}, Kind.RECURRING, None, "weekdays"),
        (RULE | {"time_zone": "Mars/Olympus"}, Kind.RECURRING, None, "time_zone"),
        (RULE | {"from": "21:00", "to": "18:00"}, Kind.RECURRING, None, "before"),
        (RULE | {"from": "6pm"}, Kind.RECURRING, None, "local time"),
        ({"rule": "recurring"}, Kind.RECURRING, None, "names rule"),
        ({"preferred_sources": ["coal"]}, Kind.SPOT, None, "choose from"),
        ({"preferred_partners": ["0x12"]}, Kind.SPOT, None, "preferred_partners"),
        ({"min_reliability": 1.5}, Kind.SPOT, None, "between 0 and 1"),
        ({"preferred_sources": "wind"}, Kind.SPOT, None, "list of strings"),
    ],
)
def test_bad_terms_are_refused_with_what_is_wrong(
    terms: dict[str, Any], kind: Kind, signed: dict[str, Any] | None, message: str
) -> None:
    order = _order(terms if signed is None else signed, kind)
    with pytest.raises(TermsError, match=message):
        parse_terms(order, terms)
