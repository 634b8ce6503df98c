"""The webcam in the browser: with ONNX Runtime Web vendored (scripts/vendor-onnxruntime-web.sh),
the page runs the detector, the dense landmarks and the filters itself on Chromium's fake camera
playing a video of a real face (a shared photo), and falls back to the server for a filter it
does not draw. The fps is printed (benchmarks/filters_live_fps.py measures it properly).

Skipped without chromium, chromedriver, selenium or the vendored ONNX Runtime Web."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import numpy as np
import pytest
from test_browser import chromium, serve_in_thread, wait_for, write_y4m

from facepoints.serve.app import STATIC_DIR

pytestmark = pytest.mark.browser

if not (STATIC_DIR / "vendor" / "ort" / "ort.wasm.min.js").is_file():
    pytest.skip(
        "ONNX Runtime Web not vendored (bash scripts/vendor-onnxruntime-web.sh)",
        allow_module_level=True,
    )

W300 = Path(__file__).resolve().parents[2] / "shared" / "data" / "300w"
PHOTO = "helen/trainset/1259817140_1.jpg"  # a frontal 300-W training face
CAM_W, CAM_H = 480, 360
TIMEOUT = 300.0  # the first run exports the networks; CI shares its cores with other work


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    """The fake camera's video (a face photo centred on grey) and the face's points in it."""
    import cv2

    from facepoints.data.w300 import read_pts
    from facepoints.io import load_image

    if not (W300 / PHOTO).is_file():
        pytest.skip("../shared/data/300w not here")
    rgb = load_image(W300 / PHOTO)
    pts = np.asarray(read_pts((W300 / PHOTO).with_suffix(".pts")), np.float64)
    s = CAM_H / rgb.shape[0]
    face = cv2.resize(rgb, (round(rgb.shape[1] * s), CAM_H), interpolation=cv2.INTER_AREA)
    frame = np.full((CAM_H, CAM_W, 3), 120, np.uint8)
    x0 = (CAM_W - face.shape[1]) // 2
    frame[:, x0 : x0 + face.shape[1]] = face
    video = tmp_path_factory.mktemp("camera") / "face.y4m"
    write_y4m(video, [frame] * 10, fps=10)
    return video, frame, pts * s + [x0, 0]


@pytest.fixture(scope="module")
def server():
    from facepoints.serve.app import ServeConfig, create_app

    cfg = ServeConfig(timeout_s=TIMEOUT, queue_wait_s=TIMEOUT)
    app = create_app(model="cuhk5-resnet", threads=1, config=cfg)
    yield from serve_in_thread(app)


@pytest.fixture(scope="module")
def browser(camera, tmp_path_factory):
    browser = chromium(tmp_path_factory, camera=camera[0])
    driver = next(browser)
    driver.set_script_timeout(TIMEOUT)
    yield driver
    next(browser, None)


def live_frames(d) -> int:
    return int(d.find_element("id", "live-view").get_attribute("data-frames") or 0)


def test_webcam_runs_in_the_browser_and_falls_back_for_server_filters(
    browser, server, camera, tmp_path
):
    from selenium.webdriver.common.by import By

    from facepoints.io import decode_image

    _, frame, pts = camera
    browser.get(server + "/")
    wait_for(browser, lambda d: d.find_element(By.ID, "live").is_displayed(), TIMEOUT)
    browser.find_element(By.ID, "camera").click()
    view = browser.find_element(By.ID, "live-view")
    wait_for(browser, lambda d: view.get_attribute("data-engine") == "browser", TIMEOUT)
    wait_for(browser, lambda d: live_frames(d) >= 8, TIMEOUT)
    time.sleep(2.5)
    status = browser.find_element(By.ID, "status").text
    fps = float(browser.find_element(By.ID, "fps").get_attribute("data-fps"))
    assert "1 face" in status and "in this browser" in status, status
    assert fps > 0
    print(f"\nin-browser webcam path: {fps:.1f} fps ({CAM_W}x{CAM_H}); {status}")

    url = browser.execute_script("return document.getElementById('live-view').toDataURL()")
    out = decode_image(base64.b64decode(url.split(",", 1)[1]))
    assert out.shape == frame.shape
    diff = np.abs(out.astype(int) - frame.astype(int)).max(axis=2)
    for eye in (pts[36:42], pts[42:48]):  # dark lenses over both eyes
        x0, y0 = eye.min(0).astype(int)
        x1, y1 = eye.max(0).astype(int)
        assert diff[y0 : y1 + 1, x0 : x1 + 1].mean() > 40
    assert diff[-12:].mean() < 3  # below the chin: the camera's frame as it was
    browser.save_screenshot(str(tmp_path / "live.png"))

    # a filter drawn only on the server: the page sends the frames there instead
    align = browser.find_element(By.CSS_SELECTOR, "#filters input[value=align]")
    align.find_element(By.XPATH, "..").find_element(By.TAG_NAME, "span").click()
    wait_for(browser, lambda d: view.get_attribute("data-engine") == "server", TIMEOUT)
    result = browser.find_element(By.ID, "result")
    before = int(result.get_attribute("data-frames") or 0)
    wait_for(browser, lambda d: int(result.get_attribute("data-frames")) > before + 2, TIMEOUT)
    browser.find_element(By.ID, "camera").click()  # stop
