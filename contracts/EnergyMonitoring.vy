# pragma version ~=0.4.3
"""
@title EnergyMonitoring
@notice Energy production and consumption monitoring. For every closed metering
        interval the operator commits two Merkle roots, one over the production meters'
        readings and one over all other meters' readings (consumption), together with the
        community's aggregates. Individual readings stay off-chain; anyone holding a
        reading and its proof can show on-chain that it is part of a committed interval.
@dev Intervals are keyed by their start in unix seconds (UTC), aligned to the epoch.
     Commitments are immutable: an interval is committed once and never changed. Starts
     are deliberately not compared with block.timestamp, so simulations can commit past
     and future (simulated) years.
     Merkle rules (identical to gridshare.metering.merkle): a leaf is
     keccak256(abi_encode(device, uint256 start, import_wh, export_wh)), a 128-byte
     preimage; an inner node is keccak256(min(a, b) ++ max(a, b)), so a proof is a plain
     list of sibling hashes, folded from the leaf upwards.
"""

from interfaces import IEnergyMonitoring
from interfaces import IParticipantRegistry

implements: IEnergyMonitoring

MAX_BATCH: constant(uint256) = 256
MAX_PROOF: constant(uint256) = 32


struct Commitment:
    production_root: bytes32
    consumption_root: bytes32
    production_wh: uint256
    consumption_wh: uint256
    import_wh: uint256
    export_wh: uint256
    readings: uint32
    block_number: uint256


event IntervalCommitted:
    start: indexed(uint64)
    production_root: bytes32
    consumption_root: bytes32
    production_wh: uint256
    consumption_wh: uint256
    import_wh: uint256
    export_wh: uint256
    readings: uint32


registry: public(immutable(IParticipantRegistry))
interval_length_s: public(immutable(uint64))

commitments: public(HashMap[uint64, Commitment])
committed_count: public(uint256)
last_committed_start: public(uint64)


@deploy
def __init__(registry_: IParticipantRegistry, interval_length_s_: uint64):
    """
    @notice Deploy the monitoring contract for one community and one interval length.
    @param registry_ The community's ParticipantRegistry; its operator commits intervals.
    @param interval_length_s_ The metering interval in seconds (900 for 15 minutes).
    """
    assert interval_length_s_ > 0, "EnergyMonitoring: zero interval length"
    registry = registry_
    interval_length_s = interval_length_s_


@internal
def _only_operator():
    operator: address = staticcall registry.operator()
    assert msg.sender == operator, "EnergyMonitoring: caller is not the operator"


@internal
def _commit(
    start: uint64,
    production_root: bytes32,
    consumption_root: bytes32,
    production_wh: uint256,
    consumption_wh: uint256,
    import_wh: uint256,
    export_wh: uint256,
    readings: uint32,
):
    assert start % interval_length_s == 0, "EnergyMonitoring: start is not aligned to an interval"
    assert readings > 0, "EnergyMonitoring: no readings"
    # `readings` is never 0 in a stored commitment, so it doubles as the "exists" flag.
    assert self.commitments[start].readings == 0, "EnergyMonitoring: already committed"
    self.commitments[start] = Commitment(
        production_root=production_root,
        consumption_root=consumption_root,
        production_wh=production_wh,
        consumption_wh=consumption_wh,
        import_wh=import_wh,
        export_wh=export_wh,
        readings=readings,
        block_number=block.number,
    )
    log IntervalCommitted(
        start=start,
        production_root=production_root,
        consumption_root=consumption_root,
        production_wh=production_wh,
        consumption_wh=consumption_wh,
        import_wh=import_wh,
        export_wh=export_wh,
        readings=readings,
    )


@external
def commit(
    start: uint64,
    production_root: bytes32,
    consumption_root: bytes32,
    production_wh: uint256,
    consumption_wh: uint256,
    import_wh: uint256,
    export_wh: uint256,
    readings: uint32,
):
    """
    @notice Commit one closed interval: the Merkle roots of its production and
            consumption readings and the community's aggregates.
    @dev Reverts for a caller other than the operator, a start not aligned to the
         interval length, an interval without readings, or one committed before.
    @param start The interval's start, unix seconds (UTC).
    @param production_root Merkle root over the production meters' readings.
    @param consumption_root Merkle root over all other meters' readings.
    @param production_wh The community's production in the interval, Wh.
    @param consumption_wh The community's consumption in the interval, Wh.
    @param import_wh Energy imported from the grid at the connection point, Wh.
    @param export_wh Energy exported to the grid at the connection point, Wh.
    @param readings How many readings the two trees hold together (at least 1).
    """
    self._only_operator()
    self._commit(
        start,
        production_root,
        consumption_root,
        production_wh,
        consumption_wh,
        import_wh,
        export_wh,
        readings,
    )
    self.committed_count += 1
    if start > self.last_committed_start:
        self.last_committed_start = start


@external
def commit_batch(
    starts: DynArray[uint64, MAX_BATCH],
    production_roots: DynArray[bytes32, MAX_BATCH],
    consumption_roots: DynArray[bytes32, MAX_BATCH],
    production_wh: DynArray[uint256, MAX_BATCH],
    consumption_wh: DynArray[uint256, MAX_BATCH],
    import_wh: DynArray[uint256, MAX_BATCH],
    export_wh: DynArray[uint256, MAX_BATCH],
    readings: DynArray[uint32, MAX_BATCH],
):
    """
    @notice Commit up to 256 closed intervals in one transaction, e.g. when catching up.
    @dev Each item follows the rules of `commit`; one bad item reverts the whole batch.
         Parallel arrays rather than an array of structs, for simple ABI encoding.
    @param starts The intervals' starts, unix seconds (UTC).
    @param production_roots Merkle roots over the production readings, aligned with `starts`.
    @param consumption_roots Merkle roots over the consumption readings.
    @param production_wh The community's production per interval, Wh.
    @param consumption_wh The community's consumption per interval, Wh.
    @param import_wh Grid import per interval, Wh.
    @param export_wh Grid export per interval, Wh.
    @param readings Readings per interval (each at least 1).
    """
    self._only_operator()
    count: uint256 = len(starts)
    assert (
        len(production_roots) == count
        and len(consumption_roots) == count
        and len(production_wh) == count
        and len(consumption_wh) == count
        and len(import_wh) == count
        and len(export_wh) == count
        and len(readings) == count
    ), "EnergyMonitoring: length mismatch"
    last: uint64 = self.last_committed_start
    for i: uint256 in range(count, bound=MAX_BATCH):
        self._commit(
            starts[i],
            production_roots[i],
            consumption_roots[i],
            production_wh[i],
            consumption_wh[i],
            import_wh[i],
            export_wh[i],
            readings[i],
        )
        last = max(last, starts[i])
    self.committed_count += count
    self.last_committed_start = last


@view
@external
def is_committed(start: uint64) -> bool:
    """
    @notice True when the interval starting at `start` has been committed.
    @param start An interval's start, unix seconds (UTC).
    @return Whether the interval is committed.
    """
    return self.commitments[start].readings != 0


@view
@external
def committed_production(start: uint64) -> (bool, uint256):
    """
    @notice Whether an interval is committed, and the production committed for it.
    @dev What the certificate contract needs per interval, in two storage reads.
    @param start An interval's start, unix seconds (UTC).
    @return Whether the interval is committed, and its production in Wh (0 if not).
    """
    return self.commitments[start].readings != 0, self.commitments[start].production_wh


@view
@external
def commitments_of(starts: DynArray[uint64, 256]) -> DynArray[Commitment, 256]:
    """
    @notice The commitments of many intervals in one call (auditing).
    @param starts Interval starts, unix seconds (UTC).
    @return One commitment per start (all zero where none was made).
    """
    found: DynArray[Commitment, 256] = []
    for start: uint64 in starts:
        found.append(self.commitments[start])
    return found


@pure
@internal
def _leaf(device: address, start: uint64, import_wh: uint256, export_wh: uint256) -> bytes32:
    return keccak256(abi_encode(device, convert(start, uint256), import_wh, export_wh))


@pure
@external
def leaf(device: address, start: uint64, import_wh: uint256, export_wh: uint256) -> bytes32:
    """
    @notice The Merkle leaf of one reading, as gridshare.metering.merkle.leaf_hash builds it.
    @param device The meter's device address.
    @param start The interval's start, unix seconds (UTC).
    @param import_wh Energy the meter imported in the interval, Wh.
    @param export_wh Energy the meter exported in the interval, Wh.
    @return keccak256 of the 128-byte ABI encoding of the four values.
    """
    return self._leaf(device, start, import_wh, export_wh)


@view
@external
def verify_reading(
    production: bool,
    device: address,
    start: uint64,
    import_wh: uint256,
    export_wh: uint256,
    proof: DynArray[bytes32, MAX_PROOF],
) -> bool:
    """
    @notice True when a reading belongs to a committed interval's production (or
            consumption) tree.
    @param production True to check against the production root, False for consumption.
    @param device The meter's device address.
    @param start The interval's start, unix seconds (UTC).
    @param import_wh Energy the meter imported in the interval, Wh.
    @param export_wh Energy the meter exported in the interval, Wh.
    @param proof Sibling hashes from the leaf up to the root.
    @return Whether the proof leads from the reading to the chosen root; False when the
            interval is not committed.
    """
    if self.commitments[start].readings == 0:
        return False
    root: bytes32 = empty(bytes32)
    if production:
        root = self.commitments[start].production_root
    else:
        root = self.commitments[start].consumption_root
    node: bytes32 = self._leaf(device, start, import_wh, export_wh)
    for sibling: bytes32 in proof:
        # Sorted pairs: bytes32 compare byte by byte exactly as their uint256 values do.
        if convert(node, uint256) <= convert(sibling, uint256):
            node = keccak256(concat(node, sibling))
        else:
            node = keccak256(concat(sibling, node))
    return node == root
