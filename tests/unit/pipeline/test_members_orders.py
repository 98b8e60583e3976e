"""Members' own signed orders, as the API stores them, through the market step: booked or
refused at the gate with a reason, cancelled on request, traded and settled like any
order, and the book rebuilt from the store after a restart."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.unit.pipeline.memory_run import FIRST_HOUR, TINY, run_tiny

from gridshare.ledger.memory import InMemoryMarketChain
from gridshare.market.agents import TradingAgent
from gridshare.market.orders import Kind, Order, Side, order_record, terms_hash
from gridshare.model import Community
from gridshare.model.records import MarketOrderRecord, OrderStatus
from gridshare.simulator.market import trading_agents
from gridshare.simulator.run import build_simulation, prepare
from gridshare.storage.memory import InMemoryStore

QUARTER_S = 900
DOMAIN = InMemoryMarketChain().domain
NONCE = 10**12
"""Far above the simulated agents' nonces (they count from 0)."""


def _first_start_s(first_hour: int = FIRST_HOUR) -> int:
    scenario = prepare(TINY, days=1)
    start = build_simulation(scenario, "tiny")[4]
    return int((start + timedelta(hours=first_hour)).timestamp())


def _agents(community: Community) -> list[TradingAgent]:
    agents = trading_agents(community, prepare(TINY, days=1).market, community_seed(), signed=True)
    return [agents[i] for i in sorted(agents)]


def community_seed() -> int:
    return prepare(TINY, days=1).community.seed


def _signed(agent: TradingAgent, **fields: int | Side) -> Order:
    assert agent.key is not None
    order = Order(
        maker=agent.maker,
        side=Side.BUY,
        first_interval=0,
        intervals=1,
        quantity_wh=100,
        price=0,
        nonce=NONCE,
    )
    return replace(order, **fields).signed(agent.key, DOMAIN)  # type: ignore[arg-type]


def _submit(store: InMemoryStore, community: Community, order: Order) -> MarketOrderRecord:
    record = order_record(order, community.community_id, 0, OrderStatus.PENDING)
    assert store.submit_market_order(record)
    return record


def test_members_orders_are_booked_refused_cancelled_and_traded() -> None:
    store = InMemoryStore()
    first = _first_start_s()
    placed: dict[str, MarketOrderRecord] = {}

    def place(community: Community) -> None:
        buyer, seller, other = _agents(community)[:3]
        top = 10_000_000  # the tiny market's price band tops out here
        orders = {
            # a buy at the top of the band and a sell at the bottom: they must cross
            "buy": _signed(buyer, first_interval=first + QUARTER_S, price=top, quantity_wh=50),
            "sell": _signed(
                seller, side=Side.SELL, first_interval=first + QUARTER_S, quantity_wh=50
            ),
            # more than any escrow: refused at the gate, with the reason
            "broke": _signed(
                other,
                first_interval=first + QUARTER_S,
                nonce=NONCE + 1,
                quantity_wh=9_000_000,
                price=top,
            ),  # fmt: skip
            # the interval the run closes first is cleared already
            "late": _signed(other, first_interval=first, nonce=NONCE + 2),
            # cancelled before the gate: never booked
            "cancel": _signed(other, first_interval=first + 2 * QUARTER_S, nonce=NONCE + 3),
        }
        for name, order in orders.items():
            placed[name] = _submit(store, community, order)
        cancelled = store.request_market_order_cancel(
            community.community_id, placed["cancel"].order_hash, placed["cancel"].maker
        )
        assert cancelled is not None
        assert cancelled.status == OrderStatus.CANCEL_REQUESTED

    run_tiny(store, intervals=4, before_run=place)
    held = store.tables.market_orders
    status = {name: held[r.order_hash].status for name, r in placed.items()}
    assert status == {
        "buy": "booked",
        "sell": "booked",
        "broke": "refused",
        "late": "refused",
        "cancel": "cancelled",
    }
    assert held[placed["broke"].order_hash].detail.startswith("insufficient_escrow:")
    assert held[placed["late"].order_hash].detail.startswith("interval_closed:")
    # the refusals are recorded with the others, with the maker and the reason
    reasons = {(r.maker, r.reason) for r in store.tables.market_rejections}
    assert (placed["broke"].maker, "insufficient_escrow") in reasons
    # the crossing pair traded and settled, with the members' own signatures
    fills = {f.order_hash: f for f in store.market_fills()}
    buy, sell = fills[placed["buy"].order_hash], fills[placed["sell"].order_hash]
    assert buy.interval_start_s == sell.interval_start_s == first + QUARTER_S
    assert buy.filled_wh > 0
    assert sell.filled_wh > 0
    assert buy.signature.hex() == placed["buy"].signature[2:]
    assert placed["cancel"].order_hash not in fills


def test_the_book_is_rebuilt_from_the_store_after_a_restart() -> None:
    store = InMemoryStore()
    first = _first_start_s()
    placed: list[MarketOrderRecord] = []

    def place(community: Community) -> None:
        buyer, seller = _agents(community)[:2]
        span = {"first_interval": first + QUARTER_S, "intervals": 8, "quantity_wh": 20}
        placed.append(_submit(store, community, _signed(buyer, price=10_000_000, **span)))
        placed.append(_submit(store, community, _signed(seller, side=Side.SELL, **span)))

    run_tiny(store, intervals=3, before_run=place)
    assert all(store.tables.market_orders[r.order_hash].status == "booked" for r in placed)
    traded_before = {
        f.interval_start_s for f in store.market_fills() if f.order_hash == placed[0].order_hash
    }
    # a new process: a fresh book, the same store; the standing orders trade on
    run_tiny(store, intervals=3, first_hour=FIRST_HOUR + 1)
    later = first + 4 * QUARTER_S
    traded_after = {
        f.interval_start_s
        for f in store.market_fills()
        if f.order_hash == placed[0].order_hash and f.interval_start_s >= later
    }
    assert traded_before
    assert traded_after
    assert all(store.tables.market_orders[r.order_hash].status == "booked" for r in placed)


def _submit_with_terms(
    store: InMemoryStore, community: Community, agent: TradingAgent, terms: dict[str, object],
    **fields: int | Side | Kind,
) -> MarketOrderRecord:  # fmt: skip
    assert agent.key is not None
    order = replace(
        Order(agent.maker, Side.BUY, 0, 1, 50, 10_000_000, NONCE + 50, terms=terms_hash(terms)),
        **fields,  # type: ignore[arg-type]
    ).signed(agent.key, DOMAIN)
    record = order_record(order, community.community_id, 0, OrderStatus.PENDING, terms)
    assert store.submit_market_order(record)
    return record


def test_a_recurring_order_trades_only_when_its_rule_says_and_preferences_bind() -> None:
    store = InMemoryStore()
    first = _first_start_s()
    zone = ZoneInfo(prepare(TINY, days=1).community.time_zone)
    ruled = datetime.fromtimestamp(first + 2 * QUARTER_S, UTC).astimezone(zone)
    rule = {
        "rule": "recurring",
        "weekdays": list(range(7)),
        "from": ruled.time().isoformat("minutes"),
        "to": (ruled + timedelta(minutes=15)).time().isoformat("minutes"),
        "time_zone": str(zone),
    }
    placed: dict[str, MarketOrderRecord] = {}

    def place(community: Community) -> None:
        seller, recurring, picky, plain = _agents(community)[:4]
        span = {"first_interval": first + QUARTER_S, "intervals": 3}
        placed["sell"] = _submit(
            store, community,
            _signed(seller, side=Side.SELL, quantity_wh=300, nonce=NONCE + 9, **span),
        )  # fmt: skip
        placed["recurring"] = _submit_with_terms(
            store, community, recurring, rule, kind=Kind.RECURRING, **span
        )
        nobody = {"preferred_partners": ["0x" + "77" * 20]}  # a partner who never sells
        placed["picky"] = _submit_with_terms(store, community, picky, nobody, **span)
        placed["plain"] = _submit_with_terms(store, community, plain, {}, **span)

    run_tiny(store, intervals=4, before_run=place)
    assert {store.tables.market_orders[r.order_hash].status for r in placed.values()} == {"booked"}
    filled: dict[str, dict[int, int]] = {name: {} for name in placed}
    for fill in store.market_fills():
        for name, record in placed.items():
            if fill.order_hash == record.order_hash:
                filled[name][fill.interval_start_s] = fill.filled_wh
    settled = [first + k * QUARTER_S for k in (1, 2, 3)]
    assert set(filled["plain"]) == set(filled["sell"]) == set(settled)
    assert set(filled["recurring"]) == {first + 2 * QUARTER_S}  # booked only where ruled
    assert filled["recurring"][first + 2 * QUARTER_S] > 0
    assert all(f > 0 for f in filled["plain"].values())
    assert set(filled["picky"]) == set(settled)
    assert all(f == 0 for f in filled["picky"].values())  # no trade outside its partners


def test_the_interval_cleared_before_a_restart_is_cleared_again_and_settled_once() -> None:
    """The clearing of the interval after the last one closed was held in memory: the next
    process clears that interval again from the members' booked orders, so it is settled
    and recorded (before, its trades were lost with the process)."""
    store = InMemoryStore()
    first = _first_start_s()
    traded = first + 4 * QUARTER_S  # the first interval of the second run
    placed: list[MarketOrderRecord] = []

    def place(community: Community) -> None:
        buyer, seller = _agents(community)[:2]
        span = {"first_interval": traded, "intervals": 1, "quantity_wh": 20}
        placed.append(_submit(store, community, _signed(buyer, price=10_000_000, **span)))
        placed.append(_submit(store, community, _signed(seller, side=Side.SELL, **span)))

    run_tiny(store, intervals=4, before_run=place)  # closing the fourth clears ``traded``
    assert not [f for f in store.market_fills() if f.interval_start_s == traded]
    run_tiny(store, intervals=2, first_hour=FIRST_HOUR + 1)  # a new process
    fills = {
        f.order_hash: f.filled_wh for f in store.market_fills() if f.interval_start_s == traded
    }
    assert fills.keys() >= {r.order_hash for r in placed}
    assert fills[placed[0].order_hash] == fills[placed[1].order_hash] > 0
    recorded = [i for i in store.market_intervals() if i.interval_start_s == traded]
    assert len(recorded) == 1
    assert all(store.tables.market_orders[r.order_hash].status == "booked" for r in placed)
