# pragma version ~=0.4.3
"""
@title EnergyCertificate
@notice Granular renewable energy certificates, in the spirit of ERC-1888 and EnergyTag:
        an ERC-1155 multi-token where one unit is 1 Wh of verified renewable production
        and each token id stands for one generator and one metering interval. Holders
        trade certificates freely and retire them to claim the energy (e.g. for
        carbon-offset reporting); a retired unit is burnt and recorded as a claim.
@dev Token id = (uint256(device) << 64) | interval start (unix seconds, UTC).
     Trust model. Every mint is bounded on-chain by the generator's rated capacity over
     one interval and by the production the operator committed for the interval in
     EnergyMonitoring, and each id is minted at most once. Beyond that, two paths:
     - mint_with_proof (anyone): the reading is proven against the interval's committed
       production Merkle root, so the amount is exactly the meter's export; the only
       trust is in the operator's commitment of the root.
     - mint_batch (operator only, cheaper): no proof is checked on-chain; the operator
       mints under audit, and `gridshare verify` later proves every minted amount
       against the committed roots off-chain. A dishonest operator is caught after the
       fact, never able to exceed the bounds above.
     Minting and transfers call the ERC-1155 receiver hook when the recipient is a
     contract, after all state changes (checks-effects-interactions).
"""

from ethereum.ercs import IERC165

from interfaces import IEnergyMonitoring
from interfaces import IParticipantRegistry

implements: IERC165


interface IERC1155Receiver:
    def onERC1155Received(
        operator: address, sender: address, id: uint256, amount: uint256, data: Bytes[MAX_DATA]
    ) -> bytes4: nonpayable
    def onERC1155BatchReceived(
        operator: address,
        sender: address,
        ids: DynArray[uint256, MAX_BATCH],
        amounts: DynArray[uint256, MAX_BATCH],
        data: Bytes[MAX_DATA],
    ) -> bytes4: nonpayable


SOURCE_SOLAR: constant(uint8) = 1
SOURCE_WIND: constant(uint8) = 2
SOURCE_HYDRO: constant(uint8) = 3
SOURCE_BIOMASS: constant(uint8) = 4

MAX_BATCH: constant(uint256) = 256
MAX_PROOF: constant(uint256) = 32
MAX_DATA: constant(uint256) = 1024
MAX_CAPACITY_W: constant(uint256) = 10**12  # 1 TW: far above any plant, far below overflow
SECONDS_PER_HOUR: constant(uint256) = 3600
INTERVAL_BITS: constant(uint256) = 64
INTERVAL_MASK: constant(uint256) = 2**64 - 1

ERC165_ID: constant(bytes4) = 0x01ffc9a7
ERC1155_ID: constant(bytes4) = 0xd9b67a26
ERC1155_METADATA_URI_ID: constant(bytes4) = 0x0e89341c
# The receiver hooks' selectors, which an accepting receiver returns.
ON_RECEIVED: constant(bytes4) = 0xf23a6e61
ON_BATCH_RECEIVED: constant(bytes4) = 0xbc197c81


struct Generator:
    source: uint8
    capacity_w: uint256
    latitude_e6: int32
    longitude_e6: int32
    avoided_g_per_kwh: uint32


struct Claim:
    holder: address
    id: uint256
    amount: uint256
    beneficiary: String[64]
    purpose: String[128]
    block_number: uint256


event TransferSingle:
    operator: indexed(address)
    sender: indexed(address)
    receiver: indexed(address)
    id: uint256
    value: uint256


event TransferBatch:
    operator: indexed(address)
    sender: indexed(address)
    receiver: indexed(address)
    ids: DynArray[uint256, MAX_BATCH]
    values: DynArray[uint256, MAX_BATCH]


event ApprovalForAll:
    owner: indexed(address)
    operator: indexed(address)
    approved: bool


event URI:
    value: String[128]
    id: indexed(uint256)


event GeneratorRegistered:
    device: indexed(address)
    participant: indexed(address)
    source: uint8
    capacity_w: uint256
    latitude_e6: int32
    longitude_e6: int32
    avoided_g_per_kwh: uint32


event Retired:
    holder: indexed(address)
    id: indexed(uint256)
    amount: uint256
    claim_id: uint256
    beneficiary: String[64]
    purpose: String[128]


registry: public(immutable(IParticipantRegistry))
monitoring: public(immutable(IEnergyMonitoring))
interval_length_s: public(immutable(uint64))
base_uri: public(immutable(String[128]))

balanceOf: public(HashMap[address, HashMap[uint256, uint256]])
isApprovedForAll: public(HashMap[address, HashMap[address, bool]])

generators: public(HashMap[address, Generator])
minted: public(HashMap[uint256, uint256])
retired: public(HashMap[uint256, uint256])
minted_in_interval: public(HashMap[uint64, uint256])
total_minted: public(uint256)
total_retired: public(uint256)
claims: public(HashMap[uint256, Claim])
claim_count: public(uint256)


@deploy
def __init__(
    registry_: IParticipantRegistry, monitoring_: IEnergyMonitoring, base_uri_: String[128]
):
    """
    @notice Deploy the certificate token of one community.
    @param registry_ The community's ParticipantRegistry.
    @param monitoring_ The community's EnergyMonitoring; its commitments bound every mint.
    @param base_uri_ The ERC-1155 metadata URI, with `{id}` for the hex token id.
    """
    registry = registry_
    monitoring = monitoring_
    interval_length_s = staticcall monitoring_.interval_length_s()
    base_uri = base_uri_


@view
@internal
def _operator() -> address:
    return staticcall registry.operator()


@pure
@internal
def _token_id(device: address, start: uint64) -> uint256:
    return (convert(device, uint256) << INTERVAL_BITS) | convert(start, uint256)


@view
@internal
def _max_wh(device: address) -> uint256:
    """Energy the generator can produce at rated capacity in one interval, Wh (rounded
    down, which is exact for the integer amounts it bounds); reverts if not a generator."""
    capacity_w: uint256 = self.generators[device].capacity_w
    assert capacity_w != 0, "EnergyCertificate: not a registered generator"
    return capacity_w * convert(interval_length_s, uint256) // SECONDS_PER_HOUR


@internal
def _record_mint(
    device: address, start: uint64, amount: uint256, max_wh: uint256, production_wh: uint256
) -> uint256:
    """Checks and effects shared by both mint paths; returns the token id."""
    assert amount > 0, "EnergyCertificate: zero amount"
    token: uint256 = self._token_id(device, start)
    assert self.minted[token] == 0, "EnergyCertificate: already minted"
    assert amount <= max_wh, "EnergyCertificate: amount exceeds the generator's capacity"
    in_interval: uint256 = self.minted_in_interval[start] + amount
    assert (
        in_interval <= production_wh
    ), "EnergyCertificate: amount exceeds the interval's committed production"
    self.minted_in_interval[start] = in_interval
    self.minted[token] = amount
    return token


@internal
def _check_received(
    receiver: address, sender: address, token: uint256, amount: uint256, data: Bytes[MAX_DATA]
):
    if receiver.is_contract:
        accepted: bytes4 = extcall IERC1155Receiver(receiver).onERC1155Received(
            msg.sender, sender, token, amount, data
        )
        assert accepted == ON_RECEIVED, "EnergyCertificate: receiver rejected the tokens"


@view
@internal
def _check_may_move(holder: address):
    assert (
        holder == msg.sender or self.isApprovedForAll[holder][msg.sender]
    ), "EnergyCertificate: caller is not the holder or an approved operator"


@internal
def _register_generator(
    device: address,
    source: uint8,
    capacity_w: uint256,
    latitude_e6: int32,
    longitude_e6: int32,
    avoided_g_per_kwh: uint32,
):
    participant: address = staticcall registry.device_owner(device)
    assert participant != empty(address), "EnergyCertificate: device is not registered"
    assert source >= SOURCE_SOLAR and source <= SOURCE_BIOMASS, "EnergyCertificate: unknown source"
    assert capacity_w > 0, "EnergyCertificate: zero capacity"
    assert capacity_w <= MAX_CAPACITY_W, "EnergyCertificate: capacity above 1 TW"
    assert abs(convert(latitude_e6, int256)) <= 90_000_000, "EnergyCertificate: latitude out of range"
    assert abs(convert(longitude_e6, int256)) <= 180_000_000, "EnergyCertificate: longitude out of range"
    self.generators[device] = Generator(
        source=source,
        capacity_w=capacity_w,
        latitude_e6=latitude_e6,
        longitude_e6=longitude_e6,
        avoided_g_per_kwh=avoided_g_per_kwh,
    )
    log GeneratorRegistered(
        device=device,
        participant=participant,
        source=source,
        capacity_w=capacity_w,
        latitude_e6=latitude_e6,
        longitude_e6=longitude_e6,
        avoided_g_per_kwh=avoided_g_per_kwh,
    )


@external
def register_generator(
    device: address,
    source: uint8,
    capacity_w: uint256,
    latitude_e6: int32,
    longitude_e6: int32,
    avoided_g_per_kwh: uint32,
):
    """
    @notice Record (or update) the metadata of a generating device: its energy source,
            rated capacity and location, and the emissions each kWh of it avoids.
    @param device A device registered in the ParticipantRegistry.
    @param source 1 solar, 2 wind, 3 hydro, 4 biomass.
    @param capacity_w Rated (nameplate) capacity, W; bounds every mint (1 W .. 1 TW).
    @param latitude_e6 Latitude, micro-degrees (-90e6 .. 90e6).
    @param longitude_e6 Longitude, micro-degrees (-180e6 .. 180e6).
    @param avoided_g_per_kwh Grid emissions avoided per kWh produced, g CO2e/kWh.
    """
    assert msg.sender == self._operator(), "EnergyCertificate: caller is not the operator"
    self._register_generator(device, source, capacity_w, latitude_e6, longitude_e6, avoided_g_per_kwh)


@external
def register_generator_batch(
    devices: DynArray[address, MAX_BATCH],
    sources: DynArray[uint8, MAX_BATCH],
    capacities_w: DynArray[uint256, MAX_BATCH],
    latitudes_e6: DynArray[int32, MAX_BATCH],
    longitudes_e6: DynArray[int32, MAX_BATCH],
    avoided_g_per_kwh: DynArray[uint32, MAX_BATCH],
):
    """
    @notice register_generator for many devices in one transaction (same rules each).
    @param devices Devices registered in the ParticipantRegistry.
    @param sources Energy source of each device (1 solar, 2 wind, 3 hydro, 4 biomass).
    @param capacities_w Rated capacity of each device, W.
    @param latitudes_e6 Latitude of each device, micro-degrees.
    @param longitudes_e6 Longitude of each device, micro-degrees.
    @param avoided_g_per_kwh Emissions avoided per kWh by each device, g CO2e/kWh.
    """
    assert msg.sender == self._operator(), "EnergyCertificate: caller is not the operator"
    n: uint256 = len(devices)
    assert (
        len(sources) == n and len(capacities_w) == n and len(latitudes_e6) == n
        and len(longitudes_e6) == n and len(avoided_g_per_kwh) == n
    ), "EnergyCertificate: length mismatch"
    for i: uint256 in range(n, bound=MAX_BATCH):
        self._register_generator(
            devices[i], sources[i], capacities_w[i], latitudes_e6[i], longitudes_e6[i],
            avoided_g_per_kwh[i]
        )


@external
def mint_with_proof(
    device: address,
    start: uint64,
    import_wh: uint256,
    export_wh: uint256,
    proof: DynArray[bytes32, MAX_PROOF],
):
    """
    @notice Mint the certificates of one generator's interval, proven against the
            interval's committed production root; anyone may submit the proof. The
            device's owner receives `export_wh` units.
    @param device The generator's device address.
    @param start The interval's start, unix seconds (UTC).
    @param import_wh The reading's import, Wh (part of the proven leaf).
    @param export_wh The reading's export, Wh: the amount minted.
    @param proof Sibling hashes from the reading's leaf up to the production root.
    """
    max_wh: uint256 = self._max_wh(device)
    assert staticcall registry.is_active_device(device), "EnergyCertificate: device is not active"
    committed: bool = False
    production_wh: uint256 = 0
    committed, production_wh = staticcall monitoring.committed_production(start)
    assert committed, "EnergyCertificate: interval not committed"
    assert staticcall monitoring.verify_reading(
        True, device, start, import_wh, export_wh, proof
    ), "EnergyCertificate: invalid proof"
    token: uint256 = self._record_mint(device, start, export_wh, max_wh, production_wh)
    owner: address = staticcall registry.device_owner(device)
    self.balanceOf[owner][token] = export_wh  # a fresh id: nobody held any before
    self.total_minted += export_wh
    log TransferSingle(
        operator=msg.sender, sender=empty(address), receiver=owner, id=token, value=export_wh
    )
    self._check_received(owner, empty(address), token, export_wh, b"")


@external
def mint_batch(
    devices: DynArray[address, MAX_BATCH],
    starts: DynArray[uint64, MAX_BATCH],
    amounts: DynArray[uint256, MAX_BATCH],
):
    """
    @notice Mint up to 256 generator-intervals at once, without on-chain proofs: the
            operator mints under audit (`gridshare verify` proves every amount against
            the committed roots afterwards).
    @dev Each item is bounded like `mint_with_proof`: committed interval, registered and
         active generator, id not minted before, amount within the rated capacity and,
         with all other mints, within the interval's committed production. The registry
         is asked once for the whole batch; consecutive items of the same interval reuse
         the monitoring lookup, so the operator sends items sorted by interval.
    @param devices The generators' device addresses.
    @param starts The intervals' starts, unix seconds (UTC), aligned with `devices`.
    @param amounts Wh to mint per item (the meters' export), aligned with `devices`.
    """
    assert msg.sender == self._operator(), "EnergyCertificate: caller is not the operator"
    count: uint256 = len(devices)
    assert len(starts) == count and len(amounts) == count, "EnergyCertificate: length mismatch"
    owners: DynArray[address, MAX_BATCH] = staticcall registry.active_device_owners(devices)
    tokens: DynArray[uint256, MAX_BATCH] = []
    device: address = empty(address)
    owner: address = empty(address)
    max_wh: uint256 = 0
    start: uint64 = 0
    committed: bool = False
    production_wh: uint256 = 0
    total: uint256 = 0
    for i: uint256 in range(count, bound=MAX_BATCH):
        if i == 0 or devices[i] != device:
            device = devices[i]
            max_wh = self._max_wh(device)
            owner = owners[i]
            assert owner != empty(address), "EnergyCertificate: device is not active"
        if i == 0 or starts[i] != start:
            start = starts[i]
            committed, production_wh = staticcall monitoring.committed_production(start)
            assert committed, "EnergyCertificate: interval not committed"
        amount: uint256 = amounts[i]
        token: uint256 = self._record_mint(device, start, amount, max_wh, production_wh)
        self.balanceOf[owner][token] = amount  # a fresh id: nobody held any before
        total += amount
        tokens.append(token)
        log TransferSingle(
            operator=msg.sender, sender=empty(address), receiver=owner, id=token, value=amount
        )
    self.total_minted += total
    for i: uint256 in range(count, bound=MAX_BATCH):
        self._check_received(owners[i], empty(address), tokens[i], amounts[i], b"")


@external
def safeTransferFrom(
    sender: address, receiver: address, id: uint256, amount: uint256, data: Bytes[MAX_DATA]
):
    """
    @notice Move `amount` units of token `id` from `sender` to `receiver` (ERC-1155).
    @dev The caller is `sender` or an operator `sender` approved; a contract receiver
         must accept the tokens through onERC1155Received.
    @param sender The current holder.
    @param receiver The new holder (not the zero address; retire to burn).
    @param id The token id.
    @param amount Units (Wh) to move.
    @param data Passed on to the receiver's hook.
    """
    assert receiver != empty(address), "EnergyCertificate: transfer to the zero address"
    self._check_may_move(sender)
    balance: uint256 = self.balanceOf[sender][id]
    assert balance >= amount, "EnergyCertificate: insufficient balance"
    self.balanceOf[sender][id] = balance - amount
    self.balanceOf[receiver][id] += amount
    log TransferSingle(operator=msg.sender, sender=sender, receiver=receiver, id=id, value=amount)
    self._check_received(receiver, sender, id, amount, data)


@external
def safeBatchTransferFrom(
    sender: address,
    receiver: address,
    ids: DynArray[uint256, MAX_BATCH],
    amounts: DynArray[uint256, MAX_BATCH],
    data: Bytes[MAX_DATA],
):
    """
    @notice Move several token ids from `sender` to `receiver` at once (ERC-1155).
    @dev As `safeTransferFrom`; a contract receiver must accept through
         onERC1155BatchReceived.
    @param sender The current holder.
    @param receiver The new holder (not the zero address).
    @param ids Up to 256 token ids.
    @param amounts Units (Wh) per id, aligned with `ids`.
    @param data Passed on to the receiver's hook.
    """
    assert receiver != empty(address), "EnergyCertificate: transfer to the zero address"
    assert len(ids) == len(amounts), "EnergyCertificate: length mismatch"
    self._check_may_move(sender)
    for i: uint256 in range(len(ids), bound=MAX_BATCH):
        id: uint256 = ids[i]
        balance: uint256 = self.balanceOf[sender][id]
        assert balance >= amounts[i], "EnergyCertificate: insufficient balance"
        self.balanceOf[sender][id] = balance - amounts[i]
        self.balanceOf[receiver][id] += amounts[i]
    log TransferBatch(
        operator=msg.sender, sender=sender, receiver=receiver, ids=ids, values=amounts
    )
    if receiver.is_contract:
        accepted: bytes4 = extcall IERC1155Receiver(receiver).onERC1155BatchReceived(
            msg.sender, sender, ids, amounts, data
        )
        assert accepted == ON_BATCH_RECEIVED, "EnergyCertificate: receiver rejected the tokens"


@external
def setApprovalForAll(operator: address, approved: bool):
    """
    @notice Let `operator` move all of the caller's certificates, or revoke it (ERC-1155).
    @param operator Usually a market or escrow contract.
    @param approved True to approve, False to revoke.
    """
    assert operator != empty(address), "EnergyCertificate: zero address"
    self.isApprovedForAll[msg.sender][operator] = approved
    log ApprovalForAll(owner=msg.sender, operator=operator, approved=approved)


@view
@external
def balanceOfBatch(
    accounts: DynArray[address, MAX_BATCH], ids: DynArray[uint256, MAX_BATCH]
) -> DynArray[uint256, MAX_BATCH]:
    """
    @notice Balances of several (account, id) pairs at once (ERC-1155).
    @param accounts Holders.
    @param ids Token ids, aligned with `accounts`.
    @return The balances, in Wh, aligned with the inputs.
    """
    assert len(accounts) == len(ids), "EnergyCertificate: length mismatch"
    balances: DynArray[uint256, MAX_BATCH] = []
    for i: uint256 in range(len(accounts), bound=MAX_BATCH):
        balances.append(self.balanceOf[accounts[i]][ids[i]])
    return balances


@external
def retire(id: uint256, amount: uint256, beneficiary: String[64], purpose: String[128]) -> uint256:
    """
    @notice Burn the caller's certificates to claim the energy they stand for, e.g. to
            report it against a consumer's emissions; the claim is recorded on-chain.
    @param id The token id.
    @param amount Units (Wh) to retire.
    @param beneficiary Whom the claim is made for (a name or account reference).
    @param purpose What the claim is for (e.g. "Scope 2, 2025 Q1").
    @return The claim id (counting from 1).
    """
    assert amount > 0, "EnergyCertificate: zero amount"
    balance: uint256 = self.balanceOf[msg.sender][id]
    assert balance >= amount, "EnergyCertificate: insufficient balance"
    self.balanceOf[msg.sender][id] = balance - amount
    self.retired[id] += amount
    self.total_retired += amount
    claim_id: uint256 = self.claim_count + 1
    self.claim_count = claim_id
    self.claims[claim_id] = Claim(
        holder=msg.sender,
        id=id,
        amount=amount,
        beneficiary=beneficiary,
        purpose=purpose,
        block_number=block.number,
    )
    log TransferSingle(
        operator=msg.sender, sender=msg.sender, receiver=empty(address), id=id, value=amount
    )
    log Retired(
        holder=msg.sender,
        id=id,
        amount=amount,
        claim_id=claim_id,
        beneficiary=beneficiary,
        purpose=purpose,
    )
    return claim_id


@view
@external
def uri(id: uint256) -> String[128]:
    """
    @notice The ERC-1155 metadata URI; clients replace `{id}` with the id in hex.
    @param id Any token id.
    @return The URI template.
    """
    return base_uri


@view
@external
def supportsInterface(interface_id: bytes4) -> bool:
    """
    @notice ERC-165: ERC-165 itself, ERC-1155 and its metadata URI extension.
    @param interface_id The interface's ERC-165 identifier.
    @return Whether this contract implements it.
    """
    return interface_id in [ERC165_ID, ERC1155_ID, ERC1155_METADATA_URI_ID]


@pure
@external
def token_id(device: address, start: uint64) -> uint256:
    """
    @notice The token id of a generator's interval.
    @param device The generator's device address.
    @param start The interval's start, unix seconds (UTC).
    @return (uint256(device) << 64) | start.
    """
    return self._token_id(device, start)


@pure
@external
def device_of(id: uint256) -> address:
    """
    @notice The generator a token id stands for.
    @dev Reverts for an id wider than 224 bits, which no token has.
    @param id A token id.
    @return The device address in the id's upper bits.
    """
    return convert(convert(id >> INTERVAL_BITS, uint160), address)


@pure
@external
def interval_of(id: uint256) -> uint64:
    """
    @notice The interval a token id stands for.
    @param id A token id.
    @return The interval's start, unix seconds (UTC), from the id's lower 64 bits.
    """
    return convert(id & INTERVAL_MASK, uint64)


@view
@external
def minted_in_intervals(starts: DynArray[uint64, MAX_BATCH]) -> DynArray[uint256, MAX_BATCH]:
    """
    @notice Certificates minted per interval, for many intervals in one call (auditing).
    @param starts Interval starts, unix seconds (UTC).
    @return Wh minted for each interval.
    """
    found: DynArray[uint256, MAX_BATCH] = []
    for start: uint64 in starts:
        found.append(self.minted_in_interval[start])
    return found


@view
@external
def total_supply(id: uint256) -> uint256:
    """
    @notice Units of a token id in circulation: minted and not yet retired.
    @param id A token id.
    @return Wh.
    """
    return self.minted[id] - self.retired[id]
