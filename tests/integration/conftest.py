"""Shared integration fixtures and helpers: the real MQTT broker, polling with a deadline,
unique names and free loopback ports.

The broker tests never skip: when mosquitto at ``GRIDSHARE_TEST_MQTT_URL`` (default
``mqtt://127.0.0.1:1883``) cannot be reached they fail, saying how to start it. (The
PostgreSQL fixtures, which fail the same way, are in ``tests/conftest.py``.)

Helpers are imported from here by test modules, here and in ``tests/ledger``::

    from tests.integration.conftest import free_port, unique_id, wait_until
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable

import pytest

from gridshare.ingest.mqtt import BrokerConfig

BROKER_URL = os.environ.get("GRIDSHARE_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
BROKER_START_HINT = "start it with: mosquitto -d -c /etc/mosquitto/mosquitto.conf"
POLL_S = 0.02


def require_broker(url: str = BROKER_URL) -> BrokerConfig:
    """The broker at ``url``, or a test failure (never a skip) saying how to start it."""
    config = BrokerConfig.from_url(url)
    try:
        with socket.create_connection((config.host, config.port), timeout=2):
            pass
    except OSError as exc:
        pytest.fail(
            f"mosquitto is required at {url} and is not reachable ({exc}); {BROKER_START_HINT}"
        )
    return config


@pytest.fixture(scope="session")
def broker() -> BrokerConfig:
    """The real MQTT broker; the test fails when it is not reachable."""
    return require_broker()


def unique_id(prefix: str, digits: int = 10) -> str:
    """``prefix`` and ``digits`` random hex digits: a community id, topic part or MQTT client
    id that no other test (or earlier run against the same broker) uses."""
    return prefix + uuid.uuid4().hex[:digits]


def free_port() -> int:
    """A loopback TCP port nothing listens on at the moment of asking (connections to it are
    refused until someone binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def poll_until(condition: Callable[[], bool], timeout_s: float, poll_s: float = POLL_S) -> bool:
    """Call ``condition`` every ``poll_s`` seconds until it holds (True) or ``timeout_s``
    seconds have passed (False)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
    return True


def wait_until(
    condition: Callable[[], bool], what: str, timeout_s: float = 10.0, poll_s: float = POLL_S
) -> None:
    """Wait until ``condition`` holds; fail the test, naming ``what``, after ``timeout_s``."""
    if not poll_until(condition, timeout_s, poll_s):
        pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


async def wait_until_async(
    condition: Callable[[], bool], what: str, timeout_s: float = 10.0, poll_s: float = 0.05
) -> None:
    """:func:`wait_until` inside an event loop: sleeps without blocking the loop."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(poll_s)
