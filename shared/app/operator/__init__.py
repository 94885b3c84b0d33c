"""Operator use cases: dead letters, resources, the doctor."""
