"""Table Storage adapters."""
