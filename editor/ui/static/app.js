// trackedit web UI: one tracking session per tab, driven through /api.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { sid: null, frames: 0, width: 0, height: 0, fps: 25, frame: 0, objects: [], selected: null,
  confidence: null };

async function api(path, body, method) {
  const res = await fetch(path, {
    method: method || (body === undefined ? "GET" : "POST"),
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : null;
  if (!res.ok) { showError(data?.error || res.statusText); throw new Error(data?.error); }
  $("error").hidden = true;
  return data;
}
function showError(msg) { $("error").textContent = msg; $("error").hidden = false; }
const base = () => `/api/sessions/${state.sid}`;

// Requests that change the session run one after another, in the order the user acted:
// "track" right after a click must see that click.
let queue = Promise.resolve();
function serial(fn) {
  const p = queue.then(fn, fn);
  queue = p.catch(() => {});
  return p;
}

function showFrame(i) {
  state.frame = Math.max(0, Math.min(state.frames - 1, i));
  $("scrubber").value = state.frame;
  const t = (state.frame / state.fps).toFixed(2);
  $("frame-label").textContent = `frame ${state.frame} / ${state.frames - 1} · ${t} s`;
  const w = Math.min(state.width, $("stage").parentElement.clientWidth || state.width);
  const preview = $("preview").checked;
  const what = preview ? `preview/${state.frame}.jpg?preset=${encodeURIComponent($("preset").value)}&`
    : `frames/${state.frame}.jpg?`;
  $("frame").src = `${base()}/${what}width=${w}&t=${Date.now()}`;
  drawConfidence();
}

// The confidence strip: one column per frame, the weakest object's confidence there.
async function loadConfidence() {
  state.confidence = await api(`${base()}/confidence`);
  drawConfidence();
}

function frameColour(f) {
  let min = null, away = false;
  for (const o of state.confidence.objects) {
    const c = o.confidence[f];
    if (c === null || c === undefined) continue;
    if (o.state[f] === "lost") away = true;
    min = min === null ? c : Math.min(min, c);
  }
  if (min === null) return "#333";
  const below = state.confidence.review_below;
  if (min < below) return "#e53935";
  if (away) return "#607d8b";
  return min < (1 + below) / 2 ? "#f9a825" : "#43a047";
}

function drawConfidence() {
  const cv = $("confidence");
  const w = cv.clientWidth || 1, h = cv.height;
  if (cv.width !== w) cv.width = w;
  const ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const n = state.frames;
  if (!state.confidence || !n) { $("review-label").textContent = ""; return; }
  for (let f = 0; f < n; f++) {
    const x0 = Math.floor(f * w / n), x1 = Math.max(x0 + 1, Math.floor((f + 1) * w / n));
    ctx.fillStyle = frameColour(f);
    ctx.fillRect(x0, 0, x1 - x0, h);
  }
  ctx.fillStyle = "#fff";
  ctx.fillRect(Math.floor((state.frame + 0.5) * w / n), 0, 1, h);
  const weak = state.confidence.weak.length;
  $("review-label").textContent = weak ? `${weak} frame${weak === 1 ? "" : "s"} to review` : "";
}

function nextWeak(direction) {
  const weak = state.confidence ? state.confidence.weak : [];
  if (!weak.length) return;
  const after = direction > 0 ? weak.filter((f) => f > state.frame) : weak.filter((f) => f < state.frame).reverse();
  showFrame(after.length ? after[0] : (direction > 0 ? weak[0] : weak[weak.length - 1]));  // wraps around
}

function renderObjects() {
  const ul = $("objects"); ul.innerHTML = "";
  for (const o of state.objects) {
    const li = document.createElement("li");
    li.dataset.id = o.id; li.className = o.id === state.selected ? "selected" : "";
    li.innerHTML = `<span class="swatch" style="background:rgb(${o.color.join(",")})"></span>`;
    const name = document.createElement("input"); name.value = o.name; name.title = "name";
    name.onchange = () => api(`${base()}/objects/${o.id}`, { name: name.value }, "PATCH").then(() => { o.name = name.value; });
    const keep = document.createElement("button"); keep.className = o.keep ? "keep on" : "keep";
    keep.textContent = o.keep ? "kept" : "keep";
    keep.title = "keep this person's face visible when redacting (every other face is still blurred)";
    keep.onclick = (e) => { e.stopPropagation(); serial(async () => {
      await api(`${base()}/objects/${o.id}`, { keep: !o.keep }, "PATCH"); o.keep = !o.keep; renderObjects(); })
      .catch(() => {}); };
    const del = document.createElement("button"); del.textContent = "✕"; del.title = "delete";
    del.onclick = (e) => { e.stopPropagation(); serial(async () => {
      await api(`${base()}/objects/${o.id}`, undefined, "DELETE");
      state.objects = state.objects.filter((x) => x.id !== o.id); if (state.selected === o.id) state.selected = null;
      renderObjects(); showFrame(state.frame); }).catch(() => {}); };
    li.append(name, keep, del); li.onclick = () => { state.selected = o.id; renderObjects(); };
    ul.append(li);
  }
}

// The session's objects as the server has them (after "Detect faces" added some).
async function loadObjects() {
  const data = await api(`${base()}/objects`);
  state.objects = data.objects.map((o) => ({ id: o.id, name: o.name, color: o.color, keep: o.keep }));
  if (state.selected !== null && !state.objects.some((o) => o.id === state.selected)) state.selected = null;
  renderObjects();
}

function detectFaces(detectors = ["faces"]) {
  jobStarting("detect");
  return serial(() => startDetect(detectors));
}

async function startDetect(detectors) {
  try { await api(`${base()}/detect`, { detectors }); }
  catch (e) { $("job-status").textContent = "detect not started"; throw e; }
  watchJob();
}

async function addObject() {
  const o = await api(`${base()}/objects`, { name: `object ${state.objects.length + 1}` });
  state.objects.push({ id: o.id, name: `object ${state.objects.length + 1}`, color: o.color });
  state.selected = o.id; renderObjects();
}

function toVideo(ev) {
  const r = $("frame").getBoundingClientRect();
  return [(ev.clientX - r.left) * state.width / r.width, (ev.clientY - r.top) * state.height / r.height];
}

function click(points, labels, box) {
  const frame = state.frame;
  return serial(async () => {
    if (state.selected === null) await addObject();
    await api(`${base()}/prompts`, { frame, object: state.selected, points, labels, box });
    showFrame(state.frame);
  });
}

let drag = null;
function setupStage() {
  // left click: include point · right click: exclude point · left drag: box
  const stage = $("stage");
  stage.addEventListener("contextmenu", (e) => e.preventDefault());
  stage.addEventListener("dragstart", (e) => e.preventDefault());
  stage.addEventListener("mousedown", (e) => {
    if (e.button === 0) drag = { start: toVideo(e), x: e.offsetX, y: e.offsetY, moved: false };
  });
  stage.addEventListener("mousemove", (e) => {
    if (!drag) return;
    if (Math.abs(e.offsetX - drag.x) + Math.abs(e.offsetY - drag.y) > 6) drag.moved = true;
    if (!drag.moved) return;
    const rb = $("rubber"); rb.hidden = false;
    Object.assign(rb.style, { left: `${Math.min(drag.x, e.offsetX)}px`, top: `${Math.min(drag.y, e.offsetY)}px`,
      width: `${Math.abs(e.offsetX - drag.x)}px`, height: `${Math.abs(e.offsetY - drag.y)}px` });
  });
  stage.addEventListener("mouseup", (e) => {
    const d = drag; drag = null; $("rubber").hidden = true;
    if (d && d.moved) {
      const [x0, y0] = d.start, [x1, y1] = toVideo(e);
      if (Math.abs(x1 - x0) > 4 && Math.abs(y1 - y0) > 4)
        click([], [], [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)]).catch(() => {});
      return;
    }
    const label = e.button === 2 ? 0 : 1;
    click([toVideo(e)], [label]).catch(() => {});
  });
}

function watchJob() {
  $("pause").disabled = false;
  const es = new EventSource(`${base()}/events`);
  let refreshed = 0;
  es.onmessage = (m) => {
    const j = JSON.parse(m.data);
    const tracking = j.kind === "track" || j.kind === "detect";
    if (tracking && (j.state !== "running" || Date.now() - refreshed > 1000)) {
      refreshed = Date.now();
      loadConfidence().catch(() => {});
    }
    $("progress").max = j.total || 1; $("progress").value = j.done || 0;
    $("job-status").textContent = `${j.kind || ""} ${j.state} ${j.done || 0}/${j.total || 0}` +
      (j.note ? ` · ${j.note}` : "");
    if (j.frame !== null && j.frame !== undefined && tracking) showFrame(j.frame);
    if (j.kind === "detect" && j.note && !state.detected) { state.detected = true; loadObjects().catch(() => {}); }
    if (j.state !== "running") {
      es.close(); $("pause").disabled = true;
      if (j.state === "failed") showError(j.error);
      if (j.kind === "detect") { state.detected = false; loadObjects().catch(() => {}); }
      if (j.kind === "render" && j.state === "done") {
        const a = $("download-video"); a.href = `${base()}/download/render.mp4`; a.hidden = false;
        a.download = "render.mp4";
      }
    }
  };
}

function jobStarting(kind) {
  // Replace the last job's "done" line at once, before the request returns.
  $("job-status").textContent = `${kind} starting`;
}

function track(direction) {
  jobStarting("track");
  const start = state.frame;
  return serial(() => startTrack(direction, start));
}

async function startTrack(direction, start) {
  try { await api(`${base()}/track`, { direction, start }); }
  catch (e) { $("job-status").textContent = "track not started"; throw e; }
  watchJob();
}

function render() {
  jobStarting("render");
  return serial(startRender);
}

async function startRender() {
  try { await api(`${base()}/render`, { preset: $("preset").value }); }
  catch (e) { $("job-status").textContent = "render not started"; throw e; }
  watchJob();
}

async function start() {
  const info = await api("/api/info");
  $("video-name").textContent = info.video || "";
  if (info.classic) {
    $("banner").hidden = false;
    $("banner").textContent = `Classical backends (${info.segmenter} / ${info.tracker}). For SAM and XMem: ` +
      "trackedit models download sam_vit_b xmem";
  }
  for (const p of info.presets) { const o = document.createElement("option"); o.value = o.textContent = p; $("preset").append(o); }
  $("preset").value = "blur";
  $("detect-faces").hidden = !(info.detectors || []).includes("faces");
  $("detect-people").hidden = !(info.detectors || []).includes("people");
  const s = await api("/api/sessions", {});
  Object.assign(state, { sid: s.id, frames: s.frames, width: s.width, height: s.height, fps: s.fps });
  $("scrubber").max = s.frames - 1;
  $("download-prompts").href = `${base()}/download/prompts.json`;
  $("download-masks").href = `${base()}/download/masks.zip`;
  setupStage(); showFrame(0);
}

$("scrubber").oninput = (e) => showFrame(Number(e.target.value));
$("add-object").onclick = () => serial(addObject).catch(() => {});
$("detect-faces").onclick = () => detectFaces().catch(() => {});
$("detect-people").onclick = () => detectFaces(["people"]).catch(() => {});
function history(what) {
  if (state.selected === null) return;
  serial(() => api(`${base()}/${what}`, { object: state.selected })).then(() => showFrame(state.frame)).catch(() => {});
}
$("undo").onclick = () => history("undo");
$("redo").onclick = () => history("redo");
$("preview").onchange = () => showFrame(state.frame);
$("preset").onchange = () => { if ($("preview").checked) showFrame(state.frame); };
$("track-forward").onclick = () => track("forward").catch(() => {});
$("track-backward").onclick = () => track("backward").catch(() => {});
$("track-both").onclick = () => track("both").catch(() => {});
$("pause").onclick = () => api(`${base()}/pause`, {}).catch(() => {});
$("render").onclick = () => render().catch(() => {});
$("next-weak").onclick = () => nextWeak(1);
$("confidence").onclick = (e) => {
  const r = $("confidence").getBoundingClientRect();
  showFrame(Math.floor((e.clientX - r.left) / r.width * state.frames));
};
window.addEventListener("resize", () => drawConfidence());
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
  const step = e.shiftKey ? 10 : 1;
  if (e.key === "ArrowRight") { showFrame(state.frame + step); e.preventDefault(); }
  if (e.key === "ArrowLeft") { showFrame(state.frame - step); e.preventDefault(); }
  const mod = e.ctrlKey || e.metaKey;
  if (mod && e.key.toLowerCase() === "z") { history(e.shiftKey ? "redo" : "undo"); e.preventDefault(); }
  if (mod && e.key.toLowerCase() === "y") { history("redo"); e.preventDefault(); }
  if (!mod && e.key.toLowerCase() === "n") { nextWeak(e.shiftKey ? -1 : 1); e.preventDefault(); }
});
// The server closes a session when its tab goes (freeing its memory and files), and closes
// sessions it has not heard from for a while: say goodbye, and keep in touch while open.
window.addEventListener("pagehide", () => {
  if (state.sid) fetch(base(), { method: "DELETE", keepalive: true }).catch(() => {});
});
setInterval(() => { if (state.sid) fetch(`${base()}/job`).catch(() => {}); }, 120000);
start().catch((e) => showError(String(e)));
