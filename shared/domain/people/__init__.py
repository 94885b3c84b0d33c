"""People rules: availability (free/busy, working hours, free slots) and appointments."""
