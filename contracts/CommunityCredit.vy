# pragma version ~=0.4.3
"""
@title CommunityCredit
@notice The community's settlement currency: an ERC-20 token with 6 decimals, so one
        token unit is one micro-unit of the community currency. The operator mints credit
        against deposits made off-chain and members burn it to withdraw. Only active
        participants (ParticipantRegistry) and contracts the operator trusts (such as the
        market's escrow) can hold or move credit.
"""

from ethereum.ercs import IERC20

from interfaces import IParticipantRegistry

implements: IERC20

MAX_BATCH: constant(uint256) = 256

name: public(constant(String[32])) = "gridshare Community Credit"
symbol: public(constant(String[8])) = "GSCC"
decimals: public(constant(uint8)) = 6

registry: public(immutable(IParticipantRegistry))

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
trusted: public(HashMap[address, bool])
deposit_used: public(HashMap[bytes32, bool])


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256


event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


event Deposit:
    account: indexed(address)
    amount: uint256
    reference: bytes32


event Withdrawal:
    account: indexed(address)
    amount: uint256
    reference: bytes32


event TrustChanged:
    account: indexed(address)
    trusted: bool


@deploy
def __init__(registry_: IParticipantRegistry):
    """
    @notice Deploy the credit token bound to a participant registry.
    @param registry_ The community's ParticipantRegistry.
    """
    registry = registry_


@view
@internal
def _operator() -> address:
    return staticcall registry.operator()


@view
@internal
def _can_hold(account: address) -> bool:
    return self.trusted[account] or staticcall registry.is_active(account)


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "CommunityCredit: zero address"
    assert self._can_hold(sender), "CommunityCredit: sender is not an active participant"
    assert self._can_hold(receiver), "CommunityCredit: receiver is not an active participant"
    balance: uint256 = self.balanceOf[sender]
    assert balance >= amount, "CommunityCredit: insufficient balance"
    self.balanceOf[sender] = balance - amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` micro-units from the caller to `receiver`.
    @param receiver An active participant or trusted contract.
    @param amount Micro-units.
    @return True.
    """
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transfer_batch(
    receivers: DynArray[address, MAX_BATCH], amounts: DynArray[uint256, MAX_BATCH]
) -> bool:
    """
    @notice Move credit from the caller to up to 256 receivers in one transaction.
    @param receivers Active participants or trusted contracts.
    @param amounts Micro-units, aligned with `receivers`.
    @return True.
    """
    assert len(receivers) == len(amounts), "CommunityCredit: length mismatch"
    assert self._can_hold(msg.sender), "CommunityCredit: sender is not an active participant"
    # One registry call for all receivers; trusted contracts among them take the slow path.
    receivers_checked: bool = staticcall registry.all_active(receivers)
    total: uint256 = 0
    for i: uint256 in range(len(receivers), bound=MAX_BATCH):
        receiver: address = receivers[i]
        assert receiver != empty(address), "CommunityCredit: zero address"
        if not receivers_checked:
            assert self._can_hold(receiver), "CommunityCredit: receiver is not an active participant"
        self.balanceOf[receiver] += amounts[i]
        total += amounts[i]
        log Transfer(sender=msg.sender, receiver=receiver, value=amounts[i])
    # Debit once, after the credits: the sender may be among the receivers.
    balance: uint256 = self.balanceOf[msg.sender]
    assert balance >= total, "CommunityCredit: insufficient balance"
    self.balanceOf[msg.sender] = balance - total
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` from `sender` to `receiver` within the caller's allowance.
    @param sender The owner of the credit.
    @param receiver An active participant or trusted contract.
    @param amount Micro-units.
    @return True.
    """
    assert self._can_hold(msg.sender), "CommunityCredit: spender is not an active participant"
    allowed: uint256 = self.allowance[sender][msg.sender]
    assert allowed >= amount, "CommunityCredit: allowance exceeded"
    if allowed != max_value(uint256):
        self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Allow `spender` to move up to `amount` of the caller's credit.
    @param spender Usually a trusted contract such as the market's escrow.
    @param amount Micro-units; max_value(uint256) for no limit.
    @return True.
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def mint(account: address, amount: uint256, reference: bytes32):
    """
    @notice Create credit for a deposit the operator received off-chain; each deposit
            reference mints once, so a retried call cannot mint twice.
    @param account An active participant.
    @param amount Micro-units deposited.
    @param reference The deposit's reference (e.g. a bank transfer id hash).
    """
    assert msg.sender == self._operator(), "CommunityCredit: caller is not the operator"
    assert amount > 0, "CommunityCredit: zero amount"
    assert not self.deposit_used[reference], "CommunityCredit: deposit already minted"
    assert staticcall registry.is_active(account), "CommunityCredit: account is not an active participant"
    self.deposit_used[reference] = True
    self.totalSupply += amount
    self.balanceOf[account] += amount
    log Transfer(sender=empty(address), receiver=account, value=amount)
    log Deposit(account=account, amount=amount, reference=reference)


@external
def withdraw(amount: uint256, reference: bytes32):
    """
    @notice Burn the caller's credit to ask the operator for a payout off-chain. A
            suspended member cannot withdraw until the operator reinstates them.
    @param amount Micro-units to withdraw.
    @param reference The payout request's reference.
    """
    assert amount > 0, "CommunityCredit: zero amount"
    assert self._can_hold(msg.sender), "CommunityCredit: sender is not an active participant"
    balance: uint256 = self.balanceOf[msg.sender]
    assert balance >= amount, "CommunityCredit: insufficient balance"
    self.balanceOf[msg.sender] = balance - amount
    self.totalSupply -= amount
    log Transfer(sender=msg.sender, receiver=empty(address), value=amount)
    log Withdrawal(account=msg.sender, amount=amount, reference=reference)


@external
def set_trusted(account: address, is_trusted: bool):
    """
    @notice Let a contract (such as the market's escrow) hold and move credit.
    @param account The contract's address.
    @param is_trusted True to trust, False to revoke.
    """
    assert msg.sender == self._operator(), "CommunityCredit: caller is not the operator"
    self.trusted[account] = is_trusted
    log TrustChanged(account=account, trusted=is_trusted)
