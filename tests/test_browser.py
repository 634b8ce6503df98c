"""End to end in headless Chromium (Selenium): a real uvicorn server on 127.0.0.1, the page loaded,
a face photo uploaded and filters chosen, and the webcam path with Chromium's fake camera playing a
.y4m video made here from a dataset face. The server answers with ground-truth landmarks, so the
test knows where each filter must change the picture.

Skipped when chromium, chromedriver or selenium are missing (scripts/install-browser.sh installs
the first two). Screenshots go to $FACEPOINTS_ARTIFACTS, else a temporary folder whose path the
test prints."""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).exists()), None
)
CHROMEDRIVER = next(
    (p for p in (shutil.which("chromedriver"), "/usr/bin/chromedriver") if p and Path(p).exists()),
    None,
)
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(
        "chromium or chromedriver not installed (run scripts/install-browser.sh)",
        allow_module_level=True,
    )
pytest.importorskip("selenium", reason="selenium not installed (pip install -e '.[test]')")
pytest.importorskip("uvicorn", reason="uvicorn not installed")
pytest.importorskip("multipart", reason="python-multipart not installed")

from facepoints.inference.landmarker import Face  # noqa: E402
from facepoints.schemes import get_scheme  # noqa: E402

PHOTO = 5  # a frontal 250 x 250 LFW face of the CUHK test split
CAM_W, CAM_H = 320, 240  # the fake camera's frame
TIMEOUT = 20.0


class SizeLandmarker:
    """One face per image, its 5 points looked up by the image's size (w, h)."""

    name = "ground-truth"
    scheme = get_scheme("cuhk5")

    def __init__(self, by_size: dict[tuple[int, int], np.ndarray]):
        self.by_size = by_size

    def detect(self, rgb):
        h, w = rgb.shape[:2]
        pts = self.by_size.get((w, h))
        if pts is None:  # a size the page chose: scale the entry of the same shape
            (rw, rh), ref = next(
                ((s, p) for s, p in self.by_size.items() if abs(s[0] / s[1] - w / h) < 0.02),
                next(iter(self.by_size.items())),
            )
            pts = ref * np.array([w / rw, h / rh], np.float32)
        box = np.concatenate([pts.min(0) - 20, pts.max(0) + 20]).astype(np.float32)
        return [Face(box=box, score=1.0, landmarks=pts, scheme=self.scheme)]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    where = os.environ.get("FACEPOINTS_ARTIFACTS")
    path = Path(where) if where else tmp_path_factory.mktemp("browser-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots in {path}")
    return path


@pytest.fixture(scope="module")
def face(cuhk_root, tmp_path_factory):
    """The photo (file, RGB, points) and the fake camera's video (file, RGB frame, points)."""
    import cv2

    from facepoints.data import read_dataset
    from facepoints.io import load_image

    recs = read_dataset("cuhk5", "test", data_root=cuhk_root)
    path, points = recs.images[PHOTO], recs.points[PHOTO].astype(np.float32)
    rgb = load_image(path)
    # the camera frame: the face scaled to the frame's height, centred on grey
    s = CAM_H / rgb.shape[0]
    small = cv2.resize(rgb, (round(rgb.shape[1] * s), CAM_H), interpolation=cv2.INTER_AREA)
    frame = np.full((CAM_H, CAM_W, 3), 120, np.uint8)
    x0 = (CAM_W - small.shape[1]) // 2
    frame[:, x0 : x0 + small.shape[1]] = small
    cam_points = points * s + np.array([x0, 0], np.float32)
    video = tmp_path_factory.mktemp("camera") / "face.y4m"
    write_y4m(video, [frame] * 10, fps=10)
    return {
        "photo": (Path(path), rgb, points),
        "camera": (video, frame, cam_points),
    }


@pytest.fixture(scope="module")
def server(face):
    from facepoints.serve.app import create_app

    _, rgb, points = face["photo"]
    _, frame, cam_points = face["camera"]
    lm = SizeLandmarker(
        {(rgb.shape[1], rgb.shape[0]): points, (frame.shape[1], frame.shape[0]): cam_points}
    )
    yield from serve_in_thread(create_app(lm, warm_up=False))


@pytest.fixture(scope="module")
def browser(face, tmp_path_factory):
    yield from chromium(tmp_path_factory, camera=face["camera"][0])


# --- tests -----------------------------------------------------------------------------------------


def test_upload_a_photo_and_choose_filters(browser, server, face, artifacts):
    from selenium.webdriver.common.by import By

    path, rgb, points = face["photo"]
    browser.get(server + "/")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#filters input"))
    assert chip(browser, "sunglasses").is_selected()  # the page starts with sunglasses

    browser.find_element(By.ID, "file").send_keys(str(path))
    wait_for(browser, lambda d: frames(d) >= 1 and state(d) == "done")
    out = result_image(browser)
    assert out.shape == rgb.shape
    iod = float(np.linalg.norm(points[1] - points[0]))
    for eye in points[:2]:
        assert region_change(out, rgb, eye, 0.12 * iod) > 25  # dark lenses over the eyes
    lip = (points[2] + points[3:].mean(0)) / 2
    assert region_change(out, rgb, lip, 0.1 * iod) < 6  # the upper lip as it was
    browser.save_screenshot(str(artifacts / "photo-sunglasses.png"))

    # choose: sunglasses off, moustache on; the page sends the photo again by itself
    before = frames(browser)
    toggle(browser, "sunglasses")
    toggle(browser, "moustache")
    wait_for(browser, lambda d: frames(d) >= before + 2 and state(d) == "done")
    out = result_image(browser)
    for eye in points[:2]:
        assert region_change(out, rgb, eye, 0.12 * iod) < 6
    assert region_change(out, rgb, lip, 0.1 * iod) > 25
    status = browser.find_element(By.ID, "status").text
    assert re.match(r"1 face · \d+ ms", status), status
    link = browser.find_element(By.ID, "download")
    assert link.get_attribute("href").startswith("blob:")
    assert link.get_attribute("download") == "facepoints-moustache.jpg"
    browser.save_screenshot(str(artifacts / "photo-moustache.png"))


def test_webcam_frames_come_back_filtered_with_fps(browser, server, face, artifacts):
    from selenium.webdriver.common.by import By

    _, frame, points = face["camera"]
    browser.get(server + "/")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#filters input"))
    # this test is about the server path: keep frames off the in-browser engine, which the page
    # offers where its files are installed (tests/test_filters_live.py covers that one)
    browser.execute_script(
        "const b = document.getElementById('in-browser'); if (b) b.checked = false;"
    )
    browser.find_element(By.ID, "camera").click()
    # generous: the first frames wait for the models to load (and the cores may be shared)
    wait_for(browser, lambda d: frames(d) >= 5, 4 * TIMEOUT)
    time.sleep(1.5)  # let the counter see a steady stream
    fps_text = browser.find_element(By.ID, "fps").text
    m = re.fullmatch(r"(\d+(?:\.\d+)?) fps", fps_text)
    assert m and float(m.group(1)) > 0, fps_text
    out = result_image(browser)
    assert out.shape == frame.shape
    iod = float(np.linalg.norm(points[1] - points[0]))
    for eye in points[:2]:
        assert region_change(out, frame, eye, 0.12 * iod) > 25
    lip = (points[2] + points[3:].mean(0)) / 2
    assert region_change(out, frame, lip, 0.1 * iod) < 12  # camera + JPEG noise only
    assert "Stop" in browser.find_element(By.ID, "camera").text
    browser.save_screenshot(str(artifacts / "webcam.png"))
    print(f"\nwebcam path in headless Chromium: {fps_text} ({CAM_W}x{CAM_H} frames)")
    browser.find_element(By.ID, "camera").click()  # stop
    wait_for(browser, lambda d: "Use" in d.find_element(By.ID, "camera").text)


# --- helpers -----------------------------------------------------------------------------------------


def serve_in_thread(app, timeout: float = 60.0):
    """Serve `app` with uvicorn on a free port of 127.0.0.1 in a thread: yields its URL, then
    stops it (for a module-scoped fixture: `yield from serve_in_thread(app)`)."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + timeout
    while not srv.started:
        if time.time() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(10)
    sock.close()


def chromium(tmp_path_factory, camera: Path | None = None, extra: tuple[str, ...] = ()):
    """Headless Chromium under chromedriver (with `camera`, a fake webcam playing that .y4m
    file): yields the driver, then quits it; skips the test where Chromium will not start."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1100,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        *extra,
    ]
    if camera is not None:
        args += [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}",
        ]
    for arg in args:
        opts.add_argument(arg)
    try:
        driver = webdriver.Chrome(
            options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER)
        )
    except WebDriverException as e:
        pytest.skip(f"chromium would not start here: {e.msg.splitlines()[0] if e.msg else e}")
    driver.set_script_timeout(TIMEOUT)
    yield driver
    driver.quit()


def write_y4m(path: Path, frames_rgb: list[np.ndarray], fps: int = 10) -> None:
    """A YUV4MPEG2 video (4:2:0), the format Chromium's fake camera plays."""
    import cv2

    h, w = frames_rgb[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames_rgb:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())


def wait_for(driver, cond, timeout: float = TIMEOUT):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(cond)
    except Exception:
        status = driver.find_element("id", "status").text
        pytest.fail(f"timed out in the page; its status line says: {status!r}")


def chip(driver, name: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"#filters input[value='{name}']")


def toggle(driver, name: str) -> None:
    """Click the filter's chip, as a user does (the checkbox itself is visually hidden)."""
    from selenium.webdriver.common.by import By

    chip(driver, name).find_element(By.XPATH, "..").find_element(By.TAG_NAME, "span").click()


def frames(driver) -> int:
    return int(driver.find_element("id", "result").get_attribute("data-frames") or 0)


def state(driver) -> str:
    return driver.find_element("id", "result").get_attribute("data-state")


def result_image(driver) -> np.ndarray:
    """The image the page shows, fetched from its blob URL inside the page."""
    from facepoints.io import decode_image

    b64 = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch(document.getElementById("result").src)
          .then((r) => r.arrayBuffer())
          .then((buf) => {
            const bytes = new Uint8Array(buf);
            let s = "";
            for (let i = 0; i < bytes.length; i += 0x8000)
              s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
            done(btoa(s));
          })
          .catch((e) => done("ERROR " + e));
        """
    )
    assert not b64.startswith("ERROR"), b64
    return decode_image(base64.b64decode(b64))


def region_change(a: np.ndarray, b: np.ndarray, center, radius: float) -> float:
    """Mean absolute difference of a and b in the square of half-side `radius` at `center`."""
    x, y = (int(round(v)) for v in center)
    r = max(2, int(round(radius)))
    pa = a[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1].astype(float)
    pb = b[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1].astype(float)
    return float(np.abs(pa - pb).mean())
