"""Video input/output on PyAV."""
from editor.api.frames import AudioStreamInfo, ColorInfo, Frame, VideoInfo
from editor.video.reader import count_frames, iter_frames, probe
from editor.video.writer import EncodeOptions, VideoWriter

__all__ = ["AudioStreamInfo", "ColorInfo", "EncodeOptions", "Frame", "VideoInfo", "VideoWriter",
           "count_frames", "iter_frames", "probe"]
