"""Credential rules: rotation policy and certificate building."""
