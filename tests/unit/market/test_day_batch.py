"""A day's batch settlement: leaves as the contract computes them (eth_abi as an
independent encoder), net debits and credits per account that conserve money."""

from __future__ import annotations

from eth_abi.abi import encode
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.market.clearing import MECHANISMS, GridPrices
from gridshare.market.orders import MarketRules, Order, Side, domain_separator
from gridshare.market.session import clear_interval
from gridshare.market.settlement import day_batch, fill_leaf, settle

DOMAIN = domain_separator(31337, b"\x42" * 20)
RULES = MarketRules(interval_s=900, fee_per_kwh=1_500, fee_bps=25)
GRID = GridPrices(280_000, 70_000)
DAY = 20_240
T0 = DAY * 86_400


def test_fill_leaf_is_the_abi_encoding_of_seven_words() -> None:
    digest = bytes(range(32))
    signature = b"\x07" * 65
    expected = keccak(
        encode(
            ["bytes32", "uint256", "uint256", "uint256", "uint256", "uint256", "bytes32"],
            [digest, T0, 1_234, 5_678, 9, 1_000, keccak(signature)],
        )
    )
    assert fill_leaf(digest, T0, 1_234, 5_678, 9, 1_000, signature) == expected
    assert fill_leaf(digest, T0, 1_234, 5_678, 9, 999, signature) != expected
    assert fill_leaf(digest, T0, 1_234, 5_678, 9, 1_000, b"\x08" * 65) != expected


order_spec = st.tuples(
    st.sampled_from(list(Side)), st.integers(1, 3_000), st.integers(70_000, 280_000)
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(order_spec, min_size=0, max_size=8), min_size=1, max_size=4))
def test_a_day_nets_its_intervals_and_conserves_money(
    intervals: list[list[tuple[Side, int, int]]],
) -> None:
    makers = [bytes([m + 1]) * 20 for m in range(8)]
    settled = []
    for k, spec in enumerate(intervals):
        start = T0 + k * 900
        orders = [
            Order(makers[i], side, start, 1, q, p, nonce=k * 100 + i)
            for i, (side, q, p) in enumerate(spec)
        ]
        clearing = clear_interval(start, orders, MECHANISMS["pay-as-bid"], GRID)
        delivered = [f // 2 for f in clearing.filled_wh]  # every seller half short
        settled.append((clearing, settle(clearing, delivered, RULES)))
    batch = day_batch(DAY, settled, DOMAIN)
    assert batch.to_fund == sum(s.to_fund for _, s in settled)
    assert sum(batch.debits) == sum(s.debits for _, s in settled)
    assert sum(batch.credits) + batch.to_fund == sum(batch.debits)
    assert batch.volume_wh == sum(c.volume_wh for c, _ in settled)
    traded = sum(1 for c, _ in settled for f in c.filled_wh if f)
    assert len(batch.leaves) == len(set(batch.leaves)) == traded
    assert batch.accounts == sorted(batch.accounts)
