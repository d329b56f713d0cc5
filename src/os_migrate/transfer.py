"""Streaming byte transfer with hashing and progress, for image data (and later disk copies).

Data flows as an iterator of chunks (e.g. ``requests.Response.iter_content``) through a
:class:`HashingReader`, a file-like object that Glance's upload (``PUT /v2/images/{id}/file``)
reads in chunks; memory stays at about one chunk whatever the image size. The reader hashes the
bytes it hands out (md5 plus the algorithm the source reports, usually sha512), so what was sent
can be compared with what the source reported and with what the destination computed on the
bytes it received (``checksum``, ``os_hash_value``).
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from collections.abc import Iterable, Iterator

from tqdm import tqdm

LOG = logging.getLogger(__name__)

#: Chunk size of downloads and uploads, in bytes.
CHUNK_SIZE = 1024 * 1024


class _LogWriter(io.TextIOBase):
    """File-like target for tqdm that turns each refreshed progress line into a log record."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    def write(self, text: str) -> int:
        line = text.strip("\r\n ")
        if line:
            self.logger.info("%s", line)
        return len(text)


def progress_bar(total: int | None, desc: str, logger: logging.Logger = LOG, interval: float = 5.0) -> tqdm:
    """A tqdm bar (bytes, MB/s, ETA) that logs a line at most every ``interval`` seconds."""
    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=_LogWriter(logger),
        mininterval=interval,
        maxinterval=interval * 4,
        ascii=True,
        dynamic_ncols=False,
        ncols=100,
    )


class HashingReader(io.RawIOBase):
    """Read-only file-like view over an iterator of byte chunks, hashing what it returns.

    :param chunks: iterator of ``bytes``.
    :param size: total size in bytes if known (gives ``len()``, so HTTP uploads send a
        Content-Length instead of chunked encoding).
    :param algorithms: hashlib names to compute, e.g. ``("md5", "sha512")``.
    :param progress: optional tqdm bar updated with each read.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        size: int | None = None,
        algorithms: Iterable[str] = ("md5", "sha512"),
        progress: tqdm | None = None,
    ):
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""
        self.size = size
        self.bytes_read = 0
        self.hashes = {a: hashlib.new(a) for a in dict.fromkeys(algorithms)}
        self.progress = progress
        self.started = time.monotonic()

    def __len__(self) -> int:
        if self.size is None:
            raise TypeError("size unknown")
        return self.size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` bytes (all remaining if ``n < 0``); ``b""`` at the end."""
        while n < 0 or len(self._buffer) < n:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                break
            if chunk:
                self._buffer += chunk
        if n < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:n], self._buffer[n:]
        for h in self.hashes.values():
            h.update(out)
        self.bytes_read += len(out)
        if self.progress is not None and out:
            self.progress.update(len(out))
        return out

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def hexdigest(self, algorithm: str) -> str:
        """Hex digest so far of one of the algorithms."""
        return self.hashes[algorithm].hexdigest()

    def stats(self) -> dict:
        """``{"bytes": int, "seconds": float, "mb_per_s": float, <algorithm>: hexdigest}``."""
        seconds = max(time.monotonic() - self.started, 1e-9)
        out = {
            "bytes": self.bytes_read,
            "seconds": round(seconds, 3),
            "mb_per_s": round(self.bytes_read / seconds / 1e6, 2),
        }
        out.update({a: h.hexdigest() for a, h in self.hashes.items()})
        return out


def file_chunks(path, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield a file's content in chunks."""
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            yield chunk
