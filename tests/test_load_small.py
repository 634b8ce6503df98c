"""The load test's core (benchmarks/load_test.py) on a small scale: a real `facepoints serve` on
127.0.0.1 with a tiny untrained model, 40 requests from 8 clients; and the well-behaved client's
retry on 503, against a stand-in transport."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "load_test.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def load_test():
    spec = importlib.util.spec_from_file_location("facepoints_load_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_small_load_keeps_serving(load_test, cuhk_root, tmp_path):
    model = load_test.save_untrained("sun2013", tmp_path / "tiny.safetensors")
    report = load_test.run_load(
        model, requests=40, concurrency=8, timeout_s=60, data_root=cuhk_root, max_upload_mb=1
    )
    p = report.passes[0]
    assert len(p.kinds) == 40 and set(p.kinds) == set(load_test.KINDS)
    for kind, status in zip(p.kinds, p.statuses, strict=True):
        good = load_test.KINDS[kind][0]
        assert isinstance(status, int), f"{kind}: no answer ({status})"
        if good:
            assert status in (200, 503), f"{kind}: {status}"
        else:
            assert 400 <= status < 500, f"{kind}: {status}"
    assert report.alive_after and report.health_after == 200 and report.good_after == 200
    assert load_test.problems(report) == []
    assert 0 < p.rss_before <= p.rss_peak
    text = load_test.format_report(report)
    assert "| good: landmarks" in text and "p50 / p90 / p99" in text


def test_good_photo_retried_after_503(load_test):
    answers = iter([503, 503, 200])
    seen = []

    def handler(request):
        seen.append(request.url.path)
        status = next(answers)
        return httpx.Response(status, headers={"Retry-After": "0.01"}, json={})

    async def go(retries):
        transport = httpx.MockTransport(handler)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            spec = {"url": "/api/landmarks", "files": {"image": ("a.jpg", b"x", "image/jpeg")}}
            return await load_test._send(http, spec, True, retries, time.monotonic() + 30)

    assert asyncio.run(go(5)) == (200, 3) and len(seen) == 3
    answers, seen[:] = iter([503, 200]), []
    assert asyncio.run(go(0)) == (503, 1)  # no retries: the 503 is the answer
