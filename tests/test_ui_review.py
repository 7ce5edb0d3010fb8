"""What the page says there is to review, in Chromium: the count under the timeline is the
CLI's (the same per-object lists, :meth:`TrackingStats.weak_frames`), in frames and in
object-frames, and "Next weak" (N) goes to the first frame of the next run of weak frames,
not one frame on inside a run; Shift+N back, both wrapping around."""
from __future__ import annotations

from pathlib import Path

import pytest

from editor.tracking.confidence import review_lines
from editor.ui.security import host_allow_list, new_token
from editor.ui.server import UiConfig, create_app
from live_server import free_port, serving
from test_ui_workflow import ARGS, SQUARE, _chromium, _frame_loaded, _shot

pytestmark = pytest.mark.slow


def test_review_count_and_next_weak_run(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    clip = SQUARE.write(tmp_path / "square.mp4")
    port, token = free_port(), new_token()
    app = create_app(UiConfig(clip, work_root=tmp_path / "ui", token=token,
                              allowed_hosts=host_allow_list("127.0.0.1", port)))
    with serving(app, port) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(f"{base}/?token={token}")
        _frame_loaded(page)
        session = app.state.ui.get(page.evaluate("state.sid")).session
        # object 1 weak on 2–4 and 8–9, object 2 on 3: 5 frames, 6 object-frames
        weak = {1: {2, 3, 4, 8, 9}, 2: {3}}
        session.stats.confidence.clear()
        session.stats.confidence.update({f: {oid: 0.1 if f in frames else 0.9 for oid, frames in weak.items()}
                                         for f in range(SQUARE.n)})
        assert review_lines(session.stats, {}) == ['5 frames to review for object 1: 2–4, 8–9',
                                                   '1 frame to review for object 2: 3']
        page.evaluate("loadConfidence()")
        page.wait_for_function("document.getElementById('review-label').textContent !== ''")
        assert page.inner_text("#review-label") == "5 frames to review (6 object-frames, 2 objects)"
        assert page.get_attribute("#review-label", "title").splitlines() == review_lines(session.stats, {})
        for key, want in (("n", 2), ("n", 8), ("n", 2), ("Shift+N", 8), ("Shift+N", 2)):
            page.keyboard.press(key)
            page.wait_for_function(f"state.frame === {want} && "
                                   f"document.getElementById('frame-label').textContent.startsWith('frame {want} ')")
        page.click("#next-weak")
        page.wait_for_function("state.frame === 8")
        _shot(page, "12-review")
        browser.close()


def test_earlier_session_offered_in_recent(tmp_path: Path) -> None:
    """Each visit to the plain token URL starts a new session; the work of an earlier one is
    offered in the recent list and reopens with its objects and markers."""
    from playwright.sync_api import sync_playwright

    clip = SQUARE.write(tmp_path / "square.mp4")
    port, token = free_port(), new_token()
    app = create_app(UiConfig(clip, work_root=tmp_path / "ui", token=token,
                              allowed_hosts=host_allow_list("127.0.0.1", port)))
    with serving(app, port) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        first = context.new_page()
        first.goto(f"{base}/?token={token}")
        _frame_loaded(first)
        earlier = first.evaluate("state.sid")
        box = first.locator("#frame").bounding_box()
        first.mouse.click(box["x"] + box["width"] * 0.28, box["y"] + box["height"] * 0.5)
        first.wait_for_function("document.querySelectorAll('#markers g.marker').length === 1")
        second = context.new_page()
        second.goto(f"{base}/?token={token}")
        _frame_loaded(second)
        assert second.evaluate("state.sid") != earlier  # a new session
        second.wait_for_selector(f"#recent option[value='s={earlier}']", state="attached")
        assert second.evaluate("[...document.querySelectorAll('#recent option')].map(o => o.value)"
                               ).count(f"s={earlier}") == 1
        second.select_option("#recent", f"s={earlier}")
        second.wait_for_function(f"state.ready && state.sid === '{earlier}' && state.objects.length === 1"
                                 " && document.querySelectorAll('#markers g.marker').length === 1")
        assert second.url.endswith(f"#s={earlier}")
        _shot(second, "13-earlier-session")
        browser.close()
