"""People use cases (design.md section 11): delegated connections, appointments, availability, watched organizers."""
