"""What the API needs from the store: one read-only port (``storage.SqlStore`` implements
it). The API holds no SQL; every query is one of these typed methods."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from gridshare.model.records import (
    CommunityBalanceRecord,
    MemberBalanceRecord,
    MemberRecord,
    MeterReadingsRecord,
)


@runtime_checkable
class ApiStore(Protocol):
    """Members, their readings and balances, community balances, per time bucket."""

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
