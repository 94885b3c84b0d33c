"""Room use cases: intake, worker, publisher, registration, subscriptions, upkeep."""
