"""Audio files for Cadenza: probing by decoding, and chunked reading and writing."""

from cadenza.audio.codec import AudioWriter, read_blocks
from cadenza.audio.probe import (
    ACCEPTED,
    AudioDecodeError,
    AudioEncodeError,
    AudioInfo,
    decode_reason,
    header_info,
    probe_audio,
)

__all__ = [
    "ACCEPTED",
    "AudioDecodeError",
    "AudioEncodeError",
    "AudioInfo",
    "AudioWriter",
    "decode_reason",
    "header_info",
    "probe_audio",
    "read_blocks",
]
