"""Getting datasets: the official sources of each dataset, resumable checked downloads, and safe
extraction of an archive or a local copy into the layout the readers expect.

Checksums: the official archives' own sha256 is not published, so `ArchiveFile.sha256` stays None
and the extracted content is checked instead (`verify_dataset`): the layout, every list line (field
count, numbers, image present) and, when `strict`, the official list files' sha256, line counts and
image counts. `strict=False` accepts a smaller copy with the same layout (tests, trimmed mirrors).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, DownloadError
from .paths import resolve_data_root, user_cache_dir

__all__ = [
    "ArchiveFile",
    "ListFile",
    "Manifest",
    "DatasetSource",
    "SOURCES",
    "download_file",
    "download_dataset",
    "prepare_dataset",
    "verify_dataset",
    "detect_source",
    "dataset_target",
]

Say = Callable[[str], None]
PathLike = str | os.PathLike


@dataclass(frozen=True)
class ArchiveFile:
    """One file of a dataset's official distribution. `url` None: no direct download (the user
    fetches it by hand from the dataset's page). `provides`: the layout's top entries it holds."""

    filename: str
    url: str | None
    provides: tuple[str, ...]
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class ListFile:
    """An annotation list of the layout: `fields` per line, the image path in field `image_field`
    (0 first, -1 last), relative to `image_dir`. `lines` and `sha256` are the official file's,
    checked only when strict."""

    path: str
    fields: int
    image_field: int
    image_dir: str = ""
    lines: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Manifest:
    """What a prepared dataset folder holds: list files, and image folders with their official
    number of .jpg files (None: not known; counts are checked only when strict)."""

    lists: tuple[ListFile, ...]
    folders: dict[str, int | None] = field(default_factory=dict)

    @property
    def top(self) -> tuple[str, ...]:
        """The names at the top of the layout (how an archive's content root is recognised)."""
        names = [p.split("/")[0] for p in [*(lf.path for lf in self.lists), *self.folders]]
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset comes from (`page`: licence and manual downloads) and what it unpacks to."""

    name: str
    title: str
    page: str
    archives: tuple[ArchiveFile, ...]
    manifest: Manifest


_WFLW_SUBSETS = {  # official face counts of WFLW's test subsets (Wu et al. 2018)
    "largepose": 326,
    "expression": 314,
    "illumination": 698,
    "makeup": 206,
    "occlusion": 736,
    "blur": 773,
}
_WFLW_RECT = "WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_{}.txt"
_WFLW_TEST = "WFLW_annotations/list_98pt_test/list_98pt_test{}.txt"

SOURCES: dict[str, DatasetSource] = {
    "cuhk5": DatasetSource(
        name="cuhk5",
        title="CUHK face points (Sun, Wang, Tang, CVPR 2013)",
        page="http://mmlab.ie.cuhk.edu.hk/archive/CNN_FacePoint.htm",
        archives=(
            ArchiveFile(
                filename="train.zip",
                url="http://mmlab.ie.cuhk.edu.hk/archive/CNN/data/train.zip",
                provides=("trainImageList.txt", "testImageList.txt", "lfw_5590", "net_7876"),
            ),
        ),
        manifest=Manifest(
            lists=(
                ListFile(
                    "trainImageList.txt",
                    fields=15,
                    image_field=0,
                    lines=10_000,
                    sha256="82596ffc52d38c9649e16250a767b54c031ce66280d4ab5b49405a0a671a9a8d",
                ),
                ListFile(
                    "testImageList.txt",
                    fields=15,
                    image_field=0,
                    lines=3_466,
                    sha256="154975fc037f48bc3e9703d9466f260e24ed903b5e295347aa535d04d17be5ca",
                ),
            ),
            folders={"lfw_5590": 5_590, "net_7876": 7_876},
        ),
    ),
    "wflw": DatasetSource(
        name="wflw",
        title="WFLW, 98 points (Wu et al., CVPR 2018)",
        page="https://wywu.github.io/projects/LAB/WFLW.html",
        archives=(
            # Hosted on Google Drive / Baidu Pan only: no URL a plain HTTP client can fetch.
            ArchiveFile(filename="WFLW_images.tar.gz", url=None, provides=("WFLW_images",)),
            ArchiveFile(
                filename="WFLW_annotations.tar.gz",
                url="https://wywu.github.io/projects/LAB/support/WFLW_annotations.tar.gz",
                provides=("WFLW_annotations",),
            ),
        ),
        manifest=Manifest(
            lists=(
                ListFile(_WFLW_RECT.format("train"), 207, -1, "WFLW_images", lines=7_500),
                ListFile(_WFLW_RECT.format("test"), 207, -1, "WFLW_images", lines=2_500),
                ListFile(_WFLW_TEST.format(""), 197, -1, "WFLW_images", lines=2_500),
                *(
                    ListFile(_WFLW_TEST.format(f"_{k}"), 197, -1, "WFLW_images", lines=n)
                    for k, n in _WFLW_SUBSETS.items()
                ),
            ),
            folders={"WFLW_images": None},
        ),
    ),
}


def download_file(
    url: str,
    dest: PathLike,
    sha256: str | None = None,
    progress: bool = True,
    resume: bool = True,
    timeout: float = 30,
    chunk: int = 1 << 20,
    size: int | None = None,
) -> Path:
    """Download `url` (http, https or file) to `dest`, streaming into `dest.part` and resuming an
    earlier partial download with a Range request. `dest` appears only once complete (the server's
    Content-Length, `size`) and verified (`sha256`); a failed check deletes the download. An
    existing `dest` that passes the given checks is kept and nothing is fetched."""
    dest = Path(dest)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise DownloadError(f"{url}: only http, https and file URLs can be downloaded")
    want = sha256.lower() if sha256 else None
    if dest.is_file() and _file_ok(dest, want, size):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if not resume:
        part.unlink(missing_ok=True)
    offset = part.stat().st_size if part.is_file() else 0

    resp, offset, total = _open(url, offset, timeout, part)
    if size is not None and total is not None and total != size:
        if resp is not None:
            resp.close()
        raise DownloadError(f"{url}: the server offers {total} bytes, expected {size}")
    if resp is not None:
        _stream(resp, url, part, offset, total, chunk, progress, dest.name)
    got = part.stat().st_size
    if total is not None and got != total:
        raise DownloadError(
            f"{url}: incomplete download ({got} of {total} bytes); run again to resume"
        )
    if size is not None and got != size:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: got {got} bytes, expected {size}; the download was deleted")
    if want is not None:
        digest = _sha256_file(part)
        if digest != want:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{url}: checksum mismatch (sha256 {digest}, expected {want}); "
                "the download was deleted"
            )
    os.replace(part, dest)
    return dest


def prepare_dataset(
    name: str,
    source: PathLike | Sequence[PathLike],
    data_root: PathLike | None = None,
    progress: bool = True,
    strict: bool = True,
    link: bool = False,
    overwrite: bool = False,
    say: Say | None = None,
) -> Path:
    """Put dataset `name` in place from local archives (.zip, .tar, .tar.gz, .tgz, ...) or folders
    (its layout at the top or under one folder, or a folder holding its official archives), and
    return the dataset's folder. Extraction goes to a temporary folder beside the target, which is
    renamed into place only when `verify_dataset` passes. A target that already passes is left as
    it is; one that exists but fails is replaced only with `overwrite`. With `link`, a folder's
    files are symlinked instead of copied. Archive members that would leave the target (absolute
    paths, '..', links) are refused."""
    src = _source(name)
    say = say or _quiet
    sources = (
        [Path(source)] if isinstance(source, (str, os.PathLike)) else [Path(s) for s in source]
    )
    if not sources:
        raise DownloadError(f"{name}: nothing to prepare from (no archive or folder given)")
    for s in sources:
        if not s.exists():
            raise DownloadError(f"{s}: no such file or folder")
    target = dataset_target(name, data_root)
    if _target_ready(src, target, strict, overwrite, say):
        return target
    for s in sources:
        if s.is_dir() and _overlaps(s, target):
            raise DownloadError(f"{s}: the source is (or holds) the target folder {target}")

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        for s in sources:
            _stage(src, s, staging, progress, link)
        problems = verify_dataset(name, staging, strict=strict)
        if problems:
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise DownloadError(
                f"{', '.join(map(str, sources))}: not a complete {name} dataset: {problems[0]}{more}"
            )
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    say(f"{name} prepared in {target}")
    return target


def download_dataset(
    name: str,
    data_root: PathLike | None = None,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    keep_archive: bool = True,
    strict: bool = True,
    overwrite: bool = False,
    timeout: float = 30,
    say: Say | None = None,
) -> Path:
    """Download dataset `name`'s archives into `<user cache>/downloads/` (resuming partial ones,
    reusing complete ones) and prepare it (see `prepare_dataset`); return the dataset's folder.
    `url` replaces the official source (a mirror or a test server): the archive's URL for a
    single-archive dataset, else a folder URL holding every archive by its official name; the
    official checksums then no longer apply. `sha256` (single-archive datasets) checks the archive,
    official or not.
    An archive with no direct download is taken from the downloads folder when the user put it
    there; otherwise this raises a DownloadError that says where to get it."""
    src = _source(name)
    say = say or _quiet
    target = dataset_target(name, data_root)
    if _target_ready(src, target, strict, overwrite, say):
        return target
    if sha256 and len(src.archives) > 1:
        raise ConfigError(
            f"a sha256 needs a single-archive dataset; {name} has {len(src.archives)} archives"
        )
    downloads = user_cache_dir() / "downloads"
    got: list[Path] = []
    by_hand: list[ArchiveFile] = []
    for a in src.archives:
        dest = downloads / a.filename
        if url is None:
            a_url, a_sha, a_size = a.url, sha256 or a.sha256, a.size
        else:
            a_url = url if len(src.archives) == 1 else _join_url(url, a.filename)
            a_sha, a_size = sha256, None
        if a_url is None:
            if dest.is_file():
                say(f"using {dest}")
                got.append(dest)
            else:
                by_hand.append(a)
            continue
        say(f"downloading {a_url}")
        got.append(
            download_file(
                a_url, dest, sha256=a_sha, progress=progress, timeout=timeout, size=a_size
            )
        )
    if by_hand:
        files = " and ".join(a.filename for a in by_hand)
        every = ", ".join(a.filename for a in src.archives)
        raise DownloadError(
            f"{name}: {files} has no direct download; get it by hand from {src.page} and put it in "
            f"{downloads} then run this again, or run `facepoints data prepare --from DIR "
            f"--dataset {name}` with DIR holding {every}"
        )
    try:
        root = prepare_dataset(
            name,
            got,
            data_root=data_root,
            progress=progress,
            strict=strict,
            overwrite=overwrite,
            say=say,
        )
    except DownloadError as e:
        raise DownloadError(
            f"{e} (the archives stay in {downloads}; delete them to download again)"
        ) from None
    if not keep_archive:
        for p in got:
            p.unlink(missing_ok=True)
    return root


def verify_dataset(name: str, root: PathLike, strict: bool = True) -> list[str]:
    """Problems of the dataset folder `root` (empty: it is complete). Always: every list file and
    image folder is present and every list line has the right fields, numbers and an existing
    image. With `strict`: also the official list files' sha256 and line counts and the image
    counts. Paths in the messages are relative to `root`."""
    man = _source(name).manifest
    root = Path(root)
    if not root.is_dir():
        return [f"{root}: no such folder"]
    problems: list[str] = []
    for folder, count in man.folders.items():
        d = root / folder
        if not d.is_dir():
            problems.append(f"missing folder {folder}/")
        elif strict and count is not None:
            n = sum(1 for p in d.rglob("*") if p.suffix.lower() == ".jpg")
            if n != count:
                problems.append(f"{folder}/ holds {n} .jpg files, expected {count}")
    seen: dict[Path, bool] = {}
    for lf in man.lists:
        problems += _check_list(root, lf, strict, seen)
    return problems


def detect_source(source: PathLike | Sequence[PathLike]) -> str:
    """The dataset whose archive(s) or folder `source` is, from archive names, the folder's layout
    or the archive's first members."""
    sources = (
        [Path(source)] if isinstance(source, (str, os.PathLike)) else [Path(s) for s in source]
    )
    for s in sources:
        for name, src in SOURCES.items():
            top = src.manifest.top
            names = {a.filename for a in src.archives}
            if s.is_file():
                if s.name in names or any(t in _peek_top(s) for t in top):
                    return name
            elif s.is_dir():
                if _content_root(s, top) is not None or any((s / n).is_file() for n in names):
                    return name
    raise DownloadError(
        f"{', '.join(map(str, sources))}: cannot tell which dataset this is; "
        f"name it (known: {', '.join(SOURCES)})"
    )


def dataset_target(name: str, data_root: PathLike | None = None) -> Path:
    """The folder that prepare/download fill: `resolve_data_root`'s answer, except that an
    existing non-empty folder that does not hold this dataset's layout gets a `name` subfolder
    (so --data-root ~/datasets never mixes the dataset into other files)."""
    top = _source(name).manifest.top
    root = resolve_data_root(name, data_root)
    if (
        data_root is not None
        and root == Path(data_root).expanduser()
        and root.is_dir()
        and any(root.iterdir())
        and not any((root / t).exists() for t in top)
    ):
        root = root / name
    return root


# ---------------------------------------------------------------------------------------------
# helpers

_JUNK = {"__MACOSX", ".DS_Store"}
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def _quiet(_: str) -> None:
    pass


def _source(name: str) -> DatasetSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(SOURCES)}") from None


def _join_url(base: str, filename: str) -> str:
    return base.rstrip("/") + "/" + urllib.parse.quote(filename)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file_ok(path: Path, sha256: str | None, size: int | None) -> bool:
    if size is not None and path.stat().st_size != size:
        return False
    return sha256 is None or _sha256_file(path) == sha256


def _open(url: str, offset: int, timeout: float, part: Path):
    """(response or None when `part` is already complete, offset the body starts at, total size)."""
    headers = {"User-Agent": "facepoints", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            m = re.fullmatch(r"bytes \*/(\d+)", e.headers.get("Content-Range", "").strip())
            e.close()
            if m and int(m.group(1)) == offset:
                return None, offset, offset  # the partial file is already whole
            part.unlink(missing_ok=True)
            return _open(url, 0, timeout, part)
        e.close()
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"{url}: cannot connect ({_reason(e.reason)})") from None
    except TimeoutError:
        raise DownloadError(f"{url}: no answer within {timeout:g} s") from None
    except (http.client.HTTPException, OSError) as e:
        raise DownloadError(f"{url}: cannot download ({_reason(e)})") from None

    length = resp.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if offset and getattr(resp, "status", None) == 206:
        m = re.fullmatch(
            r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", "").strip()
        )
        if m and int(m.group(1)) == offset:
            total = int(m.group(3)) if m.group(3) != "*" else (offset + length if length else None)
            return resp, offset, total
        resp.close()  # a range we did not ask for: start again from zero
        part.unlink(missing_ok=True)
        return _open(url, 0, timeout, part)
    return resp, 0, length  # 200 (or file://): the whole file, from the start


def _stream(resp, url: str, part: Path, offset: int, total, chunk: int, progress: bool, desc: str):
    from tqdm import tqdm

    got = offset
    try:
        with (
            resp,
            open(part, "ab" if offset else "wb") as f,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=desc,
                disable=not progress,
            ) as bar,
        ):
            while True:
                block = resp.read(chunk)
                if not block:
                    break
                f.write(block)
                got += len(block)
                bar.update(len(block))
            f.flush()
            os.fsync(f.fileno())
    except TimeoutError:
        raise DownloadError(
            f"{url}: connection stalled after {got} bytes; run again to resume"
        ) from None
    except (http.client.HTTPException, OSError) as e:
        raise DownloadError(
            f"{url}: connection lost after {got} bytes ({_reason(e)}); run again to resume"
        ) from None


def _reason(e: object) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


def _target_ready(
    src: DatasetSource, target: Path, strict: bool, overwrite: bool, say: Say
) -> bool:
    """True when `target` already holds the dataset; raises when it holds something else that
    may not be replaced."""
    if not (target.exists() or target.is_symlink()):
        return False
    if target.is_dir() and not any(target.iterdir()):
        return False
    problems = (
        verify_dataset(src.name, target, strict=strict) if target.is_dir() else ["not a folder"]
    )
    if not problems:
        say(f"{src.name} is already prepared in {target}; nothing to do")
        return True
    if not overwrite:
        raise DownloadError(
            f"{target}: exists but is not a complete {src.name} dataset ({problems[0]}); "
            "remove it or overwrite it"
        )
    return False


def _overlaps(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the verified staging folder to `target`; a replaced target is set aside first and
    deleted only once the new one is in place."""
    if not (target.exists() or target.is_symlink()):
        os.replace(staging, target)
        return
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        target.rmdir()
        os.replace(staging, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent)) / "old"
    os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old.parent, ignore_errors=True)


def _stage(src: DatasetSource, s: Path, staging: Path, progress: bool, link: bool) -> None:
    """Add what source `s` (an archive or a folder) holds of the layout to `staging`."""
    if s.is_file():
        _stage_archive(src, s, staging, progress)
        return
    top = src.manifest.top
    root = _content_root(s, top)
    staged: set[str] = set()
    if root is not None:
        entries = [root / t for t in top if (root / t).exists()]
        _copy_entries(entries, staging, link, progress)
        staged = {e.name for e in entries}
    archives = [a for a in src.archives if (s / a.filename).is_file()]
    todo = [a for a in archives if not set(a.provides) <= staged]
    if root is None and not archives:
        raise DownloadError(
            f"{s}: holds neither the {src.name} layout ({', '.join(top)}) nor its archives "
            f"({', '.join(a.filename for a in src.archives)})"
        )
    for a in todo:
        _stage_archive(src, s / a.filename, staging, progress)


def _stage_archive(src: DatasetSource, archive: Path, staging: Path, progress: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".x-", dir=staging))
    try:
        _extract(archive, tmp, progress)
        root = _content_root(tmp, src.manifest.top)
        if root is None:
            raise DownloadError(
                f"{archive}: holds none of {', '.join(src.manifest.top)} at its top or under one "
                f"folder; is it a {src.name} archive?"
            )
        for e in list(root.iterdir()):
            if e.name not in _JUNK:
                _merge_move(e, staging / e.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _content_root(d: Path, top: Iterable[str]) -> Path | None:
    """`d`, or the folder up to two levels below it that holds a `top` entry: the only folder
    there, or the only one of several folders that holds the layout."""
    top = tuple(top)
    for _ in range(3):
        if any((d / t).exists() for t in top):
            return d
        try:
            subs = [
                e for e in d.iterdir() if e.name not in _JUNK and e.is_dir() and not e.is_symlink()
            ]
        except OSError:
            return None
        if len(subs) > 1:
            subs = [e for e in subs if any((e / t).exists() for t in top)]
        if len(subs) != 1:
            return None
        d = subs[0]
    return None


def _merge_move(src: Path, dst: Path) -> None:
    if dst.is_dir() and src.is_dir() and not dst.is_symlink():
        for e in list(src.iterdir()):
            _merge_move(e, dst / e.name)
        src.rmdir()
        return
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    os.replace(src, dst)


def _copy_entries(entries: list[Path], staging: Path, link: bool, progress: bool) -> None:
    """Copy (or symlink, file by file) folder entries into staging. Files are copied without their
    permission bits, so a copy of the read-only shared data stays writable (and removable)."""
    from tqdm import tqdm

    def put(f: Path, out: Path) -> None:
        if link:
            out.symlink_to(os.path.realpath(f))
        else:
            shutil.copyfile(f, out)
        bar.update(1)

    with tqdm(unit="file", desc="copying" if not link else "linking", disable=not progress) as bar:
        for e in entries:
            try:
                if not e.is_dir():
                    put(e, staging / e.name)
                    continue
                for dirpath, dirnames, filenames in os.walk(e):
                    rel = Path(dirpath).relative_to(e.parent)
                    (staging / rel).mkdir(parents=True, exist_ok=True)
                    dirnames[:] = [d for d in dirnames if d not in _JUNK]
                    for fn in filenames:
                        if fn not in _JUNK:
                            put(Path(dirpath) / fn, staging / rel / fn)
            except OSError as err:
                raise DownloadError(f"{e}: cannot copy ({_reason(err)})") from None


def _archive_kind(path: Path) -> str:
    n = path.name.lower()
    if n.endswith(".zip"):
        return "zip"
    if n.endswith(_TAR_SUFFIXES):
        return "tar"
    if zipfile.is_zipfile(path):
        return "zip"
    with contextlib.suppress(OSError, tarfile.TarError):
        if tarfile.is_tarfile(path):
            return "tar"
    raise DownloadError(f"{path}: not a zip or tar archive (or a damaged one)")


def _extract(archive: Path, dest: Path, progress: bool) -> None:
    kind = _archive_kind(archive)
    try:
        if kind == "zip":
            _extract_zip(archive, dest, progress)
        else:
            _extract_tar(archive, dest, progress)
    except DownloadError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        tarfile.TarError,
        EOFError,
        zlib.error,
        lzma.LZMAError,
    ) as e:
        raise DownloadError(f"{archive}: damaged or truncated archive ({e})") from None
    except OSError as e:
        raise DownloadError(f"{archive}: cannot extract ({_reason(e)})") from None


def _member_parts(archive: Path, name: str) -> list[str]:
    """The path parts of an archive member, or DownloadError if it would leave the target."""
    n = name.replace("\\", "/")
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if n.startswith("/") or re.match(r"[A-Za-z]:", n) or ".." in parts:
        raise DownloadError(
            f"{archive}: member {name!r} would be written outside the target; refused"
        )
    return parts


def _inside(dest: Path, parts: list[str]) -> Path:
    out = dest.joinpath(*parts)
    if os.path.commonpath(
        [os.path.realpath(out.parent), os.path.realpath(dest)]
    ) != os.path.realpath(dest):
        raise DownloadError(f"{out}: would be written outside the target; refused")
    return out


def _extract_zip(archive: Path, dest: Path, progress: bool) -> None:
    from tqdm import tqdm

    with zipfile.ZipFile(archive) as zf:
        plan = []
        for info in zf.infolist():
            parts = _member_parts(archive, info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DownloadError(
                    f"{archive}: member {info.filename!r} is a symbolic link; refused"
                )
            if parts:
                plan.append((info, parts))
        need = sum(i.file_size for i, _ in plan)
        free = shutil.disk_usage(dest).free
        if need > free:
            raise DownloadError(
                f"{archive}: needs {need / 1e9:.1f} GB to extract, {free / 1e9:.1f} GB free"
            )
        with tqdm(
            total=need,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"extracting {archive.name}",
            disable=not progress,
        ) as bar:
            for info, parts in plan:
                out = _inside(dest, parts)
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as fi, open(out, "wb") as fo:
                    for block in iter(lambda fi=fi: fi.read(1 << 20), b""):
                        fo.write(block)
                        bar.update(len(block))


class _CountingReader:
    """A file wrapper that reports bytes read to a progress bar (tar streams have no index)."""

    def __init__(self, f, bar):
        self.f, self.bar = f, bar

    def read(self, n: int = -1) -> bytes:
        b = self.f.read(n)
        self.bar.update(len(b))
        return b


def _extract_tar(archive: Path, dest: Path, progress: bool) -> None:
    from tqdm import tqdm

    size = archive.stat().st_size
    with (
        open(archive, "rb") as raw,
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"extracting {archive.name}",
            disable=not progress,
        ) as bar,
        tarfile.open(fileobj=_CountingReader(raw, bar), mode="r|*") as tf,
    ):
        for m in tf:  # one pass over the stream: no second decompression for an index
            parts = _member_parts(archive, m.name)
            if m.issym() or m.islnk():
                raise DownloadError(f"{archive}: member {m.name!r} is a link; refused")
            if not parts:
                continue
            out = _inside(dest, parts)
            if m.isdir():
                out.mkdir(parents=True, exist_ok=True)
            elif m.isfile():
                out.parent.mkdir(parents=True, exist_ok=True)
                fi = tf.extractfile(m)
                with fi, open(out, "wb") as fo:
                    shutil.copyfileobj(fi, fo, 1 << 20)
            else:
                raise DownloadError(
                    f"{archive}: member {m.name!r} is not a file or folder; refused"
                )


def _peek_top(archive: Path, limit: int = 20) -> set[str]:
    """Names in the first two levels of an archive's first members ({} if unreadable)."""
    names: list[str] = []
    try:
        if _archive_kind(archive) == "zip":
            with zipfile.ZipFile(archive) as zf:
                names = zf.namelist()[:limit]
        else:
            with tarfile.open(archive, "r|*") as tf:
                for i, m in enumerate(tf):
                    if i >= limit:
                        break
                    names.append(m.name)
    except (
        DownloadError,
        OSError,
        zipfile.BadZipFile,
        tarfile.TarError,
        EOFError,
        zlib.error,
        lzma.LZMAError,
    ):
        return set()
    out: set[str] = set()
    for n in names:
        out.update([p for p in n.replace("\\", "/").split("/") if p][:2])
    return out


def _check_list(root: Path, lf: ListFile, strict: bool, seen: dict[Path, bool]) -> list[str]:
    p = root / lf.path
    if not p.is_file():
        return [f"missing {lf.path}"]
    problems: list[str] = []
    try:
        data = p.read_bytes()
    except OSError as e:
        return [f"{lf.path}: cannot read ({_reason(e)})"]
    if strict and lf.sha256 and (digest := hashlib.sha256(data).hexdigest()) != lf.sha256:
        problems.append(
            f"{lf.path}: not the official file (sha256 {digest[:16]}..., expected {lf.sha256[:16]}...)"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return [*problems, f"{lf.path}: not UTF-8 text (byte {e.start})"]
    lines = [(i, ln) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    if not lines:
        problems.append(f"{lf.path}: no lines")
    elif strict and lf.lines is not None and len(lines) != lf.lines:
        problems.append(f"{lf.path}: {len(lines)} lines, expected {lf.lines}")
    bad: list[str] = []
    img_i = lf.image_field % lf.fields
    base = root / lf.image_dir
    for i, ln in lines:
        fields = ln.split()
        if len(fields) != lf.fields:
            bad.append(f"{lf.path}:{i}: {len(fields)} fields, expected {lf.fields}")
            continue
        rel = fields[img_i].replace("\\", "/")
        try:
            for f in fields[:img_i] + fields[img_i + 1 :]:
                float(f)
        except ValueError:
            bad.append(f"{lf.path}:{i}: field {f!r} is not a number")
            continue
        parts = [x for x in rel.split("/") if x not in ("", ".")]
        if rel.startswith("/") or ".." in parts:
            bad.append(f"{lf.path}:{i}: image path leaves the dataset: {rel}")
            continue
        img = base.joinpath(*parts)
        if img not in seen:
            seen[img] = img.is_file()
        if not seen[img]:
            bad.append(f"{lf.path}:{i}: image not found: {Path(lf.image_dir, *parts).as_posix()}")
    problems += bad[:5]
    if len(bad) > 5:
        problems.append(f"{lf.path}: and {len(bad) - 5} more bad lines")
    return problems
