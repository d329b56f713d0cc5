"""Disk copy methods behind one interface: :class:`DiskCopier`.

A copier turns one source disk (:class:`DiskSource`: a Cinder volume, or the local root disk of
an image-booted server) into a destination volume described by a :class:`VolumeSpec`, with the
same bytes, and returns a :class:`CopyResult`. The orchestration around it
(:mod:`os_migrate.workload.migrate`) is method-agnostic: it finds finished copies by their
marker, sets the volume image metadata and the completion marker, builds servers. A copier gets
everything it works with in one :class:`CopyContext` (both clouds, the journal of source changes,
and its own ``settings``, from ``_migration_params.copy_settings``), so a conversion host method
(attach to a host, stream over SSH) plugs in by subclassing :class:`DiskCopier` in its own module
and registering in :data:`COPIERS`; nothing else changes (the ``copy_method`` enum of the
record schema is read from the registry).

Method ``image`` (:class:`ImageDiskCopier`), through the public APIs only::

    source volume --(os-volume_upload_image)--> source Glance image osm-tmp-<id>
        --(download stream -> HashingReader -> upload stream)--> destination Glance image
        --(volume from image)--> destination volume

Reading an attached source volume (Cinder only uploads ``available`` volumes unless
``enable_force_upload`` is on) tries, in order:

1. ``snapshot``: snapshot ``osm-tmp-<id>`` (force) -> temporary volume ``osm-tmp-<id>`` -> upload
   that volume; the source stays untouched;
2. ``force_upload``: upload the in-use volume with ``force`` (the server is stopped);
3. ``detach``: a data volume of a SHUTOFF server is detached, uploaded and attached again at the
   same device (recorded in the :class:`SourceJournal` first, so finalize re-attaches it even if
   the task is killed in between). A root volume cannot be detached (Nova refuses), so a boot
   volume needs 1 or 2: :class:`~os_migrate.workload.errors.SourceDiskUnreadable` otherwise.

The root disk of an image-booted server is read through a server snapshot (``createImage``).

Verification: the stream is hashed (sha256, the source image's ``os_hash_algo``, md5) while it
flows; the source Glance's ``os_hash_value`` (computed on the bytes it stored) must equal the
hash of the bytes read, and the destination Glance's ``os_hash_value`` (computed on the bytes it
received) must equal the hash of the bytes written, which are the bytes read. The sha256 is the
copy's fingerprint (stored on the destination volume). Memory holds about one chunk; nothing is
written to local disk.

Idempotency: every temporary is named ``osm-tmp-<source id>``; a re-run reuses an active source
image, reuses a verified destination image (its ``os_migrate_sha256`` property), deletes
half-made ones (a killed upload stays ``queued``/``saving``) and starts those steps again.
:meth:`DiskCopier.cleanup` removes every temporary of a disk in both clouds.

Non-blocking waits (:func:`~os_migrate.workload.cloudops.nonblocking_waits`): the long waits of
method ``image`` (temporary snapshot and volume, source image upload or server snapshot, the
destination volume made from the image) raise :class:`~os_migrate.workload.errors.Pending`; a copy
called again finds each of them in progress and waits on it again instead of starting it twice (an
upload is recognised by the uploading volume or the server's ``image_*`` task state, the
destination volume by its :data:`FROM_IMAGE_KEY`). The ``detach`` way always blocks (the volume is
attached back at once).
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

from openstack import exceptions as sdk_exc

from os_migrate import transfer
from os_migrate.transfer import CHUNK_SIZE, HashingReader, guest_properties, set_image_property
from os_migrate.workload import cloudops
from os_migrate.workload.cloudops import GIB, SHA256_KEY, tmp_name
from os_migrate.workload.errors import CopyError, SourceDiskUnreadable

LOG = logging.getLogger(__name__)

#: Metadata key on a destination volume being made from a verified destination image (the image
#: id): a copy called again resumes it instead of deleting it; removed once it is ``available``.
FROM_IMAGE_KEY = "os_migrate_from_image"


@dataclass(frozen=True)
class DiskSource:
    """One source disk.

    :param kind: ``volume`` (a Cinder volume) or ``server_disk`` (the local root disk of an
        image-booted server, read through a server snapshot).
    :param id: the volume id, or the server id for ``server_disk``; names the temporaries.
    :param server_id: the server the volume is attached to (None for a detached volume).
    :param device: the attachment device (``/dev/vdb``), used to re-attach after a detach.
    :param is_root: the server's boot disk (a root volume cannot be detached).
    :param label: human-readable name for logs (``web-1 /dev/vdb data-1``).
    """

    kind: str
    id: str
    server_id: str | None = None
    device: str | None = None
    is_root: bool = False
    label: str = ""

    @property
    def tmp_name(self) -> str:
        """``osm-tmp-<id>``: name of every temporary made for this disk, in both clouds."""
        return tmp_name(self.id)


@dataclass(frozen=True)
class VolumeSpec:
    """The destination volume to make.

    :param name: volume name.
    :param size: minimum size in GiB (the copier grows it to fit the data).
    :param volume_type: destination volume type name, None for the default type.
    :param description: volume description.
    :param metadata: volume metadata; includes the source marker (``os_migrate_source_id``) so an
        interrupted copy is found again.
    :param is_bootable: the Cinder ``bootable`` flag to end with.
    :param availability_zone: destination availability zone, None for the default.
    """

    name: str
    size: int
    volume_type: str | None = None
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    is_bootable: bool = False
    availability_zone: str | None = None


@dataclass
class CopyResult:
    """Outcome of one disk copy.

    :param volume_id: the destination volume.
    :param size: its size in GiB.
    :param bytes: bytes streamed (0 when the copy was reused).
    :param sha256: hex sha256 of the disk's bytes (as streamed).
    :param seconds: wall time of the data transfer.
    :param mb_per_s: transfer rate in MB/s (10^6 bytes).
    :param method: copy method (``image``).
    :param access: how the source was read (``upload``, ``snapshot``, ``force_upload``, ``detach``,
        ``server_snapshot``, ``reused``).
    :param image_properties: guest properties of the source image (``hw_*``...), for a
        ``server_disk`` source; ``{}`` otherwise.
    :param verify_seconds: wall time of a verification step after the transfer (0 where the
        bytes are verified while they stream).
    """

    volume_id: str
    size: int
    bytes: int
    sha256: str
    seconds: float = 0.0
    mb_per_s: float = 0.0
    method: str = "image"
    access: str = ""
    image_properties: dict = field(default_factory=dict)
    verify_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (for XCom and logs)."""
        return asdict(self)


class SourceJournal(Protocol):
    """Where a copier records changes it makes to the source (so they can be undone)."""

    def record_detach(self, volume_id: str, server_id: str, device: str | None) -> None:
        """Called before a source volume is detached from its server."""

    def record_reattach(self, volume_id: str) -> None:
        """Called after the volume was attached back."""


class NullJournal:
    """A journal that records nothing (detached volumes, tests)."""

    def record_detach(self, volume_id: str, server_id: str, device: str | None) -> None:
        """Record nothing."""

    def record_reattach(self, volume_id: str) -> None:
        """Record nothing."""


@dataclass(frozen=True)
class CopyContext:
    """Everything a copier is given (the one injected object).

    :param src: source ``openstack.connection.Connection``.
    :param dst: destination ``openstack.connection.Connection``.
    :param journal: records source changes (see :class:`SourceJournal`).
    :param settings: the method's own settings (``_migration_params.copy_settings``); each copier
        documents the keys it reads and ignores the others.
    :param ssh_resolver: turns an ``ssh_conn_id`` named in settings into host access (the
        Airflow provider passes one that reads Airflow Connections); None where there is none.
    """

    src: Any
    dst: Any
    journal: SourceJournal = field(default_factory=NullJournal)
    settings: Mapping[str, Any] = field(default_factory=dict)
    ssh_resolver: Callable[[str], Any] | None = None


class DiskCopier(ABC):
    """Copies source disks into destination volumes.

    :param context: the clouds, journal and settings (:class:`CopyContext`).
    """

    #: Method name, as in ``_migration_params.copy_method``.
    method: ClassVar[str]

    def __init__(self, context: CopyContext):
        self.context = context
        self.src = context.src
        self.dst = context.dst
        self.journal = context.journal
        self._unsupported: set[str] = set()  # ways to read the source it refused (per instance)

    def check(self) -> list[str]:
        """Problems that make this method unusable between these clouds (pre-flight; reads only).

        :returns: one message per problem; empty when usable.
        """
        return []

    @abstractmethod
    def copy(self, source: DiskSource, spec: VolumeSpec) -> CopyResult:
        """Make a destination volume per ``spec`` holding the bytes of ``source``.

        The volume is created with ``spec.metadata`` (which carries the source marker). It must
        be idempotent: a call after an interrupted one reuses or removes what that left.

        :raises CopyError: the copy failed or could not be verified.
        :raises SourceDiskUnreadable: the source cloud offers no way to read this disk.
        """

    @abstractmethod
    def cleanup(self, source: DiskSource) -> list[str]:
        """Remove every temporary made for ``source`` in both clouds (idempotent).

        :returns: one line per deleted resource.
        """

    def resumable(self, volume) -> bool:
        """True if ``volume`` (a destination volume with the disk's marker, not yet marked
        complete) is a copy in progress that :meth:`copy` resumes; False: delete it first."""
        return False

    def release(self, source: DiskSource) -> list[str]:
        """Free what an interrupted copy of ``source`` still holds (processes, attachments), so its
        unfinished destination volume can be deleted; called before a disk is copied again.

        :returns: one line per released thing.
        """
        return []

    def close(self) -> None:
        """Close what the copier holds open (connections to hosts); it may be used again after."""
        return None

    # -- reading source disks through the source APIs (shared by the methods) -------------------
    def _detach_refusal(self, source: DiskSource) -> str | None:
        if source.is_root:
            return "Nova never detaches a root volume"
        if not source.server_id:
            return "the volume is attached to no known server"
        server = cloudops.get_server(self.src, source.server_id)
        if server is None or server.status != "SHUTOFF":
            return (
                f"the server is {getattr(server, 'status', 'gone')}, a volume is only detached "
                "from a SHUTOFF server"
            )
        return None

    def _volume_from_snapshot(self, volume, source: DiskSource):
        """Temporary volume from a temporary snapshot of ``volume``; None if unsupported."""
        name = source.tmp_name
        timeout = cloudops.volume_timeout(volume.size)
        for temp in cloudops.volumes_named(self.src, name):
            if temp.status == "creating":  # made by an earlier call: wait for it (may defer)
                temp = cloudops.wait_volume(
                    self.src, temp.id, "available", what="temporary volume", timeout=timeout, side="src"
                )
            temp = cloudops.wait_volume_settled(self.src, temp.id, what="temporary volume", timeout=timeout)
            if temp is not None and temp.status == "available":
                LOG.info("reusing temporary volume %s (%s)", name, temp.id)
                return temp
            if temp is not None:
                cloudops.delete_volume(self.src, temp, what="temporary volume")
        snaps = [s for s in cloudops.snapshots_named(self.src, name) if s.volume_id == volume.id]
        snap = None
        for found in snaps:
            s = cloudops.wait_snapshot(
                self.src, found.id, what="temporary snapshot", timeout=timeout, side="src"
            )
            if s is not None and s.status == "available" and snap is None:
                snap = s
            elif s is not None:
                cloudops.delete_snapshot(self.src, s, what="temporary snapshot")
        if snap is None:
            LOG.info("snapshotting %s (%s) into %s", source.label, volume.id, name)
            snap = self.src.block_storage.create_snapshot(
                volume_id=volume.id, name=name, force=True, description="os-migrate temporary snapshot"
            )
            snap = (
                cloudops.wait_snapshot(
                    self.src, snap.id, what="temporary snapshot", timeout=timeout, side="src"
                )
                or snap
            )
            if snap.status != "available":
                LOG.warning(
                    "the source cannot snapshot %s (snapshot %s is %s); trying the next way to read it",
                    volume.id,
                    snap.id,
                    snap.status,
                )
                cloudops.delete_snapshot(self.src, snap, what="failed temporary snapshot")
                self._unsupported.add("snapshot")
                return None
        temp = self.src.block_storage.create_volume(
            name=name, size=volume.size, snapshot_id=snap.id, description="os-migrate temporary volume"
        )
        return cloudops.wait_volume(
            self.src,
            temp.id,
            "available",
            what="temporary volume",
            timeout=timeout,
            error=CopyError,
            side="src",
        )

    def _wait_source_image(self, image_id: str, source: DiskSource, size_gib: int = 1):
        return cloudops.wait_image_active(
            self.src,
            image_id,
            what=f"source image of {source.label}",
            timeout=cloudops.volume_timeout(size_gib),
            error=CopyError,
            side="src",
        )

    def _server_snapshot(self, source: DiskSource):
        server = cloudops.get_server(self.src, source.id)
        if server is None:
            raise CopyError(f"source server {source.id} not found")
        LOG.info("snapshotting the root disk of %s into %s", source.label, source.tmp_name)
        image = self.src.compute.create_server_image(server, source.tmp_name)
        return self._wait_source_image(image.id, source, size_gib=10)

    def _upload(self, volume, source: DiskSource, *, force: bool):
        """``os-volume_upload_image`` of ``volume`` into the source image ``osm-tmp-<id>``."""
        LOG.info(
            "uploading %s (%s, %d GiB) to the source image %s%s",
            source.label,
            volume.id,
            volume.size,
            source.tmp_name,
            " (force)" if force else "",
        )
        info = self.src.block_storage.upload_volume_to_image(
            volume, source.tmp_name, force=force, disk_format="raw", container_format="bare"
        )
        image = self._wait_source_image(info["image_id"], source, size_gib=volume.size)
        cloudops.wait_volume_settled(
            self.src, volume.id, what="uploaded volume", timeout=cloudops.volume_timeout(volume.size)
        )
        return image

    def _cleanup_source(self, source: DiskSource) -> list[str]:
        """Delete the source temporaries ``osm-tmp-<id>`` (volumes, images, snapshots) of ``source``."""
        name = source.tmp_name
        done: list[str] = []
        for vol in cloudops.volumes_named(self.src, name):
            cloudops.delete_volume(self.src, vol, what="temporary source volume")
            done.append(f"source volume {vol.id}")
        for img in cloudops.own_images_named(self.src, name):
            cloudops.delete_image(self.src, img, what="temporary source image")
            done.append(f"source image {img.id}")
        for snap in cloudops.snapshots_named(self.src, name):
            cloudops.delete_snapshot(self.src, snap, what="temporary source snapshot")
            done.append(f"source snapshot {snap.id}")
        return done


class ImageDiskCopier(DiskCopier):
    """Copy through Glance: upload-to-image, a verified streamed image copy, volume from image.

    Settings: ``access_order`` (ways to read an in-use volume, tried in order; default
    :attr:`ACCESS_ORDER`), ``chunk_size`` (bytes per streamed chunk; default 1 MiB).
    """

    method = "image"
    #: Ways to read an in-use source volume, in the order they are tried (see module docstring).
    ACCESS_ORDER = ("snapshot", "force_upload", "detach")

    def __init__(self, context: CopyContext):
        super().__init__(context)
        self.access_order = tuple(context.settings.get("access_order") or self.ACCESS_ORDER)
        self.chunk_size = int(context.settings.get("chunk_size") or CHUNK_SIZE)

    # -- pre-flight ------------------------------------------------------------------------------
    def check(self) -> list[str]:
        problems = []
        for side, conn in (("source", self.src), ("destination", self.dst)):
            for service in ("image", "block_storage"):
                try:
                    getattr(conn, service).get_endpoint()
                except Exception as e:
                    problems.append(
                        f"copy method 'image': the {side} cloud has no usable "
                        f"{service} endpoint ({type(e).__name__}: {e})"
                    )
        if problems:
            return problems
        try:
            schema = cloudops.call(self.dst.image.get, "/schemas/image").json()
            formats = schema.get("properties", {}).get("disk_format", {}).get("enum") or []
            if formats and "raw" not in formats:
                problems.append(
                    "copy method 'image': the destination Glance does not accept "
                    f"disk_format 'raw' (accepts {', '.join(map(str, formats))})"
                )
        except sdk_exc.SDKException as e:
            problems.append(f"copy method 'image': cannot read the destination image schema: {e}")
        return problems

    # -- copy ------------------------------------------------------------------------------------
    def copy(self, source: DiskSource, spec: VolumeSpec) -> CopyResult:
        LOG.info("copy %s -> volume %r (method image)", source.label or source.id, spec.name)
        src_image, access = self._source_image(source)
        dst_image, stats = self._transfer(src_image, source)
        properties = guest_properties(src_image) if source.kind == "server_disk" else {}
        volume = self._volume_from_image(dst_image, spec, source)
        LOG.info(
            "copy %s done: volume %s, %d bytes, sha256 %s",
            source.label or source.id,
            volume.id,
            stats["bytes"],
            stats["sha256"],
        )
        return CopyResult(
            volume_id=volume.id,
            size=volume.size,
            bytes=stats["bytes"],
            sha256=stats["sha256"],
            seconds=stats.get("seconds", 0.0),
            mb_per_s=stats.get("mb_per_s", 0.0),
            method=self.method,
            access=access if not stats.get("reused") else "reused",
            image_properties=properties,
        )

    # 1. a readable image of the source disk, in the source cloud ------------------------------
    def _source_image(self, source: DiskSource) -> tuple[Any, str]:
        name = source.tmp_name
        images = cloudops.own_images_named(self.src, name)
        active = [i for i in images if i.status == "active"]
        for extra in active[1:]:
            cloudops.delete_image(self.src, extra, what="duplicate temporary image")
        if active:
            LOG.info("reusing source image %s (%s) of %s", name, active[0].id, source.label)
            return active[0], "reused"
        for img in images:
            if img.status in ("queued", "saving", "importing", "uploading") and self._upload_in_progress(
                source
            ):
                LOG.info("an upload of %s into %s is in progress; waiting", source.label, img.id)
                volume = cloudops.get_volume(self.src, source.id)
                return self._wait_source_image(img.id, source, getattr(volume, "size", 1)), "reused"
            cloudops.delete_image(self.src, img, what="interrupted temporary image")
        if source.kind == "server_disk":
            return self._server_snapshot(source), "server_snapshot"
        return self._upload_volume(source)

    def _upload_in_progress(self, source: DiskSource) -> bool:
        if source.kind == "server_disk":  # a server snapshot: Nova's image_* task states
            server = cloudops.get_server(self.src, source.id)
            return server is not None and str(server.task_state or "").startswith("image_")
        ids = [source.id] + [v.id for v in cloudops.volumes_named(self.src, source.tmp_name)]
        return any(
            (v := cloudops.get_volume(self.src, i)) is not None and v.status == "uploading" for i in ids
        )

    def _upload_volume(self, source: DiskSource) -> tuple[Any, str]:
        volume = cloudops.get_volume(self.src, source.id)
        if volume is None:
            raise CopyError(f"source volume {source.id} ({source.label}) not found")
        volume = cloudops.wait_volume_settled(
            self.src, volume.id, what="source volume", timeout=cloudops.volume_timeout(volume.size)
        )
        if volume.status == "available":
            if source.server_id:
                # Exported as attached: an earlier attempt detached it and was interrupted.
                return self._upload_detached(volume, source, already_detached=True), "detach"
            return self._upload(volume, source, force=False), "upload"
        if volume.status != "in-use":
            raise CopyError(
                f"source volume {volume.id} ({source.label}) is {volume.status!r}; "
                "expected 'available' or 'in-use'"
            )
        tried = []
        for access in self.access_order:
            if access in self._unsupported:
                tried.append(f"{access}: refused earlier in this run")
                continue
            if access == "snapshot":
                temp = self._volume_from_snapshot(volume, source)
                if temp is not None:
                    image = self._upload(temp, source, force=False)
                    return image, "snapshot"
                tried.append("snapshot: the source Cinder cannot snapshot this volume")
            elif access == "force_upload":
                try:
                    return self._upload(volume, source, force=True), "force_upload"
                except sdk_exc.BadRequestException as e:
                    self._unsupported.add("force_upload")
                    tried.append(f"force_upload: {_http_message(e)} (Cinder enable_force_upload is off)")
            elif access == "detach":
                reason = self._detach_refusal(source)
                if reason:
                    tried.append(f"detach: {reason}")
                    continue
                return self._upload_detached(volume, source), "detach"
        raise SourceDiskUnreadable(
            f"cannot read the {'boot' if source.is_root else 'attached'} volume {volume.id} "
            f"({source.label}) through the source APIs: "
            + "; ".join(tried)
            + ". Enable volume snapshots of in-use volumes or Cinder enable_force_upload in "
            "the source cloud, or use another copy method."
        )

    def _upload_detached(self, volume, source: DiskSource, *, already_detached: bool = False):
        server_id = source.server_id
        if server_id is None:
            raise CopyError(f"{source.label}: attached to no known server; cannot detach it")
        timeout = cloudops.volume_timeout(volume.size)
        self.journal.record_detach(volume.id, server_id, source.device)
        if not already_detached:
            LOG.info(
                "detaching %s (%s) from the stopped source server %s", source.label, volume.id, server_id
            )
            self.src.compute.delete_volume_attachment(server_id, volume.id)
            cloudops.wait_volume(
                self.src,
                volume.id,
                "available",
                what="detached source volume",
                timeout=timeout,
                error=CopyError,
            )
        try:
            with cloudops.nonblocking_waits(False):  # attach it back right after, never defer
                image = self._upload(cloudops.get_volume(self.src, volume.id), source, force=False)
        finally:
            reattach_volume(self.src, volume.id, server_id, source.device, timeout=timeout)
            self.journal.record_reattach(volume.id)
        return image

    # 2. the verified streamed copy, source Glance -> destination Glance ------------------------
    def _transfer(self, src_image, source: DiskSource) -> tuple[Any, dict]:
        name = source.tmp_name
        for img in cloudops.own_images_named(self.dst, name):
            sha = (img.properties or {}).get(SHA256_KEY) or getattr(img, SHA256_KEY, None)
            if img.status == "active" and sha and _same_data(img, src_image):
                LOG.info("reusing verified destination image %s (%s)", name, img.id)
                return img, {"bytes": img.size, "sha256": sha, "reused": True}
            cloudops.delete_image(self.dst, img, what="unverified destination image")
        algo = src_image.hash_algo or "sha512"
        image = transfer.create_queued_image(
            self.dst,
            name=name,
            disk_format=src_image.disk_format or "raw",
            container_format=src_image.container_format or "bare",
            visibility="private",
        )
        responses = []

        def open_reader(bar) -> HashingReader:
            response = self.src.image.download_image(src_image, stream=True)
            responses.append(response)
            return HashingReader(
                response.iter_content(chunk_size=self.chunk_size),
                src_image.size,
                ("sha256", algo, "md5"),
                bar,
            )

        try:
            uploaded, stats = transfer.stream_into_image(
                self.dst,
                image,
                open_reader,
                expected={
                    "size": src_image.size,
                    "hash_algo": algo,
                    "hash_value": src_image.hash_value,
                    "checksum": src_image.checksum,
                },
                desc=f"copy {source.label or source.id}",
                fail=lambda problems: CopyError("image copy verification failed: " + "; ".join(problems)),
                logger=LOG,
            )
        finally:
            for response in responses:
                response.close()
        set_image_property(self.dst, uploaded.id, SHA256_KEY, stats["sha256"])
        LOG.info("copy %s: sha256 %s", source.label or source.id, stats["sha256"])
        return uploaded, stats

    # 3. the destination volume -----------------------------------------------------------------
    def _volume_from_image(self, image, spec: VolumeSpec, source: DiskSource):
        data_gib = math.ceil((image.virtual_size or image.size or 0) / GIB)
        size = max(int(spec.size or 0), data_gib, int(image.min_disk or 0), 1)
        kwargs = dict(
            name=spec.name,
            size=size,
            image_id=image.id,
            metadata=dict(spec.metadata),
            description=spec.description,
        )
        if spec.volume_type:
            kwargs["volume_type"] = spec.volume_type
        if spec.availability_zone:
            kwargs["availability_zone"] = spec.availability_zone
        LOG.info(
            "creating destination volume %r (%d GiB, type %s) from image %s",
            spec.name,
            size,
            spec.volume_type or "default",
            image.id,
        )
        resumed = [
            v
            for v in cloudops.volumes_with_marker(self.dst, source.id)
            if (v.metadata or {}).get(FROM_IMAGE_KEY) == image.id
        ]
        if resumed:
            volume = resumed[0]
            LOG.info("resuming destination volume %s (%s, %s)", spec.name, volume.id, volume.status)
        else:
            kwargs["metadata"] = {**kwargs["metadata"], FROM_IMAGE_KEY: image.id}
            volume = self.dst.block_storage.create_volume(**kwargs)
        try:
            volume = cloudops.wait_volume(
                self.dst,
                volume.id,
                "available",
                what=f"destination volume {spec.name!r}",
                timeout=cloudops.volume_timeout(size),
                error=CopyError,
                side="dst",
            )
        except CopyError:
            cloudops.delete_volume(self.dst, volume, what="failed destination volume")
            raise
        if FROM_IMAGE_KEY in (volume.metadata or {}):
            cloudops.call(self.dst.block_storage.delete_volume_metadata, volume, keys=[FROM_IMAGE_KEY])
        if bool(volume.is_bootable) != bool(spec.is_bootable):
            self.dst.block_storage.set_volume_bootable_status(volume, bool(spec.is_bootable))
        return cloudops.get_volume(self.dst, volume.id)

    def resumable(self, volume) -> bool:
        image_id = (volume.metadata or {}).get(FROM_IMAGE_KEY)
        if not image_id or volume.status not in ("creating", "downloading", "available"):
            return False
        image = cloudops.get_image(self.dst, image_id)
        sha = image is not None and (
            (image.properties or {}).get(SHA256_KEY) or getattr(image, SHA256_KEY, None)
        )
        return image is not None and image.status == "active" and bool(sha)

    # -- cleanup ---------------------------------------------------------------------------------
    def cleanup(self, source: DiskSource) -> list[str]:
        done = []
        for img in cloudops.own_images_named(self.dst, source.tmp_name):
            cloudops.delete_image(self.dst, img, what="temporary destination image")
            done.append(f"destination image {img.id}")
        return done + self._cleanup_source(source)


def reattach_volume(
    conn, volume_id: str, server_id: str, device: str | None, *, timeout: float = 300.0
) -> bool:
    """Attach a source volume back to its server if it is detached (idempotent).

    :returns: True if an attach was made.
    """
    volume = cloudops.wait_volume_settled(conn, volume_id, what="source volume", timeout=timeout)
    if volume is None:
        raise CopyError(f"source volume {volume_id} disappeared; cannot re-attach it")
    if any(a.get("server_id") == server_id for a in volume.attachments or []):
        return False
    LOG.info("re-attaching source volume %s to server %s at %s", volume_id, server_id, device)
    kwargs = {"device": device} if device else {}
    conn.compute.create_volume_attachment(server_id, volume=volume_id, **kwargs)
    cloudops.wait_volume(conn, volume_id, "in-use", what="re-attached source volume", timeout=timeout)
    return True


def _same_data(dst_image, src_image) -> bool:
    if dst_image.size != src_image.size:
        return False
    if dst_image.hash_algo and dst_image.hash_algo == src_image.hash_algo:
        return dst_image.hash_value == src_image.hash_value
    return bool(dst_image.checksum) and dst_image.checksum == src_image.checksum


def _http_message(e: sdk_exc.HttpException) -> str:
    return (getattr(e, "details", None) or str(e)).strip()


#: Copy method name -> DiskCopier class.
COPIERS: dict[str, type[DiskCopier]] = {ImageDiskCopier.method: ImageDiskCopier}


def make_copier(
    method: str,
    src,
    dst,
    *,
    journal: SourceJournal | None = None,
    ssh_resolver: Callable[[str], Any] | None = None,
    **settings: Any,
) -> DiskCopier:
    """Instantiate the copier of ``method`` with a :class:`CopyContext` of these arguments.

    :param settings: the method's own settings (see each copier).
    :raises CopyError: unknown method.
    """
    try:
        cls = COPIERS[method]
    except KeyError:
        raise CopyError(f"unknown copy method {method!r} (known: {', '.join(COPIERS)})") from None
    return cls(CopyContext(src, dst, journal or NullJournal(), settings, ssh_resolver))
