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
"""

from ethereum.ercs import IERC20

from interfaces import IEnergyMonitoring
from interfaces import IParticipantRegistry

MAX_ORDERS: constant(uint256) = 256
MAX_ADJUSTMENTS: constant(uint256) = 64
MAX_REASON: constant(uint256) = 120

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
           EnergyMonitoring.
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
    assert staticcall monitoring.is_committed(start), "P2PTrading: interval not committed"
    count: uint256 = len(orders)
    assert len(signatures) == count and len(fills) == count, "P2PTrading: length mismatch"

    separator: bytes32 = self._domain_separator()
    fee_per_kwh: uint256 = self.fee_per_kwh
    fee_bps: uint256 = self.fee_bps
    min_price: uint256 = self.min_price
    max_price: uint256 = self.max_price

    # One registry call for all makers; each is checked on its own only if one is not.
    makers: DynArray[address, MAX_ORDERS] = []
    for i: uint256 in range(count, bound=MAX_ORDERS):
        makers.append(orders[i].maker)
    makers_active: bool = staticcall registry.all_active(makers)

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

    epoch: uint256 = start_s // EPOCH_S
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
    count: uint256 = len(accounts)
    assert len(debits) == count and len(credits) == count, "P2PTrading: length mismatch"
    total_debits: uint256 = 0
    total_credits: uint256 = 0
    for i: uint256 in range(count, bound=MAX_ADJUSTMENTS):
        total_debits += debits[i]
        total_credits += credits[i]
    assert total_debits == total_credits, "P2PTrading: resolution must conserve money"
    epoch: uint256 = convert(start, uint256) // EPOCH_S
    for i: uint256 in range(count, bound=MAX_ADJUSTMENTS):
        balance: uint256 = self.pending[accounts[i]][epoch]
        assert debits[i] <= balance, "P2PTrading: debit above pending"
        self.pending[accounts[i]][epoch] = balance - debits[i] + credits[i]
    self.settlements[start].disputed = False
    self.epoch_disputes[epoch] -= 1
    log Resolved(start=start, moved=total_debits, note=note)
