"""Credential use cases: rotation, health, status."""
