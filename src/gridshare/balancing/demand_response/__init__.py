"""Demand response (issue 6): plan events, baseline consumption, measure and pay the response.

The package's modules, along its seams (each module's docstring has its rules):

* :mod:`~gridshare.balancing.demand_response.events`: the programme: enrolments
  (:class:`Enrolment`), events (:class:`DemandResponseEvent`), their kinds, states and the
  participants' responses;
* :mod:`~gridshare.balancing.demand_response.planning`: when to call an event and on whom
  (:func:`plan_event`);
* :mod:`~gridshare.balancing.demand_response.baseline`: what a participant would have
  imported without the event (:func:`compute_baseline`, "high 5 of 10");
* :mod:`~gridshare.balancing.demand_response.settlement`: the measured response and its
  payment (:func:`settle_event`);
* :mod:`~gridshare.balancing.demand_response.channels`: how events reach devices
  (:class:`EventChannel`).

All energy and money are integers (Wh, micro-units); power is ``float`` kW. Instants are
UNIX seconds (UTC), windows are half-open and aligned to the community's interval length.
Callers import the public names from this package.
"""

from gridshare.balancing.demand_response.baseline import (
    HIGH_5_OF_10,
    Baseline,
    BaselineRule,
    MeterHistory,
    compute_baseline,
)
from gridshare.balancing.demand_response.channels import (
    ChannelGroup,
    EventChannel,
    ScriptedChannel,
    called_enrolments,
)
from gridshare.balancing.demand_response.events import (
    BaselineMethod,
    DemandResponseError,
    DemandResponseEvent,
    DeviceProtocol,
    Enrolment,
    EventKind,
    EventStatus,
    ParticipantResponse,
)
from gridshare.balancing.demand_response.planning import plan_event
from gridshare.balancing.demand_response.settlement import (
    EventSettlement,
    ParticipantSettlement,
    delivered_energy_wh,
    payment_micros,
    settle_event,
)

__all__ = [
    "HIGH_5_OF_10",
    "Baseline",
    "BaselineMethod",
    "BaselineRule",
    "ChannelGroup",
    "DemandResponseError",
    "DemandResponseEvent",
    "DeviceProtocol",
    "Enrolment",
    "EventChannel",
    "EventKind",
    "EventSettlement",
    "EventStatus",
    "MeterHistory",
    "ParticipantResponse",
    "ParticipantSettlement",
    "ScriptedChannel",
    "called_enrolments",
    "compute_baseline",
    "delivered_energy_wh",
    "payment_micros",
    "plan_event",
    "settle_event",
]
