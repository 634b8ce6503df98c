"""The web server under load: `facepoints serve` started on 127.0.0.1 (a free port), then a
bounded number of requests from concurrent clients, a mix of good photos and bad uploads, and
the server's answers, latency and memory. The command behind the README's table:

    python benchmarks/load_test.py --model cuhk5-resnet --requests 500 --concurrency 16 --timeout-s 300

- good: CUHK test photos to /api/landmarks and /api/filter (must be 200; 503 "busy" is counted
  apart, as the server's answer to more clients than `--max-concurrent` for longer than its queue
  wait; any other 5xx, or no answer, fails the run).
- bad: a text file named .jpg, a truncated JPEG, a body over the upload limit, an empty file, a
  request with no body, and a PNG decompression bomb (30000 x 30000 pixels in ~100 kB), each
  expected to get its 4xx. The oversize body goes two ways: with `Expect: 100-continue` (as curl
  sends large bodies; the server refuses the declared length before the body is sent) and whole
  from a blocking httpx client (which reads the early 413 after the server stops reading;
  httpx.AsyncClient gets a ReadError there instead, so it is not used for this one).
- memory: the server's resident set (VmRSS from /proc) before the load, its peak (sampled every
  50 ms) and after; VmHWM is the lifetime high-water mark.
- after the load: /api/health and one good photo must still be answered.

When good requests got 503, a second pass runs on the same server with well-behaved clients that
wait `Retry-After` and retry (up to `--retries` times), and both are reported. Without --model,
the shipped default model is used when it exists, else an untrained sun2013 (speed and limits do
not depend on the weights). Every request goes to 127.0.0.1 only; the run stops by itself after
`--requests` requests or `--timeout-s` seconds, whichever comes first, and stops the server.
Exit status 1 when a good request got a 5xx other than 503 (or no answer), a bad upload got a
5xx other than 503 (or no answer), or the server died or stopped answering.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facepoints.evaluation.report import format_table  # noqa: E402

# kind -> (good?, expected status, share of the mix)
KINDS: dict[str, tuple[bool, int, float]] = {
    "landmarks": (True, 200, 0.35),
    "filter": (True, 200, 0.25),
    "not_an_image": (False, 415, 0.08),
    "truncated_jpeg": (False, 415, 0.08),
    "oversize": (False, 413, 0.04),
    "oversize_no_expect": (False, 413, 0.03),
    "empty_file": (False, 400, 0.05),
    "no_body": (False, 400, 0.05),
    "png_bomb": (False, 413, 0.05),
}
GOOD = tuple(k for k, (good, _, _) in KINDS.items() if good)
POOLED = (*GOOD, "not_an_image", "truncated_jpeg", "png_bomb")  # decoded in a work slot
PHOTOS = (0, 5, 10, 15)  # CUHK test images (LFW, 250 x 250)
START_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 60.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model name or path (default: shipped default)")
    ap.add_argument("--arch", default=None, help="serve an untrained model of this architecture")
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "cuhk5"))
    ap.add_argument("--requests", type=int, default=500, help="requests in all (default 500)")
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default 16)")
    ap.add_argument("--timeout-s", type=float, default=300, help="stop after this long (300)")
    ap.add_argument("--retries", type=int, default=5, help="retries on 503 in the second pass")
    ap.add_argument("--always-retry-pass", action="store_true", help="run it even without 503s")
    ap.add_argument("--max-concurrent", type=int, default=None, help="server's --max-concurrent")
    ap.add_argument("--max-upload-mb", type=float, default=10, help="server's --max-upload-mb")
    ap.add_argument("--threads", type=int, default=None, help="server's --threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--attacks",
        action="store_true",
        help="instead of the mix: idle and half-sent connections, 60 clients x 3 uploads of "
        "9.5 MB junk (memory), and blank 4800 x 4800 PNGs beside normal requests",
    )
    args = ap.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or not args.timeout_s > 0:
        ap.error("--requests and --concurrency must be >= 1 and --timeout-s > 0")
    if args.attacks:
        with tempfile.TemporaryDirectory(prefix="fp-load-") as tmp:
            model, what = _model_arg(args, Path(tmp))
            rows = run_attacks(model, args.data_root, log=lambda m: print(m, file=sys.stderr))
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"\nAttacks on `facepoints serve` on 127.0.0.1 ({os.cpu_count()} cores, load "
            f"average {load:.1f} at the end); model {what}\n"
        )
        print(
            format_table(
                rows, [("case", "Case", None), ("result", "Result", None)], style="markdown"
            )
        )
        return 1 if any(r["result"].startswith("FAIL") for r in rows) else 0

    with tempfile.TemporaryDirectory(prefix="fp-load-") as tmp:
        model, what = _model_arg(args, Path(tmp))
        try:
            report = run_load(
                model,
                requests=args.requests,
                concurrency=args.concurrency,
                timeout_s=args.timeout_s,
                data_root=args.data_root,
                retries=args.retries,
                always_retry_pass=args.always_retry_pass,
                max_upload_mb=args.max_upload_mb,
                max_concurrent=args.max_concurrent,
                threads=args.threads,
                seed=args.seed,
                log=lambda msg: print(msg, file=sys.stderr, flush=True),
            )
        except ServerError as e:
            print(f"FAIL: {e}", file=sys.stderr)
            return 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\n{report.requests_asked} requests from {report.concurrency} clients to `facepoints "
        f"serve` on 127.0.0.1 ({platform.processor() or platform.machine()}, {os.cpu_count()} "
        f"cores, load average {load:.1f} at the end); model {what}; server limits: "
        f"{report.server_max_concurrent} images in work at once, queue wait "
        f"{report.queue_wait_s:g} s, upload {args.max_upload_mb:g} MB\n"
    )
    print(format_report(report))
    bad = problems(report)
    for p in bad:
        print(f"FAIL: {p}", file=sys.stderr)
    return 1 if bad else 0


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Pass:
    """One pass of the load: every request's kind, status (or error name), latency and tries."""

    name: str
    retries: int
    kinds: list[str] = field(default_factory=list)
    statuses: list[int | str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, first try to final answer
    tries: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    not_sent: int = 0
    rss_before: int = 0
    rss_peak: int = 0
    rss_after: int = 0


@dataclass
class Report:
    requests_asked: int
    concurrency: int
    server_max_concurrent: int
    queue_wait_s: float
    passes: list[Pass] = field(default_factory=list)
    vm_hwm: int = 0
    alive_after: bool = False
    health_after: int | str = "-"
    good_after: int | str = "-"
    server_log: str = ""


def run_load(
    model: str | Path,
    *,
    requests: int = 500,
    concurrency: int = 16,
    timeout_s: float = 300.0,
    data_root: str | Path = ROOT.parent / "shared" / "data" / "cuhk5",
    retries: int = 5,
    always_retry_pass: bool = False,
    max_upload_mb: float = 10.0,
    max_concurrent: int | None = None,
    threads: int | None = None,
    seed: int = 0,
    log=lambda msg: None,
) -> Report:
    """Start `facepoints serve --model model` on 127.0.0.1, send `requests` requests of the mix
    from `concurrency` clients (a second pass with retries on 503 when the first got any for
    good photos, or `always_retry_pass`), check the server still answers, stop it."""
    from facepoints.serve.app import ServeConfig

    deadline = time.monotonic() + timeout_s
    defaults = ServeConfig()
    max_upload = int(max_upload_mb * 1024 * 1024)
    payloads = make_payloads(data_root, max_upload)
    schedule = _schedule(requests, seed)
    server_args = ["--max-upload-mb", f"{max_upload_mb:g}"]
    if max_concurrent is not None:
        server_args += ["--max-concurrent", str(max_concurrent)]
    if threads is not None:
        server_args += ["--threads", str(threads)]
    report = Report(
        requests_asked=requests,
        concurrency=concurrency,
        server_max_concurrent=max_concurrent or defaults.max_concurrent,
        queue_wait_s=defaults.queue_wait_s,  # `facepoints serve` keeps the default
    )
    with _server(model, server_args, deadline, log) as srv:
        filters = _filter_names(srv.url)
        log(f"server pid {srv.pid} on {srv.url}; filters for /api/filter: {filters}")
        first = asyncio.run(
            _drive(srv, payloads, schedule, filters, concurrency, 0, deadline, "no retries", log)
        )
        report.passes.append(first)
        good_503 = sum(
            s == 503 for k, s in zip(first.kinds, first.statuses, strict=True) if k in GOOD
        )
        if (good_503 or always_retry_pass) and srv.alive() and time.monotonic() < deadline:
            name = f"retry on 503 (up to {retries})"
            report.passes.append(
                asyncio.run(
                    _drive(
                        srv, payloads, schedule, filters, concurrency, retries, deadline, name, log
                    )
                )
            )
        report.alive_after = srv.alive()
        if report.alive_after:
            report.health_after, report.good_after = _after_checks(srv.url, payloads)
        report.vm_hwm = _memory(srv.pid)[1]
        report.alive_after = report.alive_after and srv.alive()
    report.server_log = srv.log_tail()
    return report


def problems(report: Report) -> list[str]:
    """What fails the run: a good request with a 5xx other than 503 or no answer, a bad upload
    with a 5xx other than 503 or no answer, the server dead or not answering after the load."""
    out = []
    for p in report.passes:
        for kind, status in zip(p.kinds, p.statuses, strict=True):
            good = KINDS[kind][0]
            if isinstance(status, str):
                out.append(f"{p.name}: {kind}: no answer ({status})")
            elif status >= 500 and status != 503:
                out.append(f"{p.name}: {kind}: status {status}")
            elif good and status not in (200, 503):
                out.append(f"{p.name}: {kind}: status {status} for a good photo")
    if not report.alive_after:
        out.append("the server died")
    if report.health_after != 200:
        out.append(f"/api/health after the load: {report.health_after}")
    if report.good_after != 200:
        out.append(f"a good photo after the load: {report.good_after}")
    return out


def format_report(report: Report) -> str:
    """Two markdown tables: answers by kind of request, and the summary of each pass."""
    p0 = report.passes[0]
    by_kind = []
    for kind, (good, expected, _) in KINDS.items():
        rows = [
            (s, t) for k, s, t in zip(p0.kinds, p0.statuses, p0.latencies, strict=True) if k == kind
        ]
        if not rows:
            continue
        counts: dict[str, int] = {}
        for s, _ in rows:
            counts[str(s)] = counts.get(str(s), 0) + 1
        lat = np.array([t for _, t in rows]) * 1e3
        by_kind.append(
            {
                "kind": ("good: " if good else "bad: ") + kind,
                "n": len(rows),
                "expected": expected,
                "got": ", ".join(f"{s} x{n}" for s, n in sorted(counts.items())),
                "p50": float(np.percentile(lat, 50)),
                "p99": float(np.percentile(lat, 99)),
            }
        )
    kind_table = format_table(
        by_kind,
        [
            ("kind", "Request", None),
            ("n", "Sent", "d"),
            ("expected", "Expected", "d"),
            ("got", "Got (status x count)", None),
            ("p50", "p50 ms", ".0f"),
            ("p99", "p99 ms", ".0f"),
        ],
        style="markdown",
    )
    mb = 1024 * 1024
    metrics: list[tuple[str, list]] = []
    for p in report.passes:
        good = [i for i, k in enumerate(p.kinds) if k in GOOD]
        lat = np.array([p.latencies[i] for i in good]) * 1e3 if good else np.array([np.nan])
        gs = [p.statuses[i] for i in good]
        values = [
            len(p.kinds),
            f"{p.not_sent}" if p.not_sent else "0",
            f"{p.wall_s:.1f}",
            f"{len(p.kinds) / p.wall_s:.1f}" if p.wall_s else "-",
            f"{len(good) / p.wall_s:.1f}" if p.wall_s else "-",
            f"{np.percentile(lat, 50):.0f} / {np.percentile(lat, 90):.0f} / "
            f"{np.percentile(lat, 99):.0f}",
            sum(s == 200 for s in gs),
            sum(isinstance(s, int) and s >= 500 and s != 503 for s in gs)
            + sum(isinstance(s, str) for s in gs),
            sum(s == 503 for s in gs),
            sum(p.tries[i] - 1 for i in good),
            sum(
                not (isinstance(s, int) and 400 <= s < 500)
                for k, s in zip(p.kinds, p.statuses, strict=True)
                if k not in GOOD
            ),
            f"{p.rss_before / mb:.0f} / {p.rss_peak / mb:.0f} / {p.rss_after / mb:.0f}",
        ]
        metrics.append((p.name, values))
    labels = [
        "requests answered",
        "requests not sent (time limit)",
        "wall time, s",
        "throughput, requests/s (all)",
        "throughput, good photos/s",
        "good photos p50 / p90 / p99 latency, ms",
        "good photos: 200",
        "good photos: 5xx other than 503, or no answer (must be 0)",
        "good photos: 503 busy (final answer)",
        "good photos: retries after 503",
        "bad uploads: not a 4xx",
        "server RSS before / peak / after, MB",
    ]
    rows = [{"metric": lab, **{p: str(v[i]) for p, v in metrics}} for i, lab in enumerate(labels)]
    rows.append(
        {"metric": "server VmHWM (lifetime peak), MB", metrics[-1][0]: f"{report.vm_hwm / mb:.0f}"}
    )
    rows.append(
        {
            "metric": "after the load: /api/health, one good photo",
            metrics[-1][0]: f"{report.health_after}, {report.good_after}",
        }
    )
    cols = [("metric", "", None)] + [(name, name, None) for name, _ in metrics]
    summary = format_table(rows, cols, style="markdown")
    return kind_table + "\n\n" + summary + "\n\n" + _queue_note(report)


def _queue_note(report: Report) -> str:
    """How the server's slots and queue wait meet this many clients, from the first pass."""
    p = report.passes[0]
    pooled = sum(
        k in POOLED and s != 503 for k, s in zip(p.kinds, p.statuses, strict=True)
    )  # requests that took a slot: their image was decoded
    rate = pooled / p.wall_s if p.wall_s else float("nan")
    waiting = max(0, report.concurrency - report.server_max_concurrent)
    good_503 = [
        sum(s == 503 for k, s in zip(q.kinds, q.statuses, strict=True) if k in GOOD)
        for q in report.passes
    ]
    text = (
        f"Queueing: {report.concurrency} clients and {report.server_max_concurrent} images in "
        f"work at once, so up to {waiting} requests wait for a slot: about "
        f"{waiting / rate:.1f} s at the measured {rate:.1f} images/s, against the server's "
        f"{report.queue_wait_s:g} s wait before it answers 503 (uvicorn's 1000-connection limit "
        f"is not reached). Good photos answered 503: {good_503[0]}"
    )
    if len(good_503) > 1:
        text += f"; with retries on 503 (Retry-After, jitter): {good_503[1]} still 503"
    return text + "."


# --- attacks -----------------------------------------------------------------------------------


def run_attacks(
    model, data_root, log=lambda msg: None, header_timeout_s: float = 10.0
) -> list[dict]:
    """The cases of the reliability issue, each measured on one server: idle and half-sent
    connections, 60 clients x 3 uploads of 9.5 MB junk, blank 4800 x 4800 PNGs beside normal
    photos. One row per measurement."""
    import threading

    import httpx

    rows: list[dict] = []
    photo = make_payloads(data_root, 10 * 2**20)["landmarks"][0]["files"]["image"][1]
    deadline = time.monotonic() + 900
    args = ["--header-timeout", f"{header_timeout_s:g}"]
    with _server(model, args, deadline, log) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        with httpx.Client(base_url=srv.url, trust_env=False, timeout=60) as http:
            for _ in range(3):
                http.post("/api/landmarks", files={"image": ("f.jpg", photo)})

            # 1. idle and half-sent connections
            idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
            half = [socket.create_connection(("127.0.0.1", port)) for _ in range(70)]
            for h in half:
                h.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            time.sleep(0.5)
            lat, codes = [], []
            for _ in range(10):
                t = time.perf_counter()
                codes.append(http.get("/api/health", timeout=5).status_code)
                lat.append((time.perf_counter() - t) * 1e3)
            rows.append(
                {
                    "case": "/api/health with 200 idle + 70 half-sent connections open",
                    "result": f"{codes.count(200)}/10 answered 200; latency median "
                    f"{np.median(lat):.0f} ms, max {max(lat):.0f} ms",
                }
            )
            t0 = time.monotonic()
            for sk in idle + half:
                sk.settimeout(header_timeout_s + 10)
            closed = 0
            for sk in idle + half:
                try:
                    closed += sk.recv(1) == b""
                except OSError:
                    pass
                sk.close()
            rows.append(
                {
                    "case": f"those connections closed by the server (header timeout {header_timeout_s:g} s)",
                    "result": f"{closed}/270 after {time.monotonic() - t0 + 0.5:.1f} s",
                }
            )

            # 2. junk uploads: memory
            time.sleep(1)
            idle_rss = _memory(srv.pid)[0]
            junk = np.random.default_rng(0).integers(0, 256, int(9.5 * 2**20), np.uint8).tobytes()
            statuses: list[int | str] = []
            peak = [idle_rss]
            stop_sampling = threading.Event()

            def sample():
                while not stop_sampling.is_set():
                    peak[0] = max(peak[0], _memory(srv.pid)[0])
                    time.sleep(0.05)

            def junk_client():
                with httpx.Client(base_url=srv.url, trust_env=False, timeout=120) as c:
                    for _ in range(3):
                        try:
                            r = c.post("/api/filter", files={"image": ("j.jpg", junk)})
                            statuses.append(r.status_code)
                        except httpx.HTTPError as e:
                            statuses.append(type(e).__name__)

            sampler = threading.Thread(target=sample)
            sampler.start()
            t = time.perf_counter()
            clients = [threading.Thread(target=junk_client) for _ in range(60)]
            for c in clients:
                c.start()
            for c in clients:
                c.join()
            wall = time.perf_counter() - t
            stop_sampling.set()
            sampler.join()
            time.sleep(2)
            after = _memory(srv.pid)[0]
            counts = {str(k): statuses.count(k) for k in sorted(set(statuses), key=str)}
            mb = 2**20
            ok = after <= 1.2 * idle_rss
            rows.append(
                {
                    "case": "60 clients x 3 uploads of 9.5 MB junk",
                    "result": f"{', '.join(f'{k} x{n}' for k, n in counts.items())} in {wall:.1f} s",
                }
            )
            rows.append(
                {
                    "case": "server RSS idle / peak / 2 s after the junk, MB",
                    "result": f"{'' if ok else 'FAIL: '}{idle_rss / mb:.0f} / {peak[0] / mb:.0f} / "
                    f"{after / mb:.0f} ({(after / idle_rss - 1) * 100:+.0f}%)",
                }
            )

            # 3. blank 4800 x 4800 PNGs (22 KB each) beside normal requests
            from PIL import Image

            buf = __import__("io").BytesIO()
            Image.new("RGB", (4800, 4800), (255, 255, 255)).save(buf, "PNG", optimize=True)
            blank = buf.getvalue()
            cpu0, t0 = _cpu_seconds(srv.pid), time.perf_counter()
            r = http.post("/api/landmarks", files={"image": ("b.png", blank, "image/png")})
            one = _settled_cpu(srv.pid) - cpu0  # a timed-out job still runs to its end
            rows.append(
                {
                    "case": f"one blank 4800 x 4800 PNG ({len(blank) // 1024} KB): server CPU time",
                    "result": f"{one:.2f} s (status {r.status_code}, {time.perf_counter() - t0:.2f} s wall)",
                }
            )
            stop_blank = threading.Event()
            blank_codes: list[int | str] = []

            def blank_client():
                with httpx.Client(base_url=srv.url, trust_env=False, timeout=120) as c:
                    while not stop_blank.is_set():
                        try:
                            rr = c.post(
                                "/api/landmarks", files={"image": ("b.png", blank, "image/png")}
                            )
                            blank_codes.append(rr.status_code)
                        except httpx.HTTPError as e:
                            blank_codes.append(type(e).__name__)

            bad = [threading.Thread(target=blank_client) for _ in range(6)]
            for b in bad:
                b.start()
            time.sleep(1)
            normal: list[int] = []
            normal_lat: list[float] = []
            for _ in range(20):
                t = time.perf_counter()
                normal.append(
                    http.post("/api/landmarks", files={"image": ("f.jpg", photo)}).status_code
                )
                normal_lat.append(time.perf_counter() - t)
            stop_blank.set()
            for b in bad:
                b.join()
            rows.append(
                {
                    "case": "20 normal photos while 6 clients send blank 4800 x 4800 PNGs",
                    "result": f"{normal.count(200)} x 200, {normal.count(503)} x 503; latency median "
                    f"{np.median(normal_lat):.1f} s; the blank PNGs: "
                    + ", ".join(
                        f"{k} x{blank_codes.count(k)}" for k in sorted(set(blank_codes), key=str)
                    ),
                }
            )
            rows.append(
                {
                    "case": "after the attacks: /api/health",
                    "result": str(http.get("/api/health").status_code),
                }
            )
    return rows


def _settled_cpu(pid: int, quiet_s: float = 0.02, limit_s: float = 120) -> float:
    """The process's CPU seconds once it has gone quiet (under `quiet_s` CPU in half a second)."""
    end = time.monotonic() + limit_s
    last = _cpu_seconds(pid)
    while time.monotonic() < end:
        time.sleep(0.5)
        now = _cpu_seconds(pid)
        if now - last < quiet_s:
            return now
        last = now
    return last


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, in seconds (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- requests ----------------------------------------------------------------------------------


def make_payloads(data_root: str | Path, max_upload_bytes: int) -> dict[str, list[dict]]:
    """For each kind, the httpx.post keyword arguments of its requests (good kinds: one per
    photo; the filter names are filled in later)."""
    from facepoints.data import read_dataset

    recs = read_dataset("cuhk5", "test", data_root=data_root)
    photos = [(recs.images[i].name, recs.images[i].read_bytes()) for i in PHOTOS]
    jpeg = photos[0][1]
    big = os.urandom(1024) * ((max_upload_bytes + 256 * 1024) // 1024 + 1)

    def upload(name: str, data: bytes, mime: str = "image/jpeg") -> dict:
        return {"files": {"image": (name, data, mime)}}

    return {
        "landmarks": [{"url": "/api/landmarks", **upload(n, d)} for n, d in photos],
        "filter": [{"url": "/api/filter", **upload(n, d)} for n, d in photos],
        "not_an_image": [
            {"url": "/api/landmarks", **upload("notes.jpg", b"not a photo, just text\n" * 40)}
        ],
        "truncated_jpeg": [{"url": "/api/landmarks", **upload("cut.jpg", jpeg[: len(jpeg) // 2])}],
        "oversize": [{"url": "/api/landmarks", "expect": True, **upload("huge.jpg", big)}],
        "oversize_no_expect": [{"url": "/api/landmarks", "sync": True, **upload("huge.jpg", big)}],
        "empty_file": [{"url": "/api/landmarks", **upload("empty.jpg", b"")}],
        "no_body": [{"url": "/api/landmarks", "content": b""}],
        "png_bomb": [{"url": "/api/filter", **upload("bomb.png", _png_bomb(), "image/png")}],
    }


def _png_bomb(side: int = 30000) -> bytes:
    """A valid 1-bit PNG of side x side black pixels: ~100 kB that would decode to 900 Mpx."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\0" * (1 + (side + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    parts = [z.compress(row * 1000) for _ in range(side // 1000)]
    parts += [z.compress(row * (side % 1000)), z.flush()]
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def _schedule(n: int, seed: int) -> list[tuple[str, int]]:
    """n (kind, payload index) pairs in the mix's shares, shuffled; every kind at least once
    when n allows."""
    rng = random.Random(seed)
    names = list(KINDS)
    counts = {k: max(1, round(n * KINDS[k][2])) for k in names}
    while sum(counts.values()) > n:  # trim the largest kinds first
        k = max(names, key=lambda k: counts[k])
        counts[k] -= 1
    while sum(counts.values()) < n:
        counts[names[0]] += 1
    order = [k for k in names for _ in range(counts[k])]
    rng.shuffle(order)
    return [(k, i) for i, k in enumerate(order)]


async def _drive(srv, payloads, schedule, filters, concurrency, retries, deadline, name, log):
    """Send the schedule from `concurrency` clients, each with its own connection; sample the
    server's RSS while they run."""
    import httpx

    result = Pass(name=name, retries=retries)
    result.rss_before = _memory(srv.pid)[0]
    result.rss_peak = result.rss_before
    todo = iter(schedule)
    done = asyncio.Event()

    async def sample():
        while not done.is_set():
            result.rss_peak = max(result.rss_peak, _memory(srv.pid)[0])
            try:
                await asyncio.wait_for(done.wait(), 0.05)
            except asyncio.TimeoutError:
                pass

    async def client(c: int):
        async with httpx.AsyncClient(
            base_url=srv.url, trust_env=False, limits=httpx.Limits(max_connections=1)
        ) as http:
            for kind, i in todo:
                left = deadline - time.monotonic()
                if left <= 1:
                    result.not_sent += 1
                    continue
                spec = dict(payloads[kind][i % len(payloads[kind])])
                if spec["url"] == "/api/filter":
                    spec["params"] = {"filters": ",".join(filters)}
                start = time.perf_counter()
                status, tries = await _send(http, spec, kind in GOOD, retries, deadline)
                result.kinds.append(kind)
                result.statuses.append(status)
                result.latencies.append(time.perf_counter() - start)
                result.tries.append(tries)

    log(f"{name}: {len(schedule)} requests from {concurrency} clients")
    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(concurrency)))
    result.wall_s = time.perf_counter() - started
    done.set()
    await sampler
    result.rss_after = _memory(srv.pid)[0]
    return result


async def _send(http, spec: dict, good: bool, retries: int, deadline: float):
    """(status or error name, tries): one request, retried after Retry-After on 503 for a good
    photo up to `retries` times while time is left."""
    import httpx

    spec = dict(spec)
    url = spec.pop("url")
    expect, sync = spec.pop("expect", False), spec.pop("sync", False)
    tries = 0
    while True:
        tries += 1
        timeout = max(1.0, min(REQUEST_TIMEOUT_S, deadline - time.monotonic()))
        try:
            if expect:
                request = http.build_request("POST", url, **spec)
                return await asyncio.wait_for(_post_expect(request), timeout), tries
            if sync:
                return await asyncio.to_thread(_post_sync, http.base_url, url, timeout, spec), tries
            r = await http.post(url, timeout=timeout, **spec)
            await r.aread()
        except httpx.HTTPError as e:
            return type(e).__name__, tries
        except (OSError, asyncio.TimeoutError, ValueError) as e:
            return type(e).__name__, tries
        if r.status_code == 503 and good and tries <= retries:
            wait = min(float(r.headers.get("retry-after", "1") or 1), 5.0)
            if time.monotonic() + wait < deadline - 1:
                await asyncio.sleep(wait * (0.5 + random.random()))  # jitter: no herd
                continue
        return r.status_code, tries


async def _post_expect(request) -> int:
    """The status of `request` sent as curl sends a large body: headers with `Expect:
    100-continue`, the body only after "100 Continue" (or 1 s of silence), so a server that
    refuses the declared length can answer before the body is on its way."""
    body = request.read()
    host, port = request.url.host, request.url.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = [f"POST {request.url.raw_path.decode()} HTTP/1.1", f"Host: {host}:{port}"]
        head += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() != "host"]
        head += ["Expect: 100-continue", "Connection: close", "", ""]
        writer.write("\r\n".join(head).encode())
        await writer.drain()
        try:
            line = await asyncio.wait_for(reader.readline(), 1.0)
        except asyncio.TimeoutError:
            line = b""
        if not line or line.split()[1:2] == [b"100"]:
            while line and line.strip():  # the rest of the 100 Continue
                line = await reader.readline()
            writer.write(body)
            await writer.drain()
            line = await reader.readline()
        status = int(line.split()[1])
        await reader.read()  # the rest of the answer, to the server's close
        return status
    finally:
        writer.close()


def _post_sync(base_url, url: str, timeout: float, spec: dict) -> int:
    """The status of a POST from a blocking httpx client, which sends the whole body first and
    still reads an early answer when the server stops reading (httpx.AsyncClient does not)."""
    import httpx

    with httpx.Client(base_url=base_url, trust_env=False, timeout=timeout) as http:
        return http.post(url, **spec).status_code


def _after_checks(url: str, payloads) -> tuple[int | str, int | str]:
    import httpx

    with httpx.Client(base_url=url, trust_env=False, timeout=REQUEST_TIMEOUT_S) as http:
        try:
            health = http.get("/api/health").status_code
        except httpx.HTTPError as e:
            health = type(e).__name__
        spec = dict(payloads["landmarks"][0])
        try:
            good = http.post(spec.pop("url"), **spec).status_code
        except httpx.HTTPError as e:
            good = type(e).__name__
    return health, good


def _filter_names(url: str) -> list[str]:
    import httpx

    with httpx.Client(base_url=url, trust_env=False, timeout=REQUEST_TIMEOUT_S) as http:
        names = [f["name"] for f in http.get("/api/filters").json()["filters"]]
    return [n for n in ("sunglasses", "moustache") if n in names] or names[:1]


# --- the server --------------------------------------------------------------------------------


class ServerError(RuntimeError):
    """The server did not start (its log follows the message)."""


class _Server:
    def __init__(self, proc: subprocess.Popen, url: str, log_path: Path):
        self.proc, self.url, self.log_path = proc, url, log_path
        self.final_log: str | None = None  # kept when the log file goes

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 4000) -> str:
        if self.final_log is not None:
            return self.final_log[-n:]
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


@contextmanager
def _server(model, server_args: list[str], deadline: float, log):
    """`facepoints serve` in a subprocess on 127.0.0.1:<free port>, its output in a log file;
    ready when /api/health answers; stopped (TERM, then KILL) on the way out."""
    import httpx

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="fp-serve-") as tmp:
        log_path = Path(tmp) / "server.log"
        cmd = [sys.executable, "-m", "facepoints", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--model", str(model), "--log-level", "warning", *server_args]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
        srv = _Server(proc, url, log_path)
        try:
            limit = min(deadline, time.monotonic() + START_TIMEOUT_S)
            with httpx.Client(base_url=url, trust_env=False, timeout=2.0) as http:
                while True:
                    if not srv.alive():
                        raise ServerError(f"the server exited at start:\n{srv.log_tail()}")
                    try:
                        if http.get("/api/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > limit:
                        raise ServerError(f"the server did not answer in time:\n{srv.log_tail()}")
                    time.sleep(0.2)
            log(f"server ready: {' '.join(cmd[1:])}")
            yield srv
        finally:
            if srv.alive():
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            srv.final_log = srv.log_tail(100_000)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes, from /proc (0, 0 when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def _model_arg(args, tmp: Path) -> tuple[str, str]:
    """(what to pass to --model, how to name it): --model, else the shipped default when it
    exists, else (or with --arch) an untrained model saved in `tmp`."""
    from facepoints.models.pretrained import DEFAULT_MODEL, list_pretrained

    if args.model:
        return args.model, args.model
    if not args.arch and DEFAULT_MODEL in list_pretrained():
        return DEFAULT_MODEL, DEFAULT_MODEL
    arch = args.arch or "sun2013"
    return str(save_untrained(arch, tmp / f"{arch}.safetensors")), f"untrained {arch}"


def save_untrained(arch: str, path: Path) -> Path:
    """An untrained model of `arch` saved where `facepoints serve --model` can load it."""
    import torch

    from facepoints.models.registry import create_model
    from facepoints.models.weights import save_model

    torch.manual_seed(0)
    save_model(create_model(arch), path, {"margin": 0.2})
    return path


if __name__ == "__main__":
    sys.exit(main())
