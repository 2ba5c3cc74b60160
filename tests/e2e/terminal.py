"""The `cadenza` command line in a pseudo-terminal, as a person's shell runs it: its own
session with the terminal as its controlling tty (so Ctrl-C, written as \\x03, reaches it as
SIGINT), a window of a given size, standard output and error both on the terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

CLI = Path(sys.executable).parent / "cadenza"
# Colours, cursor moves and the like; what is left is what a person reads.
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")
MAX_OUTPUT = 4 << 20


def plain(raw: bytes) -> str:
    text = ESCAPES.sub("", raw.decode("utf-8", "replace")).replace("\r\n", "\n")
    # A progress bar redraws its line after \r: keep the last drawing of each line.
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


class Terminal:
    def __init__(
        self,
        *args: str,
        url: str,
        cwd: Path | None = None,
        columns: int = 120,
        umask: int | None = None,
    ) -> None:
        primary, secondary = pty.openpty()
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))

        def in_child() -> None:
            # A shell gives its foreground job the default SIGINT; a runner started in the
            # background (`nohup … &`) hands its children SIGINT ignored, which Ctrl-C would
            # then never reach.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            if umask is not None:
                os.umask(umask)

        env = {k: v for k, v in os.environ.items() if not k.startswith(("CADENZA_", "COLUMNS"))}
        self.process = subprocess.Popen(
            [str(CLI), *args],
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            cwd=cwd,
            env={**env, "CADENZA_URL": url, "TERM": "xterm-256color"},
            preexec_fn=in_child,  # setsid and the controlling tty, before exec
        )
        os.close(secondary)
        self.primary = primary
        self.raw = b""

    @property
    def text(self) -> str:
        return plain(self.raw)

    def _read(self, timeout_s: float) -> bool:
        """False once the terminal has nothing more to say (the CLI exited)."""
        ready, _, _ = select.select([self.primary], [], [], timeout_s)
        if not ready:
            return True
        try:
            chunk = os.read(self.primary, 65536)
        except OSError:  # EIO: every end of the terminal is closed
            return False
        self.raw += chunk
        assert len(self.raw) < MAX_OUTPUT, "the command line printed without end"
        return bool(chunk)

    def expect(self, pattern: str, timeout_s: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            if found := re.search(pattern, self.text):
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.2)):
                if found := re.search(pattern, self.text):
                    return found
                raise AssertionError(f"no {pattern!r} in {self.text!r}")

    def send(self, data: bytes) -> None:
        os.write(self.primary, data)

    def finish(self, timeout_s: float = 120) -> tuple[int, str]:
        """Its exit status and everything it printed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._read(0.2):
            pass
        try:
            code = self.process.wait(max(0.1, deadline - time.monotonic()))
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            os.close(self.primary)
        return code, self.text


def run(
    *args: str, url: str, timeout_s: float = 120, columns: int = 120, umask: int | None = None
) -> tuple[int, str]:
    """Run it to its end: its exit status and everything it printed."""
    return Terminal(*args, url=url, columns=columns, umask=umask).finish(timeout_s)
