// The facepoints page. Two views of a photo or the webcam:
// - Filters: the picture goes to POST /api/filter with the chosen filters (the server's dense model
//   unless told); the returned image is shown and can be downloaded.
// - Landmarks: POST /api/landmarks with the chosen model (5, 68 or 98 points); the points are drawn
//   here over the photo, coloured by how sure the model is of each.
// A failed request clears the old picture; a picture without faces says what to try.
"use strict";

const MAX_SIDE_PHOTO = 1600; // larger photos are scaled down here before upload
const MAX_SIDE_CAMERA = 640; // webcam frames are sent at most this wide
const CAMERA_QUALITY = 0.8;
const IN_FLIGHT = 2; // webcam frames on their way or in work at once
const SURE = 0.5; // points below this confidence are drawn as rings
const NO_FACE_HINT =
  "No face found. Try a photo where the face is larger (at least about 40 pixels across), " +
  "turned towards the camera, evenly lit and not covered by hands or hair.";

const $ = (id) => document.getElementById(id);
const ui = {
  file: $("file"), camera: $("camera"), download: $("download"), filters: $("filters"),
  models: $("models"), status: $("status"), hint: $("hint"), result: $("result"),
  marks: $("marks"), placeholder: $("placeholder"), fps: $("fps"), video: $("video"),
  faces: $("faces"), legend: $("legend"), live: $("live"), inBrowser: $("in-browser"),
  liveView: $("live-view"),
};

const state = {
  photo: null,        // Blob of the current photo, ready to upload
  bitmap: null,       // ImageBitmap of the current photo (the landmarks view draws on it)
  stream: null,       // MediaStream while the webcam runs
  busy: false,        // a photo request is in flight
  again: false,       // choices changed while busy: send the photo again when done
  shown: null,        // object URL of the image on screen
  times: [],          // arrival times of recent webcam frames, for the fps counter
  frames: 0,
  newest: 0,          // capture time of the webcam frame on screen
  filterModel: null,  // the model /api/filter uses by default (from /api/models)
};

function view() {
  return document.querySelector("input[name=view]:checked").value;
}

function setStatus(text, error = false) {
  ui.status.textContent = text;
  ui.status.classList.toggle("error", error);
}

function setHint(text) {
  ui.hint.textContent = text || "";
  ui.hint.hidden = !text;
}

function chosenFilters() {
  return [...ui.filters.querySelectorAll("input:checked")].map((i) => i.value);
}

function chosenModel() {
  const r = ui.models.querySelector("input:checked");
  return r ? r.value : null;
}

async function loadFilters() {
  try {
    const r = await fetch("/api/filters");
    const { filters } = await r.json();
    ui.filters.querySelectorAll(".muted").forEach((n) => n.remove());
    for (const f of filters) {
      const label = document.createElement("label");
      label.className = "chip";
      label.title = f.description;
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = f.name;
      box.name = "filter";
      box.checked = f.name === "sunglasses";
      box.addEventListener("change", onChoiceChanged);
      const text = document.createElement("span");
      text.textContent = f.name.replace("_", " ");
      const about = document.createElement("small");
      about.textContent = f.description;
      text.append(about);
      label.append(box, text);
      ui.filters.append(label);
    }
  } catch (e) {
    setStatus("Could not load the filter list: " + e.message, true);
  }
}

async function loadModels() {
  try {
    const r = await fetch("/api/models");
    const info = await r.json();
    state.filterModel = info.filters;
    ui.models.querySelectorAll(".muted").forEach((n) => n.remove());
    const byPoints = new Map();
    for (const m of info.models) {
      if (!byPoints.has(m.points) || m.name === info.default) byPoints.set(m.points, m);
    }
    const preferred = info.filters || info.default;
    let checked = false;
    for (const points of [5, 68, 98]) {
      const m = byPoints.get(points);
      const label = document.createElement("label");
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "model";
      radio.dataset.points = String(points);
      if (m) {
        radio.value = m.name;
        radio.checked = m.name === preferred;
        checked = checked || radio.checked;
        radio.addEventListener("change", onChoiceChanged);
        label.append(radio, ` ${points} points (${m.name})`);
      } else {
        radio.disabled = true;
        label.className = "unavailable";
        label.append(radio, ` ${points} points (no model of this kind here)`);
      }
      ui.models.append(label);
    }
    if (!checked) {
      const first = ui.models.querySelector("input:not([disabled])");
      if (first) first.checked = true;
    }
  } catch (e) {
    setStatus("Could not load the model list: " + e.message, true);
  }
}

function onViewChanged() {
  const marks = view() === "landmarks";
  ui.filters.hidden = marks;
  ui.models.hidden = !marks;
  ui.legend.hidden = !marks;
  if (marks && state.stream) stopCamera();
  ui.camera.disabled = marks;
  if (state.photo) sendPhoto();
}

function onChoiceChanged() {
  if (state.stream) return; // the webcam loop reads the choice on every frame
  if (state.photo) sendPhoto();
}

async function errorText(response) {
  try {
    const j = await response.json();
    return j.error || response.statusText;
  } catch {
    return response.status + " " + response.statusText;
  }
}

async function filterRequest(blob, name) {
  const form = new FormData();
  form.append("image", blob, name);
  const q = new URLSearchParams({ filters: chosenFilters().join(","), format: "jpeg" });
  const r = await fetch(`/api/filter?${q}`, { method: "POST", body: form });
  if (!r.ok) throw new Error(await errorText(r));
  return {
    image: await r.blob(), faces: Number(r.headers.get("X-Faces")), ms: r.headers.get("X-Process-Ms"),
  };
}

async function landmarksRequest(blob, name) {
  const form = new FormData();
  form.append("image", blob, name);
  const model = chosenModel();
  const q = model ? `?${new URLSearchParams({ model })}` : "";
  const r = await fetch(`/api/landmarks${q}`, { method: "POST", body: form });
  if (!r.ok) throw new Error(await errorText(r));
  return await r.json();
}

function clearPicture(message = "") {
  // an error or a new choice: the old picture must not stay beside the message
  if (state.shown) URL.revokeObjectURL(state.shown);
  state.shown = null;
  ui.result.removeAttribute("src");
  ui.result.hidden = true;
  ui.marks.hidden = true;
  ui.faces.hidden = true;
  ui.placeholder.hidden = false;
  ui.placeholder.textContent = message || "Your picture appears here.";
  ui.placeholder.classList.toggle("error", Boolean(message));
  ui.download.removeAttribute("href");
  ui.download.setAttribute("aria-disabled", "true");
}

function showError(message) {
  clearPicture(message);
  setHint("");
  ui.result.dataset.state = "error";
  ui.marks.dataset.state = "error";
  setStatus(message, true);
}

function show(imageBlob) {
  const url = URL.createObjectURL(imageBlob);
  const old = state.shown;
  ui.result.onload = () => { if (old) URL.revokeObjectURL(old); };
  ui.result.src = url;
  state.shown = url;
  ui.result.hidden = false;
  ui.marks.hidden = true;
  ui.placeholder.hidden = true;
  ui.download.href = url;
  ui.download.setAttribute("aria-disabled", "false");
  const tag = chosenFilters().join("-") || "original";
  ui.download.download = `facepoints-${tag}.jpg`;
  state.frames += 1;
  ui.result.dataset.frames = String(state.frames);
  ui.result.dataset.state = "done";
}

// --- landmarks view ------------------------------------------------------------------------------

function confidenceColor(c) {
  // red (unsure) through amber to green (sure)
  const t = Math.max(0, Math.min(1, c));
  const r = Math.round(229 + (24 - 229) * t), g = Math.round(72 + (168 - 72) * t);
  const b = Math.round(77 + (74 - 77) * t);
  return `rgb(${r},${g},${b})`;
}

function drawLandmarks(bitmap, result) {
  const c = ui.marks;
  c.width = bitmap.width;
  c.height = bitmap.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const side = Math.max(bitmap.width, bitmap.height);
  let points = 0;
  for (const f of result.faces) {
    const [x1, y1, x2, y2] = f.box;
    const r = Math.max(1.5, Math.min(x2 - x1, y2 - y1) / 60);
    ctx.lineWidth = Math.max(1, side / 500);
    ctx.strokeStyle = f.face_score >= result.min_face_score ? "#1f6feb" : "#9a9a9a";
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    f.landmarks.forEach(([x, y], i) => {
      if (x === null || y === null) return;
      const conf = f.confidence ? f.confidence[i] : 1;
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      if (conf >= SURE) {
        ctx.fillStyle = confidenceColor(conf);
        ctx.fill();
      } else {
        ctx.strokeStyle = confidenceColor(conf);
        ctx.lineWidth = Math.max(1, r / 2);
        ctx.stroke();
      }
      points += 1;
    });
  }
  c.hidden = false;
  ui.result.hidden = true;
  ui.placeholder.hidden = true;
  c.dataset.faces = String(result.faces.length);
  c.dataset.points = String(points);
  c.dataset.state = "done";
  state.frames += 1;
  ui.result.dataset.frames = String(state.frames);
  c.toBlob((blob) => {
    if (!blob || c.dataset.state !== "done") return;
    if (state.shown) URL.revokeObjectURL(state.shown);
    state.shown = URL.createObjectURL(blob);
    ui.download.href = state.shown;
    ui.download.download = `facepoints-landmarks-${chosenModel() || "default"}.png`;
    ui.download.setAttribute("aria-disabled", "false");
  }, "image/png");
}

function listFaces(result) {
  const body = ui.faces.querySelector("tbody");
  body.replaceChildren();
  result.faces.forEach((f, i) => {
    const tr = document.createElement("tr");
    const cells = [
      String(i + 1), String(f.landmarks.length),
      f.landmark_score === null ? "–" : f.landmark_score.toFixed(2),
      f.face_score.toFixed(2) + (f.face_score >= result.min_face_score ? "" : " (no filter)"),
      describePose(f.pose), describeEyes(f.openness),
      f.smile === null || f.smile === undefined ? "–" : `${Math.round(100 * f.smile)}%`,
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    body.append(tr);
  });
  ui.faces.hidden = result.faces.length === 0;
}

function describePose(p) {
  if (!p) return "–";
  return `yaw ${p.yaw.toFixed(0)}°, pitch ${p.pitch.toFixed(0)}°, roll ${p.roll.toFixed(0)}°`;
}

function describeEyes(o) {
  if (!o) return "–";
  return `${o.left_eye.toFixed(2)} / ${o.right_eye.toFixed(2)}, mouth ${o.mouth.toFixed(2)}`;
}

// --- photo ------------------------------------------------------------------------------------

async function preparePhoto(file) {
  // keep the file as it is when it is small enough; else draw it smaller (EXIF-upright)
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const side = Math.max(bitmap.width, bitmap.height);
  if (side <= MAX_SIDE_PHOTO && file.size <= 8 * 1024 * 1024 && /jpe?g|png|webp/.test(file.type)) {
    return { blob: file, bitmap };
  }
  const s = Math.min(1, MAX_SIDE_PHOTO / side);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * s);
  canvas.height = Math.round(bitmap.height * s);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  const blob = await new Promise((ok) => canvas.toBlob(ok, "image/jpeg", 0.92));
  return { blob, bitmap: await createImageBitmap(blob) };
}

async function sendPhoto() {
  if (state.busy) { state.again = true; return; }
  state.busy = true;
  ui.result.dataset.state = "busy";
  ui.marks.dataset.state = "busy";
  setStatus("Working…");
  try {
    const t0 = performance.now();
    let faces, ms;
    if (view() === "landmarks") {
      const r = await landmarksRequest(state.photo, "photo.jpg");
      drawLandmarks(state.bitmap, r);
      listFaces(r);
      faces = r.faces.length;
      ms = Math.round(r.ms);
    } else {
      const r = await filterRequest(state.photo, "photo.jpg");
      show(r.image);
      ui.faces.hidden = true;
      faces = r.faces;
      ms = r.ms;
    }
    const total = Math.round(performance.now() - t0);
    setStatus(`${faces} face${faces === 1 ? "" : "s"} · ${ms} ms on the server, ${total} ms in all`);
    setHint(faces === 0 ? NO_FACE_HINT : "");
  } catch (e) {
    showError(e.message);
  } finally {
    state.busy = false;
    if (state.again) { state.again = false; sendPhoto(); }
  }
}

ui.file.addEventListener("change", async () => {
  const file = ui.file.files && ui.file.files[0];
  if (!file) return;
  stopCamera();
  try {
    const p = await preparePhoto(file);
    if (state.bitmap) state.bitmap.close();
    state.photo = p.blob;
    state.bitmap = p.bitmap;
  } catch {
    state.photo = null;
    showError("That file could not be read as an image.");
    return;
  }
  ui.result.classList.remove("mirrored");
  sendPhoto();
});

// --- webcam -----------------------------------------------------------------------------------

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setStatus("This browser cannot use a webcam here (it needs https or localhost).", true);
    return;
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
      audio: false,
    });
  } catch (e) {
    setStatus("No webcam: " + (e.message || e.name), true);
    return;
  }
  ui.video.srcObject = state.stream;
  await ui.video.play();
  ui.camera.textContent = "Stop the webcam";
  ui.camera.classList.add("on");
  ui.result.classList.add("mirrored");
  ui.fps.hidden = false;
  setHint("");
  state.times = [];
  state.newest = 0;
  setStatus("Webcam on: pick filters, they apply live.");
  const live = window.facepointsLive;
  if (live && !ui.live.hidden && ui.inBrowser.checked && (await live.start(ui.video, liveHooks))) {
    ui.liveView.hidden = false;
    ui.liveView.classList.add("mirrored");
    ui.liveView.dataset.engine = "browser";
    ui.result.hidden = true;
    ui.placeholder.hidden = true;
    return;
  }
  ui.liveView.dataset.engine = "server";
  for (let i = 0; i < IN_FLIGHT; i++) cameraLoop(i);
}

function stopCamera() {
  if (!state.stream) return;
  if (window.facepointsLive) window.facepointsLive.stop();
  state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  ui.video.srcObject = null;
  ui.camera.textContent = "Use the webcam";
  ui.camera.classList.remove("on");
  ui.fps.hidden = true;
  ui.liveView.hidden = true;
}

// what the in-browser engine (live.js) needs from the page
const liveHooks = {
  canvas: ui.liveView,
  filters: chosenFilters,
  running: () => Boolean(state.stream),
  frame: (faces, note) => {
    state.frames += 1;
    ui.liveView.dataset.frames = String(state.frames);
    tick();
    setStatus(`Webcam on · ${faces} face${faces === 1 ? "" : "s"} · ${note}`);
  },
  fail: (message) => {
    if (!state.stream) return;
    ui.liveView.hidden = true;
    ui.liveView.dataset.engine = "server";
    setStatus(`${message}: frames go to the server`, false);
    for (let i = 0; i < IN_FLIGHT; i++) cameraLoop(i);
  },
};

async function checkLive() {
  // the in-browser path is offered when its files are installed on this server
  if (!window.facepointsLive) return;
  try {
    const r = await fetch("/live/manifest.json");
    ui.live.hidden = !r.ok;
  } catch {
    ui.live.hidden = true;
  }
}

async function cameraLoop(worker) {
  // IN_FLIGHT of these run at once, so the server works on one frame while the next travels;
  // a frame that comes back after a newer one is dropped
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  await new Promise((ok) => setTimeout(ok, worker * 40));
  while (state.stream) {
    const w = ui.video.videoWidth, h = ui.video.videoHeight;
    if (!w || !h) { await new Promise((ok) => setTimeout(ok, 50)); continue; }
    const s = Math.min(1, MAX_SIDE_CAMERA / w);
    canvas.width = Math.round(w * s);
    canvas.height = Math.round(h * s);
    ctx.drawImage(ui.video, 0, 0, canvas.width, canvas.height);
    const taken = performance.now();
    const frame = await new Promise((ok) => canvas.toBlob(ok, "image/jpeg", CAMERA_QUALITY));
    try {
      const r = await filterRequest(frame, "frame.jpg");
      if (!state.stream) break;
      if (taken < state.newest) continue;
      state.newest = taken;
      show(r.image);
      tick();
      setStatus(`Webcam on · ${r.faces} face${r.faces === 1 ? "" : "s"} · ${r.ms} ms on the server`);
    } catch (e) {
      setStatus(e.message, true);
      await new Promise((ok) => setTimeout(ok, 500)); // busy or failing: back off a little
    }
  }
}

function tick() {
  const now = performance.now();
  state.times.push(now);
  while (state.times.length && now - state.times[0] > 2000) state.times.shift();
  const n = state.times.length;
  const span = n > 1 ? (state.times[n - 1] - state.times[0]) / 1000 : 0;
  const fps = span > 0 ? (n - 1) / span : 0;
  ui.fps.textContent = `${fps.toFixed(1)} fps`;
  ui.fps.dataset.fps = fps.toFixed(2);
}

ui.camera.addEventListener("click", () => (state.stream ? stopCamera() : startCamera()));
document.querySelectorAll("input[name=view]").forEach((r) => r.addEventListener("change", onViewChanged));

loadFilters();
loadModels();
checkLive();
