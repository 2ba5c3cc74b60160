"""Re-encoding a file into another format, and packing stems into one ZIP."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from cadenza.audio import AudioWriter, header_info, read_blocks
from cadenza.contracts.audio_format import OutputFormat

BLOCK_FRAMES = 1 << 16
# Stems are often silent for long stretches and deflate well; dense ones barely shrink
# (a full mix: ~6 %) while deflating costs ~5× the time of storing. So each file is
# probed: a few samples are deflated, and the file is deflated only if they shrank to
# ≤ 75 %. Already-compressed formats are always stored.
COMPRESSED_SUFFIXES = frozenset({".flac", ".mp3", ".ogg", ".opus", ".zip"})
DEFLATE_IF_RATIO = 0.75
PROBES, PROBE_BYTES = 8, 1 << 16


class ExportError(ValueError):
    """The file cannot be exported as asked; the message says why, for a person."""


def export(src: Path, dst: Path, output: OutputFormat) -> Path:
    """Decode `src` block by block and encode it to `dst` as `output`; same rate, same
    channels, same length. Samples beyond full scale are clipped unless `dst` is float."""
    rate, channels, _ = header_info(src)
    if problem := output.sample_rate_problem(rate):
        raise ExportError(problem)
    clip = not (output.format == "wav" and output.bit_depth == 32)
    with AudioWriter(dst, output, rate, channels) as writer:
        for block in read_blocks(src, BLOCK_FRAMES):
            writer.write(np.clip(block, -1.0, 1.0, out=block) if clip else block)
    return dst


def zip_stems(paths: dict[str, Path], zip_path: Path) -> Path:
    """One ZIP holding every file in `paths`, each named by its key (the file's suffix is
    added when the key lacks it). ZIP64 as needed, so size is no limit."""
    names: set[str] = set()
    with zipfile.ZipFile(zip_path, "w", allowZip64=True) as archive:
        for key, path in paths.items():
            name = key if key.lower().endswith(path.suffix.lower()) else f"{key}{path.suffix}"
            if name.lower() in names:
                raise ExportError(f"two stems would both be called {name!r} in the ZIP")
            names.add(name.lower())
            deflate = _worth_deflating(path)
            archive.write(
                path,
                name,
                compress_type=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED,
                compresslevel=1 if deflate else None,
            )
    return zip_path


def _worth_deflating(path: Path) -> bool:
    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        return False
    size = path.stat().st_size
    read = packed = 0
    with path.open("rb") as f:
        for probe in range(PROBES):
            f.seek(size * probe // PROBES)
            sample = f.read(PROBE_BYTES)
            read += len(sample)
            packed += len(zlib.compress(sample, 1))
    return read > 0 and packed / read <= DEFLATE_IF_RATIO
