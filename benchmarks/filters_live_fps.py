"""Frames per second of the page's live webcam filters in headless Chromium, with Chromium's fake
camera playing a face video made from a shared photo: the in-browser path (detector, landmarks
and filters in ONNX Runtime Web) and the server path, one after the other.

    bash scripts/vendor-onnxruntime-web.sh            # once: ONNX Runtime Web for the page
    .venv/bin/python benchmarks/filters_live_fps.py   # prints one line per path

Needs chromium and chromedriver (scripts/install-browser.sh) and selenium. The fps is the page's
own counter (frames shown over the last 2 s), read every second for `--seconds` after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHOTO = "helen/trainset/1259817140_1.jpg"  # a frontal 300-W training face
CAM_W, CAM_H = 640, 480


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "300w"))
    p.add_argument("--seconds", type=float, default=10.0, help="measuring time per path (10)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (5)")
    p.add_argument("--filters", default="sunglasses", help="filters on (sunglasses)")
    p.add_argument("--paths", default="browser,server", help="which paths to measure")
    p.add_argument("--json", help="also write the numbers here")
    a = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="facepoints-fps-"))
    video = tmp / "face.y4m"
    write_face_video(Path(a.data_root) / PHOTO, video)
    url, stop = start_server()
    results = {}
    try:
        for path in a.paths.split(","):
            driver = start_chromium(video, tmp / f"profile-{path}")
            try:
                results[path] = measure(driver, url, path, a.filters.split(","), a)
            finally:
                driver.quit()
    finally:
        stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()[0]
    for path, r in results.items():
        print(
            f"{path}: {r['fps_median']:.1f} fps median ({r['fps_min']:.1f}-{r['fps_max']:.1f}) "
            f"over {a.seconds:g} s, {CAM_W}x{CAM_H} camera, filters {a.filters}; "
            f"engine {r['engine']}; last status: {r['status']!r}"
        )
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} CPUs")
    if a.json:
        Path(a.json).write_text(json.dumps({"results": results, "load": load}, indent=1))
    return 0


def write_face_video(photo: Path, out: Path, frames: int = 60, fps: int = 30) -> None:
    """A YUV4MPEG2 video (Chromium's fake camera format): the face photo on grey, drifting a few
    pixels and back, as a person in front of a webcam."""
    import cv2

    from facepoints.io import load_image

    rgb = load_image(photo)
    s = CAM_H * 0.9 / rgb.shape[0]
    face = cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), cv2.INTER_AREA)
    h, w = face.shape[:2]
    with open(out, "wb") as f:
        f.write(f"YUV4MPEG2 W{CAM_W} H{CAM_H} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for k in range(frames):
            dx = int(round(12 * np.sin(2 * np.pi * k / frames)))
            frame = np.full((CAM_H, CAM_W, 3), 120, np.uint8)
            x0, y0 = (CAM_W - w) // 2 + dx, (CAM_H - h) // 2
            frame[y0 : y0 + h, x0 : x0 + w] = face
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())


def start_server():
    import uvicorn

    from facepoints.serve.app import ServeConfig, create_app

    app = create_app(model="cuhk5-resnet", threads=1, config=ServeConfig(timeout_s=120))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)

    def stop() -> None:
        srv.should_exit = True
        thread.join(10)
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def start_chromium(video: Path, profile: Path):
    from selenium import webdriver

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--window-size=1100,900",
        f"--user-data-dir={profile}",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(driver_path))
    driver.set_script_timeout(300)
    return driver


def measure(driver, url: str, path: str, filters: list[str], a) -> dict:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/")
    wait = WebDriverWait(driver, 300, poll_frequency=0.2)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#filters input"))
    if path == "browser":
        wait.until(lambda d: d.find_element(By.ID, "live").is_displayed())
    else:
        driver.execute_script("document.getElementById('in-browser').checked = false")
    for box in driver.find_elements(By.CSS_SELECTOR, "#filters input"):
        if box.is_selected() != (box.get_attribute("value") in filters):
            box.find_element(By.XPATH, "..").find_element(By.TAG_NAME, "span").click()
    driver.find_element(By.ID, "camera").click()
    wait.until(
        lambda d: (
            int(d.find_element(By.ID, "live-view").get_attribute("data-frames") or 0)
            + int(d.find_element(By.ID, "result").get_attribute("data-frames") or 0)
            >= 3
        )
    )
    time.sleep(a.warmup)
    samples = []
    end = time.time() + a.seconds
    while time.time() < end:
        time.sleep(1.0)
        samples.append(float(driver.find_element(By.ID, "fps").get_attribute("data-fps") or 0))
    engine = driver.find_element(By.ID, "live-view").get_attribute("data-engine")
    status = driver.find_element(By.ID, "status").text
    return {
        "fps_median": statistics.median(samples),
        "fps_min": min(samples),
        "fps_max": max(samples),
        "samples": samples,
        "engine": engine,
        "status": status,
    }


if __name__ == "__main__":
    raise SystemExit(main())
