"""Campaigns and their settings: every rule the contest notice fixes lives here."""
