"""One in-memory fake per port, with the semantics of the real adapter that the use cases rely on.

planning.py (CalendarGateway, MappingStore, ResourceStore, DeadLetterStore), rooms.py (RoomGraph,
SubscriptionGateway, the room stores, WebhookSender), credentials.py (SecretStore, ApplicationGateway, token
credentials, RotationLease, CredentialStateStore), queue.py (MessageQueue). tests/contract holds one suite per
port run against the fake and the real adapter, so the two cannot drift apart. Compositions of these fakes
(FakeWorld, RoomWorld, CredentialWorld) live with the tests that use them.
"""
