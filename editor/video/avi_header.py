"""Stream start offsets in a finished AVI file's header.

AVI has no presentation timestamps: a stream's packet *n* is shown at ``(dwStart + n) ·
dwScale / dwRate`` seconds, ``dwStart`` being the stream header's start field
(``AVISTREAMHEADER.dwStart``, "the starting time for this stream", in the stream's
``dwScale / dwRate`` units; Microsoft's AVI RIFF reference). FFmpeg's AVI muxer always
writes ``dwStart = 0`` (``libavformat/avienc.c``) and fills gaps only after a stream's first
packet, so a stream that starts later than the others (audio 0.5 s after the video) would be
moved to 0. FFmpeg's demuxer reads ``dwStart`` as the stream's first timestamp
(``libavformat/avidec.c``: ``ast->cum_len = avio_rl32(pb); /* start */``; it ignores
starts beyond an hour). :func:`set_stream_starts` writes it into the file the muxer
finished, before the writer renames it.
"""
from __future__ import annotations

import struct
from pathlib import Path

#: Bytes from the start of a ``strh`` chunk's data to its ``dwStart`` field: fccType,
#: fccHandler, dwFlags (4 bytes each), wPriority, wLanguage (2 each), dwInitialFrames,
#: dwScale, dwRate (4 each).
_DW_START = 28
#: The largest start FFmpeg's demuxer accepts, in seconds (``avidec.c``: a start beyond
#: 3600 s is "crazy" and read as 0).
MAX_START_SECONDS = 3600


class AviHeaderError(ValueError):
    """The file is not an AVI file with the expected header lists."""


def _chunks(data: bytes | bytearray | memoryview, start: int, end: int):  # noqa: ANN202
    """(fourcc, data offset, data size) of each RIFF chunk between ``start`` and ``end``."""
    pos = start
    while pos + 8 <= end:
        fourcc = bytes(data[pos:pos + 4])
        size = struct.unpack_from("<I", data, pos + 4)[0]
        if pos + 8 + size > end:
            raise AviHeaderError(f"chunk {fourcc!r} at byte {pos} runs past its list")
        yield fourcc, pos + 8, size
        pos += 8 + size + (size & 1)  # chunks are padded to an even size


def stream_header_offsets(data: bytes | bytearray) -> list[int]:
    """Byte offset of each stream's ``strh`` chunk data, in stream order (the ``strl`` lists
    of ``RIFF 'AVI ' → LIST 'hdrl'``). Raises :class:`AviHeaderError` for another layout."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"AVI ":
        raise AviHeaderError("not a RIFF AVI file")
    for fourcc, offset, size in _chunks(data, 12, len(data)):
        if fourcc == b"LIST" and data[offset:offset + 4] == b"hdrl":
            headers = []
            for inner, inner_offset, inner_size in _chunks(data, offset + 4, offset + size):
                if inner == b"LIST" and data[inner_offset:inner_offset + 4] == b"strl":
                    strh = next((o for f, o, s in _chunks(data, inner_offset + 4, inner_offset + inner_size)
                                 if f == b"strh" and s >= _DW_START + 4), None)
                    if strh is None:
                        raise AviHeaderError(f"stream {len(headers)} has no stream header")
                    headers.append(strh)
            return headers
    raise AviHeaderError("no 'hdrl' header list")


def set_stream_starts(path: Path, starts: dict[int, int]) -> None:
    """Write ``dwStart`` (ticks of each stream's ``dwScale / dwRate``, ``int`` ≥ 0) for the
    streams ``starts`` names by index, in place. Raises :class:`AviHeaderError` when the
    file's header does not have those streams, ``OSError`` when it cannot be written."""
    if not any(starts.values()):
        return
    with open(path, "r+b") as f:
        head = f.read(1 << 20)  # FFmpeg writes the header lists at the start: well within 1 MiB
        offsets = stream_header_offsets(head)
        for index, ticks in starts.items():
            if index >= len(offsets):
                raise AviHeaderError(f"no header for stream {index}")
            if not 0 <= ticks < 1 << 32:
                raise AviHeaderError(f"start {ticks} of stream {index} does not fit the header")
            f.seek(offsets[index] + _DW_START)
            f.write(struct.pack("<I", ticks))
