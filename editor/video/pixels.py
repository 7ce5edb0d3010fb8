"""Pixel conversions between decoded video frames and RGB, and the pass-through that keeps
untouched pixels bit-identical.

There is one conversion per direction, both with the source's own matrix and range given
to swscale explicitly (never its defaults), bicubic full-chroma interpolation and accurate
rounding, so that a round trip RGB → YUV → RGB shifts no level on average:

* :func:`to_rgb` — a decoded frame → full-range RGB (uint8, or uint16 ``rgb48`` when asked
  for deep frames of a source with more than 8 bits) and its alpha plane, if any;
* :func:`from_rgb` — RGB (and alpha) → a frame in an encoder's pixel format, with a given
  matrix and range.

:func:`planes_of` copies a decoded frame's planes (:class:`DecodedPlanes`, carried by
:class:`Frame`); :func:`restore_untouched` builds the output frame from an edited RGB image
and those planes: the planes are converted to RGB again exactly as the reader did, every
pixel whose RGB (and alpha) the stages left unchanged takes the source's plane values, and
only changed pixels are converted from RGB. A subsampled chroma sample is taken from the
source when none of the luma pixels it covers changed. Untouched pixels therefore reach the
encoder as they came out of the decoder, whatever the matrix, range, depth or subsampling.
Unspecified matrices are read as BT.601 (FFmpeg's convention) and unspecified ranges as
limited (full for ``yuvj`` formats).
"""
from __future__ import annotations

import threading
from functools import lru_cache

import av
import cv2
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from editor.api.frames import ColorInfo, DecodedPlanes

#: swscale flags for both directions: bicubic, accurate rounding, full chroma interpolation
#: on output and input (without them swscale's fast paths darken a round trip by ~1 level).
SWS_FLAGS = (Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
             | Interpolation.FULL_CHR_H_INP)

#: FFmpeg AVColorSpace → swscale colorspace constant (SWS_CS_*).
_SWS_COLORSPACE = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
_SWS_BT601 = 5
_RANGE_LIMITED, _RANGE_FULL = 1, 2
#: swscale's 16-bit RGB made from YUV (and YUV made from it) runs to 255·256 = 65280, not
#: 65535 (both ways; measured on FFmpeg 8): deep RGB is rescaled so that white is 65535
#: (`rgb48` of the Frame docstring). RGB sources of any depth convert to rgb48 with white at
#: 65535 already, and are not rescaled.
_SWS16_WHITE = 65280


def _rescale16(array: np.ndarray, factor: float, *, in_place: bool = False) -> np.ndarray:
    """``array`` (uint16, ≤ 4 channels) × ``factor``, rounded to nearest and saturated (one
    SIMD pass; the same values as float32 ``rint``); ``in_place``: into ``array`` itself
    when it is contiguous and writable."""
    a = np.ascontiguousarray(array)
    if in_place and a is array and a.flags.writeable:
        cv2.addWeighted(a, factor, a, 0.0, 0.0, dst=a, dtype=cv2.CV_16U)
        return a
    return cv2.addWeighted(a, factor, a, 0.0, 0.0, dtype=cv2.CV_16U)


def _from_sws16(array: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    return _rescale16(array, 65535 / _SWS16_WHITE, in_place=in_place)


def _to_sws16(array: np.ndarray) -> np.ndarray:
    return _rescale16(array, _SWS16_WHITE / 65535)


class PixelFormat:
    """What the conversions need to know about an FFmpeg pixel format."""

    def __init__(self, name: str) -> None:
        fmt = av.VideoFormat(name)
        self.name = name
        comps = fmt.components
        self.bits = max(c.bits for c in comps)
        self.is_rgb = bool(fmt.is_rgb or fmt.has_palette)
        self.has_alpha = any(c.is_alpha for c in comps)
        self.is_gray = not self.is_rgb and len([c for c in comps if not c.is_alpha]) == 1
        self.full_range = name.startswith("yuvj")
        planes = [c.plane for c in comps]
        self.planar = (len(set(planes)) == len(planes) and not fmt.has_palette and not fmt.is_bayer
                       and not fmt.is_bit_stream and self.bits <= 16
                       and (self.bits <= 8 or not fmt.is_big_endian))
        self.dtype = np.dtype(np.uint8 if self.bits <= 8 else np.uint16)
        # (log2 horizontal, log2 vertical) subsampling of each plane, by plane index
        probe = av.VideoFormat(name, 64, 64)
        self.shifts = {c.plane: ((64 // max(1, c.width)).bit_length() - 1, (64 // max(1, c.height)).bit_length() - 1)
                       for c in probe.components}
        self.alpha_plane = next((c.plane for c in comps if c.is_alpha), None)
        # the layout of the colour planes: formats that agree here hold the same values
        self.colour_layout = tuple(sorted((c.plane, c.bits, self.shifts[c.plane], c.is_luma, c.is_chroma)
                                          for c in comps if not c.is_alpha)) + (self.is_rgb,)

    @property
    def subsampling(self) -> tuple[int, int]:
        """Largest (log2 horizontal, log2 vertical) chroma subsampling."""
        return (max(s[0] for s in self.shifts.values()), max(s[1] for s in self.shifts.values()))


@lru_cache(maxsize=None)
def pixel_format(name: str) -> PixelFormat:
    return PixelFormat(name)


def bit_depth(name: str) -> int:
    """Bits per component of pixel format ``name``."""
    return pixel_format(name).bits


def yuv_range(fmt: PixelFormat, color_range: int) -> int:
    """The range a YUV/gray frame is read or written with: its tag, else limited (full for yuvj)."""
    if fmt.full_range or color_range == _RANGE_FULL:
        return _RANGE_FULL
    return _RANGE_LIMITED


def sws_colorspace(colorspace: int) -> int:
    """swscale matrix for an FFmpeg colorspace tag; unspecified (and unknown) → BT.601."""
    return _SWS_COLORSPACE.get(int(colorspace or 2), _SWS_BT601)


def color_of(frame: av.VideoFrame) -> ColorInfo:
    return ColorInfo(int(frame.colorspace or 2), int(frame.color_range or 0),
                     int(frame.color_primaries or 2), int(frame.color_trc or 2))


_SCALERS = threading.local()


def _scaler(purpose: str) -> VideoReformatter:
    """This thread's :class:`av.video.reformatter.VideoReformatter` for one conversion
    (``purpose``): it keeps its swscale context from frame to frame, which
    ``VideoFrame.reformat`` makes anew for every frame — with :data:`SWS_FLAGS` that set-up
    is most of the cost (measured here, PyAV 18.1: RGB → YUV 4:2:0 of a 1280×720 frame
    5.5 ms made anew, 1.9 ms kept; 0.41 vs 0.10 ms at 176×144). One per purpose and thread:
    a context is not shared between threads, and two conversions alternating on one would
    set it up again each time. The output is the same, bit for bit. Callers scale with one
    thread (``threads=1``): a kept context with swscale's automatic threads keeps its worker
    threads alive with it (the web UI's 20-client load test found 20 more threads), and the
    pipeline already converts on several threads at once (1280×720 RGB → YUV: 3.5 ms CPU
    on one thread, 3.6 with automatic threads, 4.7 made anew)."""
    scalers = getattr(_SCALERS, "by_purpose", None)
    if scalers is None:
        scalers = _SCALERS.by_purpose = {}
    scaler = scalers.get(purpose)
    if scaler is None:
        scaler = scalers[purpose] = VideoReformatter()
    return scaler


# -- the two conversions ---------------------------------------------------------------
def to_rgb(frame: av.VideoFrame, *, deep: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Decoded ``frame`` → (RGB H×W×3, alpha H×W or ``None``), full range, with the frame's
    own matrix and range. uint8, or uint16 (0–65535) when ``deep`` and the frame has more
    than 8 bits per component. Not rotated."""
    fmt = pixel_format(frame.format.name)
    wide = deep and fmt.bits > 8
    alpha = fmt.has_alpha
    if fmt.is_rgb:  # RGB sources: swscale's packed output (its planar one scales deep RGB otherwise),
        # white at 65535 from every RGB depth (9–16 bits; measured on FFmpeg 8): no rescale
        target = ("rgba64le" if wide else "rgba") if alpha else ("rgb48le" if wide else "rgb24")
        out = _scaler("to_rgb").reformat(frame, format=target, interpolation=SWS_FLAGS, threads=1).to_ndarray()
        if alpha:
            return np.ascontiguousarray(out[..., :3]), np.ascontiguousarray(out[..., 3])
        return out, None
    # YUV and gray: planar RGB out of swscale, interleaved here — the very values of rgb24 /
    # rgb48le, several times faster (swscale's packed writers with accurate rounding are slow)
    target = ("gbrap16le" if wide else "gbrap") if alpha else ("gbrp16le" if wide else "gbrp")
    planar = _scaler("to_rgb").reformat(frame, format=target, interpolation=SWS_FLAGS,
                                        src_colorspace=sws_colorspace(frame.colorspace),
                                        src_color_range=yuv_range(fmt, int(frame.color_range or 0)),
                                        dst_color_range=_RANGE_FULL, threads=1)
    dtype = np.dtype(np.uint16 if wide else np.uint8)
    g, b, r = (_plane_view(p, dtype) for p in planar.planes[:3])
    out = cv2.merge([r, g, b])
    a = np.ascontiguousarray(_plane_view(planar.planes[3], dtype)) if alpha else None
    if wide:
        out = _from_sws16(out, in_place=True)
        a = None if a is None else _from_sws16(a, in_place=True)
    return out, a


def from_rgb(image: np.ndarray, alpha: np.ndarray | None, pix_fmt: str, color: ColorInfo) -> av.VideoFrame:
    """RGB H×W×3 (uint8 or uint16, full range) and optional alpha → a frame in ``pix_fmt``
    converted with ``color``'s matrix and range, and tagged with ``color``."""
    fmt = pixel_format(pix_fmt)
    wide = image.dtype == np.uint16
    if alpha is not None and fmt.has_alpha:
        array = np.dstack([image, alpha.astype(image.dtype)])
        src = "rgba64le" if wide else "rgba"
    else:
        array, src = image, ("rgb48le" if wide else "rgb24")
    if wide and not fmt.is_rgb:  # (RGB to RGB keeps white at 65535)
        array = _to_sws16(array)
    rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format=src)
    kwargs: dict[str, object] = {"format": pix_fmt, "interpolation": SWS_FLAGS}
    if not fmt.is_rgb:
        kwargs.update(src_color_range=_RANGE_FULL, dst_colorspace=sws_colorspace(color.colorspace),
                      dst_color_range=yuv_range(fmt, color.color_range))
    out = _scaler("from_rgb").reformat(rgb, threads=1, **kwargs)
    tag(out, color, fmt)
    return out


def tag(frame: av.VideoFrame, color: ColorInfo, fmt: PixelFormat | None = None) -> None:
    """Set ``frame``'s colour tags to ``color`` (RGB formats get no matrix or range)."""
    fmt = fmt or pixel_format(frame.format.name)
    if fmt.is_rgb:
        frame.colorspace, frame.color_range = 0, _RANGE_FULL
    else:
        frame.colorspace = color.colorspace
        frame.color_range = yuv_range(fmt, color.color_range) if color.color_range or fmt.full_range else 0
    frame.color_primaries = color.color_primaries
    frame.color_trc = color.color_trc


# -- planes ----------------------------------------------------------------------------
def _plane_view(plane: av.video.plane.VideoPlane, dtype: np.dtype) -> np.ndarray:
    rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
    return rows[:, :plane.width]


def planes_of(frame: av.VideoFrame, rotation: int = 0) -> DecodedPlanes | None:
    """A copy of ``frame``'s planes, or ``None`` for layouts kept only as RGB (packed RGB,
    semi-planar, palette, bitstream formats)."""
    fmt = pixel_format(frame.format.name)
    if not fmt.planar or any(p.line_size <= 0 for p in frame.planes):
        return None
    data = tuple(_plane_view(p, fmt.dtype).copy() for p in frame.planes)
    return DecodedPlanes(fmt.name, data, color_of(frame), rotation)


def frame_of(planes: DecodedPlanes) -> av.VideoFrame:
    """An ``av.VideoFrame`` holding ``planes`` (stored orientation), tagged with their colour."""
    fmt = pixel_format(planes.format)
    frame = av.VideoFrame(planes.width, planes.height, planes.format)
    for plane, data in zip(frame.planes, planes.data):
        _plane_view(plane, fmt.dtype)[...] = data
    frame.colorspace, frame.color_range = planes.color.colorspace, planes.color.color_range
    frame.color_primaries, frame.color_trc = planes.color.color_primaries, planes.color.color_trc
    return frame


def upright(image: np.ndarray, rotation_cw: int) -> np.ndarray:
    """Rotate an H×W(×C) array clockwise by ``rotation_cw`` degrees."""
    k = (rotation_cw // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k=-k)) if k else image


def decode(frame: av.VideoFrame, rotation: int = 0, *, deep: bool = False,
           keep_rgb: bool = False) -> tuple[np.ndarray, np.ndarray | None, DecodedPlanes | None]:
    """A decoded frame → (upright RGB, upright alpha or ``None``, its planes or ``None``).

    The RGB is made from the copied planes (:func:`frame_of`), not from the decoder's frame,
    so that it is the very RGB :func:`rgb_of` makes again later — after a trip through the
    frame cache too: the decoder's frame carries properties a copy cannot (its chroma
    location, which swscale honours), and the pass-through compares RGB bit for bit.
    ``keep_rgb``: the planes keep a private copy of that RGB (:attr:`DecodedPlanes.rgb`), so
    the writer compares against it instead of converting the planes again (a copy, not the
    returned array: a stage that edits its image in place cannot hide its edits)."""
    planes = planes_of(frame, rotation)
    if planes is not None:
        rgb, alpha = rgb_of(planes, deep=deep)
        if keep_rgb:
            planes.rgb[_wide(planes, deep)] = (rgb.copy(), None if alpha is None else alpha.copy())
        return rgb, alpha, planes
    rgb, alpha = to_rgb(frame, deep=deep)
    return upright(rgb, rotation), (None if alpha is None else upright(alpha, rotation)), None


def _wide(planes: DecodedPlanes, deep: bool) -> bool:
    return deep and pixel_format(planes.format).bits > 8


def rgb_of(planes: DecodedPlanes, *, deep: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """The upright RGB (and alpha) the reader made of ``planes`` (the reader's kept copy when
    there is one: read it, never write to it)."""
    kept = planes.rgb.get(_wide(planes, deep))
    if kept is not None:
        return kept
    rgb, alpha = to_rgb(frame_of(planes), deep=deep)
    return upright(rgb, planes.rotation), (None if alpha is None else upright(alpha, planes.rotation))


def compatible(source: str, output: str) -> bool:
    """True when ``output`` stores the colour planes of ``source`` unchanged (same depth,
    subsampling and plane order; alpha may be added or dropped, ``yuvj`` ≡ ``yuv``)."""
    a, b = pixel_format(source), pixel_format(output)
    return a.planar and b.planar and a.colour_layout == b.colour_layout


def _block_any(mask: np.ndarray, shift: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """``mask`` reduced to a subsampled plane of ``shape``: true where any covered pixel is
    (an OR of strided views: many times faster than ``any`` over reshaped axes)."""
    sx, sy = shift
    if (sx, sy) == (0, 0):
        return mask
    bh, bw = 1 << sy, 1 << sx
    h, w = shape
    if mask.shape != (h * bh, w * bw):
        padded = np.zeros((h * bh, w * bw), bool)
        padded[:mask.shape[0], :mask.shape[1]] = mask[:h * bh, :w * bw]
        mask = padded
    out = mask[0::bh, 0::bw].copy()
    for dy in range(bh):
        for dx in range(bw):
            if dy or dx:
                out |= mask[dy::bh, dx::bw]
    return out


def _convert_planes(planes: DecodedPlanes, pix_fmt: str, color: ColorInfo) -> list[np.ndarray] | None:
    """``planes`` (stored orientation) in ``pix_fmt`` with ``color``'s matrix and range, straight
    from plane to plane (no trip through 8-bit RGB); ``None`` for RGB ↔ YUV changes."""
    src_fmt, out_fmt = pixel_format(planes.format), pixel_format(pix_fmt)
    if src_fmt.is_rgb != out_fmt.is_rgb or not out_fmt.planar:
        return None
    kwargs: dict[str, object] = {"format": pix_fmt, "interpolation": SWS_FLAGS}
    if not src_fmt.is_rgb:
        kwargs.update(src_colorspace=sws_colorspace(planes.color.colorspace),
                      src_color_range=yuv_range(src_fmt, planes.color.color_range),
                      dst_colorspace=sws_colorspace(color.colorspace), dst_color_range=yuv_range(out_fmt, color.color_range))
    converted = _scaler("convert").reformat(frame_of(planes), threads=1, **kwargs)
    return [_plane_view(p, out_fmt.dtype).copy() for p in converted.planes]


def changed_pixels(image: np.ndarray, before: np.ndarray, rows: int = 64) -> np.ndarray:
    """Bool H×W: where any channel of ``image`` differs from ``before``: an OR of the channels
    (several times faster than ``np.any(axis=-1)``), ``rows`` rows at a time (cache-sized)."""
    if image.ndim == 2:
        return image != before
    out = np.empty(image.shape[:2], bool)
    for y in range(0, image.shape[0], rows):
        ne = image[y:y + rows] != before[y:y + rows]
        part = out[y:y + rows]
        np.logical_or(ne[..., 0], ne[..., 1] if ne.shape[-1] > 1 else ne[..., 0], out=part)
        for c in range(2, ne.shape[-1]):
            part |= ne[..., c]
    return out


#: changed pixels are converted from RGB in their bounding box grown by this margin (px),
#: aligned to it: far beyond swscale's chroma filters, so the result is what converting the
#: whole frame gives, at the cost of the edited region only.
_ROI_MARGIN = 16


def _roi(changed: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the changed pixels' bounding box, grown and aligned to :data:`_ROI_MARGIN`."""
    x, y, w, h = cv2.boundingRect(changed.view(np.uint8))
    m = _ROI_MARGIN
    H, W = changed.shape
    return (max(0, (x - m) // m * m), max(0, (y - m) // m * m),
            min(W, -(-(x + w + m) // m) * m), min(H, -(-(y + h + m) // m) * m))


def restore_untouched(image: np.ndarray, alpha: np.ndarray | None, planes: DecodedPlanes, pix_fmt: str,
                      color: ColorInfo) -> tuple[av.VideoFrame, bool] | None:
    """The output frame in ``pix_fmt`` for an (edited) upright ``image`` and whether its untouched
    pixels are the source's planes bit for bit.

    Every pixel whose RGB and alpha equal what the reader made of ``planes`` keeps the source's
    plane values: as they are when ``pix_fmt`` holds them unchanged (same depth and
    subsampling; ``True``), else converted plane to plane at full precision (another depth or
    subsampling; ``False``). Changed pixels are converted from RGB with :func:`from_rgb` (only
    the region around them is converted). ``None`` when the planes cannot be used (RGB ↔ YUV,
    a rotation that would turn 4:2:2 into 4:4:0, another size): convert the whole image with
    :func:`from_rgb` then."""
    src_fmt, out_fmt = pixel_format(planes.format), pixel_format(pix_fmt)
    exact = compatible(planes.format, pix_fmt)
    sx, sy = out_fmt.subsampling
    if planes.rotation in (90, 270) and sx != sy:
        return None
    before, before_alpha = rgb_of(planes, deep=image.dtype == np.uint16)
    if before.shape != image.shape or before.dtype != image.dtype:
        return None
    if exact:
        src = list(planes.data)
        src_alpha = planes.data[src_fmt.alpha_plane] if src_fmt.alpha_plane is not None else None
    else:
        converted = _convert_planes(planes, pix_fmt, color)
        if converted is None:
            return None
        src = converted
        src_alpha = converted[out_fmt.alpha_plane] if out_fmt.alpha_plane is not None and src_fmt.has_alpha else None
    changed = changed_pixels(image, before)
    keep_alpha = out_fmt.has_alpha and src_alpha is not None
    if keep_alpha and alpha is not None and before_alpha is not None:
        changed |= alpha != before_alpha.astype(alpha.dtype)
    src = [upright(p, planes.rotation) for p in src]
    if src_alpha is not None:
        src_alpha = upright(src_alpha, planes.rotation)
    H, W = image.shape[:2]
    new_alpha = out_fmt.has_alpha and not keep_alpha  # the whole alpha plane is made from RGB
    if new_alpha:
        x0, y0, x1, y1 = 0, 0, W, H
    elif changed.any():
        x0, y0, x1, y1 = _roi(changed)
    else:
        x0 = y0 = x1 = y1 = 0
    new = None
    if x1 > x0 and y1 > y0:
        new = from_rgb(np.ascontiguousarray(image[y0:y1, x0:x1]),
                       None if alpha is None else np.ascontiguousarray(alpha[y0:y1, x0:x1]), pix_fmt, color)
    out = av.VideoFrame(W, H, pix_fmt)
    tag(out, color, out_fmt)
    for index, plane in enumerate(out.planes):
        view = _plane_view(plane, out_fmt.dtype)
        if index == out_fmt.alpha_plane and not keep_alpha:
            assert new is not None  # the source had none: made by from_rgb for the whole frame
            view[...] = _plane_view(new.planes[index], out_fmt.dtype)
            continue
        data = src_alpha if index == out_fmt.alpha_plane else src[index]
        if data.shape != view.shape:
            return None
        view[...] = data
        if new is not None:
            px, py = out_fmt.shifts[index]
            fresh = _plane_view(new.planes[index], out_fmt.dtype)
            region = view[y0 >> py:(y0 >> py) + fresh.shape[0], x0 >> px:(x0 >> px) + fresh.shape[1]]
            if region.shape != fresh.shape:
                return None
            take_new = _block_any(changed[y0:y1, x0:x1], (px, py), fresh.shape)
            np.copyto(region, fresh, where=take_new)
    return out, exact
