"""Video input/output on PyAV."""
from .frames import AudioStreamInfo, ColorInfo, Frame, VideoInfo
from .reader import count_frames, iter_frames, probe
from .writer import EncodeOptions, VideoWriter

__all__ = ["AudioStreamInfo", "ColorInfo", "EncodeOptions", "Frame", "VideoInfo", "VideoWriter",
           "count_frames", "iter_frames", "probe"]
