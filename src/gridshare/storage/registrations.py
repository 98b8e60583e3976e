"""Would-be members' registrations and the operator's decisions on them, the operator's
configuration changes, and the log of operator actions: the API's writes, one
transaction per call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gridshare.model.records import (
    ConfigurationChangeRecord,
    OperatorActionRecord,
    RegistrationRecord,
    RegistrationStatus,
    as_row,
)
from gridshare.storage import tables as t
from gridshare.storage.base import StoreBase

_REGISTRATION_COLUMNS = tuple(c.name for c in t.registrations.columns)
_ACTION_COLUMNS = tuple(c.name for c in t.operator_actions.columns)
_CHANGE_COLUMNS = tuple(c.name for c in t.configuration_changes.columns)


def _registration(row: Any) -> RegistrationRecord:
    return RegistrationRecord(**{name: getattr(row, name) for name in _REGISTRATION_COLUMNS})


def _action(row: Any) -> OperatorActionRecord:
    return OperatorActionRecord(**{name: getattr(row, name) for name in _ACTION_COLUMNS})


class RegistrationQueries(StoreBase):
    """Registrations and the operator-action log (the ``registrations`` and
    ``operator_actions`` tables)."""

    def submit_registration(self, record: RegistrationRecord) -> bool:
        """Store a registration; False (nothing stored) when the community holds one with
        the same handle already."""
        try:
            with self.engine.begin() as connection:
                connection.execute(t.registrations.insert(), as_row(record))
        except IntegrityError:
            return False
        return True

    def registration(self, community_id: str, handle: str) -> RegistrationRecord | None:
        table = t.registrations
        with self.engine.connect() as connection:
            row = connection.execute(
                select(table).where(table.c.community_id == community_id, table.c.handle == handle)
            ).first()
        return None if row is None else _registration(row)

    def registrations(
        self,
        community_id: str | None = None,
        *,
        applicant: str | None = None,
        statuses: tuple[RegistrationStatus, ...] = (),
        limit: int = 1000,
    ) -> list[RegistrationRecord]:
        """Registrations (of a community, of an applicant, with these statuses), oldest
        first."""
        table = t.registrations
        where = []
        if community_id is not None:
            where.append(table.c.community_id == community_id)
        if applicant is not None:
            where.append(table.c.applicant == applicant.lower())
        if statuses:
            where.append(table.c.status.in_([s.value for s in statuses]))
        query = (
            select(table)
            .where(*where)
            .order_by(table.c.submitted_at_s, table.c.handle)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [_registration(row) for row in connection.execute(query)]

    def decide_registration(
        self,
        community_id: str,
        handle: str,
        status: RegistrationStatus,
        action: OperatorActionRecord,
    ) -> RegistrationRecord | None:
        """Approve or reject a pending registration and log the operator's action, in one
        transaction; None (nothing changed, nothing logged) when it is not pending."""
        table = t.registrations
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(table)
                .where(
                    table.c.community_id == community_id,
                    table.c.handle == handle,
                    table.c.status == RegistrationStatus.PENDING.value,
                )
                .values(
                    status=status.value,
                    decided_at_s=action.at_s,
                    decided_by=action.actor,
                    reason=action.detail,
                )
            )
            if changed.rowcount == 0:
                return None
            row = as_row(action)
            row.pop("action_id")
            connection.execute(insert(t.operator_actions), row)
            stored = connection.execute(
                select(table).where(table.c.community_id == community_id, table.c.handle == handle)
            ).one()
        return _registration(stored)

    def log_operator_action(self, action: OperatorActionRecord) -> None:
        """Append an operator's action to the log."""
        row = as_row(action)
        row.pop("action_id")
        with self.engine.begin() as connection:
            connection.execute(insert(t.operator_actions), row)

    def operator_actions(
        self, community_id: str, *, after_id: int = 0, limit: int = 1000
    ) -> list[OperatorActionRecord]:
        """The community's operator actions after ``after_id``, oldest first."""
        table = t.operator_actions
        query = (
            select(table)
            .where(table.c.community_id == community_id, table.c.action_id > after_id)
            .order_by(table.c.action_id)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [_action(row) for row in connection.execute(query)]

    def device_in_use(self, address: str) -> bool:
        """Whether a registered meter, or a registration not rejected, names this device."""
        address = address.lower()
        with self.engine.connect() as connection:
            if connection.execute(
                select(t.meter_devices.c.meter_pk).where(
                    t.meter_devices.c.device_address == address
                )
            ).first():
                return True
            table = t.registrations
            open_ = connection.execute(
                select(table.c.devices_json).where(
                    table.c.status != RegistrationStatus.REJECTED.value,
                    table.c.devices_json.contains(address),
                )
            ).first()
        return open_ is not None

    def change_configuration(
        self, change: ConfigurationChangeRecord, action: OperatorActionRecord
    ) -> int:
        """Append a configuration change and its operator action, in one transaction;
        returns the change's id."""
        row = as_row(change)
        row.pop("change_id")
        logged = as_row(action)
        logged.pop("action_id")
        with self.engine.begin() as connection:
            inserted = connection.execute(insert(t.configuration_changes), row)
            connection.execute(insert(t.operator_actions), logged)
        key = inserted.inserted_primary_key
        return int(key[0]) if key else 0

    def configuration_changes(self, community_id: str) -> list[ConfigurationChangeRecord]:
        """The community's configuration changes, in the order they were made."""
        table = t.configuration_changes
        query = (
            select(table).where(table.c.community_id == community_id).order_by(table.c.change_id)
        )
        with self.engine.connect() as connection:
            return [
                ConfigurationChangeRecord(**{n: getattr(r, n) for n in _CHANGE_COLUMNS})
                for r in connection.execute(query)
            ]

    def taken_in(self, community_id: str) -> tuple[int, int]:
        """How many registrations are approved and configuration changes made: what the
        node counts after each interval to know it must take something in."""
        r, c = t.registrations, t.configuration_changes
        with self.engine.connect() as connection:
            approved = connection.execute(
                select(func.count()).where(
                    r.c.community_id == community_id,
                    r.c.status == RegistrationStatus.APPROVED.value,
                )
            ).scalar_one()
            changes = connection.execute(
                select(func.count()).where(c.c.community_id == community_id)
            ).scalar_one()
        return int(approved), int(changes)
