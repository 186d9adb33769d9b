"""The lab's only image, lab/busybox:1, built from the host's static busybox.

Nothing can be pulled on this machine, so the image is a folder holding
bin/busybox and one symlink per applet, imported on every node.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import tarfile
from pathlib import Path

import docker

from lab.config import IMAGE
from lab.errors import LabError

APPLETS = (
    "sh", "sleep", "wget", "httpd", "cat", "echo", "test", "[", "true", "false", "ls",
    "nc", "ps", "kill", "env", "hostname", "id", "mkdir", "rm", "touch", "date", "grep",
    "sed", "head", "tail", "wc", "uname", "nslookup", "ping", "ip", "top", "seq", "yes",
)  # fmt: skip

_BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
_PT_INTERP = 3


def find_static_busybox() -> Path:
    """The host's busybox, which must be static: the image has no libc to link against."""
    for candidate in (shutil.which("busybox"), *_BUSYBOX_CANDIDATES):
        if candidate and Path(candidate).is_file() and _is_static_elf(Path(candidate)):
            return Path(candidate)
    raise LabError("no static busybox found (apt-get install busybox-static)")


def _is_static_elf(path: Path) -> bool:
    """True for a 64-bit little-endian ELF without a PT_INTERP (dynamic loader) header."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return all(
        struct.unpack_from("<I", data, phoff + i * phentsize)[0] != _PT_INTERP for i in range(phnum)
    )


def build_rootfs(dest: Path, busybox: Path | None = None) -> Path:
    """Lay out the image's folder: bin/busybox, its applet links, and empty dirs."""
    source = busybox or find_static_busybox()
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(source, dest / "bin/busybox")
    for applet in APPLETS:
        (dest / "bin" / applet).symlink_to("busybox")
    for empty in ("tmp", "etc", "root", "var/www", "proc", "sys", "dev"):
        (dest / empty).mkdir(parents=True)
    (dest / "tmp").chmod(0o1777)
    return dest


def rootfs_tar(rootfs: Path) -> bytes:
    """The folder as a tar stream, owned by root whatever owns the files on the host."""

    def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for entry in sorted(rootfs.iterdir()):
            tar.add(entry, arcname=entry.name, filter=as_root)
    return buffer.getvalue()


def import_image(client: docker.APIClient, tar: bytes, image: str = IMAGE) -> None:
    """`docker import` the tar as `image`, with a PATH and `sh` as default command."""
    repository, tag = image.rsplit(":", 1)
    answer = client.import_image_from_data(
        tar, repository=repository, tag=tag, changes=["ENV PATH=/bin", 'CMD ["sh"]']
    )
    error = import_error(answer)
    if error:
        raise LabError(f"import of {image} failed: {error}")
    client.inspect_image(image)


def import_error(answer: object) -> str | None:
    """The error of an image import answer, if any.

    The engine streams JSON lines; a failure is an "error" member, not an HTTP status.
    """
    for line in str(answer).splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("error"):
            return str(message["error"])
    return None
