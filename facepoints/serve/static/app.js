// The face-filter page: a photo (uploaded) or webcam frames go to POST /api/filter with the chosen
// filters; the returned image is shown, and can be downloaded. One request in flight at a time.
"use strict";

const MAX_SIDE_PHOTO = 1600; // larger photos are scaled down here before upload
const MAX_SIDE_CAMERA = 640; // webcam frames are sent at most this wide
const CAMERA_QUALITY = 0.8;
const IN_FLIGHT = 2; // webcam frames on their way or in work at once

const $ = (id) => document.getElementById(id);
const ui = {
  file: $("file"), camera: $("camera"), download: $("download"), filters: $("filters"),
  status: $("status"), result: $("result"), placeholder: $("placeholder"), fps: $("fps"),
  video: $("video"),
};

const state = {
  photo: null,        // Blob of the current photo, ready to upload
  stream: null,       // MediaStream while the webcam runs
  busy: false,        // a photo request is in flight
  again: false,       // filters changed while busy: send the photo again when done
  shown: null,        // object URL of the image on screen
  times: [],          // arrival times of recent webcam frames, for the fps counter
  frames: 0,
  newest: 0,          // capture time of the webcam frame on screen
};

function setStatus(text, error = false) {
  ui.status.textContent = text;
  ui.status.classList.toggle("error", error);
}

function chosenFilters() {
  return [...ui.filters.querySelectorAll("input:checked")].map((i) => i.value);
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
      box.addEventListener("change", onFiltersChanged);
      const text = document.createElement("span");
      text.textContent = f.name.replace("_", " ");
      label.append(box, text);
      ui.filters.append(label);
    }
  } catch (e) {
    setStatus("Could not load the filter list: " + e.message, true);
  }
}

function onFiltersChanged() {
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
  const q = encodeURIComponent(chosenFilters().join(","));
  const r = await fetch(`/api/filter?filters=${q}&format=jpeg`, { method: "POST", body: form });
  if (!r.ok) throw new Error(await errorText(r));
  return { image: await r.blob(), faces: r.headers.get("X-Faces"), ms: r.headers.get("X-Process-Ms") };
}

function show(imageBlob) {
  const url = URL.createObjectURL(imageBlob);
  const old = state.shown;
  ui.result.onload = () => { if (old) URL.revokeObjectURL(old); };
  ui.result.src = url;
  state.shown = url;
  ui.result.hidden = false;
  ui.placeholder.hidden = true;
  ui.download.href = url;
  ui.download.setAttribute("aria-disabled", "false");
  const tag = chosenFilters().join("-") || "original";
  ui.download.download = `facepoints-${tag}.jpg`;
  state.frames += 1;
  ui.result.dataset.frames = String(state.frames);
  ui.result.dataset.state = "done";
}

// --- photo ------------------------------------------------------------------------------------

async function preparePhoto(file) {
  // keep the file as it is when it is small enough; else draw it smaller (EXIF-upright)
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const side = Math.max(bitmap.width, bitmap.height);
  if (side <= MAX_SIDE_PHOTO && file.size <= 8 * 1024 * 1024 && /jpe?g|png|webp/.test(file.type)) {
    bitmap.close();
    return file;
  }
  const s = Math.min(1, MAX_SIDE_PHOTO / side);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * s);
  canvas.height = Math.round(bitmap.height * s);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return await new Promise((ok) => canvas.toBlob(ok, "image/jpeg", 0.92));
}

async function sendPhoto() {
  if (state.busy) { state.again = true; return; }
  state.busy = true;
  ui.result.dataset.state = "busy";
  setStatus("Working…");
  try {
    const t0 = performance.now();
    const r = await filterRequest(state.photo, "photo.jpg");
    show(r.image);
    const faces = Number(r.faces);
    const total = Math.round(performance.now() - t0);
    setStatus(`${faces} face${faces === 1 ? "" : "s"} · ${r.ms} ms on the server, ${total} ms in all`);
  } catch (e) {
    ui.result.dataset.state = "error";
    setStatus(e.message, true);
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
    state.photo = await preparePhoto(file);
  } catch {
    setStatus("That file could not be read as an image.", true);
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
  state.times = [];
  state.newest = 0;
  setStatus("Webcam on: pick filters, they apply live.");
  for (let i = 0; i < IN_FLIGHT; i++) cameraLoop(i);
}

function stopCamera() {
  if (!state.stream) return;
  state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  ui.video.srcObject = null;
  ui.camera.textContent = "Use the webcam";
  ui.camera.classList.remove("on");
  ui.fps.hidden = true;
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
      setStatus(`Webcam on · ${r.faces} face${r.faces === "1" ? "" : "s"} · ${r.ms} ms on the server`);
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

loadFilters();
