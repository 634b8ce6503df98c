"""`facepoints serve`: the face-filter web page and its HTTP API (FastAPI, served by uvicorn), on
127.0.0.1:8000 unless told otherwise. The model loads before the server listens, so a bad
--model fails at once (exit 6) rather than on the first request."""

from __future__ import annotations

import argparse

from .common import add_landmarker_options


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="the face-filter web page and HTTP API",
        description="Serve the face-filter page (upload a photo or use the webcam) and the API "
        "(/api/landmarks, /api/filter, /api/filters; /docs). Listens on 127.0.0.1 unless --host "
        "says otherwise.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free one)")
    add_landmarker_options(p)
    p.add_argument("--max-faces", type=int, default=10, metavar="N", help="faces per image (10)")
    p.add_argument(
        "--max-upload-mb", type=float, default=10, metavar="MB", help="largest upload (10 MB)"
    )
    p.add_argument(
        "--max-concurrent", type=int, default=2, metavar="N", help="images in work at once (2)"
    )
    p.add_argument(
        "--timeout", type=float, default=20, metavar="S", help="time limit per image (20 s)"
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="a Host header the server answers (repeatable; default: the address served, and "
        "localhost for a loopback address; '*' any). Others get 400, against DNS rebinding",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=10,
        metavar="S",
        help="close a connection that has not sent a request's headers within S seconds (10)",
    )
    p.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    p.set_defaults(handler=_serve)


def _serve(a: argparse.Namespace) -> int:
    from ..errors import ConfigError

    try:
        import uvicorn  # noqa: F401

        from ..serve.app import ServeConfig, create_app
        from ..serve.server import bind, serve, url_of
    except ImportError as e:
        raise ConfigError(
            f"serve needs fastapi, uvicorn and python-multipart ({e.name} is missing): "
            "pip install fastapi uvicorn python-multipart"
        ) from None
    if not 0 <= a.port <= 65535:
        raise ConfigError(f"--port must be 0-65535, got {a.port}")
    if a.threads is not None and a.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {a.threads}")
    if not a.max_upload_mb > 0:
        raise ConfigError(f"--max-upload-mb must be > 0, got {a.max_upload_mb}")
    if not a.header_timeout > 0:
        raise ConfigError(f"--header-timeout must be > 0, got {a.header_timeout}")
    sock = bind(a.host, a.port)  # a busy port fails here, before the model loads or a URL prints
    try:
        cfg = ServeConfig(
            max_upload_bytes=int(a.max_upload_mb * 1024 * 1024),
            max_concurrent=a.max_concurrent,
            timeout_s=a.timeout,
            allowed_hosts=_allowed_hosts(a.host, a.allowed_host),
        )
        app = create_app(
            model=a.model,
            detector=a.detector,
            config=cfg,
            backend=a.backend,
            device=a.device,
            threads=a.threads,
            precision=a.precision,
            max_faces=a.max_faces,
        )
        lm = app.state.landmarker
        print(f"facepoints serve: model {lm.name} ({lm.scheme.name}) on {url_of(sock)}", flush=True)
        serve(app, sock, header_timeout_s=a.header_timeout, log_level=a.log_level)
    finally:
        sock.close()
    return 0


def _allowed_hosts(host: str, given: list[str] | None) -> tuple[str, ...] | None:
    """The Host names to answer: those given ('*': any), else the address served (with
    localhost for a loopback one); None (any) for a wildcard address, where the names the
    machine is reached by are not known."""
    if given:
        return None if "*" in given else tuple(given)
    if host in ("0.0.0.0", "::", ""):
        return None
    if host in ("127.0.0.1", "::1", "localhost"):
        return (host, "localhost", "127.0.0.1", "::1")
    return (host,)
