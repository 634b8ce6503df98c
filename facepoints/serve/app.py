"""The web demo and its HTTP API: a page (static/) that puts face filters on an uploaded photo or
on the webcam live, and the endpoints it calls, hardened for a shared machine.

    GET  /                      the page
    GET  /api/filters           {"filters": [{"name", "description"}]}
    GET  /api/models            {"default", "filters", "models": [{"name", "scheme", "points"}]}
    POST /api/landmarks[?model=NAME]  multipart field "image" -> {"width", "height", "faces", ...}
    POST /api/filter?filters=a,b[&model=NAME&format=jpeg|png&quality=N&min_confidence=C&unsure=
                                skip|fade&min_face_score=S]  multipart "image" -> the image
    GET  /favicon.ico           the page's icon
    GET  /api/health            {"status": "ok", "model", "scheme"}
    GET  /docs, /redoc          the API's description (Swagger UI, ReDoc: local files, no CDN)
    GET  /openapi.json

Limits (`ServeConfig`): request body size (413), content checked by decoding it (415; a pixel
limit, 413), faces found on a copy at most `max_detect_side` pixels long (so the work of one
upload is bounded), a time limit per request (504), at most `max_concurrent` images in work at
once and `max_uploads` bodies held at once (others wait up to `queue_wait_s`, then 503), and a
slow-upload limit (408). Requests whose Host is not one of `allowed_hosts` get 400 (DNS
rebinding); POSTs from another site's page get 403; every response carries a
Content-Security-Policy. Every error is one line of JSON {"error": "..."}; stack traces go to
the server's log only. The model loads once, when the app is created."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import functools
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ConfigError, FacepointsError, ImageError

__all__ = ["ServeConfig", "create_app", "STATIC_DIR"]

STATIC_DIR = Path(__file__).with_name("static")
_LOG = logging.getLogger("facepoints.serve")
_Upload = Annotated[UploadFile, File(description="a photo (JPEG, PNG, WebP, BMP, ...)")]
_PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
    "connect-src 'self' blob:; style-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
    "worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


@dataclass
class ServeConfig:
    """The server's limits. max_upload_bytes: largest request body (an upload and its form
    fields); max_pixels: largest decoded image (width x height); timeout_s: longest an image may
    be in work; max_concurrent: images in work at once; queue_wait_s: how long a request waits
    for a free slot before 503; upload_timeout_s: longest time to receive a body; jpeg_quality:
    of returned JPEGs (a request may ask for 50-95); max_uploads: request bodies held in memory
    at once; max_detect_side: faces are found on a copy of the image at most this long (landmarks
    use the full image); large_pixels: images over this may hold only half the work slots;
    allowed_hosts: Host names answered (None: any)."""

    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 24_000_000
    timeout_s: float = 20.0
    max_concurrent: int = 2
    queue_wait_s: float = 5.0
    upload_timeout_s: float = 30.0
    jpeg_quality: int = 90
    max_uploads: int = 8
    max_detect_side: int = 2048
    large_pixels: int = 4_000_000
    allowed_hosts: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.allowed_hosts is not None:
            self.allowed_hosts = tuple(h.strip("[]").lower() for h in self.allowed_hosts)
        for name in ("max_upload_bytes", "max_pixels", "max_concurrent", "max_uploads"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("timeout_s", "queue_wait_s", "upload_timeout_s"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")


def create_app(
    landmarker: Any = None,
    *,
    model: Any = None,
    detector: Any = None,
    config: ServeConfig | None = None,
    warm_up: bool = True,
    **landmarker_options: Any,
):
    """The FastAPI app. `landmarker`: anything with `detect(rgb) -> [Face]` (e.g. a
    FaceLandmarker); None builds a FaceLandmarker from `model`, `detector` and
    `landmarker_options` now, so a bad model fails before the server starts. `warm_up` runs one
    blank image through it so the first request does not pay for loading the detector."""
    from ..filters.base import apply_filters, get_filter, list_filters, parse_filter_names

    cfg = config or ServeConfig()
    if landmarker is None:
        from ..inference.landmarker import FaceLandmarker

        landmarker = FaceLandmarker(model=model, detector=detector, **landmarker_options)
    if warm_up:
        landmarker.detect(np.zeros((64, 64, 3), np.uint8))
    list_filters()  # import the filters now, not in the first request
    pool = _WorkPool(cfg)
    pick = _ModelPicker(landmarker)

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        yield
        pool.shutdown()

    app = FastAPI(
        title="facepoints",
        summary="Facial landmarks and face filters",
        description="Landmarks (JSON) and face filters (images) for uploaded photos. Errors are "
        'JSON {"error": "..."} with status 400 (bad request), 408 (upload too slow), 413 (too '
        "large), 415 (not an image), 503 (busy), 504 (timed out).",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.config = cfg
    app.state.landmarker = landmarker
    app.state.models = pick  # the other models' landmarkers, made on first use
    app.add_middleware(_Guard, max_body=cfg.max_upload_bytes + 64 * 1024, cfg=cfg)

    # --- errors: one line of JSON, never a traceback -------------------------------------------

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return JSONResponse({"error": detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", ""))
        msg = "; ".join(parts) or "invalid request"
        if any(e.get("type") == "missing" for e in exc.errors()):
            msg += " (send the image as multipart/form-data field 'image')"
        return JSONResponse({"error": msg}, 400)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        _LOG.exception("error in %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal error"}, 500)

    # --- page ------------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(
            STATIC_DIR / "index.html",
            headers={"Content-Security-Policy": _PAGE_CSP, "Cache-Control": "no-cache"},
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR, html=False), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return FileResponse(STATIC_DIR / "favicon.ico", headers={"Cache-Control": "max-age=86400"})

    @app.get("/live/{name:path}", include_in_schema=False)
    async def live(name: str):
        """The in-browser webcam path's files (`filters.live`): 404 when ONNX Runtime Web is
        not vendored (scripts/vendor-onnxruntime-web.sh), so the page uses the server."""
        import re

        if not (STATIC_DIR / "vendor" / "ort" / "ort.wasm.min.js").is_file():
            raise HTTPException(404, "the in-browser path is not installed here")
        if not re.fullmatch(r"manifest\.json|(detector|landmarks)\.onnx|art/[a-z_]+\.png", name):
            raise HTTPException(404, "no such file")
        from ..filters.live import live_assets

        folder = await asyncio.to_thread(live_assets)
        path = folder / name
        if not path.is_file():
            raise HTTPException(404, "no such file")
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    _add_docs(app)

    # --- API -------------------------------------------------------------------------------------

    @app.get("/api/health", tags=["info"])
    async def health() -> dict:
        """The server is up; which model it runs."""
        scheme = getattr(getattr(landmarker, "scheme", None), "name", None)
        return {"status": "ok", "model": getattr(landmarker, "name", None), "scheme": scheme}

    @app.get("/api/filters", tags=["filters"])
    async def filters() -> dict:
        """The filters /api/filter can apply, in the order the page shows them."""
        names = list_filters()
        return {"filters": [{"name": n, "description": get_filter(n).description} for n in names]}

    @app.get("/api/models", tags=["info"])
    async def models() -> dict:
        """The landmark models `?model=` can name (shipped ones; 5, 68 or 98 points), the
        server's default, and the one filters use unless told."""
        return pick.describe()

    @app.post("/api/landmarks", tags=["landmarks"])
    async def landmarks(
        image: _Upload,
        model: Annotated[
            str | None, Query(description="a model of /api/models (default: the server's)")
        ] = None,
        scheme: Annotated[
            str | None,
            Query(
                description="points as cuhk5 (5), ibug68 (68) or wflw98 (98), where the model "
                "gives them (default: the model's own)"
            ),
        ] = None,
    ) -> dict:
        """Faces and their landmarks: box, score, points in image pixels, each point's
        confidence in [0, 1] and the face's landmark score (their mean), scheme; each face's
        `face_score` (0-1: is it a face; filters go on faces reaching `min_face_score`)."""
        pick.check(model)
        landmarker = pick.with_scheme(model, scheme)
        data = await _read_upload(image, cfg)
        started = time.perf_counter()

        def work():
            from ..analysis import describe

            rgb = _decode(data, cfg)
            faces = _detect(landmarker, rgb, cfg)
            return rgb.shape, faces, [describe(f, rgb) for f in faces]

        shape, faces, analyses = await pool.run(work, large=_is_large(data, cfg))
        from ..filters.face_score import calibration, detector_name, face_score

        det = detector_name(landmarker)
        return {
            "width": int(shape[1]),
            "height": int(shape[0]),
            "faces": [
                {**f.to_dict(), **extra, "face_score": round(face_score(f, det), 4)}
                for f, extra in zip(faces, analyses, strict=True)
            ],
            "min_face_score": calibration(det)[1],
            "ms": round((time.perf_counter() - started) * 1e3, 1),
        }

    @app.post(
        "/api/filter",
        tags=["filters"],
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "image"}},
    )
    async def filter_image(
        image: _Upload,
        filters: Annotated[str, Query(description="filter names, comma-separated, in order")] = "",
        format: Annotated[
            str, Query(pattern="^(jpeg|jpg|png)$", description="jpeg or png")
        ] = "jpeg",
        quality: Annotated[int | None, Query(ge=50, le=95, description="JPEG quality")] = None,
        min_confidence: Annotated[
            float | None,
            Query(
                ge=0,
                le=1,
                description="leave filters off faces whose anchor points' confidence is below "
                "this (default: every face)",
            ),
        ] = None,
        unsure: Annotated[
            str,
            Query(pattern="^(skip|fade)$", description="skip, or fade overlays on unsure faces"),
        ] = "skip",
        model: Annotated[
            str | None,
            Query(description="a model of /api/models (default: the filters' dense model)"),
        ] = None,
        min_face_score: Annotated[
            float | None,
            Query(ge=0, le=1, description="filters only on faces whose face score reaches this"),
        ] = None,
    ):
        """The photo with the filters drawn on every face (headers X-Faces: faces found,
        X-Process-Ms: time in work)."""
        try:
            names = parse_filter_names(filters)
        except ConfigError as e:
            return JSONResponse({"error": str(e)}, 400)
        from ..filters.face_score import DEFAULT_MIN_FACE_SCORE, detector_name, filterable

        chosen = pick.for_filters() if model is None else model
        pick.check(chosen)
        gate = DEFAULT_MIN_FACE_SCORE if min_face_score is None else float(min_face_score)
        data = await _read_upload(image, cfg)
        started = time.perf_counter()
        png = format == "png"
        q = cfg.jpeg_quality if quality is None else int(quality)

        def work():
            rgb = _decode(data, cfg)
            lm = pick(chosen)
            faces = filterable(_detect(lm, rgb, cfg), gate, detector_name(lm))
            drawn = apply_filters(rgb, faces, names, min_confidence, unsure, None)
            return _encode(drawn, png, q), len(faces)

        body, n_faces = await pool.run(work, large=_is_large(data, cfg))
        ms = (time.perf_counter() - started) * 1e3
        return Response(
            body,
            media_type="image/png" if png else "image/jpeg",
            headers={
                "X-Faces": str(n_faces),
                "X-Process-Ms": f"{ms:.0f}",
                "Cache-Control": "no-store",
            },
        )

    return app


# --- models ----------------------------------------------------------------------------------------


class _ModelPicker:
    """The landmarker for a request's `?model=`: the app's own, or a shipped model loaded at its
    first use (sharing the app's detector) and kept. An unknown name is a 422. Filters use the
    dense `FILTER_MODEL` when it ships, unless the app was given a landmarker of its own."""

    def __init__(self, landmarker: Any):
        import threading

        self.default = landmarker
        self.loaded: dict[str, Any] = {}
        self.lock = threading.Lock()

    def describe(self) -> dict:
        from ..schemes import primary_scheme

        return {
            "default": getattr(self.default, "name", None),
            "filters": self.for_filters(),
            "models": [
                {
                    "name": n,
                    "scheme": primary_scheme(s).name,
                    "points": primary_scheme(s).num_points,
                    "schemes": _schemes_of(s),
                }
                for n, s in self.shipped().items()
            ],
        }

    def for_filters(self) -> str | None:
        from ..filters.base import FILTER_MODEL

        own = getattr(self.default, "name", None)
        is_built = type(self.default).__name__ == "FaceLandmarker"
        if is_built and FILTER_MODEL in self.shipped() and own != FILTER_MODEL:
            return FILTER_MODEL
        return None  # the app's own landmarker

    def check(self, name: str | None) -> None:
        if name is None or name == getattr(self.default, "name", None):
            return
        if name not in self.shipped():
            known = ", ".join(self.shipped()) or "none"
            raise HTTPException(422, f"unknown model {name!r}; this server has: {known}")

    def __call__(self, name: str | None) -> Any:
        if name is None or name == getattr(self.default, "name", None):
            return self.default
        with self.lock:
            if name not in self.loaded:
                from ..inference.landmarker import FaceLandmarker

                detector = getattr(self.default, "detector", None)
                self.loaded[name] = FaceLandmarker(
                    model=name, detector=detector, threads=1, precision=self._precision(name)
                )
            return self.loaded[name]

    def with_scheme(self, name: str | None, scheme: str | None) -> Any:
        """The landmarker of model `name` whose points are in `scheme` (None: its own); 422 for
        a scheme the model cannot give."""
        lm = self(name)
        if scheme is None:
            return lm
        key = (getattr(lm, "name", None), str(scheme))
        with self.lock:
            if key not in self.loaded:
                from ..inference.landmarker import FaceLandmarker

                int8 = getattr(lm, "precision", "float32") == "int8"
                try:
                    self.loaded[key] = FaceLandmarker(
                        model=lm.name if int8 else getattr(lm, "loaded", None) or lm.name,
                        detector=getattr(lm, "detector", None),
                        threads=1,
                        scheme=scheme,
                        precision="int8" if int8 else "float32",
                    )
                except ConfigError as e:
                    raise HTTPException(422, f"scheme {scheme!r}: {e}") from None
            return self.loaded[key]

    def _precision(self, name: str) -> str:
        """The server's precision (`serve --precision`) for model `name`, where it has an int8
        file; float32 otherwise."""
        from ..inference.quantized import int8_models

        own = getattr(self.default, "precision", "float32")
        return own if own == "float32" or name in int8_models() else "float32"

    @staticmethod
    def shipped() -> dict:
        return _shipped_models()


def _schemes_of(scheme) -> list[str]:
    """The schemes a model of `scheme` can give (its own and those it projects onto)."""
    from ..schemes import SCHEMES, projection_matrix

    out = []
    for name in SCHEMES:
        try:
            projection_matrix(scheme, name)
        except ConfigError:
            continue
        out.append(name)
    return out


@functools.cache
def _shipped_models() -> dict:
    """{name: scheme} of the shipped landmark models, read from their files' metadata."""
    from ..models.pretrained import WEIGHTS_DIR, list_pretrained
    from ..models.weights import read_metadata
    from ..schemes import get_scheme

    out = {}
    for name in list_pretrained():
        meta = read_metadata(WEIGHTS_DIR / f"{name}.safetensors")
        try:
            out[name] = get_scheme(meta.get("scheme") or "cuhk5")
        except ConfigError:
            continue
    return out


# --- limits ----------------------------------------------------------------------------------------


class _WorkPool:
    """At most `max_concurrent` jobs in worker threads; a request waits `queue_wait_s` for a slot
    (then 503) and `timeout_s` for its result (then 504). A slot is freed when its job really
    ends, not when its request gives up, so a stuck job keeps counting against the limit.
    Large images (over `large_pixels`) may hold only half the slots, so a flood of them cannot
    keep ordinary photos out."""

    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        self.executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._sem: asyncio.Semaphore | None = None
        self._large: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, fn: Callable[[], Any], large: bool = False) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # one semaphore per event loop (tests start several)
            self._loop, self._sem = loop, asyncio.Semaphore(self.cfg.max_concurrent)
            self._large = asyncio.Semaphore(max(1, self.cfg.max_concurrent // 2))
        sem, lane = self._sem, (self._large if large else None)
        if lane is not None:
            await _acquire(lane, self.cfg.queue_wait_s, "busy: too many large images in work")
        try:
            await _acquire(sem, self.cfg.queue_wait_s, "busy: too many images in work")
        except BaseException:
            if lane is not None:
                lane.release()
            raise
        if self.executor is None:  # made here, so an app can be served again after a shutdown
            self.executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.cfg.max_concurrent, thread_name_prefix="facepoints-serve"
            )

        def release(_=None) -> None:
            sem.release()
            if lane is not None:
                lane.release()

        try:
            future = loop.run_in_executor(self.executor, fn)
        except BaseException:
            release()
            raise
        future.add_done_callback(release)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.cfg.timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(
                504, f"timed out: the image took over {self.cfg.timeout_s:g} s"
            ) from None
        except ImageError as e:
            raise HTTPException(*_image_status(e)) from None
        except ConfigError as e:
            raise HTTPException(400, " ".join(str(e).split())) from None

    def shutdown(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None


_DRAIN_FACTOR = 4  # refused bodies up to 4x the limit are read and dropped before answering


class _Guard:
    """ASGI middleware: a Host not allowed is refused (400) and so is a POST from another site's
    page (403); bodies over `max_body` bytes are refused (413) from their declared length or as
    they arrive; at most `max_uploads` bodies are held at once (503 after `queue_wait_s`); a body
    must arrive within `upload_timeout_s` (408); every response says nosniff and no-referrer
    and carries a Content-Security-Policy (the API's: nothing may load)."""

    def __init__(self, app, max_body: int, cfg: ServeConfig):
        self.app = app
        self.max_body = int(max_body)
        self.cfg = cfg
        self._uploads: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if not any(k.lower() == b"content-security-policy" for k, _ in headers):
                    headers.append((b"content-security-policy", _API_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        headers = dict(scope.get("headers", []))
        refused = self._refused(scope, headers)
        if refused:
            return await _json(send_with_headers, *refused)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send_with_headers)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_body
            except ValueError:
                return await _json(send_with_headers, 400, "bad Content-Length header")
            if too_big:
                if int(declared) <= _DRAIN_FACTOR * self.max_body:
                    await self._drain(receive)
                return await _json(send_with_headers, 413, self._too_big())
        uploads, size = self._semaphore(), 0
        try:
            await asyncio.wait_for(uploads.acquire(), self.cfg.queue_wait_s)
        except asyncio.TimeoutError:
            await self._drain(receive)
            return await _json(send_with_headers, 503, "busy: too many uploads; try again shortly")
        try:
            try:
                body = await asyncio.wait_for(self._read(receive), self.cfg.upload_timeout_s)
            except asyncio.TimeoutError:
                return await _json(send_with_headers, 408, "upload too slow")
            if body is None:
                await self._drain(receive)
                return await _json(send_with_headers, 413, self._too_big())
            size = len(body)
            sent = False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send_with_headers)
        finally:
            uploads.release()
            if size > 1024 * 1024:
                body = None
                _trim_memory()

    def _refused(self, scope, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        """(status, message) for a request from the wrong Host or another site, else None."""
        host = headers.get(b"host", b"").decode("latin-1")
        name = _host_name(host)
        allowed = self.cfg.allowed_hosts
        if allowed is not None and name not in allowed:
            return 400, f"host {host!r} is not served here (allowed: {', '.join(allowed)})"
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return None
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        if site in ("cross-site", "same-site"):
            return 403, "cross-site request refused"
        origin = headers.get(b"origin")
        if origin is not None:
            from urllib.parse import urlsplit

            o = urlsplit(origin.decode("latin-1"))
            if o.netloc.lower() != host.lower() or o.scheme not in ("http", "https"):
                return 403, "cross-site request refused (Origin does not match Host)"
        return None

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # one per event loop (tests start several)
            self._loop, self._uploads = loop, asyncio.Semaphore(self.cfg.max_uploads)
        return self._uploads

    async def _read(self, receive) -> bytes | None:
        # one growing buffer (large blocks come straight from the system and go back to it),
        # not a list of small chunks that would fragment the heap for good
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            body += message.get("body", b"")
            if len(body) > self.max_body:
                return None
            if not message.get("more_body", False):
                break
        return bytes(body)

    async def _drain(self, receive) -> None:
        """Read and drop what is left of a refused body (up to a cap, briefly): closing a socket
        with unread data resets it, and the client would lose the 413 before reading it."""
        left = _DRAIN_FACTOR * self.max_body

        async def drop() -> None:
            nonlocal left
            while left > 0:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                left -= len(message.get("body", b""))
                if not message.get("more_body", False):
                    return

        try:
            await asyncio.wait_for(drop(), timeout=5.0)
        except asyncio.TimeoutError:
            pass

    def _too_big(self) -> str:
        return f"upload too large (limit {self.cfg.max_upload_bytes // (1024 * 1024)} MB)"


# --- helpers ---------------------------------------------------------------------------------------


async def _read_upload(image: UploadFile, cfg: ServeConfig) -> bytes:
    data = await image.read()
    if len(data) > cfg.max_upload_bytes:
        raise HTTPException(
            413, f"upload too large (limit {cfg.max_upload_bytes // (1024 * 1024)} MB)"
        )
    if not data:
        raise HTTPException(400, "empty upload")
    return data


def _decode(data: bytes, cfg: ServeConfig) -> np.ndarray:
    from ..io import decode_image

    return decode_image(data, name="upload", max_pixels=cfg.max_pixels)


async def _acquire(sem: asyncio.Semaphore, wait_s: float, busy: str) -> None:
    try:
        await asyncio.wait_for(sem.acquire(), wait_s)
    except asyncio.TimeoutError:
        raise HTTPException(
            503, f"{busy}; try again shortly", headers={"Retry-After": "2"}
        ) from None


def _is_large(data: bytes, cfg: ServeConfig) -> bool:
    """Whether an upload declares more than `cfg.large_pixels` pixels (its header alone is read;
    one that cannot be read is left to the decoder's error)."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except Exception:  # anything unreadable is the decoder's to report
        return False
    return w * h > cfg.large_pixels


def _detect(landmarker: Any, rgb: np.ndarray, cfg: ServeConfig) -> list:
    """Faces of `rgb`, found on a copy at most `cfg.max_detect_side` pixels long (the detector's
    work grows with pixels; the landmarks still use the full image)."""
    side = cfg.max_detect_side
    detector = getattr(landmarker, "detector", None)
    if max(rgb.shape[:2]) <= side or detector is None or not hasattr(landmarker, "_detect_boxes"):
        return landmarker.detect(rgb)
    from ..inference.landmarker import make_faces

    boxes, scores, seeds = landmarker._detect_boxes(rgb, max_side=side)
    # the full-size photo's faces, as `detect` treats detector boxes (seeded crops, second pass)
    points, conf = landmarker._points([rgb], [boxes], landmarker.refine, [True], [seeds])
    return make_faces(boxes, scores, points[0], conf[0], landmarker.scheme)


def _trim_memory() -> None:
    """Free what a large request left behind and give the heap back to the system: its body
    can stay reachable from an error's traceback cycle until the next full collection, and
    glibc keeps freed heap otherwise, so a burst of large uploads would leave the server's
    resident size high for good. (`serve` freezes the objects made at start-up, so this
    collection only scans what came after: about a millisecond.)"""
    import gc

    gc.collect()
    global _LIBC
    if _LIBC is None:
        import ctypes
        import ctypes.util

        try:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC.malloc_trim  # noqa: B018 - glibc only
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC: Any = None


def _host_name(host: str) -> str:
    """The name part of a Host header ('[::1]:8000' -> '::1', 'Example.org:80' -> 'example.org')."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _add_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from the files of the fastapi-offline package: no CDN; each
    page's CSP allows its own files and, by hash, its one inline script."""
    import hashlib
    import re

    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    assets = Path(fastapi_offline.__file__).with_name("static")
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    def with_csp(page) -> Response:
        body = bytes(page.body)
        hashes = " ".join(
            "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
            for m in re.findall(r"<script>(.*?)</script>", body.decode(), flags=re.S)
        )
        csp = (
            f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; worker-src 'self' blob:; font-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
        )
        return Response(body, media_type="text/html", headers={"Content-Security-Policy": csp})

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> Response:
        return with_csp(
            get_swagger_ui_html(
                openapi_url="/openapi.json",
                title="facepoints - API",
                swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                swagger_css_url="/docs-assets/swagger-ui.css",
                swagger_favicon_url="/docs-assets/favicon.png",
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> Response:
        return with_csp(
            get_redoc_html(
                openapi_url="/openapi.json",
                title="facepoints - API",
                redoc_js_url="/docs-assets/redoc.standalone.js",
                redoc_favicon_url="/docs-assets/favicon.png",
                with_google_fonts=False,
            )
        )


def _image_status(e: ImageError) -> tuple[int, str]:
    """(status, one-line message) for an upload that is not a usable image."""
    msg = " ".join((e.message or str(e)).split())
    return (413 if msg.startswith("image too large") else 415), msg


def _encode(rgb: np.ndarray, png: bool, quality: int) -> bytes:
    import cv2

    bgr = np.ascontiguousarray(rgb[..., ::-1])
    if png:
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    else:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise FacepointsError("could not encode the result")
    return buf.tobytes()


async def _json(send, status: int, message: str) -> None:
    import json

    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _version() -> str:
    from .. import __version__

    return __version__
