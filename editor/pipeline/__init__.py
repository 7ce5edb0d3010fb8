"""The run: presets → stages, plugin loading, and the streaming orchestrator
(decode → objects → edit stages → sink) with bounded queues between threads."""
from editor.pipeline.orchestrator import Pipeline, RunRequest

__all__ = ["Pipeline", "RunRequest"]
