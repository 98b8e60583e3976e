"""The interval pipeline shared by live operation and simulation.

ingest -> close interval -> steps (accounting now; certify, clear, settle, balance later).
"""

from gridshare.model import WriteReport
from gridshare.model.summary import JsonValue, PipelineReport
from gridshare.pipeline.closing import ClosedInterval, close_interval
from gridshare.pipeline.loop import Pipeline
from gridshare.pipeline.ports import (
    Clock,
    ContractCall,
    Ledger,
    ReadingSource,
    Receipt,
    Store,
    StoreTransaction,
)
from gridshare.pipeline.steps import Step

__all__ = [
    "Clock",
    "ClosedInterval",
    "ContractCall",
    "JsonValue",
    "Ledger",
    "Pipeline",
    "PipelineReport",
    "ReadingSource",
    "Receipt",
    "Step",
    "Store",
    "StoreTransaction",
    "WriteReport",
    "close_interval",
]
