"""The swarm-sentinel image, built without a registry and without `docker build`.

Nothing can be pulled here, so python:3.11-slim is out of reach. Instead this lays
out, in a folder, what the Dockerfile's final stage holds, from what this machine has:

- /usr/local: the interpreter and standard library of the Python the test venv was
  made from (``sys.base_prefix``), minus tests, IDLE, tkinter, ensurepip, lib2to3...;
- /opt/swarm-sentinel: a virtualenv as ``python -m venv`` lays it out, with the
  project installed non-editable by ``pip install --target`` and its runtime
  dependencies copied from the test venv (no index needed for those);
- the shared libraries all of that links against (found with ``ldd``), the dynamic
  loader, /etc/passwd and /etc/group with the Dockerfile's user, /tmp.

The folder is tarred and `docker import`-ed with the final stage's ENV, USER, EXPOSE,
HEALTHCHECK and ENTRYPOINT read from the Dockerfile, so the image runs the way the real
one would: same paths, same user, same healthcheck command.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from packaging.requirements import Requirement

from lab.dockerpy import docker_client
from lab.image import import_error, rootfs_tar

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
VENV = "/opt/swarm-sentinel"
"""Where the Dockerfile's build stage makes its virtualenv (checked against the Dockerfile)."""
PREFIX = "/usr/local"
"""Where python:3.11-slim keeps its interpreter."""
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""PATH of the python:3.11-slim base image, which the Dockerfile's ENV PATH extends."""

# Instructions of the final stage that become image config (`docker import --change`);
# RUN and COPY are what this module does by hand.
_CONFIG_INSTRUCTIONS = ("ENV", "USER", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD", "LABEL")

# Parts of the standard library a service never needs (by directory or file name).
_STDLIB_SKIP = {
    "__pycache__",
    "site-packages",
    "test",
    "tests",
    "idle_test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "turtle.py",
    "ensurepip",
    "lib2to3",
    "pydoc_data",
    "sqlite3",
}
_DYNLOAD_SKIP = re.compile(
    r"^(_test|_tkinter|_ctypes_test|xxlimited|_xxtestfuzz|_xxsubinterpreters|_curses"
    r"|readline|nis|ossaudiodev|spwd|_sqlite3|_dbm|_gdbm|audioop)"
)


class ImageBuildError(Exception):
    """The image could not be assembled or imported; the message says why."""


# ------------------------------------------------------------------ the Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    """Upper case: FROM, RUN, COPY, ENV..."""
    args: str


def dockerfile_stages(path: Path = DOCKERFILE) -> list[list[Instruction]]:
    """The Dockerfile's instructions by stage: each FROM starts one; global ARGs before
    the first FROM form a stage of their own. Comments dropped, continuations joined."""
    logical: list[str] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    stages: list[list[Instruction]] = [[]]
    for text in logical:
        keyword, _, args = text.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return [stage for stage in stages if stage]


def final_stage(path: Path = DOCKERFILE) -> list[Instruction]:
    return dockerfile_stages(path)[-1]


def build_sources(path: Path = DOCKERFILE) -> list[str]:
    """What the build stage COPYs from the context (relative paths, as written)."""
    sources: list[str] = []
    for stage in dockerfile_stages(path)[:-1]:
        for ins in stage:
            if ins.keyword == "COPY" and not ins.args.startswith("--"):
                sources.extend(ins.args.split()[:-1])
    return sources


def image_changes(path: Path = DOCKERFILE) -> list[str]:
    """The final stage's config instructions as `docker import --change` lines, after the
    base image's PATH (which the Dockerfile's ENV PATH=...:$PATH extends)."""
    changes = [f"ENV PATH={BASE_PATH}"]
    changes += [
        f"{ins.keyword} {ins.args}"
        for ins in final_stage(path)
        if ins.keyword in _CONFIG_INSTRUCTIONS
    ]
    return changes


def image_user(path: Path = DOCKERFILE) -> tuple[int, int]:
    """uid and gid of the final stage's USER (numeric, as the Dockerfile must write it)."""
    users = [ins.args for ins in final_stage(path) if ins.keyword == "USER"]
    if not users:
        raise ImageBuildError("the Dockerfile's final stage sets no USER")
    uid, _, gid = users[-1].partition(":")
    return int(uid), int(gid or uid)


# ------------------------------------------------------------------ the root filesystem


def _ignore_stdlib(directory: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n in _STDLIB_SKIP or n.endswith((".pyc", ".exe"))}
    if Path(directory).name == "lib-dynload":
        skip |= {n for n in names if _DYNLOAD_SKIP.match(n)}
    if Path(directory).name.startswith("config-"):
        skip |= set(names)  # libpythonX.Y.a and the Makefile: build-time only
    return skip


def copy_interpreter(rootfs: Path) -> Path:
    """The base interpreter at /usr/local, as in the python:3.11-slim image; returns it."""
    base = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    binary = base / "bin" / version
    bin_dir = rootfs / PREFIX.lstrip("/") / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(binary.resolve(), bin_dir / version)
    for alias in ("python3", "python"):
        (bin_dir / alias).symlink_to(version)
    shutil.copytree(
        base / "lib" / version,
        rootfs / PREFIX.lstrip("/") / "lib" / version,
        ignore=_ignore_stdlib,
        symlinks=True,
    )
    return bin_dir / version


def strip_debug_symbols(files: Iterable[Path]) -> None:
    """Drop debug symbols (pyenv builds keep them: libpython alone is ~20 MB of them).
    Skipped when binutils' strip is not installed: the image is only bigger."""
    strip = shutil.which("strip")
    if strip is None:
        return
    for file in files:
        subprocess.run([strip, "--strip-debug", str(file)], capture_output=True, timeout=60)


def _runtime_distributions(project: str) -> list[importlib.metadata.Distribution]:
    """The installed distributions `project` needs at run time (no extras), recursively."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = [Requirement(r) for r in importlib.metadata.requires(project) or ()]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = re.sub(r"[-_.]+", "-", req.name).lower()
        if key in seen:
            continue
        try:
            dist = importlib.metadata.distribution(req.name)
        except importlib.metadata.PackageNotFoundError as err:
            raise ImageBuildError(f"{req.name} (needed by {project}) is not installed") from err
        seen[key] = dist
        todo.extend(Requirement(r) for r in dist.requires or ())
    return list(seen.values())


def copy_dependencies(project: str, site_packages: Path) -> list[str]:
    """Copy the runtime dependencies of `project` from this environment; their names."""
    names: list[str] = []
    for dist in _runtime_distributions(project):
        names.append(dist.metadata["Name"])
        if dist.files is None:
            raise ImageBuildError(f"{dist.metadata['Name']} has no RECORD: cannot copy it")
        for file in dist.files:
            parts = Path(str(file)).parts
            if ".." in parts or "__pycache__" in parts or parts[-1].endswith(".pyc"):
                continue  # scripts outside site-packages, and bytecode
            source = Path(str(dist.locate_file(file)))
            if not source.is_file():
                continue
            dest = site_packages.joinpath(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)
    return sorted(names)


def install_project(site_packages: Path, bin_dir: Path, python: str) -> None:
    """`pip install --no-deps --target` of the project, from a copy of exactly what the
    Dockerfile's build stage COPYs (a missing source there breaks this build too)."""
    with tempfile.TemporaryDirectory(prefix="swarm-sentinel-src-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in build_sources():
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(
                    source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                shutil.copy2(source, src / name)
        target = Path(tmp) / "target"
        result = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile"),
                *("--no-cache-dir", "--disable-pip-version-check"),
                *("--target", str(target), str(src)),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise ImageBuildError(f"pip install --target failed:\n{result.stdout}{result.stderr}")
        for entry in target.iterdir():
            if entry.name == "bin":
                continue
            shutil.move(str(entry), site_packages / entry.name)
        # pip wrote the console scripts for the venv it ran in: point them at ours.
        for script in sorted((target / "bin").iterdir()):
            lines = script.read_text().splitlines(keepends=True)
            if lines and lines[0].startswith("#!"):
                lines[0] = f"#!{python}\n"
            dest = bin_dir / script.name
            dest.write_text("".join(lines))
            dest.chmod(0o755)


def make_venv(rootfs: Path) -> tuple[Path, Path]:
    """An empty virtualenv at VENV as ``python -m venv`` makes it; (site-packages, bin)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    venv = rootfs / VENV.lstrip("/")
    bin_dir = venv / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(f"{PREFIX}/bin/python")
    (bin_dir / "python3").symlink_to("python")
    (bin_dir / version).symlink_to("python")
    site_packages = venv / "lib" / version / "site-packages"
    site_packages.mkdir(parents=True)
    (venv / "lib64").symlink_to("lib")
    (venv / "pyvenv.cfg").write_text(
        f"home = {PREFIX}/bin\ninclude-system-site-packages = false\n"
        f"version = {'.'.join(map(str, sys.version_info[:3]))}\n"
        f"executable = {PREFIX}/bin/{version}\ncommand = {PREFIX}/bin/python -m venv {VENV}\n"
    )
    return site_packages, bin_dir


_LDD_LIB = re.compile(r"^\s*(\S+)\s+=>\s+(\S+)\s+\(0x[0-9a-f]+\)$")
_LDD_LOADER = re.compile(r"^\s*(/\S+)\s+\(0x[0-9a-f]+\)$")


def _ldd(path: Path) -> tuple[set[Path], set[Path]]:
    """(libraries, loaders) that ``path`` loads; raises on a library ldd cannot find."""
    result = subprocess.run(
        ["ldd", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    libs: set[Path] = set()
    loaders: set[Path] = set()
    if result.returncode != 0:  # "not a dynamic executable": a static or non-ELF file
        return libs, loaders
    for line in result.stdout.splitlines():
        if "not found" in line:
            raise ImageBuildError(f"ldd {path}: {line.strip()}")
        if m := _LDD_LIB.match(line):
            libs.add(Path(m.group(2)))
        elif m := _LDD_LOADER.match(line):
            loaders.add(Path(m.group(1)))
    return libs, loaders


def copy_shared_libraries(rootfs: Path) -> list[str]:
    """Every shared library the rootfs's ELF files need and do not carry, into the
    multiarch lib dir (searched by the loader without any ld.so.cache); the loader at its
    absolute path. /lib and /lib64 are links into /usr, as on Debian 12. Returns names."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    libdir = rootfs / "usr/lib" / multiarch
    libdir.mkdir(parents=True, exist_ok=True)
    (rootfs / "usr/lib64").mkdir(parents=True, exist_ok=True)
    for name in ("lib", "lib64"):
        (rootfs / name).symlink_to(f"usr/{name}")
    elves = [
        p
        for p in rootfs.rglob("*")
        if p.is_file() and not p.is_symlink() and (".so" in p.name or p.parent.name == "bin")
    ]
    libs: set[Path] = set()
    loader_paths: set[Path] = set()
    for elf in elves:
        with elf.open("rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
        found, loaders = _ldd(elf)
        libs |= found
        loader_paths |= loaders
    copied: list[str] = []
    for lib in sorted(libs):
        if (libdir / lib.name).exists():
            continue
        if lib.resolve().is_relative_to(rootfs.resolve()):
            continue  # a wheel's own vendored library (pkg.libs/), copied with the wheel
        shutil.copy2(lib.resolve(), libdir / lib.name)
        copied.append(lib.name)
    for loader in sorted(loader_paths):
        rel = loader.relative_to("/")
        if rel.parts[0] in ("lib", "lib64"):
            rel = Path("usr", *rel.parts)  # /lib64 is a link to usr/lib64 in the rootfs
        dest = rootfs / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            shutil.copy2(loader.resolve(), dest)
            copied.append(str(loader))
    return copied


def write_etc(rootfs: Path, uid: int, gid: int) -> None:
    """Users and groups as the Dockerfile's groupadd/useradd leave them; /tmp."""
    etc = rootfs / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        f"sentinel:x:{uid}:{gid}::/nonexistent:/usr/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\nnogroup:x:65534:\nsentinel:x:{gid}:\n")
    for empty in ("tmp", "root", "proc", "sys", "dev", "var/run"):
        (rootfs / empty).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)


@dataclass(frozen=True)
class BuiltRootfs:
    path: Path
    dependencies: list[str]
    libraries: list[str]

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


def build_rootfs(dest: Path, project: str = "swarm-sentinel") -> BuiltRootfs:
    """Lay out the image's root filesystem in `dest` (which must not exist)."""
    stages = dockerfile_stages()
    build_runs = [ins.args for stage in stages[:-1] for ins in stage if ins.keyword == "RUN"]
    if not any(f"python -m venv {VENV}" in run for run in build_runs):
        raise ImageBuildError(f"the Dockerfile's build stage no longer makes its venv at {VENV}")
    dest.mkdir(parents=True)
    copy_interpreter(dest)
    site_packages, bin_dir = make_venv(dest)
    install_project(site_packages, bin_dir, f"{VENV}/bin/python")
    dependencies = copy_dependencies(project, site_packages)
    libraries = copy_shared_libraries(dest)
    strip_debug_symbols(
        p
        for p in (dest / PREFIX.lstrip("/")).rglob("*")
        if p.is_file() and not p.is_symlink() and (".so" in p.name or p.parent.name == "bin")
    )
    strip_debug_symbols((dest / "usr/lib").rglob("libpython*"))
    write_etc(dest, *image_user())
    return BuiltRootfs(dest, dependencies, libraries)


# ------------------------------------------------------------------ import on the nodes


def import_image(client: docker.APIClient, tar: bytes, image: str, changes: Sequence[str]) -> str:
    """`docker import` the tar as `image` with `changes`; returns the image ID."""
    repository, tag = image.rsplit(":", 1)
    answer = client.import_image_from_data(tar, repository=repository, tag=tag, changes=changes)
    error = import_error(answer)
    if error:
        raise ImageBuildError(f"import of {image} failed: {error}")
    inspected: dict[str, Any] = client.inspect_image(image)
    return str(inspected["Id"])


def import_everywhere(
    urls: Iterable[str], tar: bytes, image: str, changes: Sequence[str], timeout: float = 120
) -> dict[str, str]:
    """Import on every engine in parallel: {url: image ID}."""

    def one(url: str) -> str:
        with closing(docker_client(url, timeout=timeout)) as client:
            return import_image(client, tar, image, changes)

    targets = list(urls)
    with ThreadPoolExecutor(max_workers=len(targets) or 1) as pool:
        return dict(zip(targets, pool.map(one, targets), strict=True))


def build_image_tar(workdir: Path) -> tuple[bytes, BuiltRootfs]:
    """Build the rootfs under `workdir` and return it as a tar (owned by root)."""
    built = build_rootfs(workdir / "rootfs")
    return rootfs_tar(built.path), built
