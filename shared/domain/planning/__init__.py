"""Planning rules: the event contract, the entity model, the planner and the rendering of events."""
