"""Members and what they may read: accounts, a member's meters, readings and balances per
bucket, the community's balances per bucket (the API's queries).

Buckets are ``[bucket_start_s, bucket_start_s + bucket_s)``, aligned to the UNIX epoch, so
a day is a UTC day. Every query is a range on the leading column of a primary key
(``readings (interval_start_s, meter_pk)``, ``interval_balances (community_id,
interval_start_s)``) grouped in the database, so it costs the rows in the range, on SQLite
and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, func, literal_column, select, update

from gridshare.evm import EvmEncodingError, checksum_address, parse_address
from gridshare.model.meters import MeterKind
from gridshare.model.participants import Role
from gridshare.model.records import (
    COMMUNITY_FLOW_COLUMNS,
    CommunityBalanceRecord,
    MemberBalanceRecord,
    MemberRecord,
    MeterReadingsRecord,
)
from gridshare.storage import tables as t
from gridshare.storage.base import StorageError, StoreBase


def _bucket(column: Any, bucket_s: int) -> ColumnElement[int]:
    """``column`` rounded down to a multiple of ``bucket_s`` (inlined: an int, so safe, and
    the same expression in SELECT and GROUP BY on PostgreSQL)."""
    if bucket_s <= 0:
        raise StorageError(f"a bucket lasts a positive number of seconds, not {bucket_s}")
    width = literal_column(str(int(bucket_s)), BigInteger)
    expression: ColumnElement[int] = column - column % width
    return expression


def _account(address: str) -> str:
    try:
        return checksum_address(parse_address(address, checksummed=False))
    except EvmEncodingError as exc:
        raise StorageError(f"not an account address: {exc}") from None


def _member(row: Any) -> MemberRecord:
    return MemberRecord(
        str(row.participant_id), str(row.community_id), str(row.role), row.account_address
    )


class MemberQueries(StoreBase):
    """The members part of ``SqlStore``: accounts and the API's read queries."""

    def set_participant_account(self, participant_id: str, address: str) -> None:
        """Record ``address`` (any case; stored EIP-55) as the participant's own account."""
        account = _account(address)
        p = t.participants
        with self.engine.begin() as conn:
            holder = conn.execute(
                select(p.c.participant_id).where(p.c.account_address == account)
            ).scalar_one_or_none()
            if holder is not None and holder != participant_id:
                raise StorageError(f"account {account} already belongs to {holder}")
            done = conn.execute(
                update(p)
                .where(p.c.participant_id == participant_id)
                .values(account_address=account)
            )
            if done.rowcount != 1:
                raise StorageError(f"no participant {participant_id!r} is registered")

    def member(self, participant_id: str) -> MemberRecord | None:
        """The registered participant ``participant_id``, or None."""
        p = t.participants
        with self.engine.connect() as conn:
            row = conn.execute(
                select(p.c.participant_id, p.c.community_id, p.c.role, p.c.account_address).where(
                    p.c.participant_id == participant_id
                )
            ).first()
        return None if row is None else _member(row)

    def member_by_account(self, address: str) -> MemberRecord | None:
        """The participant whose own account is ``address`` (any case), or None."""
        p = t.participants
        with self.engine.connect() as conn:
            row = conn.execute(
                select(p.c.participant_id, p.c.community_id, p.c.role, p.c.account_address).where(
                    p.c.account_address == _account(address)
                )
            ).first()
        return None if row is None else _member(row)

    def community_member_count(self, community_id: str) -> int:
        """Members of a community, its operator not counted (0 for an unknown community)."""
        p = t.participants
        with self.engine.connect() as conn:
            count = conn.execute(
                select(func.count()).where(
                    p.c.community_id == community_id, p.c.role != Role.OPERATOR.value
                )
            ).scalar_one()
        return int(count)

    def community_interval_s(self, community_id: str) -> int | None:
        """The community's metering interval (s), None for a community not in the store."""
        c = t.communities
        with self.engine.connect() as conn:
            value = conn.execute(
                select(c.c.interval_length_s).where(c.c.community_id == community_id)
            ).scalar_one_or_none()
        return None if value is None else int(value)

    def _meters_of(self, participant_id: str) -> dict[int, tuple[str, str]]:
        m = t.meters
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(m.c.meter_pk, m.c.meter_id, m.c.kind)
                .where(m.c.participant_id == participant_id)
                .order_by(m.c.meter_id)
            ).all()
        return {int(pk): (str(meter_id), str(kind)) for pk, meter_id, kind in rows}

    def _meter_sums(
        self, meter_pks: Sequence[int], start_s: int, end_s: int, bucket_s: int
    ) -> list[Any]:
        r = t.readings
        bucket = _bucket(r.c.interval_start_s, bucket_s)
        query = (
            select(
                r.c.meter_pk,
                bucket.label("bucket_start_s"),
                func.sum(r.c.import_wh).label("import_wh"),
                func.sum(r.c.export_wh).label("export_wh"),
                func.count().label("readings"),
            )
            .where(
                r.c.interval_start_s >= start_s,
                r.c.interval_start_s < end_s,
                r.c.meter_pk.in_(list(meter_pks)),
            )
            .group_by(r.c.meter_pk, bucket)
            .order_by(bucket, r.c.meter_pk)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).all())

    def member_readings(
        self, participant_id: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[MeterReadingsRecord]:
        """The participant's meters' readings in ``[start_s, end_s)`` summed per bucket,
        ordered by meter id then bucket (buckets with no reading are absent)."""
        meters = self._meters_of(participant_id)
        if not meters:
            return []
        records = [
            MeterReadingsRecord(
                *meters[int(row.meter_pk)],
                bucket_start_s=int(row.bucket_start_s),
                import_wh=int(row.import_wh),
                export_wh=int(row.export_wh),
                readings=int(row.readings),
            )
            for row in self._meter_sums(list(meters), start_s, end_s, bucket_s)
        ]
        records.sort(key=lambda rec: (rec.meter_id, rec.bucket_start_s))
        return records

    def member_balances(
        self, participant_id: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[MemberBalanceRecord]:
        """The participant's energy per bucket in ``[start_s, end_s)``, from its grid,
        production and storage meters, ordered by bucket (buckets with no reading absent)."""
        meters = self._meters_of(participant_id)
        sums: dict[int, dict[str, int]] = {}
        for row in self._meter_sums(list(meters), start_s, end_s, bucket_s) if meters else []:
            kind = meters[int(row.meter_pk)][1]
            into = sums.setdefault(
                int(row.bucket_start_s),
                dict.fromkeys(
                    (
                        "grid_import_wh",
                        "grid_export_wh",
                        "production_wh",
                        "charge_wh",
                        "discharge_wh",
                        "readings",
                    ),
                    0,
                ),
            )
            imported, exported = int(row.import_wh), int(row.export_wh)
            into["readings"] += int(row.readings)
            if kind == MeterKind.GRID.value:
                into["grid_import_wh"] += imported
                into["grid_export_wh"] += exported
            elif kind == MeterKind.PRODUCTION.value:
                into["production_wh"] += exported
            elif kind == MeterKind.STORAGE.value:
                into["charge_wh"] += imported
                into["discharge_wh"] += exported
        return [
            MemberBalanceRecord(
                bucket_start_s=start,
                consumption_wh=v["grid_import_wh"]
                - v["grid_export_wh"]
                + v["production_wh"]
                + v["discharge_wh"]
                - v["charge_wh"],
                **v,
            )
            for start, v in sorted(sums.items())
        ]

    def community_balances(
        self, community_id: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[CommunityBalanceRecord]:
        """The community's interval balances in ``[start_s, end_s)`` summed per bucket,
        ordered by bucket (buckets with no closed interval are absent)."""
        b = t.interval_balances
        bucket = _bucket(b.c.interval_start_s, bucket_s)
        query = (
            select(
                bucket.label("bucket_start_s"),
                func.count().label("intervals"),
                func.sum(b.c.received).label("received"),
                func.sum(b.c.expected).label("expected"),
                *(func.sum(b.c[name]).label(name) for name in COMMUNITY_FLOW_COLUMNS),
            )
            .where(
                b.c.community_id == community_id,
                b.c.interval_start_s >= start_s,
                b.c.interval_start_s < end_s,
            )
            .group_by(bucket)
            .order_by(bucket)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [CommunityBalanceRecord(**{k: int(v) for k, v in row.items()}) for row in rows]
