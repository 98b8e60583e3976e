"""Members who join a running community: their registrations checked against the
community file, and the approved ones taken into the community the node serves.

A registration describes one member the way the community file describes a group of one
(role, category, load, generators, storage, flexible load), names the device address of
each meter that member will have, and is sent by the member's own account (signed in with
its key). The operator approves or rejects it through the API. The node then takes the
approved members in at the end of the interval it is processing: the community becomes
the file's groups followed by one group per approved member, in the order of approval,
and the ledger registers the new participants, devices and generators on chain. Until
then the member's devices are unknown to ingest, so their readings are refused.

What the operator decides is not the applicant's to set: the member's bus in the network
and whether its load is critical (``bus``, ``critical``, ``shed_priority``). Simulation
knobs (a group's ``variation`` and ``time_shift_minutes``) are refused too: a
registration declares one real member's ratings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
from pydantic import ValidationError

from gridshare.app.configuration import configured_scenario
from gridshare.errors import GridshareError
from gridshare.model import Location
from gridshare.model.records import ConfigurationChangeRecord, RegistrationRecord
from gridshare.simulator.community import build_community
from gridshare.simulator.scenario import GroupSpec, Scenario

__all__ = [
    "OPERATOR_FIELDS",
    "Admission",
    "CommunityFile",
    "RegistrationError",
    "admitted_scenario",
    "approval_order",
    "in_force",
    "joined_participant_id",
]

OPERATOR_FIELDS = ("bus", "critical", "shed_priority")
"""Group settings the operator decides, not the applicant."""
_NOT_APPLICANTS = ("name", "count", *OPERATOR_FIELDS)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HANDLE = re.compile(r"[a-z0-9][a-z0-9-]{0,23}")


class RegistrationError(GridshareError):
    """A registration that cannot be accepted: ``code`` for programs, the message for
    people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Admission:
    """What a registration asks the community for, once checked."""

    participant_id: str
    member_json: str
    """The member as a group of one, canonical JSON (without name and count)."""
    devices: Mapping[str, str]
    """Meter id -> device address (lower case), every meter of the member."""


def _member_group(handle: str, member: Mapping[str, object]) -> GroupSpec:
    given = sorted(set(member) & set(_NOT_APPLICANTS))
    if given:
        raise RegistrationError(
            "operator_field",
            f"member.{given[0]} is not the applicant's to set: the handle names the member, "
            f"and {', '.join(OPERATOR_FIELDS)} are decided by the operator",
        )
    try:
        group = GroupSpec.model_validate({**member, "name": handle, "count": 1})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "member"
        raise RegistrationError("bad_member", f"member.{where}: {first['msg']}") from None
    knobs = [
        f"{part}.{knob}"
        for part, spec in (("load", group.load), ("pv", group.pv))
        if spec is not None
        for knob in ("variation", "time_shift_minutes")
        if getattr(spec, knob, 0)
    ]
    if knobs:
        raise RegistrationError(
            "bad_member",
            f"member.{knobs[0]} is a simulation setting: a registration declares one "
            "member's own ratings (leave it out)",
        )
    return group


def joined_participant_id(community_id: str, handle: str) -> str:
    """The participant id of the member who joined with ``handle`` (a group of one)."""
    return f"{community_id}:{handle}-001"


class CommunityFile:
    """Checks registrations against the community file (``scenario``)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.community_id = scenario.community.id
        self._file_groups = {g.name for g in scenario.groups}

    def participant_id(self, handle: str) -> str:
        return joined_participant_id(self.community_id, handle)

    def check(
        self, handle: str, member: Mapping[str, object], devices: Mapping[str, str]
    ) -> Admission:
        """The admission a registration asks for; :class:`RegistrationError` when the
        handle, the member or the devices are not acceptable."""
        if not _HANDLE.fullmatch(handle):
            raise RegistrationError(
                "bad_handle",
                f"handle {handle[:40]!r}: 1 to 24 lower-case letters, digits and '-', "
                "starting with a letter or digit",
            )
        if handle in self._file_groups:
            raise RegistrationError(
                "handle_taken",
                f"handle {handle!r} names a group of the community file: choose another",
            )
        group = _member_group(handle, member)
        one = self.scenario.model_copy(update={"groups": [group]})
        community, _ = build_community(one, Location(0.0, 0.0))
        pid = self.participant_id(handle)
        meters = [m.meter_id for m in community.meters if m.participant_id == pid]
        missing = [m for m in meters if m not in devices]
        strangers = sorted(set(devices) - set(meters))
        if missing or strangers:
            raise RegistrationError(
                "devices_mismatch",
                "devices must name exactly this member's meters "
                f"({', '.join(meters)}); "
                + (f"missing {missing[0]}" if missing else f"no meter {strangers[0]}"),
            )
        chosen: dict[str, str] = {}
        for meter in meters:
            address = devices[meter]
            if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
                raise RegistrationError(
                    "bad_address", f"devices.{meter}: expected a 0x-prefixed 20-byte address"
                )
            chosen[meter] = address.lower()
        if len(set(chosen.values())) != len(chosen):
            raise RegistrationError(
                "bad_address", "each meter needs its own device: an address is given twice"
            )
        spec = group.model_dump(mode="json", exclude={"name", "count"}, exclude_defaults=True)
        return Admission(pid, orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode(), chosen)


def approval_order(approved: Sequence[RegistrationRecord]) -> list[RegistrationRecord]:
    """Approved registrations in the order the members join: as the operator approved
    them (the same order on every start)."""
    return sorted(approved, key=lambda r: (r.decided_at_s or 0, r.handle))


def in_force(
    scenario: Scenario,
    approved: Sequence[RegistrationRecord],
    changes: Sequence[ConfigurationChangeRecord],
    name: str = "community file",
) -> tuple[Scenario, dict[str, str], dict[str, str]]:
    """The community the node runs: the file's groups, then the approved members (in
    :func:`approval_order`), with the operator's configuration changes applied in order;
    with each new member's account and each new meter's device."""
    joined, accounts, devices = admitted_scenario(scenario, approval_order(approved))
    patches = [orjson.loads(c.patch_json) for c in changes]
    return configured_scenario(joined, patches), accounts, devices


def admitted_scenario(
    scenario: Scenario, approved: Sequence[RegistrationRecord]
) -> tuple[Scenario, dict[str, str], dict[str, str]]:
    """The community file with one group per approved member (in the order given), each
    new member's account (participant id -> address) and each new meter's device."""
    if not approved:
        return scenario, {}, {}
    groups = list(scenario.groups)
    accounts: dict[str, str] = {}
    devices: dict[str, str] = {}
    for record in approved:
        member = orjson.loads(record.member_json)
        groups.append(GroupSpec.model_validate({**member, "name": record.handle, "count": 1}))
        accounts[joined_participant_id(scenario.community.id, record.handle)] = record.applicant
        devices.update(orjson.loads(record.devices_json))
    return scenario.model_copy(update={"groups": groups}), accounts, devices
