"""Members and what they may read: accounts, a member's meters, readings, balances and
certified production per bucket, the community's balances per bucket (the API's queries).

Buckets are ``[bucket_start_s, bucket_start_s + bucket_s)``, aligned to the UNIX epoch, so
a day is a UTC day. Every query is a range on the leading column of a primary key
(``readings (interval_start_s, meter_pk)``, ``interval_balances (community_id,
interval_start_s)``) grouped in the database, so it costs the rows in the range, on SQLite
and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, cast, func, select, update

from gridshare.evm import EvmEncodingError, checksum_address, parse_address
from gridshare.model.assets import AssetKind, EnergySource
from gridshare.model.meters import MeterKind
from gridshare.model.participants import Role
from gridshare.model.records import (
    COMMUNITY_FLOW_COLUMNS,
    CertifiedProductionRecord,
    CommunityBalanceRecord,
    MemberBalanceRecord,
    MemberRecord,
    MeterReadingsRecord,
)
from gridshare.storage import tables as t
from gridshare.storage.base import StorageError, StoreBase, bucket_of
from gridshare.units import SECONDS_PER_DAY

SOURCE_OF_ASSET = {
    AssetKind.PV.value: EnergySource.SOLAR.value,
    AssetKind.WIND.value: EnergySource.WIND.value,
    AssetKind.HYDRO.value: EnergySource.HYDRO.value,
    AssetKind.BIOMASS.value: EnergySource.BIOMASS.value,
}
"""The energy source of a generator's stored asset kind (``assets.kind``)."""

STARTS_PER_QUERY = 4096
"""Interval starts named in one SQLite readings query (it allows 32 766 parameters)."""


_MEMBER_SUMS = (
    "grid_import_wh",
    "grid_export_wh",
    "production_wh",
    "charge_wh",
    "discharge_wh",
    "readings",
)
"""What a member's balance adds up per bucket; consumption is derived from them."""


class _MeterSum(NamedTuple):
    meter_pk: int
    bucket_start_s: int
    import_wh: int
    export_wh: int
    readings: int


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

    def set_participant_accounts(self, accounts: Mapping[str, str]) -> None:
        """Record each participant's own account (any case; stored EIP-55), all in one
        transaction: a refused one (unknown participant, an account another holds)
        records none."""
        p = t.participants
        with self.engine.begin() as conn:
            for participant_id, address in accounts.items():
                account = _account(address)
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

    def _meters_of(self, participant_id: str) -> tuple[dict[int, tuple[str, str]], int, str]:
        """The participant's meters (database key -> meter id, kind), its community's
        metering interval (s) and the community."""
        m, c = t.meters, t.communities
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    m.c.meter_pk, m.c.meter_id, m.c.kind, c.c.interval_length_s, c.c.community_id
                )
                .select_from(m.join(c, m.c.community_id == c.c.community_id))
                .where(m.c.participant_id == participant_id)
                .order_by(m.c.meter_id)
            ).all()
        meters = {int(row.meter_pk): (str(row.meter_id), str(row.kind)) for row in rows}
        if not rows:
            return meters, 0, ""
        return meters, int(rows[0].interval_length_s), str(rows[0].community_id)

    def _meter_sums(
        self,
        meter_pks: Sequence[int],
        where: tuple[str, int],
        start_s: int,
        end_s: int,
        bucket_s: int,
    ) -> list[Any]:
        """Readings of ``meter_pks`` (of the community and metering interval ``where``)
        summed per meter and bucket. Day-long buckets read the days the community rolled
        up (``meter_days``: a row per meter and day) and the readings of the others."""
        community_id, interval_s = where
        pks = [int(pk) for pk in meter_pks]
        queries: list[Any] = []
        ranges = [(start_s, end_s)]
        if bucket_s % SECONDS_PER_DAY == 0:
            rolled = self._rolled_days(community_id, start_s, end_s)
            if rolled:
                d = t.meter_days
                bucket = bucket_of(d.c.day_start_s, bucket_s)
                queries.append(
                    select(
                        d.c.meter_pk,
                        bucket.label("bucket_start_s"),
                        func.sum(d.c.import_wh).label("import_wh"),
                        func.sum(d.c.export_wh).label("export_wh"),
                        func.sum(d.c.readings).label("readings"),
                    )
                    .where(d.c.day_start_s.in_(rolled), d.c.meter_pk.in_(pks))
                    .group_by(d.c.meter_pk, bucket)
                )
                ranges = _gaps(start_s, end_s, rolled)
        for lo, hi in ranges:
            queries += self._reading_queries(pks, interval_s, lo, hi, bucket_s)
        return self._summed(queries)

    def _rolled_days(self, community_id: str, start_s: int, end_s: int) -> list[int]:
        """The community's rolled-up days wholly inside ``[start_s, end_s)``, in order."""
        u = t.rolled_up_days
        query = (
            select(u.c.day_start_s)
            .where(
                u.c.community_id == community_id,
                u.c.day_start_s >= start_s,
                u.c.day_start_s <= end_s - SECONDS_PER_DAY,
            )
            .order_by(u.c.day_start_s)
        )
        with self.engine.connect() as conn:
            return [int(v) for v in conn.execute(query).scalars()]

    def _reading_queries(
        self, pks: list[int], interval_s: int, start_s: int, end_s: int, bucket_s: int
    ) -> list[Any]:
        """The queries summing ``pks``' readings in ``[start_s, end_s)`` per meter and bucket.

        ``readings`` is keyed by ``(interval_start_s, meter_pk)``, every community's meters
        together, so a range on ``interval_start_s`` would read every meter's rows. The
        query names the keys instead: the interval starts of the range (aligned to the
        community's interval) times the member's meters, each a lookup in the primary key.
        PostgreSQL joins ``generate_series`` of the starts (a nested loop of index lookups;
        an ``= ANY(array)`` scan is several times slower on PostgreSQL 15); SQLite takes
        them as ``IN`` lists of :data:`STARTS_PER_QUERY`.
        """
        r = t.readings
        first = -(-start_s // interval_s) * interval_s
        if first >= end_s:
            return []
        sums = (
            func.sum(r.c.import_wh).label("import_wh"),
            func.sum(r.c.export_wh).label("export_wh"),
            func.count().label("readings"),
        )
        queries: list[Any] = []
        if self.dialect == "postgresql":
            bounds = (cast(v, BigInteger) for v in (first, end_s - 1, interval_s))
            series = (
                func.generate_series(*bounds).table_valued("value").render_derived(name="starts")
            )
            bucket = bucket_of(series.c.value, bucket_s)
            queries.append(
                select(r.c.meter_pk, bucket.label("bucket_start_s"), *sums)
                .select_from(series.join(r, r.c.interval_start_s == series.c.value))
                .where(r.c.meter_pk.in_(pks))
                .group_by(r.c.meter_pk, bucket)
            )
        else:
            bucket = bucket_of(r.c.interval_start_s, bucket_s)
            starts = list(range(first, end_s, interval_s))
            queries.extend(
                select(r.c.meter_pk, bucket.label("bucket_start_s"), *sums)
                .where(
                    r.c.interval_start_s.in_(starts[lo : lo + STARTS_PER_QUERY]),
                    r.c.meter_pk.in_(pks),
                )
                .group_by(r.c.meter_pk, bucket)
                for lo in range(0, len(starts), STARTS_PER_QUERY)
            )
        return queries

    def _summed(self, queries: Sequence[Any]) -> list[Any]:
        rows: list[Any] = []
        with self.engine.connect() as conn:
            for query in queries:
                rows.extend(conn.execute(query).all())
        # A bucket cut by a chunk boundary comes back in two rows: add them up.
        merged: dict[tuple[int, int], list[int]] = {}
        for row in rows:
            key = (int(row.meter_pk), int(row.bucket_start_s))
            into = merged.setdefault(key, [0, 0, 0])
            into[0] += int(row.import_wh)
            into[1] += int(row.export_wh)
            into[2] += int(row.readings)
        return [
            _MeterSum(pk, start, *values)
            for (pk, start), values in sorted(merged.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ]

    def member_readings(
        self, participant_id: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[MeterReadingsRecord]:
        """The participant's meters' readings in ``[start_s, end_s)`` summed per bucket,
        ordered by meter id then bucket (buckets with no reading are absent)."""
        meters, interval_s, community_id = self._meters_of(participant_id)
        if not meters:
            return []
        where = (community_id, interval_s)
        records = [
            MeterReadingsRecord(
                *meters[int(row.meter_pk)],
                bucket_start_s=int(row.bucket_start_s),
                import_wh=int(row.import_wh),
                export_wh=int(row.export_wh),
                readings=int(row.readings),
            )
            for row in self._meter_sums(list(meters), where, start_s, end_s, bucket_s)
        ]
        records.sort(key=lambda rec: (rec.meter_id, rec.bucket_start_s))
        return records

    def member_balances(
        self, participant_id: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[MemberBalanceRecord]:
        """The participant's energy per bucket in ``[start_s, end_s)``, from its grid,
        production and storage meters, ordered by bucket (buckets with no reading absent)."""
        meters, interval_s, community_id = self._meters_of(participant_id)
        sums: dict[int, dict[str, int]] = {}
        where = (community_id, interval_s)
        found = self._meter_sums(list(meters), where, start_s, end_s, bucket_s) if meters else []
        for row in found:
            kind = meters[int(row.meter_pk)][1]
            into = sums.setdefault(int(row.bucket_start_s), dict.fromkeys(_MEMBER_SUMS, 0))
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
        bucket = bucket_of(b.c.interval_start_s, bucket_s)
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

    def member_certified_production(
        self, participant_id: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[CertifiedProductionRecord]:
        """What the participant's production meters exported in ``[start_s, end_s)`` in
        intervals committed on chain (``interval_commitments``), per meter and bucket: the
        Wh the certify step mints (1 token per Wh), ordered by bucket then meter id.

        The query walks the community's commitments in the range (a range on their
        primary key) and looks each one's readings up by ``(interval_start_s, meter_pk)``.
        """
        m, a, c, r = t.meters, t.assets, t.interval_commitments, t.readings
        with self.engine.connect() as conn:
            generators = conn.execute(
                select(m.c.meter_pk, m.c.meter_id, m.c.community_id, a.c.kind)
                .select_from(m.join(a, m.c.asset_id == a.c.asset_id))
                .where(
                    m.c.participant_id == participant_id,
                    m.c.kind == MeterKind.PRODUCTION.value,
                )
            ).all()
            if not generators:
                return []
            meters = {int(g.meter_pk): (str(g.meter_id), str(g.kind)) for g in generators}
            bucket = bucket_of(c.c.interval_start_s, bucket_s)
            rows = conn.execute(
                select(
                    r.c.meter_pk,
                    bucket.label("bucket_start_s"),
                    func.sum(r.c.export_wh).label("certified_wh"),
                    func.count().label("intervals"),
                )
                .select_from(c.join(r, r.c.interval_start_s == c.c.interval_start_s))
                .where(
                    c.c.community_id == str(generators[0].community_id),
                    c.c.interval_start_s >= start_s,
                    c.c.interval_start_s < end_s,
                    r.c.meter_pk.in_(list(meters)),
                    r.c.export_wh > 0,
                )
                .group_by(r.c.meter_pk, bucket)
            ).all()
        records = [
            CertifiedProductionRecord(
                bucket_start_s=int(row.bucket_start_s),
                meter_id=meters[int(row.meter_pk)][0],
                source=SOURCE_OF_ASSET.get(meters[int(row.meter_pk)][1], "unknown"),
                certified_wh=int(row.certified_wh),
                intervals=int(row.intervals),
            )
            for row in rows
        ]
        records.sort(key=lambda rec: (rec.bucket_start_s, rec.meter_id))
        return records


def _gaps(start_s: int, end_s: int, days: Sequence[int]) -> list[tuple[int, int]]:
    """The parts of ``[start_s, end_s)`` that the sorted whole ``days`` do not cover."""
    gaps = []
    at = start_s
    for day in days:
        if day > at:
            gaps.append((at, day))
        at = day + SECONDS_PER_DAY
    if at < end_s:
        gaps.append((at, end_s))
    return gaps
