"""Tenant use cases: the registry (add, list, show, stop, purge), the administrator-consent link and callback."""
