"""Rules of the people capability (design.md section 11): appointments with attendees."""
