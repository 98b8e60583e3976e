"""The rows the steps hand the store through the ports (:mod:`gridshare.pipeline.ports`).

Defined in :mod:`gridshare.model.records`, below the adapters, so the store adapters
(which may not import the pipeline) build and read the same types; re-exported here,
beside the ports that take them.
"""

from gridshare.model.records import (
    BalancingAlertRecord,
    BalancingIntervalRecord,
    CommitmentRecord,
    DemandResponseEventRecord,
    DemandResponseRecord,
    IslandEventRecord,
    MarketFillRecord,
    MarketIntervalRecord,
    MarketMemberTotalsRecord,
    MarketRejectionRecord,
    MarketTradeRecord,
    Record,
    as_row,
)

__all__ = [
    "BalancingAlertRecord",
    "BalancingIntervalRecord",
    "CommitmentRecord",
    "DemandResponseEventRecord",
    "DemandResponseRecord",
    "IslandEventRecord",
    "MarketFillRecord",
    "MarketIntervalRecord",
    "MarketMemberTotalsRecord",
    "MarketRejectionRecord",
    "MarketTradeRecord",
    "Record",
    "as_row",
]
