"""The composition root: builds every run, simulated or live, from one wiring.

:mod:`gridshare.app.steps` builds the step list (accounting, commitment, certification,
market, balancing) and :mod:`gridshare.app.ledger` puts a community on its chain; both
serve :mod:`gridshare.app.simulate` (``gridshare simulate``) and the live node,
:func:`gridshare.app.node.run_node`, which :mod:`gridshare.app.serve` (``gridshare
serve``, members with registered addresses) and :mod:`gridshare.app.live` (``gridshare
meters listen``, the scenario's simulated members) run. A simulation supplies only what
is simulated: the clock, the reading source, the devices and grid status behind it, and
the members' trading agents. Live operation supplies ingest, MQTT device control and
grid status instead.
"""

__all__: list[str] = []
