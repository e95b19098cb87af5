"""Provinces, units, users and roles."""
