# pragma version ~=0.4.3
"""
@title P2PTrading
@notice Settlement of the community's peer-to-peer energy market: orders are signed by
        their makers (EIP-712) and cleared off-chain by the operator; this contract
        checks every fill against the signed limits, moves the money between the
        members' escrow accounts and withholds what short sellers did not deliver.
@dev Units: energy in Wh, prices in micro-units of CommunityCredit per kWh, money in
     micro-units (CommunityCredit has 6 decimals). All arithmetic is integer and exact;
     every micro-unit debited from buyers is credited to someone, never created or lost.
     Trust model. The operator chooses the fills (the clearing runs off-chain) but cannot
     make a member pay above, or receive below, the limit price the member signed, fill
     more than the signed quantity, use an order outside its validity or twice, or
     settle an interval before its delivery was metered (EnergyMonitoring). Credits of
     a settlement wait in `pending` for the dispute window of their day (epoch); a
     disputed day stays frozen until the operator resolves the dispute.
     Rounding: a buyer pays at most ceil(filled_wh * price / 1000), a seller receives at
     least floor(filled_wh * price / 1000); a short seller is paid
     floor(amount * delivered_wh / filled_wh) and buyers are refunded the withheld money
     pro rata, rounded down; every remainder (fees, spread, rounding) goes to the fund.
     Two settlement modes, chosen per day: `settle` checks every order of one interval
     on-chain; `settle_day` (optimistic) moves a whole day's net debits and credits in one
     transaction and commits to a Merkle root over the day's fills, which are checked only
     when challenged: anyone active may prove a fill in the root breaks its signed order
     (`challenge_fill`), freezing the day until the operator resolves it. A day settles in
     one mode only. Fill leaves are keccak256(abi_encode(order digest, uint256 start,
     filled_wh, amount, fee, delivered_wh, keccak256(signature))), 224 bytes; inner nodes
     follow EnergyMonitoring's rules (sorted pairs, gridshare.metering.merkle).
"""

from ethereum.ercs import IERC20

from interfaces import IEnergyMonitoring
from interfaces import IParticipantRegistry

MAX_ORDERS: constant(uint256) = 512
REGISTRY_BATCH: constant(uint256) = 256
MAX_ADJUSTMENTS: constant(uint256) = 64
MAX_REASON: constant(uint256) = 120
MAX_DAY_ACCOUNTS: constant(uint256) = 1024
MAX_PROOF: constant(uint256) = 32

SIDE_BUY: constant(uint8) = 0
SIDE_SELL: constant(uint8) = 1

WH_PER_KWH: constant(uint256) = 1000
BPS: constant(uint256) = 10_000
MAX_FEE_BPS: constant(uint256) = 1000
EPOCH_S: constant(uint256) = 86400

# secp256k1n // 2 (0x7fff...5d576e7357a4501ddfe92f46681b20a0): signatures with a larger s
# are malleable copies of low-s ones.
SECP256K1N_HALF: constant(uint256) = (
    57896044618658097711785492504343953926418782139537452191302581570759080747168
)

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
NAME_HASH: constant(bytes32) = keccak256("gridshare P2PTrading")
VERSION_HASH: constant(bytes32) = keccak256("1")
ORDER_TYPEHASH: constant(bytes32) = keccak256(
    "Order(address maker,uint8 side,uint64 first_interval,uint32 intervals,uint64 quantity_wh,uint64 price,uint64 nonce,uint64 expiry,uint8 kind,bytes32 terms)"
)


struct Order:
    maker: address
    side: uint8
    first_interval: uint64
    intervals: uint32
    quantity_wh: uint64
    price: uint64
    nonce: uint64
    expiry: uint64
    kind: uint8
    terms: bytes32


struct Fill:
    filled_wh: uint64
    amount: uint256
    delivered_wh: uint64


struct Settlement:
    trades_root: bytes32
    volume_wh: uint256
    buyers_paid: uint256
    release_at: uint256
    disputed: bool


struct DaySettlement:
    fills_root: bytes32
    volume_wh: uint256
    debited: uint256
    release_at: uint256
    disputed: bool
    # The fees and price band in force at settlement, which challenges check fills against.
    fee_per_kwh: uint256
    fee_bps: uint256
    min_price: uint256
    max_price: uint256


struct DayFill:
    order: Order
    signature: Bytes[65]
    start: uint64
    filled_wh: uint64
    amount: uint256
    fee: uint256
    delivered_wh: uint64


struct Withdrawal:
    amount: uint256
    due_at: uint256


event ParametersChanged:
    fee_per_kwh: uint256
    fee_bps: uint256
    min_price: uint256
    max_price: uint256
    dispute_window_s: uint256
    withdrawal_delay_s: uint256


event FundChanged:
    previous: indexed(address)
    current: indexed(address)


event Deposited:
    account: indexed(address)
    payer: indexed(address)
    amount: uint256


event WithdrawalRequested:
    account: indexed(address)
    amount: uint256
    due_at: uint256


event Withdrawn:
    account: indexed(address)
    amount: uint256


event Cancelled:
    maker: indexed(address)
    nonce: uint64


event Filled:
    start: indexed(uint64)
    order_hash: indexed(bytes32)
    maker: indexed(address)
    side: uint8
    filled_wh: uint64
    amount: uint256
    fee: uint256
    delivered_wh: uint64
    refund: uint256


event Settled:
    start: indexed(uint64)
    volume_wh: uint256
    buyers_paid: uint256
    sellers_paid: uint256
    fees: uint256
    to_fund: uint256
    trades_root: bytes32


event Released:
    account: indexed(address)
    epoch: indexed(uint256)
    amount: uint256


event Disputed:
    start: indexed(uint64)
    by: indexed(address)
    reason: String[MAX_REASON]


event Resolved:
    start: indexed(uint64)
    moved: uint256
    note: String[MAX_REASON]


event DaySettled:
    day: indexed(uint256)
    fills_root: bytes32
    volume_wh: uint256
    debited: uint256
    credited: uint256
    to_fund: uint256


event FillChallenged:
    day: indexed(uint256)
    leaf: bytes32
    by: indexed(address)
    reason: String[64]


event DayDisputed:
    day: indexed(uint256)
    by: indexed(address)
    reason: String[MAX_REASON]


event DayResolved:
    day: indexed(uint256)
    moved: uint256
    note: String[MAX_REASON]


registry: public(immutable(IParticipantRegistry))
credit: public(immutable(IERC20))
monitoring: public(immutable(IEnergyMonitoring))
interval_length_s: public(immutable(uint64))

fund: public(address)
fee_per_kwh: public(uint256)
fee_bps: public(uint256)
min_price: public(uint256)
max_price: public(uint256)
dispute_window_s: public(uint256)
withdrawal_delay_s: public(uint256)

escrow: public(HashMap[address, uint256])
pending: public(HashMap[address, HashMap[uint256, uint256]])
withdrawals: public(HashMap[address, Withdrawal])

nonce_bitmap: public(HashMap[address, HashMap[uint256, uint256]])
order_of_nonce: public(HashMap[address, HashMap[uint64, bytes32]])
cancelled: public(HashMap[address, HashMap[uint64, bool]])

settlements: public(HashMap[uint64, Settlement])
epoch_release_at: public(HashMap[uint256, uint256])
epoch_disputes: public(HashMap[uint256, uint256])

day_settlements: public(HashMap[uint256, DaySettlement])
# Set by `settle` for the interval's day: the day can no longer settle in batch.
day_has_intervals: public(HashMap[uint256, bool])

# Standing orders filled in the current transaction: digest -> interval start + 1. Stops
# one standing order from being filled twice in the same settlement.
_standing_seen: transient(HashMap[bytes32, uint256])


@deploy
def __init__(
    registry_: IParticipantRegistry,
    credit_: IERC20,
    monitoring_: IEnergyMonitoring,
    fund_: address,
):
    """
    @notice Deploy the trading contract of one community. It must then be trusted by
            CommunityCredit (`set_trusted`) to hold the members' escrow.
    @param registry_ The community's ParticipantRegistry; its operator settles.
    @param credit_ The community's CommunityCredit, the currency of the escrow.
    @param monitoring_ The community's EnergyMonitoring; an interval settles only once
           it is committed there.
    @param fund_ The community fund, which receives fees and remainders.
    """
    assert fund_ != empty(address), "P2PTrading: zero address"
    registry = registry_
    credit = credit_
    monitoring = monitoring_
    interval_length_s = staticcall monitoring_.interval_length_s()
    self.fund = fund_
    self.max_price = 10_000_000
    self.dispute_window_s = EPOCH_S
    self.withdrawal_delay_s = EPOCH_S
    log FundChanged(previous=empty(address), current=fund_)
    log ParametersChanged(
        fee_per_kwh=0,
        fee_bps=0,
        min_price=0,
        max_price=10_000_000,
        dispute_window_s=EPOCH_S,
        withdrawal_delay_s=EPOCH_S,
    )


# ---------------------------------------------------------------------------------------
# Internals


@view
@internal
def _only_operator():
    operator: address = staticcall registry.operator()
    assert msg.sender == operator, "P2PTrading: caller is not the operator"


@view
@internal
def _domain_separator() -> bytes32:
    return keccak256(abi_encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain.id, self))


@pure
@internal
def _digest(separator: bytes32, o: Order) -> bytes32:
    struct_hash: bytes32 = keccak256(
        abi_encode(
            ORDER_TYPEHASH,
            o.maker,
            o.side,
            o.first_interval,
            o.intervals,
            o.quantity_wh,
            o.price,
            o.nonce,
            o.expiry,
            o.kind,
            o.terms,
        )
    )
    return keccak256(concat(b"\x19\x01", separator, struct_hash))


@pure
@internal
def _signer(digest: bytes32, signature: Bytes[65]) -> address:
    """The signer of `digest`, or empty(address) for a malformed or malleable signature."""
    if len(signature) != 65:
        return empty(address)
    r: uint256 = extract32(signature, 0, output_type=uint256)
    s: uint256 = extract32(signature, 32, output_type=uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    if s > SECP256K1N_HALF or (v != 27 and v != 28):
        return empty(address)
    return ecrecover(digest, v, r, s)


@pure
@internal
def _fee(filled_wh: uint256, amount: uint256, fee_per_kwh: uint256, fee_bps: uint256) -> uint256:
    """ceil(filled_wh * fee_per_kwh / 1000) + ceil(amount * fee_bps / 10000)."""
    return (filled_wh * fee_per_kwh + WH_PER_KWH - 1) // WH_PER_KWH + (
        amount * fee_bps + BPS - 1
    ) // BPS


@pure
@internal
def _seller_paid(f: Fill) -> uint256:
    """floor(amount * delivered / filled) for a short seller, else the whole amount;
    computed without overflow for any amount."""
    if f.delivered_wh >= f.filled_wh:
        return f.amount
    filled: uint256 = convert(f.filled_wh, uint256)
    delivered: uint256 = convert(f.delivered_wh, uint256)
    return f.amount // filled * delivered + f.amount % filled * delivered // filled


@pure
@internal
def _fill_leaf(digest: bytes32, f: DayFill) -> bytes32:
    return keccak256(
        abi_encode(
            digest,
            convert(f.start, uint256),
            f.filled_wh,
            f.amount,
            f.fee,
            f.delivered_wh,
            keccak256(f.signature),
        )
    )


@view
@internal
def _fill_fault(day: uint256, f: DayFill, digest: bytes32, s: DaySettlement) -> String[64]:
    """The first check a day's fill fails against its signed order, or "" if none."""
    o: Order = f.order
    signer: address = self._signer(digest, f.signature)
    if signer == empty(address) or signer != o.maker:
        return "bad signature"
    if o.side > SIDE_SELL:
        return "bad side"
    length: uint256 = convert(interval_length_s, uint256)
    start: uint256 = convert(f.start, uint256)
    if start // EPOCH_S != day:
        return "interval outside the day"
    if start % length != 0:
        return "misaligned interval"
    first: uint256 = convert(o.first_interval, uint256)
    if start < first or start >= first + convert(o.intervals, uint256) * length:
        return "interval outside the order"
    price: uint256 = convert(o.price, uint256)
    if price < s.min_price or price > s.max_price:
        return "price outside the band"
    if f.filled_wh > o.quantity_wh:
        return "overfilled"
    filled: uint256 = convert(f.filled_wh, uint256)
    if o.side == SIDE_BUY:
        # The limit first: it bounds `amount`, so the fee below cannot overflow.
        if f.amount > (filled * price + WH_PER_KWH - 1) // WH_PER_KWH:
            return "buyer pays above its limit"
        if f.fee != self._fee(filled, f.amount, s.fee_per_kwh, s.fee_bps):
            return "wrong fee"
    else:
        if f.amount < filled * price // WH_PER_KWH:
            return "seller receives below its limit"
        if f.fee != 0:
            return "wrong fee"
        if f.delivered_wh > f.filled_wh:
            return "delivery above sale"
    return ""


@view
@internal
def _open_day(day: uint256) -> DaySettlement:
    """A batch-settled day within its dispute window; the caller must be active."""
    assert staticcall registry.is_active(msg.sender), "P2PTrading: caller is not an active participant"
    s: DaySettlement = self.day_settlements[day]
    assert s.release_at != 0, "P2PTrading: day not settled in batch"
    assert block.timestamp < s.release_at, "P2PTrading: dispute window closed"
    return s


@internal
def _move_pending(
    epoch: uint256,
    accounts: DynArray[address, MAX_DAY_ACCOUNTS],
    debits: DynArray[uint256, MAX_DAY_ACCOUNTS],
    credits: DynArray[uint256, MAX_DAY_ACCOUNTS],
) -> uint256:
    """Move pending credit of a day between accounts, conserving money; returns the total."""
    count: uint256 = len(accounts)
    assert len(debits) == count and len(credits) == count, "P2PTrading: length mismatch"
    total_debits: uint256 = 0
    total_credits: uint256 = 0
    for i: uint256 in range(count, bound=MAX_DAY_ACCOUNTS):
        total_debits += debits[i]
        total_credits += credits[i]
    assert total_debits == total_credits, "P2PTrading: resolution must conserve money"
    for i: uint256 in range(count, bound=MAX_DAY_ACCOUNTS):
        balance: uint256 = self.pending[accounts[i]][epoch]
        assert debits[i] <= balance, "P2PTrading: debit above pending"
        self.pending[accounts[i]][epoch] = balance - debits[i] + credits[i]
    return total_debits


@internal
def _use_nonce(maker: address, nonce: uint64, intervals: uint32, digest: bytes32, start: uint256):
    """Spend a spot order's nonce, or bind a standing order's nonce to its hash."""
    word_index: uint256 = convert(nonce, uint256) >> 8
    bit: uint256 = 1 << (convert(nonce, uint256) & 255)
    word: uint256 = self.nonce_bitmap[maker][word_index]
    if intervals == 1:
        if word & bit == 0:
            self.nonce_bitmap[maker][word_index] = word | bit
            return
    else:
        stored: bytes32 = self.order_of_nonce[maker][nonce]
        fresh: bool = stored == empty(bytes32) and word & bit == 0
        if fresh or stored == digest:
            assert not self.cancelled[maker][nonce], "P2PTrading: order cancelled"
            assert self._standing_seen[digest] != start + 1, "P2PTrading: duplicate order"
            self._standing_seen[digest] = start + 1
            if fresh:
                self.order_of_nonce[maker][nonce] = digest
                self.nonce_bitmap[maker][word_index] = word | bit
            return
    # Cancelling sets the bit too, so only a used bit can hide a cancellation.
    assert not self.cancelled[maker][nonce], "P2PTrading: order cancelled"
    raise "P2PTrading: nonce already used"


# ---------------------------------------------------------------------------------------
# Parameters


@external
def set_parameters(
    fee_per_kwh: uint256,
    fee_bps: uint256,
    min_price: uint256,
    max_price: uint256,
    dispute_window_s: uint256,
    withdrawal_delay_s: uint256,
):
    """
    @notice Set the market's fees, price band and waiting times.
    @dev Applies to settlements from now on; orders are checked against the band at
         settlement.
    @param fee_per_kwh Fee a buyer pays per kWh bought, micro-units (rounded up per order).
    @param fee_bps Fee a buyer pays on the amount, basis points (at most 1000 = 10 %).
    @param min_price Lowest limit price an order may carry, micro-units per kWh.
    @param max_price Highest limit price an order may carry, micro-units per kWh.
    @param dispute_window_s How long a settlement can be disputed before its credits
           may be released, seconds.
    @param withdrawal_delay_s How long a withdrawal request waits, seconds.
    """
    self._only_operator()
    assert fee_bps <= MAX_FEE_BPS, "P2PTrading: fee_bps above 1000"
    assert min_price <= max_price, "P2PTrading: min_price above max_price"
    self.fee_per_kwh = fee_per_kwh
    self.fee_bps = fee_bps
    self.min_price = min_price
    self.max_price = max_price
    self.dispute_window_s = dispute_window_s
    self.withdrawal_delay_s = withdrawal_delay_s
    log ParametersChanged(
        fee_per_kwh=fee_per_kwh,
        fee_bps=fee_bps,
        min_price=min_price,
        max_price=max_price,
        dispute_window_s=dispute_window_s,
        withdrawal_delay_s=withdrawal_delay_s,
    )


@external
def set_fund(fund: address):
    """
    @notice Change the community fund that receives fees and remainders.
    @param fund The new fund; it must be able to hold credit to withdraw it.
    """
    self._only_operator()
    assert fund != empty(address), "P2PTrading: zero address"
    log FundChanged(previous=self.fund, current=fund)
    self.fund = fund


@view
@external
def fee_of(filled_wh: uint256, amount: uint256) -> uint256:
    """
    @notice The fee a buyer pays on top of `amount` for a fill, as settlement charges it.
    @param filled_wh Energy bought, Wh.
    @param amount Price of the energy, micro-units.
    @return ceil(filled_wh * fee_per_kwh / 1000) + ceil(amount * fee_bps / 10000).
    """
    return self._fee(filled_wh, amount, self.fee_per_kwh, self.fee_bps)


# ---------------------------------------------------------------------------------------
# Orders


@view
@external
def domain_separator() -> bytes32:
    """
    @notice The EIP-712 domain separator orders are signed under.
    @return keccak256 of the domain ("gridshare P2PTrading", "1", chain id, this contract).
    """
    return self._domain_separator()


@view
@external
def order_digest(o: Order) -> bytes32:
    """
    @notice The EIP-712 digest of an order: what its maker signs, and its hash in events.
    @param o The order.
    @return keccak256(0x1901 ++ domain separator ++ hashStruct(o)).
    """
    return self._digest(self._domain_separator(), o)


@view
@external
def is_nonce_used(maker: address, nonce: uint64) -> bool:
    """
    @notice Whether a maker's nonce was used by a settled order or cancelled.
    @param maker The order maker.
    @param nonce The order nonce.
    @return True once the nonce can no longer start a new order.
    """
    word: uint256 = self.nonce_bitmap[maker][convert(nonce, uint256) >> 8]
    return word & (1 << (convert(nonce, uint256) & 255)) != 0


@external
def cancel(nonces: DynArray[uint64, MAX_ORDERS]):
    """
    @notice Cancel the caller's orders by nonce: none of them can settle any more, and an
            unused nonce can never be used.
    @param nonces The nonces of the orders to cancel.
    """
    for nonce: uint64 in nonces:
        self.cancelled[msg.sender][nonce] = True
        word_index: uint256 = convert(nonce, uint256) >> 8
        self.nonce_bitmap[msg.sender][word_index] |= 1 << (convert(nonce, uint256) & 255)
        log Cancelled(maker=msg.sender, nonce=nonce)


# ---------------------------------------------------------------------------------------
# Escrow


@external
def deposit(amount: uint256):
    """
    @notice Move credit from the caller into the caller's escrow (approve this contract
            on CommunityCredit first).
    @param amount Micro-units.
    """
    assert amount > 0, "P2PTrading: zero amount"
    assert extcall credit.transferFrom(msg.sender, self, amount), "P2PTrading: transfer failed"
    self.escrow[msg.sender] += amount
    log Deposited(account=msg.sender, payer=msg.sender, amount=amount)


@external
def deposit_for(account: address, amount: uint256):
    """
    @notice Move credit from the caller into another member's escrow.
    @param account An active participant whose escrow receives the credit.
    @param amount Micro-units.
    """
    assert amount > 0, "P2PTrading: zero amount"
    assert staticcall registry.is_active(account), "P2PTrading: account is not an active participant"
    assert extcall credit.transferFrom(msg.sender, self, amount), "P2PTrading: transfer failed"
    self.escrow[account] += amount
    log Deposited(account=account, payer=msg.sender, amount=amount)


@external
def request_withdrawal(amount: uint256):
    """
    @notice Ask to withdraw escrow; it can be withdrawn after `withdrawal_delay_s`, and
            settlements may still use the escrow meanwhile. Replaces an earlier request.
    @param amount Micro-units.
    """
    assert amount > 0, "P2PTrading: zero amount"
    due_at: uint256 = block.timestamp + self.withdrawal_delay_s
    self.withdrawals[msg.sender] = Withdrawal(amount=amount, due_at=due_at)
    log WithdrawalRequested(account=msg.sender, amount=amount, due_at=due_at)


@external
def withdraw() -> uint256:
    """
    @notice Pay out the caller's due withdrawal request: the requested amount, or the
            escrow left if settlements used some of it.
    @return The micro-units transferred.
    """
    request: Withdrawal = self.withdrawals[msg.sender]
    assert request.due_at != 0, "P2PTrading: no withdrawal requested"
    assert block.timestamp >= request.due_at, "P2PTrading: withdrawal not due"
    balance: uint256 = self.escrow[msg.sender]
    paid: uint256 = min(request.amount, balance)
    self.escrow[msg.sender] = balance - paid
    self.withdrawals[msg.sender] = empty(Withdrawal)
    assert extcall credit.transfer(msg.sender, paid), "P2PTrading: transfer failed"
    log Withdrawn(account=msg.sender, amount=paid)
    return paid


# ---------------------------------------------------------------------------------------
# Settlement


@external
def settle(
    start: uint64,
    orders: DynArray[Order, MAX_ORDERS],
    signatures: DynArray[Bytes[65], MAX_ORDERS],
    fills: DynArray[Fill, MAX_ORDERS],
    trades_root: bytes32,
):
    """
    @notice Settle one delivery interval: check each signed order against its fill,
            debit the buyers' escrow, and credit sellers, refunds and the fund to
            `pending` for the interval's day.
    @dev fills[i] is orders[i]'s fill. Buy: the buyer pays `amount` (at most
         ceil(filled_wh * price / 1000)) plus `fee_of`; delivered_wh is ignored. Sell:
         the seller is owed `amount` (at least floor(filled_wh * price / 1000)) and is
         paid floor(amount * delivered_wh / filled_wh); the withheld rest is refunded to
         the buyers pro rata to their amounts (rounded down). Filled is logged per order,
         with refund 0 and fee 0 for sells and delivered_wh 0 for buys.
    @param start The interval's start, unix seconds (UTC); it must be committed on
           EnergyMonitoring, and its day not settled with `settle_day`.
    @param orders The signed orders that traded in the interval.
    @param signatures 65-byte signatures (r ++ s ++ v) of the orders' EIP-712 digests.
    @param fills Each order's fill in this interval.
    @param trades_root Root of the off-chain trade list, recorded for audits.
    """
    self._only_operator()
    length: uint256 = convert(interval_length_s, uint256)
    start_s: uint256 = convert(start, uint256)
    assert start_s % length == 0, "P2PTrading: misaligned interval"
    assert self.settlements[start].release_at == 0, "P2PTrading: interval already settled"
    epoch: uint256 = start_s // EPOCH_S
    assert self.day_settlements[epoch].release_at == 0, "P2PTrading: day settled in batch"
    assert staticcall monitoring.is_committed(start), "P2PTrading: interval not committed"
    count: uint256 = len(orders)
    assert len(signatures) == count and len(fills) == count, "P2PTrading: length mismatch"

    separator: bytes32 = self._domain_separator()
    fee_per_kwh: uint256 = self.fee_per_kwh
    fee_bps: uint256 = self.fee_bps
    min_price: uint256 = self.min_price
    max_price: uint256 = self.max_price

    # One registry call per 256 makers; each is checked on its own only if one is not.
    makers_active: bool = True
    makers: DynArray[address, REGISTRY_BATCH] = []
    for i: uint256 in range(count, bound=MAX_ORDERS):
        makers.append(orders[i].maker)
        if len(makers) == REGISTRY_BATCH or i + 1 == count:
            makers_active = makers_active and staticcall registry.all_active(makers)
            makers = []

    digests: DynArray[bytes32, MAX_ORDERS] = []
    buy_wh: uint256 = 0
    sell_wh: uint256 = 0
    buy_amount: uint256 = 0
    sell_amount: uint256 = 0
    fees: uint256 = 0
    withheld: uint256 = 0
    for i: uint256 in range(count, bound=MAX_ORDERS):
        o: Order = orders[i]
        f: Fill = fills[i]
        digest: bytes32 = self._digest(separator, o)
        signer: address = self._signer(digest, signatures[i])
        assert signer != empty(address) and signer == o.maker, "P2PTrading: bad signature"
        if not makers_active:
            assert staticcall registry.is_active(o.maker), "P2PTrading: maker is not an active participant"
        assert block.timestamp <= convert(o.expiry, uint256), "P2PTrading: order expired"
        assert o.quantity_wh > 0 and o.intervals > 0, "P2PTrading: zero quantity"
        first: uint256 = convert(o.first_interval, uint256)
        assert (
            first <= start_s and start_s < first + convert(o.intervals, uint256) * length
        ), "P2PTrading: interval outside the order"
        price: uint256 = convert(o.price, uint256)
        assert price >= min_price and price <= max_price, "P2PTrading: price outside the band"
        assert o.side <= SIDE_SELL, "P2PTrading: bad side"
        self._use_nonce(o.maker, o.nonce, o.intervals, digest, start_s)
        assert f.filled_wh <= o.quantity_wh, "P2PTrading: overfilled"
        filled: uint256 = convert(f.filled_wh, uint256)
        if o.side == SIDE_BUY:
            assert (
                f.amount <= (filled * price + WH_PER_KWH - 1) // WH_PER_KWH
            ), "P2PTrading: buyer pays above its limit"
            fee: uint256 = self._fee(filled, f.amount, fee_per_kwh, fee_bps)
            cost: uint256 = f.amount + fee
            if cost > 0:
                balance: uint256 = self.escrow[o.maker]
                assert balance >= cost, "P2PTrading: insufficient escrow"
                self.escrow[o.maker] = balance - cost
            buy_wh += filled
            buy_amount += f.amount
            fees += fee
        else:
            assert f.amount >= filled * price // WH_PER_KWH, "P2PTrading: seller receives below its limit"
            assert f.delivered_wh <= f.filled_wh, "P2PTrading: delivery above sale"
            sell_wh += filled
            sell_amount += f.amount
            withheld += f.amount - self._seller_paid(f)
        digests.append(digest)

    assert buy_wh == sell_wh, "P2PTrading: energy not balanced"
    assert buy_amount >= sell_amount, "P2PTrading: buyers pay less than sellers receive"

    refunded: uint256 = 0
    for i: uint256 in range(count, bound=MAX_ORDERS):
        o: Order = orders[i]
        f: Fill = fills[i]
        owed: uint256 = 0
        fee: uint256 = 0
        refund: uint256 = 0
        delivered: uint64 = 0
        if o.side == SIDE_BUY:
            fee = self._fee(convert(f.filled_wh, uint256), f.amount, fee_per_kwh, fee_bps)
            if withheld > 0:
                # withheld <= sell_amount <= buy_amount, so buy_amount > 0 here.
                refund = withheld * f.amount // buy_amount
            owed = refund
            refunded += refund
        else:
            owed = self._seller_paid(f)
            delivered = f.delivered_wh
        if owed > 0:
            self.pending[o.maker][epoch] += owed
        log Filled(
            start=start,
            order_hash=digests[i],
            maker=o.maker,
            side=o.side,
            filled_wh=f.filled_wh,
            amount=f.amount,
            fee=fee,
            delivered_wh=delivered,
            refund=refund,
        )

    sellers_paid: uint256 = sell_amount - withheld
    buyers_paid: uint256 = buy_amount + fees
    # = fees + (buy_amount - sell_amount) + (withheld - refunded): what nobody else is owed.
    to_fund: uint256 = buyers_paid - sellers_paid - refunded
    if to_fund > 0:
        self.pending[self.fund][epoch] += to_fund

    release_at: uint256 = block.timestamp + self.dispute_window_s
    self.settlements[start] = Settlement(
        trades_root=trades_root,
        volume_wh=buy_wh,
        buyers_paid=buyers_paid,
        release_at=release_at,
        disputed=False,
    )
    if release_at > self.epoch_release_at[epoch]:
        self.epoch_release_at[epoch] = release_at
    if not self.day_has_intervals[epoch]:
        self.day_has_intervals[epoch] = True
    log Settled(
        start=start,
        volume_wh=buy_wh,
        buyers_paid=buyers_paid,
        sellers_paid=sellers_paid,
        fees=fees,
        to_fund=to_fund,
        trades_root=trades_root,
    )


@view
@external
def settled(start: uint64) -> bool:
    """
    @notice Whether the interval starting at `start` has been settled.
    @param start An interval's start, unix seconds (UTC).
    @return True once `settle` succeeded for it.
    """
    return self.settlements[start].release_at != 0


@external
def release(accounts: DynArray[address, MAX_ORDERS], epoch: uint256):
    """
    @notice Move the pending credits of a day into the accounts' escrow, once every
            settlement of the day is past its dispute window and undisputed. Anyone may
            call it.
    @param accounts The accounts to release (any number of times; zero pending is skipped).
    @param epoch The day: interval start // 86400.
    """
    assert block.timestamp >= self.epoch_release_at[epoch], "P2PTrading: dispute window open"
    assert self.epoch_disputes[epoch] == 0, "P2PTrading: epoch disputed"
    for account: address in accounts:
        amount: uint256 = self.pending[account][epoch]
        if amount > 0:
            self.pending[account][epoch] = 0
            self.escrow[account] += amount
            log Released(account=account, epoch=epoch, amount=amount)


@external
def dispute(start: uint64, reason: String[MAX_REASON]):
    """
    @notice Dispute a settlement within its window; its day's credits stay pending until
            the operator resolves it.
    @param start The settled interval's start, unix seconds (UTC).
    @param reason Why, for the record.
    """
    assert staticcall registry.is_active(msg.sender), "P2PTrading: caller is not an active participant"
    s: Settlement = self.settlements[start]
    assert s.release_at != 0, "P2PTrading: not settled"
    assert block.timestamp < s.release_at, "P2PTrading: dispute window closed"
    assert not s.disputed, "P2PTrading: already disputed"
    self.settlements[start].disputed = True
    self.epoch_disputes[convert(start, uint256) // EPOCH_S] += 1
    log Disputed(start=start, by=msg.sender, reason=reason)


@external
def resolve(
    start: uint64,
    accounts: DynArray[address, MAX_ADJUSTMENTS],
    debits: DynArray[uint256, MAX_ADJUSTMENTS],
    credits: DynArray[uint256, MAX_ADJUSTMENTS],
    note: String[MAX_REASON],
):
    """
    @notice Resolve a dispute: move pending credits of the interval's day between
            accounts (or nothing), then unfreeze the day.
    @dev Applied in order, each account's debit then its credit; the debits and credits
         must sum to the same total.
    @param start The disputed interval's start, unix seconds (UTC).
    @param accounts The accounts whose pending credit changes.
    @param debits Micro-units taken from each account's pending credit.
    @param credits Micro-units added to each account's pending credit.
    @param note The resolution, for the record.
    """
    self._only_operator()
    assert self.settlements[start].disputed, "P2PTrading: not disputed"
    epoch: uint256 = convert(start, uint256) // EPOCH_S
    moved: uint256 = self._move_pending(epoch, accounts, debits, credits)
    self.settlements[start].disputed = False
    self.epoch_disputes[epoch] -= 1
    log Resolved(start=start, moved=moved, note=note)


# ---------------------------------------------------------------------------------------
# Daily batch settlement (optimistic, with fraud proofs)


@external
def settle_day(
    day: uint256,
    accounts: DynArray[address, MAX_DAY_ACCOUNTS],
    debits: DynArray[uint256, MAX_DAY_ACCOUNTS],
    credits: DynArray[uint256, MAX_DAY_ACCOUNTS],
    fills_root: bytes32,
    volume_wh: uint256,
):
    """
    @notice Settle a whole day at once: debit each account's escrow and credit its
            `pending` for the day by the net of its fills, computed off-chain; what is
            debited and not credited goes to the fund. The fills themselves are only
            committed to (`fills_root`) and can be challenged during the dispute window.
    @dev No per-fill work or storage. Accounts may repeat; each entry applies in order.
         Refused when the day was settled before in either mode or when its last
         interval is not committed on EnergyMonitoring. Records the fees and price band
         in force, which `challenge_fill` checks fills against.
    @param day The day: unix seconds (UTC) // 86400.
    @param accounts The accounts whose escrow or pending credit changes.
    @param debits Micro-units taken from each account's escrow (what it pays, fees
           included).
    @param credits Micro-units added to each account's pending credit for the day
           (sales and refunds); they sum to at most the debits.
    @param fills_root Merkle root over the day's fill leaves (see `fill_leaf`).
    @param volume_wh Energy traded in the day, Wh, for the record.
    """
    self._only_operator()
    assert self.day_settlements[day].release_at == 0, "P2PTrading: day already settled"
    assert not self.day_has_intervals[day], "P2PTrading: day has interval settlements"
    length: uint256 = convert(interval_length_s, uint256)
    last: uint256 = ((day + 1) * EPOCH_S - 1) // length * length
    assert staticcall monitoring.is_committed(convert(last, uint64)), "P2PTrading: day not committed"
    count: uint256 = len(accounts)
    assert len(debits) == count and len(credits) == count, "P2PTrading: length mismatch"

    debited: uint256 = 0
    credited: uint256 = 0
    for i: uint256 in range(count, bound=MAX_DAY_ACCOUNTS):
        account: address = accounts[i]
        debit: uint256 = debits[i]
        if debit > 0:
            balance: uint256 = self.escrow[account]
            assert balance >= debit, "P2PTrading: insufficient escrow"
            self.escrow[account] = balance - debit
            debited += debit
        credit_: uint256 = credits[i]
        if credit_ > 0:
            self.pending[account][day] += credit_
            credited += credit_
    assert credited <= debited, "P2PTrading: credits exceed debits"
    to_fund: uint256 = debited - credited
    if to_fund > 0:
        self.pending[self.fund][day] += to_fund

    release_at: uint256 = block.timestamp + self.dispute_window_s
    self.day_settlements[day] = DaySettlement(
        fills_root=fills_root,
        volume_wh=volume_wh,
        debited=debited,
        release_at=release_at,
        disputed=False,
        fee_per_kwh=self.fee_per_kwh,
        fee_bps=self.fee_bps,
        min_price=self.min_price,
        max_price=self.max_price,
    )
    if release_at > self.epoch_release_at[day]:
        self.epoch_release_at[day] = release_at
    log DaySettled(
        day=day,
        fills_root=fills_root,
        volume_wh=volume_wh,
        debited=debited,
        credited=credited,
        to_fund=to_fund,
    )


@view
@external
def fill_leaf(fill: DayFill) -> bytes32:
    """
    @notice The Merkle leaf of one fill of a batch-settled day.
    @dev keccak256(abi_encode(order_digest(order), uint256 start, filled_wh, amount, fee,
         delivered_wh, keccak256(signature))): seven 32-byte words. The signature is part
         of the leaf, so a challenger cannot swap in a bad one for a fill the operator
         committed with a good one.
    @param fill The fill: the signed order, its signature, the interval's start and what
           was filled, paid (sell: owed) and charged as fee, and delivered (sell).
    @return The leaf.
    """
    return self._fill_leaf(self._digest(self._domain_separator(), fill.order), fill)


@external
def challenge_fill(day: uint256, fill: DayFill, proof: DynArray[bytes32, MAX_PROOF]):
    """
    @notice Prove that a fill of a batch-settled day breaks its signed order: the day is
            disputed and its credits stay pending until the operator resolves it.
    @dev Reverts "P2PTrading: fill is valid" when the fill passes every check (then
         nothing changes). The checks: the signature recovers the maker; the start is
         in the day, aligned, and within the order's intervals; the side is valid; the
         price is within the band recorded for the day; filled_wh <= quantity_wh; a buy
         pays at most ceil(filled_wh * price / 1000) and the fee recorded for the day's
         fees; a sell is owed at least floor(filled_wh * price / 1000), with fee 0 and
         delivered_wh <= filled_wh. The day is counted once in `epoch_disputes`, however
         many fills are challenged.
    @param day The day: unix seconds (UTC) // 86400.
    @param fill The fill, as in its leaf (see `fill_leaf`).
    @param proof Sibling hashes from the fill's leaf up to the day's fills_root.
    """
    s: DaySettlement = self._open_day(day)
    digest: bytes32 = self._digest(self._domain_separator(), fill.order)
    leaf: bytes32 = self._fill_leaf(digest, fill)
    node: bytes32 = leaf
    for sibling: bytes32 in proof:
        # Sorted pairs: bytes32 compare byte by byte exactly as their uint256 values do.
        if convert(node, uint256) <= convert(sibling, uint256):
            node = keccak256(concat(node, sibling))
        else:
            node = keccak256(concat(sibling, node))
    assert node == s.fills_root, "P2PTrading: fill not in the settlement"
    reason: String[64] = self._fill_fault(day, fill, digest, s)
    assert len(reason) > 0, "P2PTrading: fill is valid"
    if not s.disputed:
        self.day_settlements[day].disputed = True
        self.epoch_disputes[day] += 1
    log FillChallenged(day=day, leaf=leaf, by=msg.sender, reason=reason)


@external
def dispute_day(day: uint256, reason: String[MAX_REASON]):
    """
    @notice Dispute a batch-settled day within its window (e.g. a debit or credit that
            its fills do not explain); its credits stay pending until the operator
            resolves it.
    @param day The day: unix seconds (UTC) // 86400.
    @param reason Why, for the record.
    """
    s: DaySettlement = self._open_day(day)
    assert not s.disputed, "P2PTrading: already disputed"
    self.day_settlements[day].disputed = True
    self.epoch_disputes[day] += 1
    log DayDisputed(day=day, by=msg.sender, reason=reason)


@external
def resolve_day(
    day: uint256,
    accounts: DynArray[address, MAX_DAY_ACCOUNTS],
    debits: DynArray[uint256, MAX_DAY_ACCOUNTS],
    credits: DynArray[uint256, MAX_DAY_ACCOUNTS],
    note: String[MAX_REASON],
):
    """
    @notice Resolve a batch-settled day's dispute or challenged fill: move pending
            credits of the day between accounts (or nothing), then unfreeze the day.
    @dev As `resolve`: applied in order, each account's debit then its credit; the
         debits and credits must sum to the same total. Escrow already debited is
         repaid by crediting pending (released with the day).
    @param day The day: unix seconds (UTC) // 86400.
    @param accounts The accounts whose pending credit changes.
    @param debits Micro-units taken from each account's pending credit.
    @param credits Micro-units added to each account's pending credit.
    @param note The resolution, for the record.
    """
    self._only_operator()
    assert self.day_settlements[day].disputed, "P2PTrading: not disputed"
    moved: uint256 = self._move_pending(day, accounts, debits, credits)
    self.day_settlements[day].disputed = False
    self.epoch_disputes[day] -= 1
    log DayResolved(day=day, moved=moved, note=note)
