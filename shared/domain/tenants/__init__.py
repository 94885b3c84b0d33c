"""Tenant rules: the registry's values and their validation, which tenant owns a source, the signed consent state."""
