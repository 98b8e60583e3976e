# pragma version ~=0.4.3
"""
@title ParticipantRegistry
@notice The community's members and their devices. Only the operator registers,
        suspends and reinstates participants and binds devices (meters, inverters) to
        them; every other gridshare contract asks this registry who may act.
@dev Roles: 1 operator, 2 producer, 3 consumer, 4 prosumer. A device is active when it
     and the participant it belongs to are both active.
"""

ROLE_OPERATOR: constant(uint8) = 1
ROLE_PRODUCER: constant(uint8) = 2
ROLE_CONSUMER: constant(uint8) = 3
ROLE_PROSUMER: constant(uint8) = 4
MAX_BATCH: constant(uint256) = 256


struct Participant:
    role: uint8
    suspended: bool


struct Device:
    participant: address
    meter_id: bytes32
    suspended: bool


event ParticipantRegistered:
    account: indexed(address)
    role: uint8


event ParticipantSuspended:
    account: indexed(address)
    suspended: bool


event DeviceRegistered:
    device: indexed(address)
    participant: indexed(address)
    meter_id: bytes32


event DeviceSuspended:
    device: indexed(address)
    suspended: bool


event DeviceRemoved:
    device: indexed(address)
    participant: indexed(address)


event OperatorChanged:
    previous: indexed(address)
    current: indexed(address)


operator: public(address)
participants: public(HashMap[address, Participant])
devices: public(HashMap[address, Device])
participant_count: public(uint256)
device_count: public(uint256)


@deploy
def __init__():
    """
    @notice Deploy the registry; the deployer becomes the community's operator.
    """
    self.operator = msg.sender
    self.participants[msg.sender] = Participant(role=ROLE_OPERATOR, suspended=False)
    self.participant_count = 1
    log ParticipantRegistered(account=msg.sender, role=ROLE_OPERATOR)


@internal
def _only_operator():
    assert msg.sender == self.operator, "ParticipantRegistry: caller is not the operator"


@internal
def _register(account: address, role: uint8):
    assert account != empty(address), "ParticipantRegistry: zero address"
    assert role >= ROLE_PRODUCER and role <= ROLE_PROSUMER, "ParticipantRegistry: unknown role"
    assert self.participants[account].role == 0, "ParticipantRegistry: already registered"
    self.participants[account] = Participant(role=role, suspended=False)
    self.participant_count += 1
    log ParticipantRegistered(account=account, role=role)


@external
def register(account: address, role: uint8):
    """
    @notice Register a participant with a role (2 producer, 3 consumer, 4 prosumer).
    @dev Reverts for the zero address, an unknown role or an already registered account.
    @param account The participant's address.
    @param role The participant's role.
    """
    self._only_operator()
    self._register(account, role)


@external
def register_batch(accounts: DynArray[address, MAX_BATCH], roles: DynArray[uint8, MAX_BATCH]):
    """
    @notice Register up to 256 participants in one transaction.
    @param accounts The participants' addresses.
    @param roles Their roles, aligned with `accounts`.
    """
    self._only_operator()
    assert len(accounts) == len(roles), "ParticipantRegistry: length mismatch"
    for i: uint256 in range(len(accounts), bound=MAX_BATCH):
        self._register(accounts[i], roles[i])


@external
def set_suspended(account: address, suspended: bool):
    """
    @notice Suspend or reinstate a participant; a suspended participant's devices are
            inactive too.
    @param account A registered participant other than the operator.
    @param suspended True to suspend, False to reinstate.
    """
    self._only_operator()
    assert self.participants[account].role != 0, "ParticipantRegistry: not registered"
    assert account != self.operator, "ParticipantRegistry: the operator cannot be suspended"
    self.participants[account].suspended = suspended
    log ParticipantSuspended(account=account, suspended=suspended)


@internal
def _register_device(device: address, participant: address, meter_id: bytes32):
    assert device != empty(address), "ParticipantRegistry: zero address"
    assert self.participants[participant].role != 0, "ParticipantRegistry: not registered"
    assert self.devices[device].participant == empty(address), "ParticipantRegistry: device exists"
    self.devices[device] = Device(participant=participant, meter_id=meter_id, suspended=False)
    self.device_count += 1
    log DeviceRegistered(device=device, participant=participant, meter_id=meter_id)


@external
def register_device(device: address, participant: address, meter_id: bytes32):
    """
    @notice Bind a device's signing address to a participant and a meter.
    @param device The device's signing address.
    @param participant The registered participant who owns the device.
    @param meter_id The meter's identifier (keccak256 of its gridshare meter id).
    """
    self._only_operator()
    self._register_device(device, participant, meter_id)


@external
def register_device_batch(
    devices: DynArray[address, MAX_BATCH],
    participants: DynArray[address, MAX_BATCH],
    meter_ids: DynArray[bytes32, MAX_BATCH],
):
    """
    @notice register_device for many devices in one transaction (same rules each).
    @param devices The devices' signing addresses.
    @param participants The registered participant owning each device.
    @param meter_ids Each meter's identifier (keccak256 of its gridshare meter id).
    """
    self._only_operator()
    assert len(participants) == len(devices) and len(meter_ids) == len(devices), "ParticipantRegistry: length mismatch"
    for i: uint256 in range(len(devices), bound=MAX_BATCH):
        self._register_device(devices[i], participants[i], meter_ids[i])


@external
def set_device_suspended(device: address, suspended: bool):
    """
    @notice Suspend or reinstate one device.
    @param device A registered device.
    @param suspended True to suspend, False to reinstate.
    """
    self._only_operator()
    assert self.devices[device].participant != empty(address), "ParticipantRegistry: no such device"
    self.devices[device].suspended = suspended
    log DeviceSuspended(device=device, suspended=suspended)


@external
def remove_device(device: address):
    """
    @notice Unbind a device, e.g. a replaced meter or one of a former operator; its
            address can then be registered again, for any participant.
    @param device A registered device.
    """
    self._only_operator()
    d: Device = self.devices[device]
    assert d.participant != empty(address), "ParticipantRegistry: no such device"
    self.devices[device] = empty(Device)
    self.device_count -= 1
    log DeviceRemoved(device=device, participant=d.participant)


@external
def set_operator(new_operator: address):
    """
    @notice Hand the operator role to another address (a new key or a multisig).
    @param new_operator The new operator; it must not be a registered participant.
    """
    self._only_operator()
    assert new_operator != empty(address), "ParticipantRegistry: zero address"
    assert self.participants[new_operator].role == 0, "ParticipantRegistry: already registered"
    previous: address = self.operator
    self.participants[new_operator] = Participant(role=ROLE_OPERATOR, suspended=False)
    self.participants[previous] = empty(Participant)
    self.operator = new_operator
    log OperatorChanged(previous=previous, current=new_operator)


@view
@external
def is_active(account: address) -> bool:
    """
    @notice True when `account` is a registered participant that is not suspended.
    @param account Any address.
    @return Whether the account may act as a participant.
    """
    p: Participant = self.participants[account]
    return p.role != 0 and not p.suspended


@view
@external
def all_active(accounts: DynArray[address, MAX_BATCH]) -> bool:
    """
    @notice True when every one of up to 256 accounts is an active participant.
    @dev Lets a batch of transfers check all receivers in one call.
    @param accounts Any addresses.
    @return Whether all of them may act as participants.
    """
    for account: address in accounts:
        p: Participant = self.participants[account]
        if p.role == 0 or p.suspended:
            return False
    return True


@view
@external
def role_of(account: address) -> uint8:
    """
    @notice The role of `account` (0 when not registered).
    @param account Any address.
    @return The role code.
    """
    return self.participants[account].role


@view
@external
def is_active_device(device: address) -> bool:
    """
    @notice True when the device and its participant are registered and not suspended.
    @param device Any address.
    @return Whether readings signed by this device may be accepted.
    """
    # Field by field: the certificate contract asks this for every mint, and the meter id
    # is not needed.
    participant: address = self.devices[device].participant
    if participant == empty(address) or self.devices[device].suspended:
        return False
    owner: Participant = self.participants[participant]
    return owner.role != 0 and not owner.suspended


@view
@external
def device_owner(device: address) -> address:
    """
    @notice The participant a device is bound to, whether or not either is suspended.
    @param device Any address.
    @return The owning participant, or empty(address) for an unregistered device.
    """
    return self.devices[device].participant


@view
@external
def active_device_owners(devices: DynArray[address, MAX_BATCH]) -> DynArray[address, MAX_BATCH]:
    """
    @notice For each device, its owner when the device and owner are both active.
    @dev One call for a whole certificate batch instead of two per item.
    @param devices Any addresses.
    @return The owning participant per device, or empty(address) where the device is
            unregistered, suspended, or owned by a suspended participant.
    """
    owners: DynArray[address, MAX_BATCH] = []
    for device: address in devices:
        d: Device = self.devices[device]
        active: bool = d.participant != empty(address) and not d.suspended
        if active:
            owner: Participant = self.participants[d.participant]
            active = owner.role != 0 and not owner.suspended
        owners.append(d.participant if active else empty(address))
    return owners
