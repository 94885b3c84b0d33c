"""amqppeer: a loopback AMQP 1.0 peer that receives what azure-servicebus sends (tests only; never deployed).

The Service Bus emulator needs Docker, which these machines do not have; this peer keeps the send side
of Service Bus that the connector relies on, so that ``ServiceBusQueue`` runs its real code path (the
azure-servicebus SDK over AMQP) in the normal test suite::

    from local.amqppeer import start_peer
    peer = start_peer({"planning-events": True})     # queue name -> requires sessions
    ServiceBusQueue(QueueConnection(connection_string=peer.connection_string))
    peer.received("planning-events"); peer.stop()

What it does (azure-servicebus 7.15, its pure-Python AMQP stack):

* Plain AMQP on 127.0.0.1 and a port chosen at start. The connection string carries
  ``UseDevelopmentEmulator=true``: with it the SDK skips TLS and keeps the port of ``Endpoint``.
* SASL ANONYMOUS, then the claims-based security exchange: a put-token request on the ``$cbs`` node
  carrying ``SharedAccessSignature sr=..&sig=..&se=..&skn=..``. The signature is checked like Service
  Bus does (HMAC-SHA256 with the key, over the url-encoded resource and the expiry): a wrong key or
  policy name, or an expired token, is answered with status-code 401, a good one with 202. A transfer
  to a queue that no accepted token on the connection covers is rejected with ``amqp:unauthorized-access``.
* Sender links to the configured queue names (the SDK names the target ``amqps://host:port/queue``);
  another name gets an attach without target, then a detach with ``amqp:not-found``, as from Service
  Bus (the SDK raises ``MessagingEntityNotFoundError``). The
  attach advertises ``max-message-size`` 262144 (Standard tier), which the SDK reads for its batches.
* Each transfer (a single message or a batch: a message whose data sections each hold one encoded
  message) is checked as a whole, then settled: ``rejected`` with ``amqp:link:message-size-exceeded``
  above the limit; with ``amqp:not-allowed`` when a session queue gets a message without session id
  (``group-id``); with ``com.microsoft:argument-out-of-range`` when a message id or session id is
  longer than 128 characters. A rejected batch stores nothing.
* Accepted messages are recorded with message id, session id, content type, application properties,
  body and the ``x-opt-scheduled-enqueue-time`` annotation. A message id already seen on the queue
  within the duplicate detection window (10 minutes) is accepted and dropped, as Service Bus does.
* Faults: ``peer.drop_connections_on_transfer = True`` closes the connection when a transfer arrives,
  without settling it (the peer going away mid-send).

Not simulated: receiving, settlement of received messages, sessions' receive side, management
operations (``schedule_messages``/``cancel_scheduled_messages``), topics, partitioned entities, TLS.
proton's Python binding does not expose a transfer's message-format (Service Bus marks batches with
0x80013700), so a batch is recognised by its body: data sections that each decode as an AMQP message.
"""

from __future__ import annotations

from local.amqppeer.peer import AmqpPeer, ReceivedMessage, start_peer

__all__ = ["AmqpPeer", "ReceivedMessage", "start_peer"]
