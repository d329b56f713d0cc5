"""Glance image data: streamed, hashed and verified. Used by image migration
(:mod:`os_migrate.resources.image`) and by the ``image`` disk copy method
(:mod:`os_migrate.workload.disk_copy`).

Data flows as an iterator of chunks (e.g. ``requests.Response.iter_content``) through a
:class:`HashingReader`, a file-like object that Glance's upload (``PUT /v2/images/{id}/file``)
reads in chunks; memory stays at about one chunk whatever the image size. The reader hashes the
bytes it hands out (md5 plus the algorithm the source reports, usually sha512), so what was sent
can be compared with what the source reported and with what the destination computed on the
bytes it received (``checksum``, ``os_hash_value``): :func:`verification_problems`.

:func:`stream_into_image` is the whole upload: data into a queued image, wait until active,
verify, and delete the image on any failure. :data:`CORE_FIELDS` and
:data:`SOURCE_FACT_PROPERTIES` are the one list of image keys that are not guest properties.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TextIO

from openstack import exceptions as sdk_exc
from openstack.image.v2.image import Image as SdkImage
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


#: Stream on which progress bars draw live (a terminal, set by the CLI); None: they log lines.
_live_stream: TextIO | None = None


def draw_progress_on(stream: TextIO | None) -> None:
    """Draw every later progress bar live on ``stream`` (e.g. a terminal's stderr) instead of
    logging it; ``None`` goes back to logging (the default, right for Airflow task logs)."""
    global _live_stream
    _live_stream = stream


def progress_bar(total: int | None, desc: str, logger: logging.Logger = LOG, interval: float = 5.0) -> tqdm:
    """A tqdm bar (bytes, MB/s, ETA) that logs a line at most every ``interval`` seconds, or
    draws live on the stream set by :func:`draw_progress_on`."""
    if _live_stream is not None:
        return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=_live_stream)
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

    def stats(self) -> dict[str, Any]:
        """``{"bytes": int, "seconds": float, "mb_per_s": float, <algorithm>: hexdigest}``."""
        seconds = max(time.monotonic() - self.started, 1e-9)
        out: dict[str, Any] = {
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


# -- image keys ------------------------------------------------------------------------------------

#: Glance fields (server-side names) and Cinder volume-image keys that describe an image file, its
#: location or its record, never the guest: not user properties, never copied as properties.
CORE_FIELDS = frozenset(
    {
        "id",
        "name",
        "status",
        "visibility",
        "protected",
        "os_hidden",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "owner",
        "owner_id",
        "size",
        "virtual_size",
        "min_ram",
        "min_disk",
        "disk_format",
        "container_format",
        "created_at",
        "updated_at",
        "tags",
        "direct_url",
        "locations",
        "location",
        "self",
        "file",
        "schema",
        "stores",
        "store",
        "url",
        "kernel_id",
        "ramdisk_id",
        "metadata",
        "properties",
        "image_id",
        "image_name",
        "signature_verified",
        "os_glance_failed_import",
        "os_glance_importing_to_stores",
    }
)
#: Properties that carry facts of the source cloud (ids, users, snapshot bookkeeping): kept as
#: ``_info`` by image export, never copied onto a destination volume.
SOURCE_FACT_PROPERTIES = frozenset(
    {
        "instance_uuid",
        "base_image_ref",
        "user_id",
        "image_location",
        "image_state",
        "owner_user_name",
        "owner_project_name",
        "image_type",
        "boot_roles",
        "block_device_mapping",
        "bdm_v2",
        "root_device_name",
        "owner_specified.openstack.object",
        "owner_specified.openstack.md5",
        "owner_specified.openstack.sha256",
        "os_glance_import_task",
        "os_migrate_sha256",
    }
)


def image_properties(image) -> dict[str, Any]:
    """All user properties of an image, by Glance name (known and unknown to openstacksdk)."""
    body = image.to_dict(body=True, headers=False, computed=False, ignore_none=True, original_names=True)
    merged = {**body, **(image.properties or {})}
    return {k: v for k, v in merged.items() if k not in CORE_FIELDS}


def guest_properties(image) -> dict[str, str]:
    """User properties that describe the guest (``hw_*``, ``os_*``...), as strings.

    Source facts, ``os_glance*`` and ``owner_specified.*`` keys and non-scalar values are left out.
    """
    return {
        k: str(v)
        for k, v in image_properties(image).items()
        if k not in SOURCE_FACT_PROPERTIES
        and not k.startswith(("os_glance", "owner_specified."))
        and v is not None
        and not isinstance(v, (dict, list))
    }


# -- upload and verification -----------------------------------------------------------------------

#: Image statuses that never become ``active``.
IMAGE_FAILURES = ("killed", "deleted", "pending_delete", "deactivated")


def create_queued_image(conn, *, name: str, disk_format: str, container_format: str, **attrs: Any):
    """Create an image record without data (status ``queued``); ``attrs`` are more Glance fields."""
    return SdkImage.new(
        name=name, disk_format=disk_format, container_format=container_format, **attrs
    ).create(conn.image)


def upload_image_data(conn, image, reader, size: int | None) -> None:
    """``PUT /v2/images/{id}/file`` from a file-like ``reader`` (streamed, never buffered whole).

    :raises openstack.exceptions.HttpException: Glance refused the data.
    """
    sdk_exc.raise_from_response(image.upload(conn.image, data=reader, size=size))


def set_image_property(conn, image_id: str, key: str, value: str) -> None:
    """Add (or replace) one property of an image with a JSON-patch request."""
    resp = conn.image.patch(
        f"/images/{image_id}",
        json=[{"op": "add", "path": f"/{key}", "value": value}],
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    sdk_exc.raise_from_response(resp)


def verification_problems(expected: Mapping[str, Any], stats: Mapping[str, Any], uploaded) -> list[str]:
    """Compare what the source reported, what was streamed and what the destination stored.

    :param expected: the source image's ``size``, ``hash_algo``, ``hash_value``, ``checksum``
        (any may be None: not compared).
    :param stats: :meth:`HashingReader.stats` of the streamed bytes (with ``md5`` and the
        source's algorithm).
    :param uploaded: the destination image after the upload.
    :returns: one message per mismatch; empty when the copy is verified. At least one hash
        computed by the destination must be comparable.
    """
    problems = []
    algo = expected.get("hash_algo") or "sha512"
    sent = stats["bytes"]
    if expected.get("size") is not None and sent != expected["size"]:
        problems.append(f"read {sent} bytes, the source image has {expected['size']}")
    if expected.get("hash_value") and expected["hash_value"] != stats.get(algo):
        problems.append(f"{algo} of the bytes read differs from the source image's")
    if expected.get("checksum") and expected["checksum"] != stats.get("md5"):
        problems.append("md5 of the bytes read differs from the source image's checksum")
    if uploaded.status != "active":
        problems.append(f"destination image is {uploaded.status!r}, not 'active'")
    if uploaded.size is not None and uploaded.size != sent:
        problems.append(f"destination stored {uploaded.size} bytes, {sent} were sent")
    compared = False
    if uploaded.hash_algo and uploaded.hash_algo in stats:
        compared = True
        if uploaded.hash_value != stats[uploaded.hash_algo]:
            problems.append(f"{uploaded.hash_algo} computed by the destination differs from the bytes sent")
    if uploaded.checksum:
        compared = True
        if uploaded.checksum != stats.get("md5"):
            problems.append("md5 computed by the destination differs from the bytes sent")
    if not compared and uploaded.status == "active":
        problems.append("the destination reported no hash of the bytes it stored")
    return problems


def wait_image_active(conn, image, *, timeout: float = 300.0, interval: float = 2.0):
    """Wait (openstacksdk ``wait_for_status``) until the uploaded image is ``active``.

    :returns: the image as last read, also when it failed or timed out: the verification names
        its status.
    """
    try:
        return conn.image.wait_for_status(
            image, "active", failures=list(IMAGE_FAILURES), interval=interval, wait=int(timeout)
        )
    except (sdk_exc.ResourceFailure, sdk_exc.ResourceTimeout):
        return conn.image.get_image(image.id)


def stream_into_image(
    conn,
    image,
    open_reader: Callable[[tqdm], HashingReader],
    *,
    expected: Mapping[str, Any],
    desc: str,
    fail: Callable[[list[str]], BaseException],
    logger: logging.Logger = LOG,
    timeout: float = 300.0,
) -> tuple[Any, dict[str, Any]]:
    """Upload data into the queued ``image``, wait until it is active, and verify it.

    On any error (the stream, the upload, the verification, an interrupt) the image is deleted
    and the error re-raised: no half-written image survives.

    :param open_reader: builds the :class:`HashingReader` of the data, given the progress bar.
    :param expected: the source's ``size``/``hash_algo``/``hash_value``/``checksum``.
    :param desc: progress bar and log label.
    :param fail: builds the exception raised when :func:`verification_problems` finds any.
    :returns: ``(uploaded image, stats)`` (:meth:`HashingReader.stats`).
    :raises openstack.exceptions.HttpException: Glance refused the data.
    """
    try:
        with progress_bar(expected.get("size"), desc, logger) as bar:
            reader = open_reader(bar)
            upload_image_data(conn, image, reader, reader.size)
        stats = reader.stats()
        uploaded = wait_image_active(conn, image, timeout=timeout)
        problems = verification_problems(expected, stats, uploaded)
        if problems:
            raise fail(problems)
    except BaseException:
        logger.error("upload of %s failed; deleting the incomplete image %s", desc, image.id)
        try:
            conn.image.delete_image(image.id, ignore_missing=True)
        except Exception as e:  # best effort: the original error matters more
            logger.error("could not delete %s: %s", image.id, e)
        raise
    logger.info(
        "%s: %d bytes in %.1f s (%.1f MB/s), %s verified by both Glances",
        desc,
        stats["bytes"],
        stats["seconds"],
        stats["mb_per_s"],
        uploaded.hash_algo or "md5",
    )
    return uploaded, stats
