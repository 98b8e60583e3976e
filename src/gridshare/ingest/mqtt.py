"""MQTT transport: meters publish signed bundles, the ingest service subscribes.

Topic scheme (one topic per meter; the meter id may itself contain ``/``)::

    gridshare/<community_id>/readings/<meter_id>      payload: a JSON bundle (wire.py)

The subscriber uses QoS 1, a persistent session (a fixed client id, clean_session off,
so messages published while it is down are delivered when it returns) and *manual*
acknowledgement: a message is acknowledged only after the micro-batch holding it was
committed to the store. A message redelivered after a crash is idempotent: the validator
and the store count it as a duplicate.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gridshare.errors import ConfigurationError
from gridshare.ingest.service import IngestCounts, IngestService, Offered
from gridshare.metering.wire import MalformedBundle, decode_bundle
from gridshare.units import SECONDS_PER_DAY

log = logging.getLogger("gridshare.ingest.mqtt")
TOPIC_ROOT = "gridshare"
RECEIVE_MAXIMUM = 65_535
SESSION_EXPIRY_S = 7 * SECONDS_PER_DAY
"""How long the broker keeps the subscriber's session (and queued readings) while it is away."""


def readings_topic(community_id: str, meter_id: str) -> str:
    return f"{TOPIC_ROOT}/{community_id}/readings/{meter_id}"


def readings_subscription(community_id: str) -> str:
    return f"{TOPIC_ROOT}/{community_id}/readings/#"


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Where the broker is: ``mqtt://[user:password@]host[:1883]`` or ``mqtts://`` (TLS)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_certs: str | None = None

    @classmethod
    def from_url(cls, url: str, ca_certs: str | None = None) -> BrokerConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigurationError(
                f"broker URL {url!r}: expected mqtt://host[:port] or mqtts://host[:port]"
            )
        tls = parts.scheme == "mqtts"
        return cls(
            parts.hostname,
            parts.port or (8883 if tls else 1883),
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            tls,
            ca_certs,
        )

    def client(self, client_id: str, *, persistent: bool = False) -> mqtt.Client:
        """An MQTT 5 client; ``persistent`` keeps its session and acknowledges manually."""
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=persistent,
        )
        client.user_data_set({"persistent": persistent})
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set(ca_certs=self.ca_certs, cert_reqs=ssl.CERT_REQUIRED)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        return client

    def connect(self, client: mqtt.Client, timeout_s: float = 10.0) -> None:
        """Connect and start the network thread; a clear error if the broker is away."""
        connected = threading.Event()
        refused: list[str] = []

        def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
            if getattr(reason, "is_failure", False):
                refused.append(str(reason))
            connected.set()

        client.on_connect = on_connect
        persistent = bool((client.user_data_get() or {}).get("persistent"))
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        # MQTT 5 flow control: let the broker keep many unacknowledged messages in flight
        # towards us (we acknowledge a whole micro-batch after it is stored)
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        if persistent:
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        try:
            client.connect(
                self.host,
                self.port,
                keepalive=30,
                clean_start=not persistent,
                properties=properties,
            )
        except OSError as exc:
            raise ConfigurationError(
                f"cannot reach the MQTT broker at {self.host}:{self.port}: {exc} (is mosquitto "
                "running? start it with: mosquitto -d -c /etc/mosquitto/mosquitto.conf)"
            ) from None
        client.loop_start()
        if not connected.wait(timeout_s) or refused:
            client.loop_stop()
            why = refused[0] if refused else "no answer"
            raise ConfigurationError(f"the MQTT broker at {self.host}:{self.port} refused: {why}")


class MqttIngest:
    """Subscribes to a community's readings and feeds the ingest service in micro-batches."""

    def __init__(
        self,
        service: IngestService,
        community_id: str,
        broker: BrokerConfig,
        *,
        client_id: str | None = None,
        max_batch: int = 5_000,
        max_delay_s: float = 0.05,
    ) -> None:
        self.service = service
        self.community_id = community_id
        self.broker = broker
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.client = broker.client(
            client_id or f"gridshare-ingest-{community_id}", persistent=True
        )
        self._prefix = readings_topic(community_id, "")
        self._queue: deque[tuple[str, bytes, int]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._drain_loop, name="mqtt-ingest", daemon=True)
        self.messages = 0
        self.errors: list[BaseException] = []

    def start(self) -> None:
        subscription = readings_subscription(self.community_id)
        subscribed = threading.Event()

        def on_subscribe(*_args: object) -> None:
            subscribed.set()

        def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
            self._queue.append((message.topic, bytes(message.payload), message.mid))
            if len(self._queue) >= self.max_batch:
                self._wake.set()

        self.client.on_message = on_message
        self.client.on_subscribe = on_subscribe
        self._worker.start()
        self.broker.connect(self.client)
        self.client.subscribe(subscription, qos=1)
        if not subscribed.wait(10):
            raise ConfigurationError(f"the broker did not confirm the subscription {subscription}")

        def resubscribe(*_args: object) -> None:
            self.client.subscribe(subscription, qos=1)

        self.client.on_connect = resubscribe

    def _drain_loop(self) -> None:
        while not self._stop.is_set() or self._queue:
            self._wake.wait(self.max_delay_s)
            self._wake.clear()
            try:
                self.drain()
            except Exception as exc:  # keep the messages unacknowledged for redelivery
                log.exception("ingest failed; messages stay unacknowledged")
                self.errors.append(exc)
                time.sleep(0.5)

    def drain(self) -> IngestCounts | None:
        """Process what has arrived; acknowledge it once it is stored."""
        taken: list[tuple[str, bytes, int]] = []
        while self._queue and len(taken) < self.max_batch:
            taken.append(self._queue.popleft())
        if not taken:
            return None
        offered = [self._parse(topic, payload) for topic, payload, _ in taken]
        try:
            counts = self.service.submit(offered, "mqtt")
        except Exception as exc:  # noqa: BLE001 - whatever failed, the item-by-item retry reports it
            # one message the store cannot take must not hold up the others: retry one
            # by one; what still fails stays unacknowledged for the broker to redeliver
            log.warning("micro-batch of %d messages failed (%s); retrying one by one",
                        len(taken), exc)  # fmt: skip
            counts, failed = self.service.submit_each(offered, "mqtt")
            failed_ids = {id(item) for item, _ in failed}
            for (topic, payload, mid), item in zip(taken, offered, strict=True):
                if id(item) in failed_ids:
                    self._queue.append((topic, payload, mid))
                else:
                    self.client.ack(mid, 1)
                    self.messages += 1
            for item, error in failed:
                meter = item.bundle.meter_id if item.bundle else item.topic_meter
                log.error("message for meter %s could not be stored: %s", meter, error)
                self.errors.append(error)
            return counts
        for _, _, mid in taken:
            self.client.ack(mid, 1)
        self.messages += len(taken)
        return counts

    def _parse(self, topic: str, payload: bytes) -> Offered:
        meter = topic[len(self._prefix) :] if topic.startswith(self._prefix) else None
        try:
            return Offered(decode_bundle(payload), payload, topic_meter=meter)
        except MalformedBundle as exc:
            return Offered(None, payload, exc, meter)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Process everything received, then disconnect."""
        self._stop.set()
        self._wake.set()
        self._worker.join(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()


class MqttPublisher:
    """Publishes payloads at QoS 1 and waits until the broker has acknowledged them."""

    def __init__(self, broker: BrokerConfig, client_id: str = "") -> None:
        self.client = broker.client(client_id)
        self._done = threading.Condition()
        self.published = 0
        self.acknowledged = 0
        self.client.on_publish = self._on_publish
        broker.connect(self.client)

    def _on_publish(self, *_args: object) -> None:
        with self._done:
            self.acknowledged += 1
            self._done.notify_all()

    def publish_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        # never hold our lock while paho holds its own (its network thread calls back)
        for topic, payload in items:
            info = self.client.publish(topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise ConfigurationError(f"publishing to {topic} failed: {info.rc}")
        with self._done:
            self.published += len(items)

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until the broker acknowledged everything published."""
        with self._done:
            if not self._done.wait_for(lambda: self.acknowledged >= self.published, timeout_s):
                missing = self.published - self.acknowledged
                raise ConfigurationError(f"{missing} messages were not acknowledged")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
