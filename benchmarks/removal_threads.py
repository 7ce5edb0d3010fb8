"""CPU time of the two halves of the ``remove`` stage (issue #28): ``prepare`` (on the stage's
thread) and ``complete`` (on the second thread, ``workers = 2``), from ``time.thread_time``.

With two free cores the stage's wall time is about the larger of the two (they overlap, one
frame in flight), which a loaded machine's wall clock cannot show.

``python -m benchmarks.removal_threads CLIP WORKDIR`` (``WORKDIR/masks``: the tracker's masks,
as for ``benchmarks.scenarios edit_remove``) prints one JSON line.
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    clip, work = Path(sys.argv[1]), Path(sys.argv[2])
    from editor.pipeline.orchestrator import Pipeline, RunRequest
    from editor.pipeline.presets import load_preset
    from trackedit_plugins import remove

    spent = {"prepare": 0.0, "complete": 0.0}

    def timed(name: str, method):  # noqa: ANN001, ANN202
        def run(self, *args, **kwargs):  # noqa: ANN001, ANN202
            start = time.thread_time()
            try:
                return method(self, *args, **kwargs)
            finally:
                spent[name] += time.thread_time() - start
        return run

    remove.RemoveStage._prepare = timed("prepare", remove.RemoveStage._prepare)
    remove.RemoveStage._complete = timed("complete", remove.RemoveStage._complete)
    start, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    frames = Pipeline().run(RunRequest(input=clip, output=work / "remove-threads.mp4", preset=load_preset("remove"),
                                       masks_dir=work / "masks", overwrite=True)).frames
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(json.dumps({"frames": frames, "seconds": time.perf_counter() - start, "cpu_seconds": cpu,
                      "prepare_cpu_seconds": spent["prepare"], "complete_cpu_seconds": spent["complete"]}))


if __name__ == "__main__":
    main()
