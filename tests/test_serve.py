"""The web API: landmarks JSON, filtered images, and the hardening (size, type, pixel, time and
concurrency limits; one-line JSON errors with no stack trace; OpenAPI). Faces come from a tiny
untrained model (the real pipeline) or from ground-truth points (to check where filters draw)."""

from __future__ import annotations

import asyncio
import io
import json
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # starlette's note about its test client's HTTP library
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from facepoints.errors import CheckpointError  # noqa: E402
from facepoints.inference.landmarker import Face  # noqa: E402
from facepoints.schemes import get_scheme  # noqa: E402
from facepoints.serve.app import ServeConfig, create_app  # noqa: E402

PHOTO = 5  # a frontal 250 x 250 LFW face of the CUHK test split


class FixedLandmarker:
    """Answers every image with one face at given 5 points (scaled from the size they were
    given for to the image's size); optionally slow or failing, to test the limits."""

    name = "fixed"
    scheme = get_scheme("cuhk5")

    def __init__(self, points, size, delay: float = 0.0, error: Exception | None = None):
        self.points = np.asarray(points, np.float32)
        self.size = size  # (w, h)
        self.delay, self.error = delay, error

    def detect(self, rgb):
        if self.error is not None:
            raise self.error
        time.sleep(self.delay)
        h, w = rgb.shape[:2]
        pts = self.points * np.array([w / self.size[0], h / self.size[1]], np.float32)
        box = np.concatenate([pts.min(0) - 20, pts.max(0) + 20]).astype(np.float32)
        return [Face(box=box, score=1.0, landmarks=pts, scheme=self.scheme)]


@pytest.fixture(scope="module")
def photo(cuhk_root):
    from facepoints.data import read_dataset

    recs = read_dataset("cuhk5", "test", data_root=cuhk_root)
    data = recs.images[PHOTO].read_bytes()
    return data, recs.points[PHOTO]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    from facepoints.models.registry import create_model
    from facepoints.models.weights import save_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(create_model("sun2013"), path, {"margin": 0.2})
    return path


@pytest.fixture(scope="module")
def model_client(tiny_model):
    """The real pipeline: MTCNN finds the face, a tiny untrained model puts the points."""
    app = create_app(model=tiny_model, config=ServeConfig(max_upload_bytes=1024 * 1024))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def fixed_client(photo, **cfg) -> TestClient:
    data, points = photo
    lm = FixedLandmarker(points, (250, 250), cfg.pop("delay", 0.0), cfg.pop("error", None))
    app = create_app(lm, config=ServeConfig(**cfg), warm_up=False)
    return TestClient(app, raise_server_exceptions=False)


def post(client, path, data: bytes, name="face.jpg", mime="image/jpeg"):
    return client.post(path, files={"image": (name, data, mime)})


def decode(data: bytes) -> np.ndarray:
    from facepoints.io import decode_image

    return decode_image(data)


def assert_one_line_error(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and body["error"] and "\n" not in body["error"]
    assert "Traceback" not in r.text and 'File "' not in r.text


# --- the API ---------------------------------------------------------------------------------------


def test_landmarks_json(model_client, photo):
    r = post(model_client, "/api/landmarks", photo[0])
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["width"], doc["height"]) == (250, 250)
    assert len(doc["faces"]) >= 1
    face = doc["faces"][0]
    assert face["scheme"] == "cuhk5" and len(face["landmarks"]) == 5
    assert set(face["points"]) == {"left_eye", "right_eye", "nose", "left_mouth", "right_mouth"}
    x1, y1, x2, y2 = face["box"]
    assert 0 <= x1 < x2 <= 250 and 0 <= y1 < y2 <= 250 and 0 < face["score"] <= 1


def test_filter_returns_a_changed_valid_image(photo):
    # the shipped model: filters fade over points an untrained model is unsure of
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        r = client.post(
            "/api/filter?filters=crown,sunglasses",
            files={"image": ("face.jpg", photo[0], "image/jpeg")},
        )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg" and r.content[:3] == b"\xff\xd8\xff"
    assert int(r.headers["x-faces"]) >= 1
    out = decode(r.content)
    src = decode(photo[0])
    assert out.shape == src.shape
    assert np.abs(out.astype(int) - src.astype(int)).max() > 60  # more than re-encoding noise


def test_filter_draws_where_the_filter_belongs(photo):
    data, points = photo
    with fixed_client(photo) as c:
        r = c.post("/api/filter?filters=sunglasses&format=png", files={"image": ("f.jpg", data)})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    out, src = decode(r.content), decode(data)
    diff = np.abs(out.astype(int) - src.astype(int)).max(axis=2)
    iod = np.linalg.norm(points[1] - points[0])
    for x, y in points[:2]:  # the eyes are covered
        y0, x0 = int(y - 0.1 * iod), int(x - 0.1 * iod)
        assert diff[y0 : int(y + 0.1 * iod), x0 : int(x + 0.1 * iod)].mean() > 30
    mx, my = points[3:].mean(0)  # the mouth is not
    assert diff[int(my) - 3 : int(my) + 3, int(mx) - 3 : int(mx) + 3].max() == 0


def test_filters_list_health_and_openapi(model_client):
    r = model_client.get("/api/filters")
    names = [f["name"] for f in r.json()["filters"]]
    assert r.status_code == 200 and len(names) >= 5 and "sunglasses" in names
    assert model_client.get("/api/health").json()["status"] == "ok"
    r = model_client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/landmarks", "/api/filter", "/api/filters", "/api/health"):
        assert path in spec["paths"]
    assert "multipart/form-data" in json.dumps(spec["paths"]["/api/filter"]["post"])
    assert model_client.get("/docs").status_code == 200


def test_page_static_files_and_headers(model_client):
    r = model_client.get("/")
    assert r.status_code == 200 and "<title>" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert model_client.get("/static/app.js").status_code == 200
    assert model_client.get("/static/style.css").status_code == 200
    assert_one_line_error(model_client.get("/static/"), 404)  # no directory listing
    assert_one_line_error(model_client.get("/static/../app.py"), 404)
    assert_one_line_error(model_client.get("/nothing"), 404)


# --- hardening -------------------------------------------------------------------------------------


def test_oversize_upload_is_413(model_client):
    big = b"\xff\xd8\xff" + bytes(2 * 1024 * 1024)  # over the 1 MB limit of this app
    assert_one_line_error(post(model_client, "/api/filter", big), 413)
    assert_one_line_error(post(model_client, "/api/landmarks", big), 413)


def test_oversize_streamed_upload_without_length_is_413(model_client):
    def chunks():
        yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="x.jpg"\r\n\r\n'
        for _ in range(40):
            yield bytes(64 * 1024)

    r = model_client.post(
        "/api/filter", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert_one_line_error(r, 413)


def test_text_file_named_like_an_image_is_415(model_client):
    r = post(model_client, "/api/filter", b"just some text, not a picture\n" * 20, "cat.jpg")
    assert_one_line_error(r, 415)
    r = post(model_client, "/api/landmarks", b"%PDF-1.4 not an image", "doc.png", "image/png")
    assert_one_line_error(r, 415)


def test_bad_requests_are_400(model_client, photo):
    assert_one_line_error(model_client.post("/api/filter"), 400)  # no image field
    assert_one_line_error(post(model_client, "/api/filter", b""), 400)
    r = model_client.post("/api/filter?filters=hat", files={"image": ("f.jpg", photo[0])})
    assert_one_line_error(r, 400)
    assert "unknown filter 'hat'" in r.json()["error"]
    r = model_client.post("/api/filter?format=gif", files={"image": ("f.jpg", photo[0])})
    assert_one_line_error(r, 400)


def test_pixel_limit_is_413(photo):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (2100, 2000), (90, 90, 90)).save(buf, "PNG")  # 4.2 MP, a small file
    with fixed_client(photo, max_pixels=4_000_000) as c:
        r = post(c, "/api/filter", buf.getvalue(), "big.png", "image/png")
    assert_one_line_error(r, 413)
    assert "too large" in r.json()["error"]


def test_errors_inside_are_a_generic_500_without_details(photo):
    with fixed_client(photo, error=RuntimeError("secret /home/me/.ssh detail")) as c:
        r = post(c, "/api/filter", photo[0])
    assert_one_line_error(r, 500)
    assert "secret" not in r.text and r.json()["error"] == "internal error"


def test_time_limit_is_504(photo):
    with fixed_client(photo, delay=1.5, timeout_s=0.2) as c:
        r = post(c, "/api/landmarks", photo[0])
    assert_one_line_error(r, 504)


def test_concurrency_limit_then_503(photo):
    import httpx

    data, points = photo
    lm = FixedLandmarker(points, (250, 250), delay=0.8)
    app = create_app(lm, config=ServeConfig(max_concurrent=1, queue_wait_s=0.2), warm_up=False)

    async def both():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            reqs = [c.post("/api/landmarks", files={"image": ("f.jpg", data)}) for _ in range(2)]
            return await asyncio.gather(*reqs)

    codes = sorted(r.status_code for r in asyncio.run(both()))
    assert codes == [200, 503]


def test_model_is_loaded_when_the_app_is_made(tmp_path):
    with pytest.raises(CheckpointError):
        create_app(model=tmp_path / "missing.safetensors")


def test_serve_command_fails_fast_on_a_bad_model(tmp_path, capsys):
    from facepoints.cli import main

    code = main(["serve", "--model", str(tmp_path / "missing.safetensors"), "--port", "0"])
    assert code == CheckpointError.exit_code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_large_images_hold_only_half_the_slots(photo):
    """A flood of large uploads (each costly to decode) cannot keep ordinary photos out."""
    import httpx
    from PIL import Image

    data, points = photo
    buf = io.BytesIO()
    Image.new("RGB", (2500, 2000), (200, 200, 200)).save(buf, "PNG")  # 5 MP, a small file
    big = buf.getvalue()
    lm = FixedLandmarker(points, (250, 250), delay=1.0)
    cfg = ServeConfig(max_concurrent=2, queue_wait_s=0.3, large_pixels=4_000_000)
    app = create_app(lm, config=cfg, warm_up=False)

    async def flood():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as c:
            large = [c.post("/api/landmarks", files={"image": ("b.png", big)}) for _ in range(3)]
            tasks = [asyncio.ensure_future(r) for r in large]
            await asyncio.sleep(0.1)
            small = await c.post("/api/landmarks", files={"image": ("f.jpg", data)})
            return small, await asyncio.gather(*tasks)

    small, large = asyncio.run(flood())
    assert small.status_code == 200
    assert sorted(r.status_code for r in large) == [200, 503, 503]


def test_allowed_hosts_are_configurable(photo):
    from facepoints.cli.serve import _allowed_hosts

    assert _allowed_hosts("127.0.0.1", None) == ("127.0.0.1", "localhost", "127.0.0.1", "::1")
    assert _allowed_hosts("0.0.0.0", None) is None  # a wildcard address: the names are unknown
    assert _allowed_hosts("0.0.0.0", ["faces.example.org"]) == ("faces.example.org",)
    assert _allowed_hosts("127.0.0.1", ["*"]) is None
    with fixed_client(photo, allowed_hosts=("faces.example.org",)) as c:
        r = c.get("/api/health")  # the test client's Host is "testserver"
        assert_one_line_error(r, 400)
        assert "not served here" in r.json()["error"]
        assert c.get("/api/health", headers={"Host": "Faces.Example.org:8000"}).status_code == 200
