"""The API's public shapes: what a client reads and sends, built from several domains' rules."""
