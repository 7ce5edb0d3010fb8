"""The Detect job in Chromium (issue #26: every long job tells the truth): "Detect faces" on
carphone shows the job running, with its elapsed time, within a second of the job starting
(the detect request's answer), then frames done and an estimate of the time left, and ends
with the detected objects in the list and their detection boxes drawn (dashed) on the frame.
"Detect people" the same, where its model is installed (skipped otherwise). Screenshots in
test-artifacts/ui-workflow-detect-*.png."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from editor.api.errors import BackendUnavailable
from editor.detection.detect import resolve_detectors
from editor.pipeline.plugin_manager import PluginManager
from editor.ui.security import host_allow_list, new_token
from editor.ui.server import UiConfig, create_app
from live_server import free_port, serving
from test_ui_workflow import ARGS, _chromium, _frame_loaded, _markers, _shot

pytestmark = pytest.mark.slow

WATCH = """() => { window.seen = []; const note = () => window.seen.push([performance.now(),
    document.getElementById('job-status').textContent, document.getElementById('job-eta').textContent]);
    for (const id of ['job-status', 'job-eta']) new MutationObserver(note).observe(document.getElementById(id),
        {childList: true, characterData: true, subtree: true}); }"""


def _available(name: str) -> bool:
    try:
        resolve_detectors([name], PluginManager(), device="cpu")
    except BackendUnavailable:
        return False
    return True


def _detect(page, button: str, kind: str) -> list[tuple[float, str, str]]:  # noqa: ANN001
    """Click ``button``, wait for the job to end; what the job line showed, and when (ms after
    the detect request was answered: the job started)."""
    page.evaluate(WATCH)
    page.evaluate("performance.clearResourceTimings()")
    page.click(button)
    page.wait_for_function("document.getElementById('job-status').textContent.startsWith('detect done')",
                           timeout=240_000)
    started = page.evaluate("""performance.getEntriesByType('resource').filter(e => e.name.endsWith('/detect'))
        .map(e => e.responseEnd)[0]""")
    assert started is not None
    seen = [(t - started, status, eta) for t, status, eta in page.evaluate("window.seen")]
    running = [s for s in seen if s[1].startswith("detect running")]
    assert running, seen
    assert running[0][0] < 1000, seen  # the job's own line within a second of its start
    assert re.fullmatch(r"\d+\.\d s( · .+)?", running[0][2]), running[0]  # with the time elapsed
    assert any(re.search(r"about \d+ (s|min) left", eta) for _, status, eta in running), seen  # then the time left
    # one honest count: each step (detecting, then tracking) counts the video's frames
    frames = page.evaluate("state.frames")
    line = re.compile(r"detect running(?: · (detecting|tracking))? (\d+)/(\d+)( · found .+)?")
    counts = [line.fullmatch(status) for _, status, _ in running]
    bad = [s for s, m in zip(running, counts)
           if not (m and (int(m[3]) == frames or m[2] == m[3] == "0") and int(m[2]) <= int(m[3]))]
    assert not bad, (frames, bad)
    steps = [m[1] for m in counts if m[1]]
    assert steps and steps == sorted(steps), seen  # detecting, then tracking
    done = page.inner_text("#job-status")
    assert re.fullmatch(rf"detect done {frames}/{frames} · found \d+: {kind}-1(, {kind}-\d+)*", done), done
    return seen


def test_detect_progress_and_objects_in_chromium(footage: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    if not _available("faces"):
        pytest.skip("the face model is not installed (trackedit models download centerface)")
    port, token = free_port(), new_token()
    app = create_app(UiConfig(footage / "carphone_pristine.mp4", work_root=tmp_path / "ui", token=token,
                              allowed_hosts=host_allow_list("127.0.0.1", port)))
    with serving(app, port) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/?token={token}")
        _frame_loaded(page)
        assert page.locator("#detect-faces").is_visible()
        _detect(page, "#detect-faces", "face")
        page.wait_for_function("state.objects.length >= 1")
        names = page.eval_on_selector_all("#objects li input", "els => els.map(e => e.value)")
        assert names[0] == "face-1" and all(re.fullmatch(r"face-\d+", n) for n in names), names
        session = next(iter(app.state.ui.sessions.values())).session
        assert [o.name for o in session.objects()] == names  # the list is the server's
        first = min(session.objects()[0].prompt_frames)
        page.eval_on_selector("#scrubber", f"(e) => {{ e.value = {first}; e.dispatchEvent(new Event('input')); }}")
        page.wait_for_function(f"document.getElementById('frame-label').textContent.startsWith('frame {first} ')")
        _frame_loaded(page)
        assert any(m["kind"] == "box" and m["object"] == 1 for m in _markers(page))  # the detection, dashed
        assert page.locator("#error").is_hidden()
        _shot(page, "detect-faces")
        if _available("people"):
            _detect(page, "#detect-people", "person")
            page.wait_for_function("state.objects.some(o => o.name === 'person-1')")
            assert [o.name for o in session.objects()][:len(names)] == names  # the faces kept, people after them
            _shot(page, "detect-people")
        assert not errors, errors
        browser.close()
    if not _available("people"):
        pytest.skip("faces checked; the person model is not installed (trackedit models download people)")
