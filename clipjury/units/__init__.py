"""Organisations, units, their quotas, membership by join code, and the units' XLSX sheet."""
