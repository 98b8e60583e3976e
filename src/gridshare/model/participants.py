"""Community members and their roles."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from gridshare.model.errors import ModelError


class Role(StrEnum):
    """What a participant does in the community."""

    OPERATOR = "operator"
    PRODUCER = "producer"
    CONSUMER = "consumer"
    PROSUMER = "prosumer"


class Category(StrEnum):
    """The tariff/customer category of a participant."""

    RESIDENTIAL = "residential"
    COMMERCIAL = "commercial"
    INDUSTRIAL = "industrial"


@dataclass(frozen=True, slots=True)
class Location:
    """A point on the WGS84 ellipsoid."""

    latitude_deg: float
    longitude_deg: float
    altitude_m: float = 0.0

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude_deg <= 90.0 or math.isnan(self.latitude_deg):
            raise ModelError(f"latitude {self.latitude_deg} deg is outside -90..90")
        if not -180.0 <= self.longitude_deg <= 180.0 or math.isnan(self.longitude_deg):
            raise ModelError(f"longitude {self.longitude_deg} deg is outside -180..180")


@dataclass(frozen=True, slots=True)
class Participant:
    """A member of the community (or its operator)."""

    participant_id: str
    name: str
    role: Role
    category: Category
    location: Location

    def __post_init__(self) -> None:
        if not self.participant_id:
            raise ModelError("participant_id must not be empty")
