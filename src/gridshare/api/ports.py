"""What the API needs from the store: one read-only port (``storage.SqlStore`` implements
it). The API holds no SQL; every query is one of these typed methods."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from gridshare.model.records import (
    ClosedIntervalRecord,
    CommunityBalanceRecord,
    IslandEventRecord,
    MemberBalanceRecord,
    MemberRecord,
    MeterReadingsRecord,
)


@runtime_checkable
class ApiStore(Protocol):
    """Members, their readings and balances, community balances, per time bucket; and
    what the live stream tails: closed intervals and islanding events, in order."""

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

    def closed_intervals(
        self, community_id: str, from_s: int, limit: int
    ) -> list[ClosedIntervalRecord]: ...

    def latest_closed_interval_s(self, community_id: str) -> int | None: ...

    def island_events_after(
        self, community_id: str, after_s: int, limit: int
    ) -> list[IslandEventRecord]: ...

    def latest_island_start_s(self, community_id: str) -> int | None: ...
