"""The composition root: builds every run, simulated or live, from one wiring.

:mod:`gridshare.app.steps` builds the step list (accounting, commitment, certification,
market, balancing) and :mod:`gridshare.app.ledger` puts a community on its chain; both
serve :mod:`gridshare.app.simulate` (``gridshare simulate``) and :mod:`gridshare.app.live`
(``gridshare meters listen``). A simulation supplies only what is simulated: the clock,
the reading source, the devices and grid status behind it, and the members' trading
agents. Live operation supplies ingest, MQTT device control and grid status instead.
"""

__all__: list[str] = []
