"""Telling users what happened to their works, through one pluggable channel."""
