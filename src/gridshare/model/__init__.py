"""Domain model: participants, assets, meters, readings and the community (no I/O)."""

from gridshare.model.assets import (
    Asset,
    AssetKind,
    Battery,
    DispatchableGenerator,
    DispatchMode,
    ElectricVehicle,
    EnergySource,
    FlexibleLoad,
    PvArray,
    WindTurbine,
)
from gridshare.model.community import Community, MeterCatalogue
from gridshare.model.errors import ModelError
from gridshare.model.meters import Meter, MeterKind
from gridshare.model.participants import Category, Location, Participant, Role
from gridshare.model.readings import (
    NOT_REPORTED,
    QualityFlag,
    Reading,
    ReadingBatch,
    WriteReport,
)
from gridshare.model.tariff import GridTariff, TouWindow

__all__ = [
    "NOT_REPORTED",
    "Asset",
    "AssetKind",
    "Battery",
    "Category",
    "Community",
    "DispatchMode",
    "DispatchableGenerator",
    "ElectricVehicle",
    "EnergySource",
    "FlexibleLoad",
    "GridTariff",
    "Location",
    "Meter",
    "MeterCatalogue",
    "MeterKind",
    "ModelError",
    "Participant",
    "PvArray",
    "QualityFlag",
    "Reading",
    "ReadingBatch",
    "Role",
    "TouWindow",
    "WindTurbine",
    "WriteReport",
]
