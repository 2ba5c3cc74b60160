"""Receive files and small text fields from a multipart/form-data body, streaming files
to disk.

Starlette's form parser spools the whole body before the handler runs; this one counts
bytes as they arrive and stops at the limit, so an oversize upload is refused before it
is stored.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

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
    field: str | None = None  # the file field being received, if any
    text_field: str | None = None  # the text field being received, if any
    parts: int = 0
    size: int = 0
    text_size: int = 0


@dataclass(frozen=True)
class ReceivedFile:
    filename: str
    bytes: int


@dataclass
class ReceivedForm:
    files: dict[str, ReceivedFile] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)


def clean_filename(raw: str) -> str:
    """A display name only (never a path): last segment, printable, at most 255 chars."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".")
    return name[:MAX_FILENAME] or "upload"


async def receive_file(request: Request, dest: Path, *, field: str, limit: int) -> ReceivedFile:
    """The one file in `field`, streamed to `dest` (other parts are ignored)."""
    form = await receive_form(request, {field: dest}, limit=limit)
    if field not in form.files:
        raise UploadRejectedError(
            422, f"no file in the form: send it in a field named {field!r} with a filename"
        )
    return form.files[field]


async def receive_form(
    request: Request,
    files: dict[str, Path],
    *,
    limit: int,
    text_fields: frozenset[str] = frozenset(),
    text_limit: int = 64 * 1024,
) -> ReceivedForm:
    """Stream each file field named in `files` to its path (all files together at most
    `limit` bytes) and collect the text fields named in `text_fields` (at most `text_limit`
    bytes together). Unknown parts are skipped; a field sent twice keeps its first value."""
    content_type = request.headers.get("content-type", "")
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        names = " and ".join(repr(f) for f in files)
        raise UploadRejectedError(
            415, f"send the form as multipart/form-data (file fields: {names})"
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + text_limit + 64 * 1024:
        raise UploadRejectedError(413, _too_large(limit))

    # Raw header bytes: browsers send UTF-8 filenames, which a latin-1 round trip keeps intact.
    headers: dict[str, bytes] = {}
    header_field = bytearray()
    header_value = bytearray()
    state = _State()
    form = ReceivedForm()
    # File data parsed from the latest body, per field in order (a body may end one file
    # part and begin the next).
    pieces: list[tuple[str, bytearray]] = []
    text = bytearray()
    outputs: dict[str, BinaryIO] = {}
    filenames: dict[str, str] = {}
    sizes: dict[str, int] = {}

    def on_part_begin() -> None:
        headers.clear()
        state.parts += 1

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[header_field.decode("latin-1").lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(headers.get("content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        state.field = state.text_field = None
        if name in files and b"filename" in disposition and name not in filenames:
            state.field = name
            filenames[name] = clean_filename(disposition[b"filename"].decode("utf-8", "replace"))
            sizes[name] = 0
        elif name in text_fields and b"filename" not in disposition and name not in form.fields:
            state.text_field = name
            text.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state.field is not None:
            if not pieces or pieces[-1][0] != state.field:
                pieces.append((state.field, bytearray()))
            pieces[-1][1].extend(data[start:end])
        elif state.text_field is not None:
            text.extend(data[start:end])
            state.text_size += end - start

    def on_part_end() -> None:
        if state.text_field is not None:
            try:
                form.fields[state.text_field] = text.decode("utf-8")
            except UnicodeDecodeError:
                raise UploadRejectedError(
                    422, f"the form field {state.text_field!r} is not valid UTF-8 text"
                ) from None
        state.field = state.text_field = None

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

    async def flush() -> None:
        for name, data in pieces:
            if name not in outputs:
                outputs[name] = files[name].open("wb")
            sizes[name] += len(data)
            state.size += len(data)
            if state.size > limit:
                raise UploadRejectedError(413, _too_large(limit))
            await asyncio.to_thread(outputs[name].write, bytes(data))
        pieces.clear()

    try:
        async for body in request.stream():
            parser.write(body)
            if state.parts > MAX_FIELDS:
                raise UploadRejectedError(422, f"too many form fields (at most {MAX_FIELDS})")
            if state.text_size > text_limit:
                raise UploadRejectedError(
                    413, f"the form's text fields are larger than {text_limit} bytes"
                )
            if pieces:
                await flush()
        parser.finalize()
    except MultipartParseError as e:
        raise UploadRejectedError(400, f"the multipart body is malformed: {e}") from e
    except ClientDisconnect as e:
        raise UploadRejectedError(400, "the client disconnected during the upload") from e
    finally:
        for out in outputs.values():
            out.close()
    for name, filename in filenames.items():
        if name not in outputs:
            files[name].touch()
        form.files[name] = ReceivedFile(filename, sizes[name])
    return form


def _too_large(limit: int) -> str:
    return f"the upload is larger than the limit of {limit} bytes ({limit / (1 << 20):.0f} MiB)"
