"""People use cases: delegated connections, appointments, availability."""
