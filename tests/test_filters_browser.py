"""The page in headless Chromium with the real models (the shipped dense model for filters, the
default detector) on real shared photos: the landmarks view with its 5/68 choice, a filter warped
on the dense face, the hint when no face is found, an error that clears the old picture, the
favicon, `?model=` refused when unknown, and a filtered H.264 video playing in a <video>.

Skipped without chromium, chromedriver or selenium (scripts/install-browser.sh)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from test_browser import chromium, result_image, serve_in_thread, wait_for

pytestmark = pytest.mark.browser

W300 = Path(__file__).resolve().parents[2] / "shared" / "data" / "300w"
PHOTO = "helen/trainset/1259817140_1.jpg"  # a frontal 300-W training face
TIMEOUT = 120.0  # generous: CI and developers share the cores with training runs


@pytest.fixture(scope="module")
def photo() -> tuple[Path, np.ndarray]:
    from facepoints.data.w300 import read_pts

    path = W300 / PHOTO
    if not path.is_file():
        pytest.skip("../shared/data/300w not here")
    return path, np.asarray(read_pts(path.with_suffix(".pts")), np.float64)


@pytest.fixture(scope="module")
def server():
    from facepoints.serve.app import ServeConfig, create_app

    cfg = ServeConfig(timeout_s=TIMEOUT, queue_wait_s=TIMEOUT)
    app = create_app(model="cuhk5-resnet", threads=1, config=cfg)
    yield from serve_in_thread(app, TIMEOUT)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    browser = chromium(tmp_path_factory, extra=("--autoplay-policy=no-user-gesture-required",))
    driver = next(browser)
    driver.set_script_timeout(TIMEOUT)
    yield driver
    next(browser, None)


def open_page(browser, server):
    from selenium.webdriver.common.by import By

    browser.get(server + "/")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#filters input"), TIMEOUT)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#models input"), TIMEOUT)


def canvas_image(browser) -> np.ndarray:
    from facepoints.io import decode_image

    url = browser.execute_script("return document.getElementById('marks').toDataURL('image/png')")
    return decode_image(base64.b64decode(url.split(",", 1)[1]))


def test_landmarks_view_draws_the_chosen_models_points(browser, server, photo, tmp_path):
    from selenium.webdriver.common.by import By

    from facepoints.io import load_image

    path, truth = photo
    rgb = load_image(path)
    open_page(browser, server)
    models = {
        e.get_attribute("data-points"): e
        for e in browser.find_elements(By.CSS_SELECTOR, "#models input")
    }
    assert models["68"].get_attribute("value") == "dense68" and models["68"].is_enabled()
    assert models["5"].is_enabled()
    browser.find_element(By.CSS_SELECTOR, "label.tab input[value=landmarks] + span").click()
    assert browser.find_element(By.ID, "models").is_displayed()
    browser.find_element(By.ID, "file").send_keys(str(path))
    marks = browser.find_element(By.ID, "marks")
    wait_for(browser, lambda d: marks.get_attribute("data-state") == "done", TIMEOUT)
    assert marks.get_attribute("data-points") == "68"  # one face, the 68 points of dense68
    drawn = canvas_image(browser)
    assert drawn.shape == rgb.shape
    # the dots sit on the face's annotated points: the picture changed there, not far away
    iod = float(np.linalg.norm(truth[36:42].mean(0) - truth[42:48].mean(0)))
    changed = np.abs(drawn.astype(int) - rgb.astype(int)).max(axis=2) > 40
    r = max(3, int(0.1 * iod))  # the model's error on inner points is about this
    inner = truth[17:]  # brows, nose, eyes, mouth (the jaw line is the least sure part)
    near = [
        changed[int(y) - r : int(y) + r + 1, int(x) - r : int(x) + r + 1].any() for x, y in inner
    ]
    assert np.mean(near) > 0.9, f"{np.mean(near):.2f} of the points drawn near the truth"
    assert not changed[: int(truth[:, 1].min() - 0.6 * iod)].any()  # nothing above the brows
    rows = browser.find_elements(By.CSS_SELECTOR, "#faces tbody tr")
    assert len(rows) == 1 and rows[0].find_elements(By.TAG_NAME, "td")[1].text == "68"
    pose, eyes = (rows[0].find_elements(By.TAG_NAME, "td")[i].text for i in (4, 5))
    assert pose.startswith("yaw ") and "mouth" in eyes  # what the points say about the face
    browser.save_screenshot(str(tmp_path / "landmarks-68.png"))

    # the 5-point model: the page asks again and draws 5 points
    models["5"].find_element(By.XPATH, "..").click()
    wait_for(browser, lambda d: marks.get_attribute("data-points") == "5", TIMEOUT)


def test_filter_is_warped_on_the_dense_face(browser, server, photo):
    from selenium.webdriver.common.by import By

    from facepoints.io import load_image

    path, truth = photo
    rgb = load_image(path)
    open_page(browser, server)
    desc = browser.find_element(By.CSS_SELECTOR, "#filters input[value=lipstick] + span small")
    assert "lip" in desc.text  # each filter says what it does
    for name in ("sunglasses", "lipstick"):  # sunglasses start on; lipstick too now
        box = browser.find_element(By.CSS_SELECTOR, f"#filters input[value={name}]")
        if not box.is_selected():
            box.find_element(By.XPATH, "..").find_element(By.TAG_NAME, "span").click()
    browser.find_element(By.ID, "file").send_keys(str(path))
    result = browser.find_element(By.ID, "result")
    wait_for(
        browser,
        lambda d: (
            result.get_attribute("data-state") == "done"
            and "1 face" in d.find_element(By.ID, "status").text
        ),
        TIMEOUT,
    )
    out = result_image(browser)
    diff = np.abs(out.astype(int) - rgb.astype(int)).max(axis=2)
    eyes, lips = truth[36:48], truth[48:60]
    for part, level in ((eyes, 40), (lips, 15)):
        x0, y0 = part.min(0).astype(int)
        x1, y1 = part.max(0).astype(int)
        assert diff[y0 : y1 + 1, x0 : x1 + 1].mean() > level
    assert diff[-15:].mean() < 8  # the bottom of the photo as it was (JPEG noise only)
    assert not browser.find_element(By.ID, "hint").is_displayed()


def test_no_face_hint_and_an_error_clears_the_picture(browser, server, photo, tmp_path):
    from selenium.webdriver.common.by import By

    from facepoints.io import save_image

    path, _ = photo
    open_page(browser, server)
    browser.find_element(By.ID, "file").send_keys(str(path))
    result = browser.find_element(By.ID, "result")
    wait_for(browser, lambda d: result.get_attribute("data-state") == "done", TIMEOUT)

    wall = tmp_path / "wall.png"  # a smooth gradient: nothing like a face
    ramp = np.linspace(40, 220, 320, dtype=np.float64)
    save_image(wall, np.dstack([np.tile(ramp, (240, 1))] * 3).astype(np.uint8))
    before = int(result.get_attribute("data-frames"))
    browser.find_element(By.ID, "file").send_keys(str(wall))
    wait_for(browser, lambda d: int(result.get_attribute("data-frames")) > before, TIMEOUT)
    hint = browser.find_element(By.ID, "hint")
    wait_for(browser, lambda d: hint.is_displayed(), TIMEOUT)
    assert "No face found" in hint.text
    assert browser.find_element(By.ID, "status").text.startswith("0 faces")

    bad = tmp_path / "notes.png"
    bad.write_text("these are notes, not a picture")
    browser.find_element(By.ID, "file").send_keys(str(bad))
    wait_for(browser, lambda d: result.get_attribute("data-state") == "error", TIMEOUT)
    assert not result.is_displayed()  # the old picture is gone
    placeholder = browser.find_element(By.ID, "placeholder")
    assert placeholder.is_displayed() and placeholder.text
    assert browser.find_element(By.ID, "download").get_attribute("aria-disabled") == "true"
    assert not hint.is_displayed()


def test_favicon_and_unknown_model(server):
    with urllib.request.urlopen(server + "/favicon.ico", timeout=TIMEOUT) as r:
        body = r.read()
        assert r.status == 200 and body[:4] == b"\x00\x00\x01\x00"  # an ICO file
    with urllib.request.urlopen(server + "/static/favicon.svg", timeout=TIMEOUT) as r:
        assert b"<svg" in r.read()
    with urllib.request.urlopen(server + "/api/models", timeout=TIMEOUT) as r:
        info = json.loads(r.read())
    assert (
        info["filters"] == "dense68"
        and {"name": "dense68", "scheme": "ibug68", "points": 68, "schemes": ["cuhk5", "ibug68"]}
        in (info["models"])
    )
    req = urllib.request.Request(
        server + "/api/landmarks?model=nope",
        data=b"--x\r\nContent-Disposition: form-data; name=image; filename=a.png\r\n\r\nx\r\n--x--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=x", "Origin": server},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=TIMEOUT)
    assert err.value.code == 422 and "nope" in json.loads(err.value.read())["error"]


def test_a_filtered_video_plays_in_chromium(browser, server, photo, tmp_path):
    """The `filter` command's video (H.264 MP4) in a <video>: it loads, plays and a frame drawn
    from it shows the face with the filter."""
    import cv2

    from facepoints.filters.base import FILTER_MODEL
    from facepoints.filters.video import filter_video
    from facepoints.inference.landmarker import FaceLandmarker

    path, truth = photo
    frame = cv2.imread(str(path))
    clip = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, frame.shape[1::-1])
    for _ in range(6):
        w.write(frame)
    w.release()
    out = tmp_path / "clip.mp4"
    filter_video(FaceLandmarker(FILTER_MODEL, threads=1), clip, ["sunglasses"], out, progress=False)

    browser.get(server + "/")
    b64 = base64.b64encode(out.read_bytes()).decode()
    got = browser.execute_async_script(
        """
        const [data, done] = [arguments[0], arguments[arguments.length - 1]];
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const v = document.createElement("video");
        v.muted = true;
        v.onerror = () => done({ error: String(v.error && v.error.message || v.error.code) });
        v.onloadeddata = () => { v.currentTime = 0.1; };  // a decoded frame to draw
        let tries = 0;
        const draw = () => {
          const c = document.createElement("canvas");
          c.width = v.videoWidth; c.height = v.videoHeight;
          const ctx = c.getContext("2d");
          ctx.drawImage(v, 0, 0);
          const px = ctx.getImageData(0, 0, c.width, c.height).data;
          // a busy machine may show the seeked frame a moment late: until then it draws black
          if (px.every((x, i) => i % 4 === 3 || x === 0) && ++tries < 50) {
            setTimeout(draw, 200);
            return;
          }
          let s = "";
          for (let i = 0; i < px.length; i += 0x8000)
            s += String.fromCharCode.apply(null, px.subarray(i, i + 0x8000));
          done({ w: c.width, h: c.height, rgba: btoa(s), canPlay: v.canPlayType('video/mp4; codecs="avc1.42E01E"') });
        };
        v.onseeked = draw;
        v.src = URL.createObjectURL(new Blob([bytes], { type: "video/mp4" }));
        v.load();
        """,
        b64,
    )
    assert "error" not in got, f"Chromium could not play the video: {got}"
    rgba = np.frombuffer(base64.b64decode(got["rgba"]), np.uint8).reshape(got["h"], got["w"], 4)
    h, w_ = frame.shape[:2]
    assert got["w"] >= w_ and got["h"] >= h
    rgb = rgba[:h, :w_, :3]
    eyes = truth[36:48]
    x0, y0 = eyes.min(0).astype(int)
    x1, y1 = eyes.max(0).astype(int)
    src = frame[..., ::-1]
    lens = np.abs(rgb[y0:y1, x0:x1].astype(int) - src[y0:y1, x0:x1].astype(int)).mean()
    rest = np.abs(rgb[-15:].astype(int) - src[-15:].astype(int)).mean()
    assert lens > 30 and rest < 10, (lens, rest)
