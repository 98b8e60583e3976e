"""The in-memory store and the SQL store (SQLite) record the same rows for the same run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tests.unit.pipeline.memory_run import run_tiny

from gridshare.model import Community
from gridshare.model.records import Record, as_row
from gridshare.storage import open_store
from gridshare.storage.memory import InMemoryStore


def _rows(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Stored rows as plain values, without the community column the SQL store adds."""
    surrogate = ("rejection_pk", "alert_pk")
    return [
        {k: _plain(v) for k, v in row.items() if k not in surrogate}
        for row in frame.to_dict("records")
    ]


def _plain(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return _plain(value.item())
    return value


def _records(records: Sequence[Record], *, community: str | None = None) -> list[dict[str, object]]:
    rows = [as_row(r) for r in records]
    if community is not None:
        rows = [{"community_id": community, **r} for r in rows]
    return [{k: _plain(v) for k, v in r.items()} for r in rows]


def test_memory_and_sql_stores_hold_the_same_records(tmp_path: Path) -> None:
    memory = InMemoryStore()
    run_tiny(memory)
    sql = open_store(f"sqlite:///{tmp_path / 'contract.sqlite'}")
    try:

        def begin(community: Community) -> None:
            sql.register_community(community)
            sql.begin_run("tiny-memory", community.community_id, "tiny", 7)

        run = run_tiny(sql, before_run=begin)
        cid = run.community.community_id
        t = memory.tables
        assert _rows(sql.market_intervals(cid)) == _records(memory.market_intervals())
        assert _rows(sql.market_fills(cid)) == _records(memory.market_fills())
        assert _rows(sql.market_trades(cid)) == _records(memory.market_trades())
        assert _rows(sql.market_rejections(cid)) == _records(t.market_rejections)
        assert _rows(sql.market_member_totals("tiny-memory")) == _records(
            sorted(t.market_member_totals["tiny-memory"], key=lambda r: r.participant_id)
        )
        assert _rows(sql.commitments(cid)) == _records(memory.commitments())
        assert _rows(sql.balancing_intervals(cid)) == _records(
            memory.balancing_intervals(), community=cid
        )
        assert _rows(sql.balancing_alerts(cid)) == _records(t.balancing_alerts, community=cid)
        assert len(memory.tables.readings) == sql.count("readings")
    finally:
        sql.close()
