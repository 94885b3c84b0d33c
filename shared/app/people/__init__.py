"""People use cases (design.md section 11): connecting a person (connect), the status routes (status), their
delegated token credential (delegated) and the state changes these share (lifecycle); appointments (appointments,
written); watched organizers (organizers, watching); availability."""
