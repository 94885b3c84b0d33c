"""The peer's server: a qpid-proton container in a background thread (see the package docstring)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlparse

from proton import Condition, Data, Delivery, Described, Endpoint, Message, Terminus, symbol
from proton.handlers import IncomingMessageHandler, MessagingHandler
from proton.reactor import ApplicationEvent, Container, EventInjector

__all__ = ["AmqpPeer", "ReceivedMessage", "start_peer"]

logger = logging.getLogger("amqppeer")

MAX_MESSAGE_SIZE = 256 * 1024  # Standard tier
MAX_ID_LENGTH = 128
DUPLICATE_DETECTION_WINDOW = timedelta(minutes=10)
KEY_NAME = "RootManageSharedAccessKey"
CBS_NODE = "$cbs"
SCHEDULED_ENQUEUE_TIME = "x-opt-scheduled-enqueue-time"

MESSAGE_SIZE_EXCEEDED = "amqp:link:message-size-exceeded"
NOT_ALLOWED = "amqp:not-allowed"
NOT_FOUND = "amqp:not-found"
OUT_OF_RANGE = "com.microsoft:argument-out-of-range"

# Message section descriptors (AMQP 1.0 part 3.2).
_MESSAGE_ANNOTATIONS, _PROPERTIES, _APPLICATION_PROPERTIES, _DATA = 0x72, 0x73, 0x74, 0x75
STARTUP_TIMEOUT = 10.0


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the peer stored it."""

    queue: str
    message_id: str | None
    session_id: str | None
    body: bytes
    content_type: str | None
    application_properties: dict[str, Any]
    scheduled_enqueue_time: datetime | None


class _Refused(Exception):
    def __init__(self, condition: str, description: str) -> None:
        super().__init__(description)
        self.condition = condition
        self.description = description


@dataclass
class _Queue:
    requires_session: bool
    messages: list[ReceivedMessage] = field(default_factory=list)
    transfer_sizes: list[int] = field(default_factory=list)
    seen: dict[str, float] = field(default_factory=dict)


class AmqpPeer(MessagingHandler):  # type: ignore[misc]
    """Receives sends to a few queues; thread-safe accessors for tests."""

    def __init__(self, queues: Mapping[str, bool], *, key: str | None = None,
                 max_message_size: int = MAX_MESSAGE_SIZE, clock: Callable[[], float] = time.time) -> None:
        super().__init__(auto_accept=False)
        # This peer reads each delivery's raw bytes itself (batches), so proton's decoding handler goes.
        self.handlers = [h for h in self.handlers if not isinstance(h, IncomingMessageHandler)]
        self.key = key or base64.b64encode(secrets.token_bytes(32)).decode()
        self.max_message_size = max_message_size
        self.drop_connections_on_transfer = False
        self._queues = {name: _Queue(requires_session) for name, requires_session in queues.items()}
        self._clock = clock
        self._lock = threading.Lock()
        self._open_connections: set[Any] = set()
        self._injector = EventInjector()
        self._container = Container(self)
        self._container.selectable(self._injector)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0
        self.connections_dropped = 0

    # ---- test side -------------------------------------------------------------------------

    @property
    def connection_string(self) -> str:
        return (f"Endpoint=sb://127.0.0.1:{self.port};SharedAccessKeyName={KEY_NAME};"
                f"SharedAccessKey={self.key};UseDevelopmentEmulator=true")

    def received(self, queue: str) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._queues[queue].messages)

    def transfer_sizes(self, queue: str) -> list[int]:
        """Bytes of each accepted transfer (a batch counts once)."""
        with self._lock:
            return list(self._queues[queue].transfer_sizes)

    def start(self) -> AmqpPeer:
        self._thread = threading.Thread(target=self._container.run, name="amqppeer", daemon=True)
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT):
            raise RuntimeError("amqppeer did not start")
        return self

    def stop(self) -> None:
        self._injector.trigger(ApplicationEvent("peer_stop"))
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._injector.close()

    # ---- proton side (the container's thread) ----------------------------------------------

    def on_reactor_init(self, event: Any) -> None:
        self._acceptor = event.container.listen("127.0.0.1:0")
        # proton chooses no port itself; read the one the OS gave the listening socket.
        self.port = self._acceptor._selectable._delegate.getsockname()[1]  # noqa: SLF001
        logger.info("amqppeer listening on 127.0.0.1:%s", self.port)
        self._ready.set()

    def on_peer_stop(self, event: Any) -> None:
        self._acceptor.close()
        for connection in list(self._open_connections):
            connection.close()
        self._injector.close()
        self._container.stop()

    def on_connection_opening(self, event: Any) -> None:
        self._open_connections.add(event.connection)

    def on_connection_closed(self, event: Any) -> None:
        self._connections_discard(event.connection)

    def on_transport_closed(self, event: Any) -> None:
        if event.connection is not None:
            self._connections_discard(event.connection)

    def _connections_discard(self, connection: Any) -> None:
        self._open_connections.discard(connection)

    def on_link_opening(self, event: Any) -> None:
        link = event.link
        if link.is_sender:
            # The SDK's CBS response link: source $cbs.
            link.source.address = link.remote_source.address
            link.target.address = link.remote_target.address
            return
        link.target.address = link.remote_target.address
        link.source.address = link.remote_source.address
        address = _entity(link.remote_target.address)
        if address != CBS_NODE and address not in self._queues:
            # As Service Bus does (AMQP 1.0 2.6.3): answer the attach with no target, then detach with the reason.
            link.target.type = Terminus.UNSPECIFIED
            link.peer_refusal = f"The messaging entity '{address}' could not be found."
            return
        if address != CBS_NODE:
            link.max_message_size = self.max_message_size

    def on_link_opened(self, event: Any) -> None:
        refusal = getattr(event.link, "peer_refusal", None)
        if refusal:
            event.link.condition = Condition(NOT_FOUND, refusal, {symbol("com.microsoft:tracking-id"): _tracking_id()})
            event.link.close()

    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        link = delivery.link
        if not link.is_receiver or delivery.partial or not delivery.readable:
            return
        if delivery.aborted:
            delivery.settle()
            return
        raw = link.recv(delivery.pending)
        link.advance()
        if link.state & Endpoint.LOCAL_CLOSED:
            delivery.settle()
            return
        address = _entity(link.target.address)
        if address == CBS_NODE:
            delivery.update(Delivery.ACCEPTED)
            delivery.settle()
            self._answer_put_token(event.connection, raw)
            return
        if self.drop_connections_on_transfer:
            self.connections_dropped += 1
            event.transport.close_head()
            event.transport.close_tail()
            return
        try:
            if not _authorized(event.connection, address):
                raise _Refused("amqp:unauthorized-access", "Unauthorized access. 'Send' claim(s) are required.")
            self._store(address, raw)
        except _Refused as refused:
            # Service Bus always sends the error's info map (a tracking id); the SDK reads all three fields.
            delivery.local.condition = Condition(refused.condition, refused.description,
                                                 {symbol("com.microsoft:tracking-id"): _tracking_id()})
            logger.info("rejected a transfer to %s: %s", address, refused.condition)
            delivery.update(Delivery.REJECTED)
        else:
            delivery.update(Delivery.ACCEPTED)
        delivery.settle()

    # ---- claims-based security -------------------------------------------------------------

    def _answer_put_token(self, connection: Any, raw: bytes) -> None:
        request = Message()
        request.decode(raw)
        props = request.properties or {}
        status, description = 202, "Accepted"
        if props.get("operation") != "put-token":
            status, description = 400, "unsupported operation"
        elif not self._token_valid(str(request.body), str(props.get("name", ""))):
            status, description = 401, "InvalidSignature: The token has an invalid signature."
        else:
            # proton keeps attributes set on a wrapper with the connection itself, not the wrapper object.
            connection.peer_audiences = {*getattr(connection, "peer_audiences", ()), _entity(props.get("name"))}
        reply = Message(correlation_id=request.id, body=None,
                        properties={"status-code": status, "status-description": description})
        for link in _links(connection):
            if link.is_sender and link.source.address == CBS_NODE:
                link.send(reply)
                return
        logger.warning("put-token without a $cbs response link")

    def _token_valid(self, token: str, audience: str) -> bool:
        prefix = "SharedAccessSignature "
        if not token.startswith(prefix):
            return False
        fields = {k: v[0] for k, v in parse_qs(token[len(prefix):]).items()}
        try:
            resource, expiry, signature = fields["sr"], int(fields["se"]), fields["sig"]
        except (KeyError, ValueError):
            return False
        if fields.get("skn") != KEY_NAME or expiry < self._clock() or not audience.startswith(resource.rstrip("/")):
            return False
        expected = base64.b64encode(hmac.new(self.key.encode(), f"{quote_plus(resource)}\n{expiry}".encode(),
                                             hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, signature)

    # ---- storing ---------------------------------------------------------------------------

    def _store(self, queue: str, raw: bytes) -> None:
        if len(raw) > self.max_message_size:
            raise _Refused(MESSAGE_SIZE_EXCEEDED,
                           f"The received message (size:{len(raw)} bytes) exceeds the limit "
                           f"({self.max_message_size} bytes) currently allowed on the link.")
        entity = self._queues[queue]
        parsed = [_received(queue, m) for m in _messages(raw)]
        for message in parsed:
            if entity.requires_session and not message.session_id:
                raise _Refused(NOT_ALLOWED, "The SessionId was not set on a message, and it cannot be sent to the "
                               "entity. Entities that have session support enabled can only receive messages that "
                               "have the SessionId set to a valid value.")
            for name, value in (("MessageId", message.message_id), ("SessionId", message.session_id)):
                if value is not None and len(value) > MAX_ID_LENGTH:
                    raise _Refused(OUT_OF_RANGE, f"The {name} is longer than {MAX_ID_LENGTH} characters.")
        now = self._clock()
        window = DUPLICATE_DETECTION_WINDOW.total_seconds()
        with self._lock:
            entity.transfer_sizes.append(len(raw))
            for message in parsed:
                seen = entity.seen.get(message.message_id or "")
                if message.message_id and seen is not None and now - seen < window:
                    continue
                if message.message_id:
                    entity.seen[message.message_id] = now
                entity.messages.append(message)


def _tracking_id() -> str:
    return secrets.token_hex(16)


def _entity(address: str | None) -> str:
    """The SDK names the target by URL (``amqps://host:port/queue``); Service Bus reads the path."""
    return urlparse(address).path.strip("/") if address and "://" in address else address or ""


def _authorized(connection: Any, queue: str) -> bool:
    """A put-token for the namespace or for this queue came first on this connection."""
    audiences = getattr(connection, "peer_audiences", set())
    return "" in audiences or queue in audiences


def _links(connection: Any) -> Iterable[Any]:
    link = connection.link_head(0)
    while link:
        yield link
        link = link.next(0)


def _sections(raw: bytes) -> list[tuple[int, Any]]:
    sections: list[tuple[int, Any]] = []
    while raw:
        data = Data()
        consumed = data.decode(raw)
        raw = raw[consumed:]
        data.rewind()
        data.next()
        value = data.get_object()
        if not isinstance(value, Described):
            raise _Refused("amqp:decode-error", "a message section is not a described type")
        content = value.value
        # A binary comes back as a view into the decoder's buffer: copy it while the decoder lives.
        sections.append((int(value.descriptor), content.tobytes() if isinstance(content, memoryview) else content))
    return sections


def _messages(raw: bytes) -> list[dict[int, Any]]:
    """A batch's inner messages, or the one message the transfer is, each as its sections by code."""
    sections = _sections(raw)
    bodies = [value for code, value in sections if code == _DATA]
    if bodies and all(body[:2] == b"\x00\x53" for body in bodies):
        try:
            return [_by_code(_sections(body)) for body in bodies]
        except Exception:  # noqa: BLE001 - application bytes that only look like AMQP: one message
            pass
    return [_by_code(sections)]


def _by_code(sections: list[tuple[int, Any]]) -> dict[int, Any]:
    merged: dict[int, Any] = {}
    for code, value in sections:
        merged[code] = merged.get(code, b"") + value if code == _DATA else value
    return merged


def _received(queue: str, sections: dict[int, Any]) -> ReceivedMessage:
    properties = list(sections.get(_PROPERTIES) or []) + [None] * 13
    annotations = sections.get(_MESSAGE_ANNOTATIONS) or {}
    scheduled = annotations.get(symbol(SCHEDULED_ENQUEUE_TIME))
    message_id, content_type, group_id = properties[0], properties[6], properties[10]
    return ReceivedMessage(
        queue=queue,
        message_id=None if message_id is None else str(message_id),
        session_id=None if group_id is None else str(group_id),
        body=sections.get(_DATA, b""),
        content_type=None if content_type is None else str(content_type),
        application_properties={str(k): _plain(v) for k, v in (sections.get(_APPLICATION_PROPERTIES) or {}).items()},
        scheduled_enqueue_time=None if scheduled is None else datetime.fromtimestamp(int(scheduled) / 1000, UTC),
    )


def _plain(value: Any) -> Any:
    """proton's int32/symbol/... as Python's int/str."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    return str(value) if isinstance(value, str) else value


def start_peer(queues: Mapping[str, bool], **kwargs: Any) -> AmqpPeer:
    """Start a peer for ``queues`` (name -> requires sessions) on a free loopback port."""
    return AmqpPeer(queues, **kwargs).start()
