"""The community: its members, assets and meters registered (or checked), listed, removed."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
from sqlalchemy import Connection, delete, func, select

from gridshare.model import Community
from gridshare.storage import tables as t
from gridshare.storage.base import StorageError, StoreBase


class CommunityRecords(StoreBase):
    """The community part of ``SqlStore``."""

    def register_community(self, community: Community) -> None:
        """Insert the community's members, assets and meters, or check they match."""
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(t.communities).where(t.communities.c.community_id == community.community_id)
            ).first()
            length_s = int(community.interval_length.total_seconds())
            if existing is None:
                conn.execute(
                    t.communities.insert(),
                    {
                        "community_id": community.community_id,
                        "name": community.name,
                        "time_zone": community.time_zone,
                        "interval_length_s": length_s,
                    },
                )
            elif (
                existing.interval_length_s != length_s or existing.time_zone != community.time_zone
            ):
                raise StorageError(
                    f"the store holds community {community.community_id!r} with "
                    f"{existing.interval_length_s} s intervals in {existing.time_zone}; "
                    "use another database or community id"
                )
            self._insert_missing(conn, community)
            pks: dict[str, int] = {
                row.meter_id: row.meter_pk
                for row in conn.execute(
                    select(t.meters.c.meter_id, t.meters.c.meter_pk).where(
                        t.meters.c.community_id == community.community_id
                    )
                )
            }
        self._meter_pks = np.array([pks[m.meter_id] for m in community.meters], dtype=np.int64)
        self._community = community

    def _insert_missing(self, conn: Connection, community: Community) -> None:
        have_participants = set(conn.execute(select(t.participants.c.participant_id)).scalars())
        rows = [
            {
                "participant_id": p.participant_id,
                "community_id": community.community_id,
                "name": p.name,
                "role": p.role.value,
                "category": p.category.value,
                "latitude_deg": p.location.latitude_deg,
                "longitude_deg": p.location.longitude_deg,
                "altitude_m": p.location.altitude_m,
            }
            for p in community.participants
            if p.participant_id not in have_participants
        ]
        if rows:
            conn.execute(t.participants.insert(), rows)
        have_assets = set(conn.execute(select(t.assets.c.asset_id)).scalars())
        asset_rows = [
            {
                "asset_id": a.asset_id,
                "participant_id": a.participant_id,
                "kind": a.kind.value,
                "rated_power_kw": a.rated_power_kw,
                "spec_json": json.dumps(asdict(a), sort_keys=True, default=str),
            }
            for a in community.assets
            if a.asset_id not in have_assets
        ]
        if asset_rows:
            conn.execute(t.assets.insert(), asset_rows)
        have_meters = {
            row.meter_id: row
            for row in conn.execute(
                select(t.meters.c.meter_id, t.meters.c.participant_id, t.meters.c.kind)
            )
        }
        meter_rows = []
        for m in community.meters:
            stored = have_meters.get(m.meter_id)
            if stored is None:
                meter_rows.append(
                    {
                        "meter_id": m.meter_id,
                        "community_id": community.community_id,
                        "participant_id": m.participant_id,
                        "kind": m.kind.value,
                        "asset_id": m.asset_id,
                    }
                )
            elif (stored.participant_id, stored.kind) != (m.participant_id, m.kind.value):
                raise StorageError(
                    f"meter {m.meter_id} is stored as a {stored.kind} meter of "
                    f"{stored.participant_id}, not a {m.kind.value} meter of {m.participant_id}"
                )
        if meter_rows:
            conn.execute(t.meters.insert(), meter_rows)

    def recorded(self, community_id: str) -> tuple[int, int]:
        """Numbers of readings and of runs stored for a community."""
        with self.engine.connect() as conn:
            readings = conn.execute(
                select(func.count())
                .select_from(
                    t.readings.join(t.meters, t.readings.c.meter_pk == t.meters.c.meter_pk)
                )
                .where(t.meters.c.community_id == community_id)
            ).scalar_one()
            runs = conn.execute(
                select(func.count()).where(t.runs.c.community_id == community_id)
            ).scalar_one()
        return int(readings), int(runs)

    def delete_community(self, community_id: str) -> None:
        """Remove a community and everything recorded for it."""
        with self.engine.begin() as conn:
            meter_pks = select(t.meters.c.meter_pk).where(t.meters.c.community_id == community_id)
            participant_ids = select(t.participants.c.participant_id).where(
                t.participants.c.community_id == community_id
            )
            run_ids = select(t.runs.c.run_id).where(t.runs.c.community_id == community_id)
            conn.execute(delete(t.readings).where(t.readings.c.meter_pk.in_(meter_pks)))
            for table in (
                t.reading_bundles,
                t.meter_states,
                t.meter_devices,
            ):
                conn.execute(delete(table).where(table.c.meter_pk.in_(meter_pks)))
            conn.execute(
                delete(t.interval_commitments).where(
                    t.interval_commitments.c.community_id == community_id
                )
            )
            conn.execute(
                delete(t.reading_conflicts).where(t.reading_conflicts.c.meter_pk.in_(meter_pks))
            )
            for table in (
                t.market_intervals,
                t.market_fills,
                t.market_trades,
                t.market_rejections,
                t.balancing_intervals,
                t.balancing_alerts,
                t.dispatch_setpoints,
                t.island_events,
                t.dr_events,
                t.dr_responses,
                t.market_orders,
                t.registrations,
                t.operator_actions,
                t.configuration_changes,
                t.dr_opt_outs,
            ):
                conn.execute(delete(table).where(table.c.community_id == community_id))
            conn.execute(
                delete(t.market_member_totals).where(t.market_member_totals.c.run_id.in_(run_ids))
            )
            conn.execute(
                delete(t.interval_balances).where(
                    t.interval_balances.c.community_id == community_id
                )
            )
            conn.execute(
                delete(t.participant_totals).where(t.participant_totals.c.run_id.in_(run_ids))
            )
            conn.execute(delete(t.runs).where(t.runs.c.community_id == community_id))
            conn.execute(delete(t.meters).where(t.meters.c.community_id == community_id))
            conn.execute(delete(t.assets).where(t.assets.c.participant_id.in_(participant_ids)))
            conn.execute(
                delete(t.participants).where(t.participants.c.community_id == community_id)
            )
            conn.execute(delete(t.communities).where(t.communities.c.community_id == community_id))

    def community_ids(self) -> list[str]:
        """Every community the store holds."""
        with self.engine.connect() as conn:
            return [str(c) for c in conn.execute(select(t.communities.c.community_id)).scalars()]

    def meter_owners(self, community_id: str) -> dict[str, str]:
        """Each meter of the community with the participant it belongs to."""
        m = t.meters
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(m.c.meter_id, m.c.participant_id).where(m.c.community_id == community_id)
            ).all()
        return {str(meter): str(owner) for meter, owner in rows}

    def interval_length_s(self, community_id: str) -> int:
        """The community's metering interval (s)."""
        c = t.communities
        with self.engine.connect() as conn:
            value = conn.execute(
                select(c.c.interval_length_s).where(c.c.community_id == community_id)
            ).scalar_one()
        return int(value)
