"""Downloads and preparation against an HTTP server on 127.0.0.1 serving small archives built
here from a few real files of ../shared (read only: bytes are copied into tmp_path)."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from facepoints.data import read_dataset
from facepoints.data.download import (
    SOURCES,
    detect_source,
    download_dataset,
    download_file,
    prepare_dataset,
    verify_dataset,
)
from facepoints.errors import DownloadError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CUHK = SHARED / "cuhk5"
WFLW = SHARED / "wflw_sample"

pytestmark = pytest.mark.skipif(not CUHK.is_dir(), reason="../shared/data not present")


# --- a small HTTP server with Range support ---------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """GET of server.files[path]. Prefixes: /norange/ ignores Range, /short/ sends half the body
    under the full Content-Length."""

    def do_GET(self):
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        path, mode = self.path, ""
        for prefix in ("/norange/", "/short/"):
            if path.startswith(prefix):
                path, mode = "/" + path[len(prefix) :], prefix.strip("/")
        data = srv.files.get(path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and mode != "norange":
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            body = data[start:]
        else:
            self.send_response(200)
            body = data
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if mode == "short" else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.files, srv.requests = {}, []
    t = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    t.start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEPOINTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FACEPOINTS_DATA", raising=False)
    return tmp_path / "cache"


# --- small real archives ----------------------------------------------------------------------


def _cuhk_lines(list_name: str, per_source: int = 2) -> list[bytes]:
    """The first `per_source` lines of each source folder, as raw bytes (CRLF kept)."""
    out, counts = [], {}
    for line in (CUHK / list_name).read_bytes().splitlines(keepends=True):
        src = line.split(b"\\")[0]
        if counts.get(src, 0) < per_source:
            counts[src] = counts.get(src, 0) + 1
            out.append(line)
    return out


def _cuhk_files() -> dict[str, bytes]:
    files = {}
    for list_name in ("trainImageList.txt", "testImageList.txt"):
        lines = _cuhk_lines(list_name)
        files[list_name] = b"".join(lines)
        for line in lines:
            rel = line.split()[0].decode().replace("\\", "/")
            files[rel] = (CUHK / rel).read_bytes()
    return files


def _zip(files: dict[str, bytes], prefix: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(prefix + name, data)
    return buf.getvalue()


def _targz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def cuhk_zip() -> bytes:
    return _zip(_cuhk_files())


def _wflw_archives(n: int = 2) -> tuple[bytes, bytes]:
    """(images .tar.gz, annotations .tar.gz) of WFLW's layout: the first `n` lines of every sample
    list, and rect_attr lists built from them (box from the points' extent, flags all 0)."""
    ann, images = {}, {}
    lst = WFLW / "WFLW_annotations" / "list_98pt_test"
    for f in sorted(lst.glob("list_98pt_test*.txt")):
        lines = f.read_text().splitlines()[:n]
        ann[f"WFLW_annotations/list_98pt_test/{f.name}"] = ("\n".join(lines) + "\n").encode()
        for ln in lines:
            rel = ln.split()[-1]
            images[f"WFLW_images/{rel}"] = (WFLW / "WFLW_images" / rel).read_bytes()
    rect = []
    for ln in (lst / "list_98pt_test.txt").read_text().splitlines()[:n]:
        f = ln.split()
        xy = [float(v) for v in f[:196]]
        xs, ys = xy[0::2], xy[1::2]
        box = [min(xs), min(ys), max(xs), max(ys)]
        rect.append(" ".join(f[:196] + [f"{v:.0f}" for v in box] + ["0"] * 6 + [f[-1]]))
    for split in ("train", "test"):
        name = f"list_98pt_rect_attr_train_test/list_98pt_rect_attr_{split}.txt"
        ann[f"WFLW_annotations/{name}"] = ("\n".join(rect) + "\n").encode()
    return _targz(images), _targz(ann)


# --- download_file ----------------------------------------------------------------------------


def test_download_file_whole(server, tmp_path, cuhk_zip):
    server.files["/train.zip"] = cuhk_zip
    sha = hashlib.sha256(cuhk_zip).hexdigest()
    dest = download_file(
        f"{server.base}/train.zip", tmp_path / "d" / "train.zip", sha256=sha, progress=False
    )
    assert dest.read_bytes() == cuhk_zip
    assert not (tmp_path / "d" / "train.zip.part").exists()
    n = len(server.requests)
    download_file(f"{server.base}/train.zip", dest, sha256=sha, progress=False)  # verified: reused
    assert len(server.requests) == n


@pytest.mark.parametrize("prefix", ["", "/norange"])
def test_download_file_resumes(server, tmp_path, cuhk_zip, prefix):
    server.files["/train.zip"] = cuhk_zip
    half = len(cuhk_zip) // 2
    dest = tmp_path / "train.zip"
    Path(str(dest) + ".part").write_bytes(cuhk_zip[:half])
    sha = hashlib.sha256(cuhk_zip).hexdigest()
    download_file(f"{server.base}{prefix}/train.zip", dest, sha256=sha, progress=False)
    assert dest.read_bytes() == cuhk_zip
    assert server.requests == [(f"{prefix}/train.zip", f"bytes={half}-")]
    assert not Path(str(dest) + ".part").exists()


def test_download_file_part_already_complete(server, tmp_path, cuhk_zip):
    server.files["/train.zip"] = cuhk_zip
    dest = tmp_path / "train.zip"
    Path(str(dest) + ".part").write_bytes(cuhk_zip)
    download_file(f"{server.base}/train.zip", dest, progress=False)  # server answers 416
    assert dest.read_bytes() == cuhk_zip


def test_download_file_checksum_mismatch(server, tmp_path, cuhk_zip):
    server.files["/train.zip"] = cuhk_zip
    dest = tmp_path / "train.zip"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_file(f"{server.base}/train.zip", dest, sha256="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_download_file_http_404(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/missing\.zip: HTTP 404"):
        download_file(f"{server.base}/missing.zip", tmp_path / "x.zip", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_download_file_incomplete_keeps_part(server, tmp_path, cuhk_zip):
    server.files["/train.zip"] = cuhk_zip
    dest = tmp_path / "train.zip"
    with pytest.raises(DownloadError, match="incomplete download.*resume"):
        download_file(f"{server.base}/short/train.zip", dest, progress=False)
    assert not dest.exists()
    assert Path(str(dest) + ".part").stat().st_size == len(cuhk_zip) // 2
    download_file(f"{server.base}/train.zip", dest, progress=False)
    assert dest.read_bytes() == cuhk_zip
    assert server.requests[-1][1] == f"bytes={len(cuhk_zip) // 2}-"


def test_download_file_connection_refused_and_bad_scheme(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot connect"):
        download_file(f"http://127.0.0.1:{port}/x.zip", tmp_path / "x.zip", progress=False)
    with pytest.raises(DownloadError, match="only http, https and file"):
        download_file("ftp://127.0.0.1/x.zip", tmp_path / "x.zip", progress=False)


def test_download_file_file_url(tmp_path, cuhk_zip):
    src = tmp_path / "src.zip"
    src.write_bytes(cuhk_zip)
    dest = download_file(src.as_uri(), tmp_path / "out" / "train.zip", progress=False)
    assert dest.read_bytes() == cuhk_zip


# --- download_dataset / prepare_dataset -------------------------------------------------------


def test_download_dataset_cuhk5(server, tmp_path, cache, cuhk_zip):
    server.files["/train.zip"] = cuhk_zip
    said = []
    root = download_dataset(
        "cuhk5",
        data_root=tmp_path / "data",
        url=f"{server.base}/train.zip",
        sha256=hashlib.sha256(cuhk_zip).hexdigest(),
        progress=False,
        strict=False,
        say=said.append,
    )
    assert root == tmp_path / "data"
    assert sorted(p.name for p in root.iterdir()) == [
        "lfw_5590",
        "net_7876",
        "testImageList.txt",
        "trainImageList.txt",
    ]
    assert (cache / "downloads" / "train.zip").read_bytes() == cuhk_zip
    recs = read_dataset("cuhk5", "train", data_root=root)
    assert len(recs.images) == 4 and all(p.is_file() for p in recs.images)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    assert said[-1] == f"cuhk5 prepared in {root}"
    # a second run is a no-op that says so, and fetches nothing
    n = len(server.requests)
    assert (
        download_dataset(
            "cuhk5",
            data_root=root,
            url=f"{server.base}/train.zip",
            progress=False,
            strict=False,
            say=said.append,
        )
        == root
    )
    assert len(server.requests) == n and "already prepared" in said[-1]
    # strictly checked, the small copy is not the official dataset
    assert any("expected 10000" in p for p in verify_dataset("cuhk5", root))


def test_official_lists_pass_strict_check():
    assert verify_dataset("cuhk5", CUHK, strict=True) == []


def test_prepare_from_zip_wrapped_in_a_folder(tmp_path, cuhk_zip):
    files = _cuhk_files()
    z = tmp_path / "train.zip"
    z.write_bytes(_zip({**files, "__MACOSX/._x": b"junk"}, prefix="train/"))
    assert detect_source(z) == "cuhk5"
    root = prepare_dataset("cuhk5", z, data_root=tmp_path / "out", progress=False, strict=False)
    assert (root / "trainImageList.txt").read_bytes() == files["trainImageList.txt"]
    assert len(read_dataset("cuhk5", "test", data_root=root).images) == 4


@pytest.mark.parametrize("link", [False, True])
def test_prepare_from_folder(tmp_path, link):
    src = tmp_path / "copy" / "train"
    for name, data in _cuhk_files().items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    (tmp_path / "copy" / "unrelated.txt").write_text("x")
    other = tmp_path / "datasets"
    other.mkdir()
    (other / "notes.txt").write_text("mine")  # a non-empty data root gets a cuhk5 subfolder
    root = prepare_dataset(
        "cuhk5", tmp_path / "copy", data_root=other, progress=False, strict=False, link=link
    )
    assert root == other / "cuhk5"
    img = next((root / "lfw_5590").iterdir())
    assert img.is_symlink() == link
    assert img.read_bytes() == (src / "lfw_5590" / img.name).read_bytes()
    assert len(read_dataset("cuhk5", "train", data_root=other).images) == 4


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "a/../../evil.txt", "link"])
def test_prepare_refuses_members_leaving_the_target(tmp_path, member):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in _cuhk_files().items():
            zf.writestr(name, data)
        if member == "link":
            info = zipfile.ZipInfo("lfw_5590/link.jpg")
            info.external_attr = (0o120777) << 16
            zf.writestr(info, "/etc/passwd")
        else:
            zf.writestr(member, b"evil")
    z = tmp_path / "train.zip"
    z.write_bytes(buf.getvalue())
    out = tmp_path / "out" / "cuhk5"
    with pytest.raises(DownloadError, match="refused"):
        prepare_dataset("cuhk5", z, data_root=out, progress=False, strict=False)
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_truncated_archive_leaves_nothing(tmp_path, cuhk_zip, kind):
    data = cuhk_zip if kind == "zip" else _targz(_cuhk_files())
    a = tmp_path / f"train.{kind}"
    a.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out" / "cuhk5"
    with pytest.raises(DownloadError, match="damaged or truncated"):
        prepare_dataset("cuhk5", a, data_root=out, progress=False, strict=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_incomplete_layout_is_refused_and_existing_target_kept(tmp_path):
    files = _cuhk_files()
    bad = {k: v for k, v in files.items() if not k.startswith("net_7876/")}
    z = tmp_path / "train.zip"
    z.write_bytes(_zip(bad))
    out = tmp_path / "cuhk5"
    with pytest.raises(
        DownloadError, match="not a complete cuhk5 dataset: missing folder net_7876"
    ):
        prepare_dataset("cuhk5", z, data_root=out, progress=False, strict=False)
    assert not out.exists()
    # a broken existing copy is replaced only with overwrite
    out.mkdir()
    (out / "trainImageList.txt").write_text("broken\n")
    z.write_bytes(_zip(files))
    with pytest.raises(DownloadError, match="exists but is not a complete cuhk5"):
        prepare_dataset("cuhk5", z, data_root=out, progress=False, strict=False)
    assert (out / "trainImageList.txt").read_text() == "broken\n"
    prepare_dataset("cuhk5", z, data_root=out, progress=False, strict=False, overwrite=True)
    assert verify_dataset("cuhk5", out, strict=False) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_wflw_by_hand_then_mirror_and_prepare(server, tmp_path, cache):
    images, ann = _wflw_archives()
    # images have no direct URL: a clear error pointing at `data prepare`, without network
    (cache / "downloads").mkdir(parents=True)
    (cache / "downloads" / "WFLW_annotations.tar.gz").write_bytes(ann)
    assert SOURCES["wflw"].archives[0].url is None
    with pytest.raises(
        DownloadError, match=r"WFLW_images\.tar\.gz has no direct download.*data prepare"
    ):
        download_dataset("wflw", data_root=tmp_path / "d1", progress=False, strict=False)
    assert not (tmp_path / "d1").exists()
    # a mirror holding both archives
    server.files["/wflw/WFLW_images.tar.gz"] = images
    (cache / "downloads" / "WFLW_annotations.tar.gz").unlink()
    server.files["/wflw/WFLW_annotations.tar.gz"] = ann
    root = download_dataset(
        "wflw", data_root=tmp_path / "d1", url=f"{server.base}/wflw/", progress=False, strict=False
    )
    assert verify_dataset("wflw", root, strict=False) == []
    assert (root / "WFLW_images").is_dir()
    # archives the user downloaded by hand, in one folder
    hand = tmp_path / "hand"
    hand.mkdir()
    (hand / "WFLW_images.tar.gz").write_bytes(images)
    (hand / "WFLW_annotations.tar.gz").write_bytes(ann)
    assert detect_source(hand) == "wflw"
    root2 = prepare_dataset("wflw", hand, data_root=tmp_path / "d2", progress=False, strict=False)
    assert sorted(p.name for p in root2.iterdir()) == ["WFLW_annotations", "WFLW_images"]
