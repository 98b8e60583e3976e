"""Network physics for grid balancing (issue 6): AC power flow, voltage sensitivity, droop.

The community's members sit on the buses of a distribution network (a pandapower network:
a named benchmark feeder or a radial topology described by :class:`NetworkSpec`). For each
interval, :class:`PowerFlowModel` turns every member's net consumption into bus voltages,
line and transformer loadings, network losses and the import at the point of common
coupling (PCC), fast enough to run for every interval of a simulation.

Sign convention (``docs/glossary.md``): a member's ``p_kw`` is its net consumption at the
meter, positive when it imports and negative when it exports; the PCC's ``slack_p_kw`` is
positive when the community imports from the upstream grid.

The package's modules, along its seams:

* :mod:`~gridshare.balancing.power_flow.network`: the topology (:class:`NetworkSpec`,
  :class:`BusSpec`, :class:`LineSpec`, :class:`TransformerSpec`), :func:`build_network`
  and the members on its buses (:func:`connect_members`, :func:`extract_member_loads`);
* :mod:`~gridshare.balancing.power_flow.solver`: :class:`PowerFlowModel` (admittance,
  Newton-Raphson, voltage sensitivities);
* :mod:`~gridshare.balancing.power_flow.results`: :class:`PowerFlowResult`,
  :class:`SeriesResult` and the limits they are checked against;
* :mod:`~gridshare.balancing.power_flow.frequency`: droop frequency in island mode.

Callers import the public names from this package.

References
----------
* W. F. Tinney, C. E. Hart, "Power flow solution by Newton's method", IEEE Trans. PAS-86
  (11), 1967, 1449-1460.
* R. D. Zimmerman, C. E. Murillo-Sanchez, R. J. Thomas, "MATPOWER: steady-state
  operations, planning and analysis tools", IEEE Trans. Power Syst. 26(1), 2011, 12-19.
* L. Thurner et al., "pandapower - an open-source Python tool for convenient modeling,
  analysis, and optimization of electric power systems", IEEE Trans. Power Syst. 33(6),
  2018, 6510-6521.
* M. E. Baran, F. F. Wu, "Network reconfiguration in distribution systems for loss
  reduction and load balancing", IEEE Trans. Power Deliv. 4(2), 1989, 1401-1407.
* CIGRE Task Force C6.04.02, "Benchmark systems for network integration of renewable and
  distributed energy resources", CIGRE technical brochure 575, 2014.
* G. Kerber, "Aufnahmefaehigkeit von Niederspannungsverteilnetzen fuer die Einspeisung
  aus Photovoltaikkleinanlagen", dissertation, TU Muenchen, 2011.
* K. Christakou, J.-Y. Le Boudec, M. Paolone, D.-C. Tomozei, "Efficient computation of
  sensitivity coefficients of node voltages and line currents in unbalanced radial
  electrical distribution networks", IEEE Trans. Smart Grid 4(2), 2013, 741-750.
* P. Kundur, "Power System Stability and Control", McGraw-Hill, 1994.
* M. C. Chandorkar, D. M. Divan, R. Adapa, "Control of parallel connected inverters in
  standalone AC supply systems", IEEE Trans. Ind. Appl. 29(1), 1993, 136-143.
"""

from gridshare.balancing.power_flow.common import PowerFlowError
from gridshare.balancing.power_flow.frequency import (
    FrequencyLimits,
    classify_frequency,
    droop_frequency_hz,
)
from gridshare.balancing.power_flow.network import (
    NAMED_NETWORKS,
    BusSpec,
    LineSpec,
    MemberLoads,
    NetworkSpec,
    TransformerSpec,
    build_network,
    connect_members,
    describe_network,
    extract_member_loads,
)
from gridshare.balancing.power_flow.results import (
    LineOverload,
    PowerFlowLimits,
    PowerFlowResult,
    SeriesResult,
    VoltageViolation,
)
from gridshare.balancing.power_flow.solver import DENSE_MAX_BUSES, PowerFlowModel

__all__ = [
    "DENSE_MAX_BUSES",
    "NAMED_NETWORKS",
    "BusSpec",
    "FrequencyLimits",
    "LineOverload",
    "LineSpec",
    "MemberLoads",
    "NetworkSpec",
    "PowerFlowError",
    "PowerFlowLimits",
    "PowerFlowModel",
    "PowerFlowResult",
    "SeriesResult",
    "TransformerSpec",
    "VoltageViolation",
    "build_network",
    "describe_network",
    "classify_frequency",
    "connect_members",
    "droop_frequency_hz",
    "extract_member_loads",
]
