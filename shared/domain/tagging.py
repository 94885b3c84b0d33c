"""How the connector marks the events it writes to Graph: a single-value extended property holding the
event's source key. Writes set it, lookups filter on it, and an event that carries it is the connector's own."""

from __future__ import annotations

__all__ = ["SOURCE_KEY_PROPERTY"]

# The property's id as Graph spells it: type, a GUID of the connector's own, and a name.
SOURCE_KEY_PROPERTY = "String {c0a8f6d2-3b5e-4f71-9d2a-6e4b8c1f0a37} Name CalendarConnectorSourceKey"
