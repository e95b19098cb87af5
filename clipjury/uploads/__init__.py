"""Resumable uploads (tus 1.0.0) into object storage, with no state held in the API process."""
