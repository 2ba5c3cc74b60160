"""Strip the symbol tables off a folder's native libraries, keeping a library as it was
whenever the stripped copy would not load.

The Dockerfile runs it (the base image's Python, no dependencies) on the venv of a CPU image:
    python3 strip_libraries.py /opt/venv/lib

`strip --strip-unneeded` keeps the dynamic symbols that loading and linking need, and drops the
rest: sphn's extension is 82 MB with them and 4 MB without, libtorch_cpu 434 MB and 345 MB. But
many wheels' libraries were rewritten by patchelf (auditwheel vendors libraries under
`<package>.libs/` and sets their RPATH), and binutils' strip can lay such a file's segments out
so that the loader refuses it ("ELF load command address/offset not page-aligned": numpy's
OpenBLAS did). So each library is stripped into a copy, the copy's loadable segments are
checked as the loader checks them (offset and address congruent modulo the segment's
alignment and the page size), and only a copy that passes and is smaller replaces the file.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

PT_LOAD = 1
PAGE = 4096


def loadable(path: Path) -> bool:
    """Whether every PT_LOAD segment of a 64-bit little-endian ELF file is laid out as the
    dynamic loader requires."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _flags, offset, vaddr, _paddr, _filesz, _memsz, align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize
        )
        if p_type != PT_LOAD:
            continue
        for modulus in {max(align, 1), PAGE}:
            if (vaddr - offset) % modulus:
                return False
    return True


def strip_one(path: Path, strip: str) -> int:
    """Bytes saved (0 when the file is kept as it was)."""
    before = path.stat().st_size
    if not loadable(path):
        return 0  # not a file this check understands: leave it alone
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        done = subprocess.run(
            [strip, "--strip-unneeded", "-o", str(copy), str(path)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0 or not loadable(copy) or copy.stat().st_size >= before:
            return 0
        shutil.copymode(path, copy)
        shutil.move(copy, path)
    return before - path.stat().st_size


def main() -> None:
    folder = Path(sys.argv[1])
    strip = shutil.which("strip")
    if strip is None:
        raise SystemExit("strip_libraries: no strip on PATH (Debian's binutils)")
    saved = kept = 0
    for path in sorted(folder.rglob("*.so*")):
        if (
            path.is_file()
            and not path.is_symlink()
            and (".so." in path.name or path.suffix == ".so")
        ):
            gained = strip_one(path, strip)
            saved += gained
            kept += gained == 0
    print(f"strip_libraries: {saved / 1e6:.0f} MB saved in {folder}; {kept} kept as they were")


if __name__ == "__main__":
    main()
