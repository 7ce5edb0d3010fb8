// trackedit web UI. The server owns each session's work (objects, prompts, masks, render);
// the page shows one session, named in its address (#s=ID), so that a reload, a second tab
// or a restarted browser on the same address shows the same state.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { sid: null, frames: 0, width: 0, height: 0, fps: 25, frame: 0, objects: [], selected: null,
  confidence: null, markers: [], labels: null, info: null, settings: null, playing: false, loopIn: 0, loopOut: 0,
  pending: 0, render: null, hidden: [] };

async function api(path, body, method) {
  const res = await fetch(path, {
    method: method || (body === undefined ? "GET" : "POST"),
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : null;
  if (!res.ok) {
    const err = new Error(data?.error || res.statusText); err.status = res.status;
    showError(err.message); throw err;
  }
  $("error").hidden = true;
  return data;
}
function showError(msg) { $("error").textContent = msg; $("error").hidden = false; }
const base = () => `/api/sessions/${state.sid}`;

// Requests that change the session run one after another, in the order the user acted:
// "track" right after a click must see that click. While any is on its way, leaving warns.
let queue = Promise.resolve();
function serial(fn) {
  state.pending++;
  const p = queue.then(fn, fn).finally(() => { state.pending--; });
  queue = p.catch(() => {});
  return p;
}
window.addEventListener("beforeunload", (e) => {
  if (state.pending > 0 || uploading) { e.preventDefault(); e.returnValue = ""; }
});

// -- the frame, its size, markers and hover ---------------------------------------------
function fitStage() {
  // the frame as large as the area allows, at the video's aspect ratio (set before any image
  // arrives: nothing moves when it does)
  if (!state.width) return;
  const area = $("stage-area"), s = Math.min(area.clientWidth / state.width, area.clientHeight / state.height);
  $("stage").style.width = `${Math.floor(state.width * s)}px`;
  $("stage").style.height = `${Math.floor(state.height * s)}px`;
  drawMarkers();
}

function frameUrl(i) {
  const w = Math.min(state.width, Math.round($("stage").clientWidth * (window.devicePixelRatio || 1)) || state.width);
  if ($("preview").checked) {
    const sets = settingItems().map((s) => `&set=${encodeURIComponent(s)}`).join("");
    return `${base()}/preview/${i}.jpg?preset=${encodeURIComponent($("preset").value)}${sets}&width=${w}&t=${Date.now()}`;
  }
  const hide = state.hidden.length ? `&hide=${state.hidden.join(",")}` : "";
  return `${base()}/frames/${i}.jpg?width=${w}${hide}&t=${Date.now()}`;
}

function showFrame(i) {
  state.frame = Math.max(0, Math.min(state.frames - 1, i));
  $("scrubber").value = state.frame;
  label();
  if ($("preview").checked && settingsError()) {  // the last good frame stays, with the reason
    clearInterval(previewTimer);
    $("busy").hidden = false; $("busy").textContent = `no preview: ${settingsError()}`;
  } else {
    $("frame").src = frameUrl(state.frame);
    if ($("preview").checked) watchPreview(state.frame); else $("busy").hidden = true;
  }
  state.labels = null;
  drawConfidence();
  loadMarkers().catch(() => {});
}

function label() {
  const t = (state.frame / state.fps).toFixed(2);
  $("frame-label").textContent = `frame ${state.frame} / ${state.frames - 1} · ${t} s`;
}

// the preview's progress: the frames its stages need, read so far, and the time left
let previewTimer = null;
function watchPreview(frame) {
  clearInterval(previewTimer);
  const started = Date.now();
  $("busy").hidden = false; $("busy").textContent = `preview of frame ${frame}: starting`;
  const done = () => { clearInterval(previewTimer); $("busy").hidden = true; };
  $("frame").onload = done; $("frame").onerror = done;
  previewTimer = setInterval(async () => {
    try {
      const j = await (await fetch(`${base()}/preview-progress`)).json();
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      $("busy").textContent = `preview of frame ${frame}: ` + (j.total ? `${j.done}/${j.total} frames` : (j.phase || "starting")) +
        ` · ${secs} s` + (j.eta !== null && j.eta !== undefined ? ` · about ${Math.ceil(j.eta)} s left` : "");
    } catch (e) { /* the next tick tries again */ }
  }, 250);
}

async function loadMarkers() {
  if (!state.sid || state.playing) return;
  const frame = state.frame;
  const data = await api(`${base()}/prompts?frame=${frame}`);
  if (frame !== state.frame) return;
  state.markers = data.prompts;
  drawMarkers();
}

const SVG = "http://www.w3.org/2000/svg";
function colourOf(id) {
  const o = state.objects.find((x) => x.id === id);
  return o ? `rgb(${o.color.join(",")})` : "#fff";
}

function drawMarkers() {
  // clicks and boxes in video pixels, in each object's colour; clicking one removes it
  const svg = $("markers");
  svg.setAttribute("viewBox", `0 0 ${state.width || 1} ${state.height || 1}`);
  svg.replaceChildren();
  if (state.playing) return;
  const px = state.width / ($("stage").clientWidth || state.width);  // one screen pixel in video pixels
  for (const m of state.markers) {
    if (state.hidden.includes(m.object)) continue;
    const colour = colourOf(m.object);
    const g = document.createElementNS(SVG, "g");
    g.classList.add("marker"); g.dataset.object = m.object; g.dataset.index = m.index; g.dataset.frame = m.frame;
    const title = document.createElementNS(SVG, "title");
    title.textContent = `object ${m.object}: click to remove`;
    g.append(title);
    if (m.box) {
      const [x0, y0, x1, y1] = m.box, r = document.createElementNS(SVG, "rect");
      Object.entries({ x: x0, y: y0, width: x1 - x0, height: y1 - y0, fill: "none", stroke: colour,
        "stroke-width": 2.5 * px, "stroke-dasharray": m.detected ? `${6 * px} ${4 * px}` : "" })
        .forEach(([k, v]) => r.setAttribute(k, v));
      g.append(r);
      g.dataset.kind = "box";
    }
    m.points.forEach(([x, y], k) => {
      const include = m.labels[k] === 1;
      const ring = document.createElementNS(SVG, "circle");  // a dark ring: visible on any picture
      Object.entries({ cx: x, cy: y, r: 10 * px, fill: "#000", "fill-opacity": 0.55 }).forEach(([a, v]) => ring.setAttribute(a, v));
      const c = document.createElementNS(SVG, "circle");
      Object.entries({ cx: x, cy: y, r: 8 * px, fill: include ? colour : "#111", stroke: include ? "#fff" : colour,
        "stroke-width": 2 * px }).forEach(([a, v]) => c.setAttribute(a, v));
      const sign = document.createElementNS(SVG, "path");
      const d = 4 * px;
      sign.setAttribute("d", include ? `M${x - d} ${y}H${x + d}M${x} ${y - d}V${y + d}` : `M${x - d} ${y}H${x + d}`);
      sign.setAttribute("stroke", "#fff"); sign.setAttribute("stroke-width", 2 * px);
      g.append(ring, c, sign);
      g.dataset.kind = include ? "include" : "exclude";
    });
    g.addEventListener("mousedown", (e) => { e.stopPropagation(); e.preventDefault(); });
    g.addEventListener("mouseup", (e) => { e.stopPropagation(); });
    g.addEventListener("click", (e) => { e.stopPropagation(); removeMarker(m).catch(() => {}); });
    svg.append(g);
  }
}

function removeMarker(m) {
  return serial(async () => {
    await api(`${base()}/prompts/${m.frame}/${m.object}/${m.index}`, undefined, "DELETE");
    await loadObjects();
    showFrame(state.frame);
  });
}

// hover: the object under the pointer, from the label map the page shows, and its confidence
async function labelsOfFrame() {
  if (state.labels && state.labels.frame === state.frame) return state.labels;
  const frame = state.frame;
  const img = new Image();
  img.src = `${base()}/labels/${frame}.png?t=${Date.now()}`;
  await img.decode();
  const cv = document.createElement("canvas"); cv.width = state.width; cv.height = state.height;
  const ctx = cv.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(img, 0, 0);
  state.labels = { frame, data: ctx.getImageData(0, 0, state.width, state.height).data };
  return state.labels;
}

let hoverToken = 0;
async function hover(e) {
  if (drag || state.playing || !state.sid) { $("hover").hidden = true; return; }
  const token = ++hoverToken;
  const [x, y] = toVideo(e);
  let labels;
  try { labels = await labelsOfFrame(); } catch (err) { return; }
  if (token !== hoverToken) return;
  const xi = Math.floor(x), yi = Math.floor(y);
  const id = xi >= 0 && yi >= 0 && xi < state.width && yi < state.height ? labels.data[(yi * state.width + xi) * 4] : 0;
  const tip = $("hover");
  if (!id || state.hidden.includes(id)) { tip.hidden = true; return; }
  const o = state.objects.find((x) => x.id === id);
  const conf = state.confidence?.objects.find((x) => x.id === id)?.confidence[state.frame];
  const prompted = o && o.prompt_frames.includes(state.frame);
  tip.textContent = `${o ? o.name : "object"} · id ${id} · ` +
    (conf !== null && conf !== undefined ? `confidence ${conf.toFixed(2)}` : prompted ? "prompted here" : "confidence –");
  tip.style.left = `${e.offsetX}px`; tip.style.top = `${e.offsetY}px`;
  tip.style.borderLeft = `4px solid ${colourOf(id)}`;
  tip.hidden = false;
}

// -- the confidence strip ---------------------------------------------------------------
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
  if (!n) return;
  if (state.confidence) {
    for (let f = 0; f < n; f++) {
      const x0 = Math.floor(f * w / n), x1 = Math.max(x0 + 1, Math.floor((f + 1) * w / n));
      ctx.fillStyle = frameColour(f);
      ctx.fillRect(x0, 0, x1 - x0, h);
    }
  }
  if ($("loop").checked) {  // the loop range
    ctx.fillStyle = "rgba(77,182,172,.35)";
    ctx.fillRect(Math.floor(state.loopIn * w / n), 0, Math.ceil((state.loopOut - state.loopIn + 1) * w / n), h);
  }
  const damaged = state.confidence && state.confidence.damaged ? state.confidence.damaged : [];
  ctx.fillStyle = "#ff9800";  // frames decoded with errors: a band along the top
  for (const f of damaged) {
    const x0 = Math.floor(f * w / n);
    ctx.fillRect(x0, 0, Math.max(1, Math.floor((f + 1) * w / n) - x0), Math.max(2, Math.floor(h / 4)));
  }
  ctx.fillStyle = "#fff";
  ctx.fillRect(Math.floor((state.frame + 0.5) * w / n), 0, 1, h);
  // frames some object is weak on, and the CLI's count (its per-object lists summed)
  const r = state.confidence?.review, weak = r ? r.frames : 0;
  const parts = [];
  if (weak) parts.push(`${weak} frame${weak === 1 ? "" : "s"} to review` +
    (r.object_frames !== weak ? ` (${r.object_frames} object-frames, ${r.objects} objects)` : ""));
  if (damaged.length) parts.push(`${damaged.length} damaged`);
  $("review-label").textContent = parts.join(" · ");
  $("review-label").title = r ? r.lines.join("\n") : "";
  drawLanes();
}

// -- each object's lane: where it has a mask (growing while tracking runs) and its clicks ------
const MASKED = new Set(["prompt", "interpolated", "tracked", "found", "held"]);
function laneHeight() {
  return Math.max(3, Math.min(12, Math.floor($("lanes").height / Math.max(1, state.objects.length))));
}

function drawLanes() {
  const cv = $("lanes");
  const w = cv.clientWidth || 1, h = cv.clientHeight || cv.height;
  if (cv.width !== w) cv.width = w;
  if (cv.height !== h) cv.height = h;
  const ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const n = state.frames;
  if (!n) return;
  const rh = laneHeight(), x = (f) => Math.floor(f * w / n), fw = (f) => Math.max(1, x(f + 1) - x(f));
  state.objects.forEach((o, row) => {
    const y = row * rh;
    if (y + rh > h) return;
    const colour = `rgb(${o.color.join(",")})`;
    ctx.globalAlpha = state.hidden.includes(o.id) ? 0.3 : 1;
    ctx.fillStyle = colour;
    ctx.fillRect(0, y + Math.floor(rh / 2), w, 1);  // the lane
    const states = state.confidence?.objects.find((c) => c.id === o.id)?.state || [];
    for (let f = 0; f < n; f++) {
      if (MASKED.has(states[f])) ctx.fillRect(x(f), y + 1, fw(f), rh - 2);  // a mask on frame f
    }
    ctx.fillStyle = "#fff";
    for (const f of o.prompt_frames) {  // clicks, boxes, detections
      ctx.beginPath(); ctx.arc(x(f) + fw(f) / 2, y + rh / 2, Math.max(1.5, rh / 2 - 1), 0, 2 * Math.PI); ctx.fill();
    }
  });
  ctx.globalAlpha = 1;
  ctx.fillStyle = "#fff";
  ctx.fillRect(Math.floor((state.frame + 0.5) * w / n), 0, 1, h);
}

function laneClick(e) {
  const r = $("lanes").getBoundingClientRect();
  const o = state.objects[Math.floor((e.clientY - r.top) / laneHeight())];
  if (state.playing) pause();
  if (o) { state.selected = o.id; renderObjects(); }
  showFrame(Math.floor((e.clientX - r.left) / r.width * state.frames));
}

function toggleHidden(id) {
  state.hidden = state.hidden.includes(id) ? state.hidden.filter((x) => x !== id) : [...state.hidden, id];
  renderObjects();
  showFrame(state.frame);
}

// "Next weak": the first frame of the next run of weak frames (a run: consecutive weak frames)
function nextWeak(direction) {
  const weak = state.confidence ? state.confidence.weak : [];
  const starts = weak.filter((f, k) => k === 0 || weak[k - 1] !== f - 1);
  if (!starts.length) return;
  const after = direction > 0 ? starts.filter((f) => f > state.frame) : starts.filter((f) => f < state.frame).reverse();
  showFrame(after.length ? after[0] : (direction > 0 ? starts[0] : starts[starts.length - 1]));  // wraps around
}

// -- objects ----------------------------------------------------------------------------
function renderObjects() {
  const ul = $("objects"); ul.innerHTML = "";
  for (const o of state.objects) {
    const li = document.createElement("li");
    li.dataset.id = o.id; li.className = o.id === state.selected ? "selected" : "";
    li.innerHTML = `<span class="swatch" style="background:rgb(${o.color.join(",")})"></span>`;
    const name = document.createElement("input"); name.value = o.name; name.title = `name (id ${o.id})`;
    name.onchange = () => serial(() => api(`${base()}/objects/${o.id}`, { name: name.value }, "PATCH"))
      .then(() => { o.name = name.value; }).catch(() => {});
    const keep = document.createElement("button"); keep.className = o.keep ? "keep on" : "keep";
    keep.textContent = o.keep ? "kept" : "keep";
    keep.title = "keep this person's face visible when redacting (every other face is still blurred)";
    keep.onclick = (e) => { e.stopPropagation(); serial(async () => {
      await api(`${base()}/objects/${o.id}`, { keep: !o.keep }, "PATCH"); o.keep = !o.keep; renderObjects(); })
      .catch(() => {}); };
    const shown = !state.hidden.includes(o.id);
    const eye = document.createElement("button"); eye.className = shown ? "eye" : "eye off";
    eye.textContent = shown ? "◉" : "○"; eye.title = shown ? "hide this object's mask and clicks (H); renders still edit it" : "show it again (H)";
    eye.setAttribute("aria-pressed", String(!shown));
    eye.onclick = (e) => { e.stopPropagation(); toggleHidden(o.id); };
    const del = document.createElement("button"); del.textContent = "✕"; del.title = "delete";
    del.onclick = (e) => { e.stopPropagation(); serial(async () => {
      await api(`${base()}/objects/${o.id}`, undefined, "DELETE");
      state.objects = state.objects.filter((x) => x.id !== o.id); if (state.selected === o.id) state.selected = null;
      state.hidden = state.hidden.filter((x) => x !== o.id);
      renderObjects(); showFrame(state.frame); }).catch(() => {}); };
    li.append(name, eye, keep, del); li.onclick = () => { state.selected = o.id; renderObjects(); };
    ul.append(li);
  }
  drawLanes();
}

// The session's objects as the server has them.
async function loadObjects() {
  const data = await api(`${base()}/objects`);
  state.objects = data.objects;
  if (state.selected !== null && !state.objects.some((o) => o.id === state.selected)) state.selected = null;
  if (state.selected === null && state.objects.length) state.selected = state.objects[state.objects.length - 1].id;
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
  const name = `object ${state.objects.length + 1}`;
  const o = await api(`${base()}/objects`, { name });
  state.objects.push({ id: o.id, name, color: o.color, keep: false, prompt_frames: [] });
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
    const o = state.objects.find((x) => x.id === state.selected);
    if (o && !o.prompt_frames.includes(frame)) o.prompt_frames.push(frame);
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
    if (state.playing) pause();
    if (e.button === 0) drag = { start: toVideo(e), x: e.clientX, y: e.clientY, moved: false };
  });
  stage.addEventListener("mousemove", (e) => {
    if (!drag) { hover(e); return; }
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 6) drag.moved = true;
    if (!drag.moved) return;
    const r = stage.getBoundingClientRect(), rb = $("rubber"); rb.hidden = false; $("hover").hidden = true;
    Object.assign(rb.style, { left: `${Math.min(drag.x, e.clientX) - r.left}px`, top: `${Math.min(drag.y, e.clientY) - r.top}px`,
      width: `${Math.abs(e.clientX - drag.x)}px`, height: `${Math.abs(e.clientY - drag.y)}px` });
  });
  stage.addEventListener("mouseleave", () => { $("hover").hidden = true; });
  stage.addEventListener("mouseup", (e) => {
    const d = drag; drag = null; $("rubber").hidden = true;
    if (!state.sid) return;
    if (d && d.moved) {
      const [x0, y0] = d.start, [x1, y1] = toVideo(e);
      if (Math.abs(x1 - x0) > 4 && Math.abs(y1 - y0) > 4)
        click([], [], [Math.max(0, Math.min(x0, x1)), Math.max(0, Math.min(y0, y1)),
          Math.min(state.width, Math.max(x0, x1)), Math.min(state.height, Math.max(y0, y1))]).catch(() => {});
      return;
    }
    const label = e.button === 2 ? 0 : 1;
    click([toVideo(e)], [label]).catch(() => {});
  });
}

// -- playback with the masks, at the video's rate ----------------------------------------
let playToken = 0;
function play() {
  if (state.playing || !state.sid) return;
  if ($("preview").checked) { $("preview").checked = false; }
  state.playing = true; $("play").textContent = "❚❚"; drawMarkers(); $("hover").hidden = true;
  const token = ++playToken;
  const speed = Number($("speed").value);
  const lo = $("loop").checked ? state.loopIn : 0, hi = $("loop").checked ? state.loopOut : state.frames - 1;
  let start = state.frame >= hi ? lo : state.frame;
  let t0 = performance.now();
  let shown = 0, lastUrl = null;
  (async () => {
    while (state.playing && token === playToken) {
      // the frame due now (frames that are late are skipped: the video keeps its rate)
      let due = start + Math.floor((performance.now() - t0) / 1000 * state.fps * speed);
      if (due > hi) {
        if (!$("loop").checked) { state.frame = hi; break; }
        start = lo; t0 = performance.now(); due = lo;
      }
      if (due !== state.frame || shown === 0) {
        try {
          const res = await fetch(frameUrl(due));
          if (!res.ok) throw new Error(res.statusText);
          const url = URL.createObjectURL(await res.blob());
          if (!state.playing || token !== playToken) { URL.revokeObjectURL(url); break; }
          $("frame").src = url;
          if (lastUrl) URL.revokeObjectURL(lastUrl);
          lastUrl = url; shown++;
          state.frame = due; $("scrubber").value = due; label(); drawConfidence();
        } catch (e) { showError(`playback stopped: ${e.message}`); break; }
      }
      const next = t0 + ((Math.max(state.frame, due) - start + 1) / (state.fps * speed)) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
    if (token === playToken) pause();
  })();
}

function pause() {
  if (!state.playing) return;
  state.playing = false; playToken++; $("play").textContent = "▶";
  showFrame(state.frame);
}

function setSpeed(step) {
  const s = $("speed"); s.selectedIndex = Math.max(0, Math.min(s.options.length - 1, s.selectedIndex + step));
  if (state.playing) { pause(); play(); }
}

// -- jobs: progress from the first second, and the time left --------------------------------
function fmtSeconds(s) {
  if (s >= 90) return `${Math.round(s / 60)} min`;
  return `${Math.ceil(s)} s`;
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
    showJob(j);
    const running = j.state === "running";
    if (j.frame !== null && j.frame !== undefined && tracking && !state.playing) showFrame(j.frame);
    if (j.kind === "detect" && j.note && !state.detected) { state.detected = true; loadObjects().catch(() => {}); }
    if (!running) {
      es.close(); $("pause").disabled = true;
      if (j.state === "failed") showError(j.error);
      if (j.kind === "detect") { state.detected = false; loadObjects().catch(() => {}); }
      if (tracking) showFrame(state.frame);
      if (j.kind === "render" && j.state === "done") {
        api(base()).then((s) => { state.render = s.render; showRenderLinks(); showResult(); }).catch(() => {});
      }
    }
  };
}

// the job line: "track running 40/240" (kind, state, frames), the time so far and the time left
function showJob(j) {
  if (!j || j.state === "idle") return;
  $("progress").max = j.total || 1; $("progress").value = j.done || 0;
  // "detect running · tracking 40/125": a job of several steps names the one its frames count
  const step = j.step && j.state === "running" ? ` · ${j.step}` : "";
  $("job-status").textContent = `${j.kind || ""} ${j.state}${step} ${j.done || 0}/${j.total || 0}` +
    (j.note ? ` · ${j.note}` : "");
  const running = j.state === "running";
  $("job-eta").textContent = `${(j.elapsed || 0).toFixed(1)} s` +
    (running && j.phase ? ` · ${j.phase}` : "") +
    (running && j.eta !== null && j.eta !== undefined ? ` · about ${fmtSeconds(j.eta)} left` : "") +
    (running && !j.phase && (j.eta === null || j.eta === undefined) ? " · estimating…" : "");
}

function jobStarting(kind) {
  // Replace the last job's "done" line at once, before the request returns.
  $("job-status").textContent = `${kind} starting`;
  $("job-eta").textContent = "0.0 s";
  $("progress").value = 0;
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

// -- render settings: each stage's options model as a form --------------------------------
function buildSettings() {
  const form = $("settings"); form.replaceChildren();
  const preset = state.settings?.presets[$("preset").value];
  if (!preset) return;
  for (const stage of preset.stages) {
    const h = document.createElement("h3"); h.textContent = stage.id; h.title = stage.description || ""; form.append(h);
    for (const f of stage.fields) {
      const key = `${stage.id}.${f.name}`;
      const lab = document.createElement("label"); lab.textContent = f.label; lab.title = f.help || ""; lab.htmlFor = `opt-${key}`;
      let input;
      if (f.kind === "choice") {
        input = document.createElement("select");
        for (const c of f.choices) { const o = document.createElement("option"); o.value = o.textContent = c; input.append(o); }
        input.value = f.value;
      } else if (f.kind === "boolean") {
        input = document.createElement("input"); input.type = "checkbox"; input.checked = !!f.value;
      } else if (f.kind === "color") {
        input = document.createElement("input"); input.type = "color";
        input.value = "#" + f.value.map((v) => Number(v).toString(16).padStart(2, "0")).join("");
      } else {
        input = document.createElement("input");
        input.type = f.kind === "integer" || f.kind === "number" ? "number" : "text";
        if (input.type === "number") {
          input.step = f.kind === "integer" ? "1" : "any";
          if (f.minimum !== undefined) input.min = f.minimum;
          if (f.maximum !== undefined) input.max = f.maximum;
        }
        input.value = f.value === null || f.value === undefined ? "" : (typeof f.value === "object" ? JSON.stringify(f.value) : f.value);
      }
      input.id = `opt-${key}`; input.name = key; input.title = f.help || "";
      input.dataset.initial = settingValue(input);
      input.setAttribute("aria-describedby", `help-${key}`);
      // the field's help, in the page; a refused value's message takes its place (same height)
      const help = document.createElement("small"); help.className = "help"; help.id = `help-${key}`;
      help.textContent = help.dataset.help = f.help || "";
      input.addEventListener("input", () => checkSettings().then(() => {
        if ($("preview").checked && settingsError()) showFrame(state.frame);  // says why, keeps the frame
      }).catch(() => {}));
      input.addEventListener("change", () => checkSettings().then(() => { if ($("preview").checked) showFrame(state.frame); })
        .catch(() => {}));
      form.append(lab, input, help);
    }
  }
}

function settingValue(input) {
  if (input.type === "checkbox") return input.checked ? "true" : "false";
  if (input.type === "color") {
    const v = input.value; return `[${[1, 3, 5].map((k) => parseInt(v.slice(k, k + 2), 16)).join(", ")}]`;
  }
  return input.value;
}

// the changed options, as `--set stage.option=value` items (the server checks them as the CLI does)
function settingItems() {
  return [...$("settings").elements].filter((el) => el.name && settingValue(el) !== el.dataset.initial)
    .map((el) => `${el.name}=${settingValue(el)}`);
}

// Each value checked as it is typed, by the server with the CLI's rules (POST /api/settings/check):
// a refused one is outlined with its message in place of the field's help; Render waits until
// every value is good, and the preview keeps the last good frame.
let checkToken = 0;
async function checkSettings() {
  const token = ++checkToken, preset = $("preset").value;
  const options = Object.fromEntries(settingItems().map((s) => [s.slice(0, s.indexOf("=")), s.slice(s.indexOf("=") + 1)]));
  const { errors } = await api("/api/settings/check", { preset, options });
  if (token !== checkToken) return;
  state.invalid = errors;
  for (const el of $("settings").elements) {
    if (!el.name) continue;
    const help = $(`help-${el.name}`), message = errors[el.name];
    el.classList.toggle("invalid", !!message);
    el.setAttribute("aria-invalid", String(!!message));
    if (help) {
      if (message && !help.classList.contains("error")) help.style.minHeight = `${help.offsetHeight}px`;
      help.textContent = message || help.dataset.help; help.classList.toggle("error", !!message);
    }
  }
  const first = Object.values(errors)[0];
  $("render").disabled = !!first;
  $("render").title = first ? `Fix the settings first: ${first}` : "Render the whole video (R)";
}
const settingsError = () => Object.values(state.invalid || {})[0] || null;

function render() {
  if (settingsError()) { showError(settingsError()); return Promise.resolve(); }
  jobStarting("render");
  const options = Object.fromEntries(settingItems().map((s) => [s.slice(0, s.indexOf("=")), s.slice(s.indexOf("=") + 1)]));
  const output = { codec: $("codec").value, crf: Number($("crf").value), container: $("container").value };
  return serial(() => startRender(options, output));
}

async function startRender(options, output) {
  try { await api(`${base()}/render`, { preset: $("preset").value, options, output }); }
  catch (e) { $("job-status").textContent = "render not started"; $("job-eta").textContent = ""; throw e; }
  watchJob();
}

function showRenderLinks() {
  const a = $("download-video");
  a.hidden = !state.render; $("show-result").hidden = !state.render;
  if (!state.render) return;
  a.href = `${base()}/download/render`; a.download = `render.${state.render}`;
}

function showResult() {
  if (!state.render) return;
  if (state.playing) pause();
  const v = $("result");
  v.src = `${base()}/result?t=${Date.now()}`;
  $("result-panel").hidden = false;
  $("result-info").textContent = `render.${state.render} · download it with “Download video”`;
  v.play().catch(() => {});
}

// while the result plays, the counter shows the result's time, not the frame being edited
$("result").addEventListener("timeupdate", () => {
  const v = $("result");
  if (!$("result-panel").hidden) $("frame-label").textContent = `result ${v.currentTime.toFixed(2)} / ${(v.duration || 0).toFixed(2)} s`;
});

function closeResult() { $("result").pause(); $("result-panel").hidden = true; label(); }

// -- opening videos: file picker, drag and drop, recent videos ------------------------------
let uploading = false;
function fmtBytes(n) {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(n >= 10 * 2 ** 20 ? 0 : 1)} MiB` : `${Math.ceil(n / 1024)} KiB`;
}

function checkFile(file) {
  const suffix = file.name.includes(".") ? file.name.slice(file.name.lastIndexOf(".")).toLowerCase() : "";
  if (!state.info.video_suffixes.includes(suffix))
    return `${file.name}: not a video file type (${state.info.video_suffixes.join(" ")})`;
  if (file.size > state.info.max_upload_bytes)
    return `${file.name}: too large (${fmtBytes(file.size)}; the limit is ${fmtBytes(state.info.max_upload_bytes)})`;
  return null;
}

function uploadFile(file) {
  const problem = checkFile(file);
  if (problem) { showError(problem); return Promise.reject(new Error(problem)); }
  uploading = true;
  $("upload").hidden = false; $("upload-progress").value = 0; $("upload-label").textContent = `Uploading ${file.name}…`;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/upload?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("Content-Type", file.type && file.type.startsWith("video/") ? file.type : "application/octet-stream");
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      $("upload-progress").max = e.total; $("upload-progress").value = e.loaded;
      const secs = (Date.now() - started) / 1000, left = e.loaded ? secs / e.loaded * (e.total - e.loaded) : null;
      $("upload-label").textContent = `Uploading ${file.name}: ${Math.round(100 * e.loaded / e.total)} %` +
        (left !== null && e.loaded < e.total ? ` · about ${fmtSeconds(left)} left` : " · checking the video…");
    };
    xhr.onload = () => {
      uploading = false; $("upload").hidden = true;
      let data = null; try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else { showError(data?.error || `upload failed (${xhr.status})`); reject(new Error(data?.error)); }
    };
    xhr.onerror = () => { uploading = false; $("upload").hidden = true; showError("upload failed: the server did not answer"); reject(new Error("upload")); };
    xhr.send(file);
  }).then((up) => openVideo(up.upload));
}

async function openVideo(upload) {
  const s = await api("/api/sessions", upload ? { upload } : {});
  await attach(s, true);
  loadRecent().catch(() => {});
}

async function loadRecent() {
  const { videos } = await api("/api/videos");
  const sel = $("recent"); sel.length = 1;
  const list = $("recent-list"); list.replaceChildren();
  for (const v of videos) {
    const label = `${v.name} · ${fmtBytes(v.bytes)}`;
    const o = document.createElement("option"); o.value = v.upload === null ? "-" : v.upload; o.textContent = `${label} · new session`; sel.append(o);
    const li = document.createElement("li"); li.textContent = `${label} · new session`; li.onclick = () => openVideo(v.upload).catch(() => {});
    list.append(li);
    // the earlier sessions on this video (work from another visit): each reopens where it was left
    for (const sid of v.earlier || []) {
      if (sid === state.sid) continue;
      const text = `${v.name} · earlier session ${sid.slice(0, 8)}`;
      const e = document.createElement("option"); e.value = `s=${sid}`; e.textContent = text; sel.append(e);
      const eli = document.createElement("li"); eli.textContent = text; eli.dataset.session = sid;
      eli.onclick = () => openSession(sid).catch(() => {});
      list.append(eli);
    }
  }
  sel.hidden = videos.length === 0;
}

async function openSession(sid) {
  await attach(await api(`/api/sessions/${sid}`), false);
  loadRecent().catch(() => {});
}

function goodbye() {
  // a session without work closes with its page; one with work stays for a reload, another
  // tab or a restarted browser (until the server's idle limit)
  if (state.sid) fetch(`${base()}?unless_work=1`, { method: "DELETE", keepalive: true }).catch(() => {});
}

async function attach(s, fresh) {
  if (state.sid && state.sid !== s.id) { pause(); goodbye(); }
  Object.assign(state, { sid: s.id, frames: s.frames, width: s.width, height: s.height, fps: s.fps, frame: 0,
    objects: [], selected: null, confidence: null, markers: [], labels: null, render: s.render, hidden: [],
    loopIn: 0, loopOut: s.frames - 1 });
  history.replaceState(null, "", `/#s=${s.id}`);
  $("video-name").textContent = s.name; document.title = `${s.name} · trackedit`;
  $("open-panel").hidden = true; $("result-panel").hidden = true; $("stage").hidden = false;
  for (const el of document.querySelectorAll("aside .panel, .transport")) el.inert = false;
  $("scrubber").max = s.frames - 1;
  $("download-prompts").href = `${base()}/download/prompts.json`;
  $("download-masks").href = `${base()}/download/masks.zip`;
  $("job-status").textContent = ""; $("job-eta").textContent = ""; $("progress").value = 0;
  state.ready = false;
  fitStage();
  showFrame(0);
  await loadObjects();
  drawMarkers();  // in the objects' colours
  if (!fresh) await loadConfidence();
  showRenderLinks();
  state.ready = true;
  showJob(s.job);
  if (s.job && s.job.state === "running") watchJob();
}

function showOpenPanel(message) {
  $("stage").hidden = true; $("open-panel").hidden = false;
  for (const el of document.querySelectorAll("aside .panel:not(.shortcuts), .transport")) el.inert = true;  // nothing to act on yet
  $("open-limits").textContent = (message ? message + " " : "") +
    `Up to ${fmtBytes(state.info.max_upload_bytes)}: ${state.info.video_suffixes.join(" ")}`;
}

async function start() {
  const info = await api("/api/info");
  state.info = info;
  if (info.classic) {
    $("banner").hidden = false;
    $("banner").textContent = `Classical backends (${info.segmenter} / ${info.tracker}). For SAM and XMem: ` +
      "trackedit models download sam_vit_b xmem";
  }
  state.settings = await api("/api/settings");
  for (const p of Object.keys(state.settings.presets)) { const o = document.createElement("option"); o.value = o.textContent = p; $("preset").append(o); }
  $("preset").value = "blur";
  for (const c of state.settings.codecs) { const o = document.createElement("option"); o.value = o.textContent = c; $("codec").append(o); }
  for (const c of state.settings.containers) { const o = document.createElement("option"); o.value = o.textContent = c; $("container").append(o); }
  $("crf").value = state.settings.output.crf;
  buildSettings();
  $("detect-faces").hidden = !(info.detectors || []).includes("faces");
  $("detect-people").hidden = !(info.detectors || []).includes("people");
  setupStage();
  loadRecent().catch(() => {});
  const wanted = /^#s=([0-9a-f]+)$/.exec(location.hash);
  let gone = null;  // why the session in the address could not be shown (a kept one the server cannot reopen)
  if (wanted) {
    try { await attach(await api(`/api/sessions/${wanted[1]}`), false); return; }
    catch (e) {
      if (e.status !== 404) throw e;
      $("error").hidden = true;
      gone = e.message.startsWith("that session") ? `${e.message[0].toUpperCase()}${e.message.slice(1)}.` :
        "That session was closed (idle too long, or the server restarted without --sessions).";
      if (!info.video) { showOpenPanel(gone); return; }
    }
  }
  if (!info.video) { showOpenPanel(""); return; }
  await attach(await api("/api/sessions", {}), true);
  if (gone && gone.startsWith("That session edits")) showError(`${gone} This is a new session.`);
}

// -- wiring -----------------------------------------------------------------------------
$("scrubber").oninput = (e) => { if (state.playing) pause(); showFrame(Number(e.target.value)); };
$("add-object").onclick = () => serial(addObject).catch(() => {});
$("detect-faces").onclick = () => detectFaces().catch(() => {});
$("detect-people").onclick = () => detectFaces(["people"]).catch(() => {});
function history_(what) {
  if (state.selected === null) return;
  serial(() => api(`${base()}/${what}`, { object: state.selected })).then(() => showFrame(state.frame)).catch(() => {});
}
$("undo").onclick = () => history_("undo");
$("redo").onclick = () => history_("redo");
$("preview").onchange = () => { if (state.playing) pause(); showFrame(state.frame); };
$("preset").onchange = () => { buildSettings(); checkSettings().catch(() => {}); if ($("preview").checked) showFrame(state.frame); };
$("track-forward").onclick = () => track("forward").catch(() => {});
$("track-backward").onclick = () => track("backward").catch(() => {});
$("track-both").onclick = () => track("both").catch(() => {});
$("pause").onclick = () => api(`${base()}/pause`, {}).catch(() => {});
$("render").onclick = () => render().catch(() => {});
$("show-result").onclick = showResult;
$("close-result").onclick = closeResult;
$("play").onclick = () => (state.playing ? pause() : play());
$("speed").onchange = () => { if (state.playing) { pause(); play(); } };
$("loop-in").onclick = () => { state.loopIn = state.frame; if (state.loopOut < state.loopIn) state.loopOut = state.frames - 1; $("loop").checked = true; drawConfidence(); };
$("loop-out").onclick = () => { state.loopOut = state.frame; if (state.loopIn > state.loopOut) state.loopIn = 0; $("loop").checked = true; drawConfidence(); };
$("loop").onchange = () => drawConfidence();
$("next-weak").onclick = () => nextWeak(1);
$("lanes").onclick = laneClick;
$("confidence").onclick = (e) => {
  const r = $("confidence").getBoundingClientRect();
  if (state.playing) pause();
  showFrame(Math.floor((e.clientX - r.left) / r.width * state.frames));
};
for (const id of ["file", "file-empty"]) {
  $(id).onchange = (e) => { const f = e.target.files[0]; e.target.value = ""; if (f) uploadFile(f).catch(() => {}); };
}
$("recent").onchange = (e) => {
  const v = e.target.value; e.target.value = "";
  if (v.startsWith("s=")) openSession(v.slice(2)).catch(() => {});
  else if (v) openVideo(v === "-" ? null : v).catch(() => {});
};
// drag and drop anywhere on the page
let dragDepth = 0;
const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes("Files");
window.addEventListener("dragenter", (e) => { if (!hasFiles(e)) return; dragDepth++; $("drop").hidden = false; e.preventDefault(); });
window.addEventListener("dragover", (e) => { if (hasFiles(e)) e.preventDefault(); });
window.addEventListener("dragleave", () => { dragDepth = Math.max(0, dragDepth - 1); if (!dragDepth) $("drop").hidden = true; });
window.addEventListener("drop", (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault(); dragDepth = 0; $("drop").hidden = true;
  const f = e.dataTransfer.files[0];
  if (f) uploadFile(f).catch(() => {});
});
window.addEventListener("resize", () => { fitStage(); drawConfidence(); });
document.addEventListener("keydown", (e) => {
  const t = e.target;
  if ((t.tagName === "INPUT" && t.type !== "range" && t.type !== "checkbox") || t.tagName === "SELECT" || t.tagName === "TEXTAREA") return;
  if (!state.sid) return;
  const step = e.shiftKey ? 10 : 1;
  const mod = e.ctrlKey || e.metaKey;
  const key = e.key.toLowerCase();
  if (e.key === "Escape" && !$("result-panel").hidden) { closeResult(); return; }
  if (e.key === "ArrowRight") { if (state.playing) pause(); showFrame(state.frame + step); e.preventDefault(); return; }
  if (e.key === "ArrowLeft") { if (state.playing) pause(); showFrame(state.frame - step); e.preventDefault(); return; }
  if (mod && key === "z") { history_(e.shiftKey ? "redo" : "undo"); e.preventDefault(); return; }
  if (mod && key === "y") { history_("redo"); e.preventDefault(); return; }
  if (mod || e.altKey) return;
  if (e.key === " ") { state.playing ? pause() : play(); e.preventDefault(); }
  else if (key === "n") { nextWeak(e.shiftKey ? -1 : 1); e.preventDefault(); }
  else if (key === "i") $("loop-in").click();
  else if (key === "o") $("loop-out").click();
  else if (key === "l") { $("loop").checked = !$("loop").checked; drawConfidence(); }
  else if (e.key === "[") setSpeed(-1);
  else if (e.key === "]") setSpeed(1);
  else if (key === "a") serial(addObject).catch(() => {});
  else if (key === "t") track("both").catch(() => {});
  else if (key === "p") { $("preview").checked = !$("preview").checked; $("preview").onchange(); }
  else if (key === "r") render().catch(() => {});
  else if (key === "h" && state.selected !== null) toggleHidden(state.selected);
});
// another tab may have changed the session: show the server's state when this one comes back
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.sid && !state.playing)
    Promise.all([loadObjects(), loadConfidence()]).then(() => showFrame(state.frame)).catch(() => {});
});
window.addEventListener("pagehide", goodbye);
setInterval(() => { if (state.sid) fetch(`${base()}/job`).catch(() => {}); }, 120000);
start().catch((e) => showError(String(e.message || e)));
