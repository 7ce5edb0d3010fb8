"""A web UI session for tests: the app over one video, its token cookie set, one session
opened; and waiting for the session's job (detect, track, render) to end."""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from starlette.testclient import TestClient

from editor.pipeline.plugin_manager import PluginManager
from editor.ui.server import UiConfig, create_app

TOKEN, ORIGIN = "test-token", "http://127.0.0.1:8765"


@dataclass
class UiSession:
    client: TestClient
    app: object
    sid: str

    @property
    def base(self) -> str:
        """The session's API prefix, ``/api/sessions/<sid>``."""
        return f"/api/sessions/{self.sid}"

    def finished(self, polls: int = 2400) -> dict:
        """The session's job once it is no longer running (polled every 50 ms)."""
        for _ in range(polls):
            job = self.client.get(f"{self.base}/job").json()
            if job["state"] != "running":
                return job
            time.sleep(0.05)
        raise AssertionError("job did not finish")


@contextlib.contextmanager
def ui_session(video: Path, work_root: Path, plugins: PluginManager | None = None) -> Iterator[UiSession]:
    """The UI app on ``video`` (scratch in ``work_root``), authenticated, with one new session."""
    app = create_app(UiConfig(video, work_root=work_root, token=TOKEN), plugins or PluginManager(external=False))
    with TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN}) as c:
        assert c.get(f"/?token={TOKEN}").status_code == 200
        yield UiSession(c, app, c.post("/api/sessions", json={}).json()["id"])
