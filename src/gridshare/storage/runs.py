"""Runs and their results: community balances per interval, participants' totals."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pandas as pd
from sqlalchemy import func, select

from gridshare.balancing.accounting import IntervalBalance, ParticipantFlows
from gridshare.model.summary import RunSummary
from gridshare.storage import tables as t
from gridshare.storage.base import StoreBase, TransactionBase
from gridshare.units import Interval

_BALANCE_FIELDS = (
    "community_id",
    "interval_start_s",
    "length_s",
    "solar_wh",
    "wind_wh",
    "hydro_wh",
    "biomass_wh",
    "quality",
    "received",
    "expected",
    *t.BALANCE_ENERGY_COLUMNS[4:],
)

_BALANCE_UPSERT = (
    f"INSERT INTO interval_balances ({', '.join(_BALANCE_FIELDS)}) "  # noqa: S608 - constants
    f"VALUES ({', '.join('?' for _ in _BALANCE_FIELDS)}) "
    "ON CONFLICT (community_id, interval_start_s) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _BALANCE_FIELDS[2:])
)


class RunWrites(TransactionBase):
    """The runs writes of a unit of work (part of ``SqlTransaction``)."""

    def write_balance(
        self, interval: Interval, balance: IntervalBalance, received: int, expected: int
    ) -> None:
        """Store (or replace) the community balance of ``interval``."""
        community_id = self.store.community.community_id
        solar, wind, hydro, biomass = balance.production_wh_by_source
        row = {
            "community_id": community_id,
            "interval_start_s": interval.start_s,
            "length_s": interval.length_s,
            "solar_wh": solar,
            "wind_wh": wind,
            "hydro_wh": hydro,
            "biomass_wh": biomass,
            "quality": int(balance.quality),
            "received": received,
            "expected": expected,
        }
        for name in t.BALANCE_ENERGY_COLUMNS[4:]:
            row[name] = getattr(balance, name)
        # One upsert on the driver's cursor: this runs once per interval.
        marker = "?" if self.dialect == "sqlite" else "%s"
        cursor = self.connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            values = tuple(row[name] for name in _BALANCE_FIELDS)
            cursor.execute(_BALANCE_UPSERT.replace("?", marker), values)
        finally:
            cursor.close()

    def write_participant_totals(self, run_id: str, totals: ParticipantFlows) -> None:
        """Store per-participant totals of a run (aligned with the participants)."""
        participants = self.store.community.participants
        columns = {name: values.tolist() for name, values in asdict(totals).items()}
        rows = [
            {"run_id": run_id, "participant_id": p.participant_id}
            | {name: values[i] for name, values in columns.items()}
            for i, p in enumerate(participants)
        ]
        self.connection.execute(t.participant_totals.insert(), rows)


class RunQueries(StoreBase):
    """The runs part of ``SqlStore``."""

    def begin_run(self, run_id: str, community_id: str, scenario: str, seed: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.runs.insert(),
                {
                    "run_id": run_id,
                    "community_id": community_id,
                    "scenario": scenario,
                    "seed": seed,
                    "started_at_s": int(time.time()),
                    "status": "running",
                },
            )

    def finish_run(self, run_id: str, status: str, summary: RunSummary | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.runs.update()
                .where(t.runs.c.run_id == run_id)
                .values(
                    status=status,
                    finished_at_s=int(time.time()),
                    summary_json=None
                    if summary is None
                    else json.dumps(summary.as_json(), sort_keys=True),
                )
            )

    def interrupt_runs(self, community_id: str, prefix: str) -> int:
        """Mark runs of ``community_id`` whose id starts with ``prefix`` and that are still
        "running" (their process was killed) as "interrupted"; returns how many."""
        runs = t.runs
        with self.engine.begin() as conn:
            done = conn.execute(
                runs.update()
                .where(
                    runs.c.community_id == community_id,
                    runs.c.run_id.startswith(prefix, autoescape=True),
                    runs.c.status == "running",
                )
                .values(status="interrupted", finished_at_s=int(time.time()))
            )
        return int(done.rowcount)

    def last_closed_start_s(self, community_id: str) -> int | None:
        """Start of the newest interval the pipeline closed (its balance is stored in the
        interval's transaction), or None before the first."""
        balances = t.interval_balances
        with self.engine.connect() as conn:
            last = conn.execute(
                select(func.max(balances.c.interval_start_s)).where(
                    balances.c.community_id == community_id
                )
            ).scalar_one()
        return None if last is None else int(last)

    def latest_run(self, community_id: str) -> str | None:
        """The most recently started finished run of a community."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.runs.c.run_id)
                .where(t.runs.c.community_id == community_id, t.runs.c.status == "finished")
                .order_by(t.runs.c.started_at_s.desc())
                .limit(1)
            ).first()
        return None if row is None else str(row[0])

    def interval_balances(self, community_id: str) -> pd.DataFrame:
        """All stored interval balances of a community, indexed by UTC interval start."""
        query = (
            select(t.interval_balances)
            .where(t.interval_balances.c.community_id == community_id)
            .order_by(t.interval_balances.c.interval_start_s)
        )
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).mappings().all())
        if frame.empty:
            return frame
        frame.index = pd.to_datetime(frame["interval_start_s"], unit="s", utc=True)
        return frame
