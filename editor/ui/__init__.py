"""Local web UI: pick objects with clicks, track, correct, preview and render (``trackedit ui``)."""
