"""Media rules: the verdict codes, their messages, and how measurements become a verdict."""
