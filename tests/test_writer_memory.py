"""The encoder's look-ahead is bounded for frames above 4K (issue 23: at the 8192×8192 frame
limit, 60 frames with x264's default look-ahead of 40 peaked at 19.3 GB)."""
from __future__ import annotations

from editor.video.writer import _bounded_lookahead


def test_the_lookahead_shrinks_with_the_frame_above_4k() -> None:
    for codec in ("libx264", "libx265"):
        small: dict[str, str] = {}
        _bounded_lookahead(codec, small, 3840 * 2160)
        assert small == {}  # 4K and below: the encoder's own default
    eight_k: dict[str, str] = {}
    _bounded_lookahead("libx264", eight_k, 8192 * 8192)
    assert eight_k == {"rc-lookahead": "5"}
    hevc = {"x265-params": "log-level=error"}
    _bounded_lookahead("libx265", hevc, 8192 * 8192)
    assert hevc == {"x265-params": "log-level=error:rc-lookahead=5"}
    given = {"rc-lookahead": "30"}
    _bounded_lookahead("libx264", given, 8192 * 8192)
    assert given == {"rc-lookahead": "30"}  # the user's choice is kept
    other: dict[str, str] = {}
    _bounded_lookahead("libvpx-vp9", other, 8192 * 8192)
    assert other == {}
