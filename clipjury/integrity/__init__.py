"""Integrity aids for reviewers: near-duplicate works, on-screen classification markings and the opening line."""
