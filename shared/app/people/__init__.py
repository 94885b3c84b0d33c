"""Use cases of the people capability (design.md section 11)."""
