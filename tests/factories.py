"""Small hand-built communities for tests."""

from __future__ import annotations

from datetime import timedelta

from gridshare.model import (
    Category,
    Community,
    GridTariff,
    Location,
    Meter,
    MeterKind,
    Participant,
    Role,
)

QUARTER = timedelta(minutes=15)


def small_community(n_members: int = 3, community_id: str = "t") -> Community:
    """An operator with the PCC meter and ``n_members`` consumers with a grid meter each."""
    here = Location(36.1, -79.95, 273.0)
    participants = [
        Participant(f"{community_id}:op", "op", Role.OPERATOR, Category.COMMERCIAL, here)
    ]
    meters = [Meter(f"{community_id}:pcc", f"{community_id}:op", MeterKind.PCC)]
    for i in range(n_members):
        pid = f"{community_id}:m{i}"
        participants.append(Participant(pid, pid, Role.CONSUMER, Category.RESIDENTIAL, here))
        meters.append(Meter(f"{pid}/grid", pid, MeterKind.GRID))
    return Community(
        community_id,
        "test",
        "UTC",
        QUARTER,
        tuple(participants),
        (),
        tuple(meters),
        GridTariff(300_000, 70_000, 100.0, 100.0),
    )
