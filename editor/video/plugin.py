"""The essential video sink (PyAV encoder), registered like any plugin sink."""
from __future__ import annotations

from pathlib import Path

from editor import hookimpl
from editor.api.backends import SinkSpec
from editor.api.frames import VideoInfo
from editor.video.writer import EncodeOptions, VideoWriter


def _video_sink(path: Path, video: VideoInfo, encode: EncodeOptions, overwrite: bool) -> VideoWriter:
    return VideoWriter(path, video, encode, overwrite=overwrite)


@hookimpl
def editor_register_sinks(register):  # noqa: ANN001
    register(SinkSpec("video", lambda path: True, _video_sink,
                      "any container/codec FFmpeg writes (H.264 in MP4 by default), audio kept",
                      fallback=True))
