"""The server-rendered web UI (Chinese), mounted on the main app."""
