"""The run summary: typed records, one JSON form."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gridshare.model.readings import WriteReport
from gridshare.model.summary import (
    CertificateSummary,
    CommitSummary,
    EnergyWh,
    FrequencyRange,
    IngestFigures,
    LiveFacts,
    MarketFigures,
    MarketSummary,
    PipelineReport,
    RunSummary,
    SimulationFacts,
    to_json,
)


def _market(traded_kwh: float = 1.5) -> MarketSummary:
    return MarketSummary(
        market=MarketFigures(
            mechanism="pay-as-clear",
            orders=3,
            orders_rejected=1,
            rejections={"stale": 1},
            settlement="day",
            settle_transactions=2,
            to_fund=Decimal("0.120759"),
            islanded_intervals=0,
        ),
        traded_kwh=traded_kwh,
        mean_clearing_price=None,
        member_savings=Decimal("12.500000"),
        fees=Decimal("0.000000"),
    )


def _pipeline() -> PipelineReport:
    return PipelineReport(intervals=4, readings=WriteReport(inserted=10, duplicates=2))


def test_money_is_an_exact_decimal_string_and_none_stays_null() -> None:
    document = to_json(_market())
    assert isinstance(document, dict)
    assert document["member_savings"] == "12.500000"
    assert document["mean_clearing_price"] is None
    assert document["market"] == {
        "mechanism": "pay-as-clear",
        "orders": 3,
        "orders_rejected": 1,
        "rejections": {"stale": 1},
        "settlement": "day",
        "settle_transactions": 2,
        "to_fund": "0.120759",
        "islanded_intervals": 0,
    }


def test_a_field_may_name_its_json_key() -> None:
    energy = EnergyWh(1, 2, 3, 4, 5, 6, 7, 8, 9)
    document = to_json(energy)
    assert isinstance(document, dict)
    assert document["import"] == 3
    assert "import_" not in document
    assert to_json(FrequencyRange(min_hz=59.9, max_hz=60.0)) == {"min": 59.9, "max": 60.0}


def test_steps_stand_at_the_top_level_in_step_order_after_what_the_run_was() -> None:
    start = datetime(2025, 6, 2, 4, tzinfo=UTC)
    summary = RunSummary(
        "demo",
        _pipeline(),
        (CommitSummary(4, 40, 1), _market()),
        SimulationFacts("demo.toml", 42, start, start, 15, 3, "STATION"),
    )
    document = summary.as_json()
    assert list(document)[:9] == [
        "community",
        "scenario",
        "seed",
        "start",
        "end",
        "interval_minutes",
        "members",
        "weather_station",
        "pipeline",
    ]
    assert document["start"] == "2025-06-02T04:00:00+00:00"
    assert document["pipeline"] == {
        "intervals": 4,
        "readings_inserted": 10,
        "readings_duplicate": 2,
        "readings_conflicting": 0,
        "readings_missing": 0,
        "readings_stored_on_arrival": 0,
    }
    assert list(document)[9:] == [
        "commitments",
        "committed_readings",
        "commit_transactions",
        "market",
        "traded_kwh",
        "mean_clearing_price",
        "member_savings",
        "fees",
    ]
    assert json.loads(json.dumps(document)) == document  # plain JSON all the way down


def test_live_facts_follow_the_pipeline() -> None:
    ingest = IngestFigures(received=5, inserted=4, duplicates=1, conflicts=0, rejected={})
    summary = RunSummary("c", _pipeline(), (), live=LiveFacts(ingest, 3, 1))
    document = summary.as_json()
    assert list(document) == [
        "community",
        "pipeline",
        "ingest",
        "closed_complete",
        "closed_overdue",
    ]
    assert document["ingest"] == {
        "received": 5,
        "inserted": 4,
        "duplicates": 1,
        "conflicts": 0,
        "rejected": {},
    }
    assert summary.verified is None


def test_a_step_summary_is_found_by_its_type() -> None:
    summary = RunSummary("c", _pipeline(), (CommitSummary(1, 2, 3), _market(2.0)))
    assert summary.section(MarketSummary).traded_kwh == 2.0
    assert summary.find(CertificateSummary) is None
    with pytest.raises(LookupError, match="CertificateSummary"):
        summary.section(CertificateSummary)


def test_a_value_without_a_json_form_is_refused() -> None:
    with pytest.raises(TypeError, match="no JSON form for object"):
        to_json(object())
