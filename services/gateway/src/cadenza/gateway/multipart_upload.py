"""Receive one file from a multipart/form-data body, streaming it to disk.

Starlette's form parser spools the whole body before the handler runs; this one counts
bytes as they arrive and stops at the limit, so an oversize upload is refused before it
is stored.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

MAX_FILENAME = 255
MAX_FIELDS = 16


class UploadRejectedError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class _State:
    in_file: bool = False
    found: bool = False
    parts: int = 0
    size: int = 0
    filename: str = ""


@dataclass(frozen=True)
class ReceivedFile:
    filename: str
    bytes: int


def clean_filename(raw: str) -> str:
    """A display name only (never a path): last segment, printable, at most 255 chars."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".")
    return name[:MAX_FILENAME] or "upload"


async def receive_file(request: Request, dest: Path, *, field: str, limit: int) -> ReceivedFile:
    content_type = request.headers.get("content-type", "")
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadRejectedError(
            415, f"send the file as multipart/form-data with a field named {field!r}"
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise UploadRejectedError(413, _too_large(limit))

    headers: dict[str, str] = {}
    header_field = bytearray()
    header_value = bytearray()
    state = _State()
    chunk = bytearray()

    def on_part_begin() -> None:
        headers.clear()
        state.parts += 1

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[header_field.decode("latin-1").lower()] = header_value.decode("utf-8", "replace")
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(headers.get("content-disposition", ""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        state.in_file = name == field and b"filename" in disposition and not state.found
        if state.in_file:
            state.found = True
            state.filename = clean_filename(disposition[b"filename"].decode("utf-8", "replace"))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state.in_file:
            chunk.extend(data[start:end])

    def on_part_end() -> None:
        state.in_file = False

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    with dest.open("wb") as out:
        try:
            async for body in request.stream():
                parser.write(body)
                if state.parts > MAX_FIELDS:
                    raise UploadRejectedError(422, f"too many form fields (at most {MAX_FIELDS})")
                if chunk:
                    state.size += len(chunk)
                    if state.size > limit:
                        raise UploadRejectedError(413, _too_large(limit))
                    await asyncio.to_thread(out.write, bytes(chunk))
                    chunk.clear()
            parser.finalize()
        except MultipartParseError as e:
            raise UploadRejectedError(400, f"the multipart body is malformed: {e}") from e
        except ClientDisconnect as e:
            raise UploadRejectedError(400, "the client disconnected during the upload") from e
    if not state.found:
        raise UploadRejectedError(
            422, f"no file in the form: send it in a field named {field!r} with a filename"
        )
    return ReceivedFile(state.filename, state.size)


def _too_large(limit: int) -> str:
    return f"the upload is larger than the limit of {limit} bytes ({limit / (1 << 20):.0f} MiB)"
