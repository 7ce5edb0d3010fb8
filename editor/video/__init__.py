"""Video input/output on PyAV."""
from editor.api.frames import (AudioStreamInfo, ColorInfo, ContentLight, DecodedPlanes, Frame, MasteringDisplay,
                               VideoInfo)
from editor.video.inputs import input_file
from editor.video.reader import count_frames, iter_frames, probe
from editor.video.writer import EncodeOptions, VideoWriter

__all__ = ["AudioStreamInfo", "ColorInfo", "ContentLight", "DecodedPlanes", "EncodeOptions", "Frame",
           "MasteringDisplay", "VideoInfo", "VideoWriter", "count_frames", "input_file", "iter_frames", "probe"]
