"""``gridshare meters listen``: the live node (:func:`gridshare.app.node.run_node`) with
the scenario's simulated members standing in for members with their own keys.

Readings arrive signed over MQTT and/or HTTP; setpoints and demand-response events go out
over MQTT and the main grid's state comes in over MQTT. The members' meters publish with
the simulated fleet's device keys and their trading agents sign with simulated account
keys (:func:`gridshare.simulator.live.simulated_members`); ``gridshare serve`` runs the
same node for members who registered their own addresses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gridshare.app.ledger import Registration
from gridshare.app.node import Members, NodeOptions, run_node
from gridshare.app.steps import Trading
from gridshare.ingest.mqtt import BrokerConfig
from gridshare.ledger.keys import Signer
from gridshare.model.summary import RunSummary
from gridshare.simulator.live import simulated_members
from gridshare.simulator.run import scenario_community
from gridshare.simulator.scenario import Scenario

__all__ = ["ListenResult", "listen"]


@dataclass
class ListenResult:
    summary: RunSummary
    out_dir: Path
    database_url: str


def listen(
    scenario: Scenario,
    broker: BrokerConfig,
    out_dir: Path,
    operator: Signer,
    *,
    first_start_s: int,
    intervals: int,
    grace_s: float = 60.0,
    database_url: str | None = None,
    stop: threading.Event | None = None,
    on_interval: Callable[[int], None] | None = None,
    client_id: str | None = None,
    on_ready: Callable[[], None] | None = None,
    http_port: int | None = None,
    http_host: str = "127.0.0.1",
    api_token: str | None = None,
    mqtt: bool = True,
) -> ListenResult:
    """Run the live pipeline for ``intervals`` intervals from ``first_start_s`` (or, in a
    store that closed intervals before, from the one after the newest of them).

    Readings arrive over MQTT (unless ``mqtt`` is False) and, with ``http_port``, also as
    HTTP batches (``POST /v1/readings``); both feed the same ingest service.
    """
    community = scenario_community(scenario)
    simulated = simulated_members(scenario, community, operator.address)
    members = Members(
        Registration(simulated.devices, simulated.accounts),
        Trading(simulated.agents, simulated.escrow_micros),
        seed=simulated.seed,
    )
    options = NodeOptions(
        out_dir,
        database_url=database_url,
        broker=broker,
        mqtt_ingest=mqtt,
        client_id=client_id,
        http_port=http_port,
        http_host=http_host,
        api_token=api_token,
        first_start_s=first_start_s,
        intervals=intervals,
        grace_s=grace_s,
        kind="live",
    )
    result = run_node(
        scenario,
        community,
        members,
        operator,
        options,
        stop=stop,
        on_interval=on_interval,
        on_ready=on_ready,
    )
    return ListenResult(result.summary, out_dir, result.database_url)
