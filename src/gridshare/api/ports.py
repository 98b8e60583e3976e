"""What the API needs from the store: one read-only port (``storage.SqlStore`` implements
it). The API holds no SQL; every query is one of these typed methods."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from gridshare.model.records import (
    BalancingAlertRecord,
    CertifiedProductionRecord,
    ClosedIntervalRecord,
    CommunityBalanceRecord,
    ConfigurationChangeRecord,
    DemandResponseEventRecord,
    DispatchSetpointRecord,
    IslandEventRecord,
    MarketIntervalRecord,
    MarketOrderRecord,
    MemberBalanceRecord,
    MemberDemandResponseRecord,
    MemberFillRecord,
    MemberMarketBucketRecord,
    MemberRecord,
    MeterReadingsRecord,
    OperatorActionRecord,
    OrderStatus,
    RegistrationRecord,
    RegistrationStatus,
)


@runtime_checkable
class ApiStore(Protocol):
    """Members, their readings and balances, community balances, per time bucket; a
    member's market orders and certified production; the community's balancing records;
    and what the live stream tails: closed intervals and islanding events, in order;
    would-be members' registrations, the operator's decisions and its action log.
    Methods taking ``limit`` answer at most that many rows."""

    def member(self, participant_id: str) -> MemberRecord | None: ...

    def member_by_account(self, address: str) -> MemberRecord | None: ...

    def community_member_count(self, community_id: str) -> int: ...

    def community_interval_s(self, community_id: str) -> int | None: ...

    def member_readings(
        self, participant_id: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[MeterReadingsRecord]: ...

    def member_balances(
        self, participant_id: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[MemberBalanceRecord]: ...

    def community_balances(
        self, community_id: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[CommunityBalanceRecord]: ...

    def last_closed_start_s(self, community_id: str) -> int | None: ...

    # -- the market: members' signed orders (the market step books them) ---------------
    def submit_market_order(self, order: MarketOrderRecord) -> bool: ...

    def market_order(self, community_id: str, order_hash: str) -> MarketOrderRecord | None: ...

    def market_orders_of(
        self,
        community_id: str,
        maker: str | None,
        statuses: Sequence[OrderStatus],
        limit: int,
    ) -> list[MarketOrderRecord]: ...

    def request_market_order_cancel(
        self, community_id: str, order_hash: str, maker: str
    ) -> MarketOrderRecord | None: ...

    def market_depth(
        self, community_id: str, start_s: int, interval_s: int
    ) -> list[tuple[str, int, int, int]]: ...

    def last_market_interval(self, community_id: str) -> MarketIntervalRecord | None: ...
    def member_fills(
        self, participant_id: str, start_s: int, end_s: int, limit: int
    ) -> list[MemberFillRecord]: ...

    def member_market_buckets(
        self, participant_id: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[MemberMarketBucketRecord]: ...

    def member_certified_production(
        self, participant_id: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[CertifiedProductionRecord]: ...

    def member_dr_responses(
        self, participant_id: str, start_s: int, end_s: int, limit: int
    ) -> list[MemberDemandResponseRecord]: ...

    def community_island_events(
        self, community_id: str, start_s: int, end_s: int, limit: int
    ) -> list[IslandEventRecord]: ...

    def community_alerts(
        self, community_id: str, start_s: int, end_s: int, limit: int
    ) -> list[BalancingAlertRecord]: ...

    def community_setpoints(
        self, community_id: str, start_s: int, end_s: int, limit: int
    ) -> list[DispatchSetpointRecord]: ...

    def community_dr_events(
        self, community_id: str, start_s: int, end_s: int, limit: int
    ) -> list[DemandResponseEventRecord]: ...

    def community_dr_responses(
        self,
        community_id: str,
        start_s: int,
        end_s: int,
        limit: int,
        participant_id: str | None = None,
    ) -> list[MemberDemandResponseRecord]: ...

    def closed_intervals(
        self, community_id: str, from_s: int, limit: int
    ) -> list[ClosedIntervalRecord]: ...

    def latest_closed_interval_s(self, community_id: str) -> int | None: ...

    def island_events_after(
        self, community_id: str, after_s: int, limit: int
    ) -> list[IslandEventRecord]: ...

    def latest_island_start_s(self, community_id: str) -> int | None: ...

    def submit_registration(self, record: RegistrationRecord) -> bool: ...

    def registration(self, community_id: str, handle: str) -> RegistrationRecord | None: ...

    def registrations(
        self,
        community_id: str | None = None,
        *,
        applicant: str | None = None,
        statuses: tuple[RegistrationStatus, ...] = (),
        limit: int = 1000,
    ) -> list[RegistrationRecord]: ...

    def decide_registration(
        self,
        community_id: str,
        handle: str,
        status: RegistrationStatus,
        action: OperatorActionRecord,
    ) -> RegistrationRecord | None: ...

    def operator_actions(
        self, community_id: str, *, after_id: int = 0, limit: int = 1000
    ) -> list[OperatorActionRecord]: ...

    def device_in_use(self, address: str) -> bool: ...

    def change_configuration(
        self, change: ConfigurationChangeRecord, action: OperatorActionRecord
    ) -> int: ...

    def configuration_changes(self, community_id: str) -> list[ConfigurationChangeRecord]: ...

    def dr_event(self, community_id: str, event_id: str) -> DemandResponseEventRecord | None: ...

    def opt_out_of_event(
        self, community_id: str, event_id: str, participant_id: str, at_s: int
    ) -> bool: ...
