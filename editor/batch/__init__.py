"""Batch processing: many videos, one job each, on local worker processes or Ray.

The flow (``trackedit batch`` drives it; library users can too)::

    from editor.batch import JobOptions, LocalExecutor, decide, discover, make_jobs

    jobs = make_jobs(discover([Path("videos")], Path("out"), Path("prompts")), JobOptions("blur"))
    todo = []
    for job in jobs:
        job, result = decide(job)          # fingerprint; skipped / failed before running, or None
        if result is None:
            todo.append(job)
    with LocalExecutor(workers=2) as ex:   # or RayExecutor("auto", gpus=1)
        for result in ex.run(todo):
            ...                            # JobResult: status, error, frames, seconds, worker

- :mod:`editor.batch.discovery`: files, folders and manifests → :class:`BatchJob` list;
- :mod:`editor.batch.jobs`: jobs, results, fingerprints and records (resume), :func:`run_job`;
- :mod:`editor.batch.local`: worker processes (``python -m editor.batch.worker``);
- :mod:`editor.batch.ray_executor`: Ray tasks (Ray is imported only when one is opened).
"""
from __future__ import annotations

from editor.batch.discovery import ManifestError, Source, discover, make_jobs, read_manifest
from editor.batch.jobs import (DONE, FAILED, NOTHING_TO_EDIT, SKIPPED, BatchJob, JobOptions, JobResult, decide,
                               record_path, run_job)
from editor.batch.local import LocalExecutor, default_workers
from editor.batch.ray_executor import RayExecutor, ray_available

__all__ = ["DONE", "FAILED", "SKIPPED", "NOTHING_TO_EDIT", "BatchJob", "JobOptions", "JobResult", "ManifestError",
           "Source", "LocalExecutor", "RayExecutor", "decide", "default_workers", "discover", "make_jobs",
           "ray_available", "read_manifest", "record_path", "run_job"]
