// The webcam in this browser: face detector, landmarks and filters run here with ONNX Runtime Web
// (WebAssembly), computed the way the server computes them (`facepoints.filters.live` writes the
// networks, the artwork and a manifest of the numbers). The page calls
// window.facepointsLive.start(video, hooks); when the files are not installed, a model cannot
// load, or a chosen filter is not drawn here, it returns false / calls hooks.fail and the page
// sends frames to the server instead.
"use strict";

(() => {
  const ORT_DIR = "/static/vendor/ort/";
  const MAX_SIDE = 640; // frames are processed at most this wide
  let engine = null;
  let running = false;

  // --- set-up ------------------------------------------------------------------------------------

  function loadScript(src) {
    return new Promise((ok, fail) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = ok;
      s.onerror = () => fail(new Error(`cannot load ${src}`));
      document.head.append(s);
    });
  }

  async function init() {
    if (engine) return engine;
    const r = await fetch("/live/manifest.json");
    if (!r.ok) throw new Error("the in-browser path is not installed");
    const manifest = await r.json();
    if (!window.ort) await loadScript(ORT_DIR + "ort.wasm.min.js");
    const ort = window.ort;
    ort.env.wasm.wasmPaths = ORT_DIR;
    ort.env.wasm.numThreads = 1; // no cross-origin isolation here, so no threads
    ort.env.wasm.proxy = false;
    const opts = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
    const det = await ort.InferenceSession.create("/live/" + manifest.detector.file, opts);
    const lm = await ort.InferenceSession.create("/live/" + manifest.landmarks.file, opts);
    const art = new Map();
    for (const f of manifest.filters) {
      if (!f.art) continue;
      const blob = await (await fetch("/live/" + f.art)).blob();
      art.set(f.name, { bitmap: await createImageBitmap(blob), tris: artTriangles(manifest, f) });
    }
    engine = {
      ort, manifest, det, lm, art, anchors: new Map(), tracks: [], count: 0,
      frame: canvas(), work: canvas(), crop: canvas(), scratch: canvas(), layer: canvas(),
    };
    return engine;
  }

  function canvas() {
    const c = document.createElement("canvas");
    return { canvas: c, ctx: c.getContext("2d", { willReadFrequently: true }) };
  }

  // the triangles of the mesh that the artwork reaches (the others draw nothing)
  function artTriangles(m, f) {
    const [x0, y0, x1, y1] = f.extent;
    const p = m.mesh.points;
    return m.mesh.triangles.filter((t) => {
      const xs = t.map((i) => p[i][0]), ys = t.map((i) => p[i][1]);
      return Math.max(...xs) >= x0 && Math.min(...xs) <= x1 && Math.max(...ys) >= y0 &&
        Math.min(...ys) <= y1;
    });
  }

  // --- detector ----------------------------------------------------------------------------------

  function anchorGrid(e, h, w) {
    const key = `${h}x${w}`;
    if (e.anchors.has(key)) return e.anchors.get(key);
    const { steps, min_sizes: sizes } = e.manifest.detector;
    const out = [];
    steps.forEach((step, k) => {
      const rows = Math.ceil(h / step), cols = Math.ceil(w / step);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          for (const s of sizes[k]) out.push((c + 0.5) * step, (r + 0.5) * step, s, s);
        }
      }
    });
    const a = Float32Array.from(out);
    e.anchors.clear();
    e.anchors.set(key, a);
    return a;
  }

  async function detect(e, W, H) {
    const m = e.manifest.detector;
    const bm = m.box_map;
    // the frame scaled so the smallest face kept fills the network's window, as on the server
    const scale = Math.min(1, m.window / (m.min_face / Math.max(bm.sx, bm.sy)) * 1.0);
    const w = Math.max(32, Math.round(W * scale)), h = Math.max(32, Math.round(H * scale));
    const fx = w / W, fy = h / H;
    e.work.canvas.width = w;
    e.work.canvas.height = h;
    e.work.ctx.drawImage(e.frame.canvas, 0, 0, w, h);
    const px = e.work.ctx.getImageData(0, 0, w, h).data;
    const n = w * h, x = new Float32Array(3 * n);
    const [mb, mg, mr] = m.mean_bgr;
    for (let i = 0; i < n; i++) {
      x[i] = px[4 * i + 2] - mb;
      x[n + i] = px[4 * i + 1] - mg;
      x[2 * n + i] = px[4 * i] - mr;
    }
    const out = await e.det.run({ image: new e.ort.Tensor("float32", x, [1, 3, h, w]) });
    const loc = out.boxes.data, prob = out.scores.data;
    const anchors = anchorGrid(e, h, w);
    const [v0, v1] = m.variances;
    const found = [];
    for (let a = 0; a < prob.length; a++) {
      if (!(prob[a] > m.threshold)) continue;
      const ax = anchors[4 * a], ay = anchors[4 * a + 1], as = anchors[4 * a + 2];
      const cx = ax + loc[4 * a] * v0 * as, cy = ay + loc[4 * a + 1] * v0 * as;
      const bw = as * Math.exp(Math.max(-10, Math.min(10, loc[4 * a + 2] * v1)));
      const bh = as * Math.exp(Math.max(-10, Math.min(10, loc[4 * a + 3] * v1)));
      found.push({ box: [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], score: prob[a] });
    }
    const kept = nms(found, m.nms_iou);
    const faces = [];
    for (const f of kept) {
      // raw box in frame pixels, then the box map into the landmark model's convention
      const [x1, y1, x2, y2] = [f.box[0] / fx, f.box[1] / fy, f.box[2] / fx, f.box[3] / fy];
      const bw = x2 - x1, bh = y2 - y1;
      const cx = (x1 + x2) / 2 + bm.dx * bw, cy = (y1 + y2) / 2 + bm.dy * bh;
      const hw = (bm.sx * bw) / 2, hh = (bm.sy * bh) / 2;
      if (Math.min(2 * hw, 2 * hh) < m.min_face) continue;
      faces.push({ box: [cx - hw, cy - hh, cx + hw, cy + hh], score: f.score });
    }
    return faces;
  }

  function nms(found, iou) {
    found.sort((a, b) => b.score - a.score);
    const keep = [];
    for (const f of found) {
      const [a0, a1, a2, a3] = f.box;
      const area = Math.max(0, a2 - a0) * Math.max(0, a3 - a1);
      let ok = true;
      for (const k of keep) {
        const [b0, b1, b2, b3] = k.box;
        const iw = Math.max(0, Math.min(a2, b2) - Math.max(a0, b0));
        const ih = Math.max(0, Math.min(a3, b3) - Math.max(a1, b1));
        const inter = iw * ih;
        const other = Math.max(0, b2 - b0) * Math.max(0, b3 - b1);
        if (inter / Math.max(area + other - inter, 1e-9) > iou) { ok = false; break; }
      }
      if (ok) keep.push(f);
    }
    return keep;
  }

  // --- landmarks ---------------------------------------------------------------------------------

  async function landmarks(e, faces) {
    if (!faces.length) return faces;
    const m = e.manifest.landmarks;
    const S = m.input_size, k = m.points, n = S * S;
    const x = new Float32Array(faces.length * 3 * n);
    e.crop.canvas.width = S;
    e.crop.canvas.height = S;
    const ctx = e.crop.ctx;
    faces.forEach((f, i) => {
      const [x1, y1, x2, y2] = f.box;
      const cx = (x1 + x2) / 2, cy = (y1 + y2) / 2;
      const side = Math.max(Math.max(x2 - x1, y2 - y1) * (1 + m.margin), 1e-3);
      const s = S / side;
      const t = [(S - 1) / 2 - s * cx, (S - 1) / 2 - s * cy]; // pixel centre to pixel centre
      f.crop = { s, t };
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, S, S);
      ctx.setTransform(s, 0, 0, s, t[0] + 0.5 - 0.5 * s, t[1] + 0.5 - 0.5 * s);
      ctx.drawImage(e.frame.canvas, 0, 0);
      const px = ctx.getImageData(0, 0, S, S).data;
      const o = i * 3 * n;
      for (let j = 0; j < n; j++) {
        x[o + j] = (px[4 * j] / 255 - m.mean) / m.std;
        x[o + n + j] = (px[4 * j + 1] / 255 - m.mean) / m.std;
        x[o + 2 * n + j] = (px[4 * j + 2] / 255 - m.mean) / m.std;
      }
    });
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    const out = await e.lm.run({ crops: new e.ort.Tensor("float32", x, [faces.length, 3, S, S]) });
    const pts = out.points.data, conf = out.confidence.data;
    faces.forEach((f, i) => {
      f.points = [];
      f.confidence = [];
      let sum = 0;
      for (let j = 0; j < k; j++) {
        const u = pts[(i * k + j) * 2] * S, v = pts[(i * k + j) * 2 + 1] * S;
        f.points.push([(u - f.crop.t[0]) / f.crop.s, (v - f.crop.t[1]) / f.crop.s]);
        const c = Math.max(0, Math.min(1, conf[i * k + j]));
        f.confidence.push(c);
        sum += c;
      }
      f.landmarkScore = sum / k;
      if (m.to68) {
        // a denser model: its points averaged down to the 68 of the mesh and the filters
        const avg = (idx, get) => idx.reduce((s, i) => s + get(i), 0) / idx.length;
        const pts68 = m.to68.map((idx) => [avg(idx, (i) => f.points[i][0]), avg(idx, (i) => f.points[i][1])]);
        f.confidence = m.to68.map((idx) => avg(idx, (i) => f.confidence[i]));
        f.points = pts68;
      }
      f.pointsScore = lowerQuartile(f.confidence);
      f.faceScore = faceScore(e.manifest.face_score.weights, f.score, f.pointsScore);
    });
    return faces;
  }

  // the landmark model's box from a face's points (facepoints.inference.boxes.box_from_points)
  function boxFromPoints(tr, points) {
    const p5 = tr.to_cuhk5.map((idx) => {
      let x = 0, y = 0;
      for (const i of idx) { x += points[i][0]; y += points[i][1]; }
      return [x / idx.length, y / idx.length];
    });
    const dst = [p5[0], p5[1], [(p5[3][0] + p5[4][0]) / 2, (p5[3][1] + p5[4][1]) / 2]];
    const src = [[-0.5, 0], [0.5, 0], tr.box.mouth];
    const g = similarity(src, dst);
    const [cx, cy] = [
      g.a * tr.box.center[0] - g.b * tr.box.center[1] + g.tx,
      g.b * tr.box.center[0] + g.a * tr.box.center[1] + g.ty,
    ];
    const s = Math.hypot(g.a, g.b);
    const hw = (s * tr.box.size[0]) / 2, hh = (s * tr.box.size[1]) / 2;
    return [cx - hw, cy - hh, cx + hw, cy + hh];
  }

  function logOdds(v) {
    const c = Math.min(Math.max(v, 1e-4), 1 - 1e-4);
    return Math.log(c / (1 - c));
  }

  // the face score's landmark term (facepoints.filters.face_score.points_score): the lower
  // quartile of the point confidences, interpolated as numpy's percentile
  function lowerQuartile(values) {
    const v = [...values].sort((x, y) => x - y);
    const at = 0.25 * (v.length - 1), i = Math.floor(at);
    return i + 1 < v.length ? v[i] + (at - i) * (v[i + 1] - v[i]) : v[i];
  }

  function faceScore([b, wd, wp], det, points) {
    const z = b + wd * logOdds(det) + wp * logOdds(points);
    return 1 / (1 + Math.exp(-Math.max(-50, Math.min(50, z))));
  }

  // --- the mesh (facepoints.filters.mesh) --------------------------------------------------------

  function similarity(src, dst) {
    // least-squares scale, rotation, translation src -> dst: x' = a x - b y + tx, y' = b x + a y + ty
    const n = src.length;
    let sx = 0, sy = 0, dx = 0, dy = 0;
    for (let i = 0; i < n; i++) { sx += src[i][0]; sy += src[i][1]; dx += dst[i][0]; dy += dst[i][1]; }
    sx /= n; sy /= n; dx /= n; dy /= n;
    let num1 = 0, num2 = 0, den = 0;
    for (let i = 0; i < n; i++) {
      const ux = src[i][0] - sx, uy = src[i][1] - sy, vx = dst[i][0] - dx, vy = dst[i][1] - dy;
      num1 += ux * vx + uy * vy;
      num2 += ux * vy - uy * vx;
      den += ux * ux + uy * uy;
    }
    const a = num1 / den, b = num2 / den;
    return { a, b, tx: dx - a * sx + b * sy, ty: dy - b * sx - a * sy };
  }

  function faceMesh(e, f) {
    const mm = e.manifest.mesh;
    const canon = mm.points;
    const core = mm.core;
    const g = similarity(core.map((i) => canon[i]), core.map((i) => f.points[i]));
    const lin = (x, y) => [g.a * x - g.b * y, g.b * x + g.a * y];
    const pts = f.points.slice();
    const conf = f.confidence.slice();
    for (const rise of mm.forehead_rise) {
      const [ox, oy] = lin(0, -rise);
      for (const i of mm.brows) { pts.push([f.points[i][0] + ox, f.points[i][1] + oy]); conf.push(f.confidence[i]); }
    }
    mm.jaw.forEach((i, j) => {
      const [ox, oy] = lin(...mm.jaw_offsets[j]);
      pts.push([f.points[i][0] + ox, f.points[i][1] + oy]);
      conf.push(f.confidence[i]);
    });
    const coreConf = core.reduce((s, i) => s + f.confidence[i], 0) / core.length;
    for (const [x, y] of mm.rings) {
      const [u, v] = lin(x, y);
      pts.push([u + g.tx, v + g.ty]);
      conf.push(coreConf);
    }
    return { points: pts, confidence: conf, scale: Math.hypot(g.a, g.b) };
  }

  function affine(s, d) {
    // the 2x3 map sending the 3 points s to the 3 points d, as canvas setTransform's a..f
    const [[x0, y0], [x1, y1], [x2, y2]] = s;
    const det = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0);
    if (Math.abs(det) < 1e-9) return null;
    const solve = (v0, v1, v2) => {
      const p = ((v1 - v0) * (y2 - y0) - (v2 - v0) * (y1 - y0)) / det;
      const q = ((x1 - x0) * (v2 - v0) - (x2 - x0) * (v1 - v0)) / det;
      return [p, q, v0 - p * x0 - q * y0];
    };
    const [a, c, ex] = solve(d[0][0], d[1][0], d[2][0]);
    const [b, dd, fy] = solve(d[0][1], d[1][1], d[2][1]);
    return [a, b, c, dd, ex, fy];
  }

  function area2(t) {
    return (t[1][0] - t[0][0]) * (t[2][1] - t[0][1]) - (t[1][1] - t[0][1]) * (t[2][0] - t[0][0]);
  }

  // --- filters ----------------------------------------------------------------------------------

  // the face's brightness against a well-lit face, bounded (base.light_gain, without the colour
  // cast: a canvas filter scales all channels alike)
  function lightGain(e, f) {
    const pts = f.points.slice(0, 27);
    const W = e.frame.canvas.width, H = e.frame.canvas.height;
    const x0 = Math.max(0, Math.floor(Math.min(...pts.map((p) => p[0]))));
    const y0 = Math.max(0, Math.floor(Math.min(...pts.map((p) => p[1]))));
    const x1 = Math.min(W, Math.ceil(Math.max(...pts.map((p) => p[0]))));
    const y1 = Math.min(H, Math.ceil(Math.max(...pts.map((p) => p[1]))));
    if (x1 - x0 < 2 || y1 - y0 < 2) return 1;
    const px = e.frame.ctx.getImageData(x0, y0, x1 - x0, y1 - y0).data;
    let sum = 0, n = 0;
    for (let i = 0; i < px.length; i += 16) {
      sum += 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
      n += 1;
    }
    const level = sum / Math.max(n, 1) / 255;
    return Math.max(0.55, Math.min(1.1, Math.sqrt(level / e.manifest.lit_face)));
  }

  function drawOverlay(e, ctx, f, spec, mesh) {
    const a = e.art.get(spec.name);
    const layer = e.layer;
    if (layer.canvas.width !== ctx.canvas.width || layer.canvas.height !== ctx.canvas.height) {
      layer.canvas.width = ctx.canvas.width;
      layer.canvas.height = ctx.canvas.height;
    }
    const lctx = layer.ctx;
    let bx0 = Infinity, by0 = Infinity, bx1 = -Infinity, by1 = -Infinity;
    for (const t of a.tris) {
      for (const i of t) {
        const [x, y] = mesh.points[i];
        bx0 = Math.min(bx0, x); by0 = Math.min(by0, y); bx1 = Math.max(bx1, x); by1 = Math.max(by1, y);
      }
    }
    bx0 = Math.max(0, Math.floor(bx0) - 2); by0 = Math.max(0, Math.floor(by0) - 2);
    bx1 = Math.min(ctx.canvas.width, Math.ceil(bx1) + 2);
    by1 = Math.min(ctx.canvas.height, Math.ceil(by1) + 2);
    if (bx1 <= bx0 || by1 <= by0) return;
    lctx.setTransform(1, 0, 0, 1, 0, 0);
    lctx.clearRect(bx0, by0, bx1 - bx0, by1 - by0);
    const [lo, hi] = e.manifest.fade;
    const canon = e.manifest.mesh.points;
    const toArt = ([x, y]) => [x * spec.unit + spec.origin[0], y * spec.unit + spec.origin[1]];
    for (const t of a.tris) {
      const src = t.map((i) => toArt(canon[i]));
      const dst = t.map((i) => mesh.points[i]);
      if (area2(src) * area2(dst) <= 0) continue; // turned over: a face seen from the side
      const c = (mesh.confidence[t[0]] + mesh.confidence[t[1]] + mesh.confidence[t[2]]) / 3;
      const alpha = Math.max(0, Math.min(1, (c - lo) / Math.max(hi - lo, 1e-6)));
      if (alpha <= 0) continue;
      const m = affine(src, dst);
      if (!m) continue;
      // the triangle grown by half a pixel, so neighbours meet without a seam
      const cx = (dst[0][0] + dst[1][0] + dst[2][0]) / 3, cy = (dst[0][1] + dst[1][1] + dst[2][1]) / 3;
      lctx.save();
      lctx.beginPath();
      dst.forEach(([x, y], j) => {
        const l = Math.hypot(x - cx, y - cy) || 1;
        const px = x + ((x - cx) / l) * 0.5, py = y + ((y - cy) / l) * 0.5;
        if (j) lctx.lineTo(px, py); else lctx.moveTo(px, py);
      });
      lctx.closePath();
      lctx.clip();
      lctx.globalAlpha = alpha;
      lctx.setTransform(...m);
      lctx.drawImage(a.bitmap, 0, 0);
      lctx.restore();
    }
    ctx.save();
    ctx.filter = `brightness(${lightGain(e, f).toFixed(3)})`;
    ctx.drawImage(layer.canvas, bx0, by0, bx1 - bx0, by1 - by0, bx0, by0, bx1 - bx0, by1 - by0);
    ctx.restore();
  }

  function drawLipstick(ctx, f, spec) {
    const p = f.points;
    const outer = p.slice(48, 60), inner = p.slice(60, 68);
    const xs = outer.map((q) => q[0]);
    const sigma = Math.max((Math.max(...xs) - Math.min(...xs)) / 60, 0.6);
    ctx.save();
    ctx.filter = `blur(${sigma.toFixed(2)}px)`;
    ctx.globalCompositeOperation = "multiply";
    ctx.globalAlpha = spec.opacity;
    const [r, g, b] = spec.color.map((v) => Math.min(255, Math.round(v * 1.35)));
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.beginPath();
    outer.forEach(([x, y], j) => (j ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    inner.forEach(([x, y], j) => (j ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.fill("evenodd");
    ctx.restore();
  }

  function drawBigEyes(e, ctx, f, spec) {
    const mean = (a, b) => {
      let x = 0, y = 0;
      for (let i = a; i < b; i++) { x += f.points[i][0]; y += f.points[i][1]; }
      return [x / (b - a), y / (b - a)];
    };
    const eyes = [mean(36, 42), mean(42, 48)];
    const iod = Math.hypot(eyes[1][0] - eyes[0][0], eyes[1][1] - eyes[0][1]);
    const R = spec.radius * iod;
    if (!(R >= 1)) return;
    const k = 1 / (1 - spec.strength / 2); // the local warp's magnification, on average
    const s = e.scratch;
    const side = Math.ceil(2 * R);
    for (const [x, y] of eyes) {
      s.canvas.width = side;
      s.canvas.height = side;
      s.ctx.setTransform(k, 0, 0, k, R - k * x, R - k * y);
      s.ctx.drawImage(ctx.canvas, 0, 0);
      s.ctx.setTransform(1, 0, 0, 1, 0, 0);
      s.ctx.globalCompositeOperation = "destination-in";
      const grad = s.ctx.createRadialGradient(R, R, 0.45 * R, R, R, R);
      grad.addColorStop(0, "rgba(0,0,0,1)");
      grad.addColorStop(1, "rgba(0,0,0,0)");
      s.ctx.fillStyle = grad;
      s.ctx.fillRect(0, 0, side, side);
      s.ctx.globalCompositeOperation = "source-over";
      ctx.drawImage(s.canvas, x - R, y - R);
    }
  }

  function render(e, out, faces, names) {
    const ctx = out.getContext("2d");
    ctx.drawImage(e.frame.canvas, 0, 0);
    const specs = new Map(e.manifest.filters.map((f) => [f.name, f]));
    const meshes = faces.map((f) => faceMesh(e, f));
    for (const name of names) {
      const spec = specs.get(name);
      faces.forEach((f, i) => {
        if (spec.kind === "overlay") drawOverlay(e, ctx, f, spec, meshes[i]);
        else if (spec.kind === "lipstick") drawLipstick(ctx, f, spec);
        else if (spec.kind === "big_eyes") drawBigEyes(e, ctx, f, spec);
      });
    }
  }

  // --- the loop ----------------------------------------------------------------------------------

  async function loop(e, video, out, hooks) {
    const supported = new Set(e.manifest.filters.map((f) => f.name));
    while (running && hooks.running()) {
      const names = hooks.filters();
      const missing = names.filter((n) => !supported.has(n));
      if (missing.length) {
        running = false;
        hooks.fail(`${missing.join(", ")} is drawn on the server only`);
        return;
      }
      const vw = video.videoWidth, vh = video.videoHeight;
      if (!vw || !vh) { await new Promise((ok) => setTimeout(ok, 30)); continue; }
      const s = Math.min(1, MAX_SIDE / vw);
      const W = Math.round(vw * s), H = Math.round(vh * s);
      if (e.frame.canvas.width !== W || e.frame.canvas.height !== H) {
        e.frame.canvas.width = W;
        e.frame.canvas.height = H;
      }
      if (out.width !== W || out.height !== H) { out.width = W; out.height = H; }
      const t0 = performance.now();
      e.frame.ctx.drawImage(video, 0, 0, W, H);
      const tr = e.manifest.tracking;
      const lost = !e.tracks.length || e.tracks.some((f) => f.landmarkScore < tr.min_landmark_score);
      let faces;
      if (lost || e.count % tr.detect_every === 0) {
        faces = await detect(e, W, H);
      } else {
        faces = e.tracks.map((f) => ({ box: boxFromPoints(tr, f.points), score: f.score }));
      }
      e.count += 1;
      const t1 = performance.now();
      faces = await landmarks(e, faces);
      e.tracks = faces;
      const t2 = performance.now();
      const shown = faces.filter((f) => f.faceScore >= e.manifest.face_score.threshold);
      render(e, out, shown, names);
      const t3 = performance.now();
      const r = (v) => Math.round(v);
      hooks.frame(
        shown.length,
        `${r(t3 - t0)} ms in this browser (faces ${r(t1 - t0)}, points ${r(t2 - t1)}, ` +
          `filters ${r(t3 - t2)})`,
      );
      await new Promise((ok) => setTimeout(ok, 0));
    }
  }

  window.facepointsLive = {
    /** Run the webcam here; false when the in-browser path cannot start (the page then uses the
     * server). `hooks`: filters(), running(), canvas (the output), frame(faces, note), fail(why). */
    async start(video, hooks) {
      try {
        const e = await init();
        running = true;
        loop(e, video, hooks.canvas, hooks).catch((err) => {
          running = false;
          hooks.fail(`in-browser path stopped (${err.message || err})`);
        });
        return true;
      } catch (err) {
        console.warn("facepoints: in-browser path unavailable:", err);
        return false;
      }
    },
    stop() {
      running = false;
      if (engine) { engine.tracks = []; engine.count = 0; }
    },
  };
})();
