"""The store's records: field names are the table columns they fill."""

from __future__ import annotations

from dataclasses import fields

from gridshare.metering.wire import QUALITY_COLUMNS
from gridshare.model.records import ReadingProvenance, RejectedReadingRecord, as_row
from gridshare.storage import tables


def test_provenance_carries_every_power_quality_column() -> None:
    names = {f.name for f in fields(ReadingProvenance)}
    assert set(QUALITY_COLUMNS) <= names


def test_rejected_reading_row_has_the_table_columns() -> None:
    record = RejectedReadingRecord(
        received_at_s=1_700_000_000,
        transport="mqtt",
        meter_id=None,
        interval_start_s=None,
        seq=None,
        reason="malformed",
        detail="not JSON",
        payload="{",
    )
    columns = {c.name for c in tables.rejected_readings.columns} - {"rejection_pk"}
    assert set(as_row(record)) == columns
    assert as_row(record) == {
        "received_at_s": 1_700_000_000,
        "transport": "mqtt",
        "meter_id": None,
        "interval_start_s": None,
        "seq": None,
        "reason": "malformed",
        "detail": "not JSON",
        "payload": "{",
    }
