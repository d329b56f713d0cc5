"""The image disk copier and the copy orchestration, against an in-memory fake cloud.

``FakeCloud`` answers the few openstacksdk proxy calls the copier makes (volumes, snapshots,
images, attachments) from dicts, with data as bytes, so the streamed copy, its verification, the
ways to read an attached volume, reuse after an interruption and cleanup are checked without a
cloud. The two SDK-resource calls of the transfer (create a queued image, upload its data) are
patched in the shared Glance data module (:mod:`os_migrate.transfer`).
"""

from __future__ import annotations

import hashlib
import itertools
from types import SimpleNamespace

import pytest
from openstack import exceptions as sdk_exc

from os_migrate import transfer
from os_migrate.workload import disk_copy, migrate
from os_migrate.workload.cloudops import SHA256_KEY, SOURCE_ID_KEY, nonblocking_waits
from os_migrate.workload.disk_copy import DiskSource, ImageDiskCopier, VolumeSpec
from os_migrate.workload.errors import CopyError, Pending, SourceDiskUnreadable
from os_migrate.workload.records import Server

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


class Response:
    def __init__(self, data: bytes, fail_after: int | None = None):
        self.data, self.fail_after, self.closed = data, fail_after, False

    def iter_content(self, chunk_size):
        for i in range(0, len(self.data), chunk_size):
            if self.fail_after is not None and i >= self.fail_after:
                raise ConnectionResetError("stream cut")
            yield self.data[i : i + chunk_size]

    def close(self):
        self.closed = True


class FakeImages:
    def __init__(self, cloud):
        self.cloud, self.images_by_id, self.fail_after = cloud, {}, None

    def add(self, name, data=None, status="active", **props):
        img = SimpleNamespace(
            id=new_id("img"),
            name=name,
            status=status,
            owner=self.cloud.project,
            size=len(data) if data is not None else None,
            virtual_size=None,
            min_disk=0,
            disk_format="raw",
            container_format="bare",
            properties=dict(props),
            hash_algo="sha512" if data is not None else None,
            hash_value=hashlib.sha512(data).hexdigest() if data is not None else None,
            checksum=hashlib.md5(data).hexdigest() if data is not None else None,
            data=data,
        )
        img.to_dict = lambda **kw: {"name": img.name, "disk_format": "raw", **img.properties}
        self.images_by_id[img.id] = img
        return img

    def images(self, owner=None, name=None):
        return [
            i
            for i in self.images_by_id.values()
            if (name is None or i.name == name) and (owner is None or i.owner == owner)
        ]

    def get_image(self, image_id):
        image_id = getattr(image_id, "id", image_id)
        if image_id not in self.images_by_id:
            raise sdk_exc.NotFoundException("no image")
        return self.images_by_id[image_id]

    def delete_image(self, image_id, ignore_missing=True):
        self.images_by_id.pop(getattr(image_id, "id", image_id), None)

    def wait_for_status(self, image, status, failures=None, interval=2, wait=None):
        image = self.get_image(image)
        if image.status != status:
            raise sdk_exc.ResourceFailure(f"image {image.id} is {image.status}")
        return image

    def download_image(self, image, stream=False):
        return Response(self.get_image(image).data, self.fail_after)

    def patch(self, url, json=None, headers=None):
        img = self.images_by_id[url.split("/")[2]]
        for op in json:
            img.properties[op["path"].lstrip("/")] = op["value"]
        return SimpleNamespace(status_code=200, headers={}, text="")

    def get(self, url):
        return SimpleNamespace(json=lambda: {"properties": {"disk_format": {"enum": ["raw"]}}})

    def get_endpoint(self):
        return "http://fake/image"


class FakeBlockStorage:
    def __init__(self, cloud):
        self.cloud, self.vols, self.snaps = cloud, {}, {}
        self.snapshot_status = "available"
        self.force_upload = False
        self.slow = False  # uploads stay "saving"/"uploading", new volumes "creating"
        self.calls = []

    def add(self, name, data=b"", status="available", server_id=None, device=None, **kw):
        vol = SimpleNamespace(
            id=new_id("vol"),
            name=name,
            status=status,
            size=kw.pop("size", 1),
            data=data,
            metadata=dict(kw.pop("metadata", {})),
            volume_image_metadata=dict(kw.pop("vim", {})),
            is_bootable=kw.pop("is_bootable", False),
            volume_type=kw.pop("volume_type", None),
            description=None,
            attachments=[{"server_id": server_id, "device": device}] if server_id else [],
        )
        self.vols[vol.id] = vol
        return vol

    def get_endpoint(self):
        return "http://fake/volume"

    def volumes(self, details=True):
        return list(self.vols.values())

    def get_volume(self, volume_id):
        volume_id = getattr(volume_id, "id", volume_id)
        if volume_id not in self.vols:
            raise sdk_exc.NotFoundException("no volume")
        return self.vols[volume_id]

    def create_volume(
        self,
        *,
        name,
        size,
        image_id=None,
        snapshot_id=None,
        metadata=None,
        description=None,
        volume_type=None,
        availability_zone=None,
    ):
        self.calls.append(("create_volume", name))
        if image_id:
            image = self.cloud.image.get_image(image_id)
            data, vim = (
                image.data,
                {
                    "image_id": image.id,
                    "image_name": image.name,
                    "checksum": image.checksum,
                    **image.properties,
                },
            )
        else:
            data = self.vols[self.snaps[snapshot_id].volume_id].data if snapshot_id else b""
            vim = {}
        return self.add(
            name,
            data,
            status="creating" if self.slow else "available",
            size=size,
            metadata=metadata or {},
            vim=vim,
            is_bootable=bool(image_id),
            volume_type=volume_type,
        )

    def delete_volume(self, volume_id, ignore_missing=True):
        self.vols.pop(getattr(volume_id, "id", volume_id), None)

    def snapshots(self, details=True):
        return list(self.snaps.values())

    def create_snapshot(self, *, volume_id, name, force, description):
        snap = SimpleNamespace(id=new_id("snap"), name=name, volume_id=volume_id, status=self.snapshot_status)
        self.snaps[snap.id] = snap
        return snap

    def get_snapshot(self, snapshot_id):
        if snapshot_id not in self.snaps:
            raise sdk_exc.NotFoundException("no snapshot")
        return self.snaps[snapshot_id]

    def delete_snapshot(self, snapshot_id, ignore_missing=True):
        self.snaps.pop(snapshot_id, None)

    def upload_volume_to_image(
        self, volume, image_name, force=False, disk_format=None, container_format=None
    ):
        vol = self.get_volume(volume)
        self.calls.append(("upload", vol.id, force))
        if vol.status != "available" and not (force and self.force_upload):
            raise sdk_exc.BadRequestException(
                message=f"Invalid volume: Volume {vol.id} status must be available"
            )
        img = self.cloud.image.add(image_name, vol.data, status="saving" if self.slow else "active")
        if self.slow:
            vol.status = "uploading"
        return {"image_id": img.id}

    def set_volume_bootable_status(self, volume, bootable):
        self.get_volume(volume).is_bootable = bootable

    def set_volume_image_metadata(self, volume, **md):
        self.get_volume(volume).volume_image_metadata.update(md)

    def delete_volume_image_metadata(self, volume, keys):
        for k in keys:
            self.get_volume(volume).volume_image_metadata.pop(k, None)

    def set_volume_metadata(self, volume, **md):
        self.get_volume(volume).metadata.update(md)

    def delete_volume_metadata(self, volume, keys):
        for k in keys:
            self.get_volume(volume).metadata.pop(k, None)


class FakeCompute:
    def __init__(self, cloud):
        self.cloud, self.servers = cloud, {}

    def get_server(self, server_id):
        if server_id not in self.servers:
            raise sdk_exc.NotFoundException("no server")
        return self.servers[server_id]

    def delete_volume_attachment(self, server_id, volume_id):
        vol = self.cloud.block_storage.get_volume(volume_id)
        vol.status, vol.attachments = "available", []

    def create_volume_attachment(self, server_id, volume, device=None):
        vol = self.cloud.block_storage.get_volume(volume)
        vol.status = "in-use"
        vol.attachments = [{"server_id": server_id, "device": device or "/dev/sdz"}]

    def create_server_image(self, server, name):
        return self.cloud.image.add(
            name, self.cloud.root_disk, hw_machine_type="q35", instance_uuid=server.id
        )

    def find_flavor(self, name, ignore_missing=True):
        return SimpleNamespace(id="flavor-1", name=name, disk=2, vcpus=1, ram=512)


class FakeCloud:
    def __init__(self, project):
        self.project = project
        self.current_project_id = project
        self.image = FakeImages(self)
        self.block_storage = FakeBlockStorage(self)
        self.compute = FakeCompute(self)
        self.root_disk = b"root-disk" * 1000

    def add_server(self, status="SHUTOFF"):
        server = SimpleNamespace(id=new_id("srv"), status=status, task_state=None)
        self.compute.servers[server.id] = server
        return server


@pytest.fixture(autouse=True)
def fake_transfer_calls(monkeypatch):
    """The two SDK-resource calls of the transfer, answered by the fake destination."""

    def create(conn, *, name, disk_format, container_format, **attrs):
        img = conn.image.add(name, None, status="queued")
        img.disk_format, img.container_format = disk_format, container_format
        return img

    def upload(conn, image, reader, size):
        data = reader.read()
        img = conn.image.images_by_id[image.id]
        img.data, img.size, img.status = data, len(data), "active"
        img.hash_algo, img.hash_value = "sha512", hashlib.sha512(data).hexdigest()
        img.checksum = hashlib.md5(data).hexdigest()

    monkeypatch.setattr(transfer, "create_queued_image", create)
    monkeypatch.setattr(transfer, "upload_image_data", upload)
    monkeypatch.setattr(disk_copy.cloudops.time, "sleep", lambda s: None)


@pytest.fixture
def clouds():
    return FakeCloud("src-project"), FakeCloud("dst-project")


DATA = bytes(range(256)) * 4096 * 3  # 3 MiB


def attached_volume(src, *, root=False):
    server = src.add_server()
    vol = src.block_storage.add("data", DATA, status="in-use", server_id=server.id, device="/dev/vdb")
    return server, vol, DiskSource("volume", vol.id, server.id, "/dev/vdb", root, "vm /dev/vdb")


def image_copier(src, dst, **kw):
    return disk_copy.make_copier("image", src, dst, **kw)


def spec(source_id, **kw):
    return VolumeSpec(name="copy", size=1, metadata={SOURCE_ID_KEY: source_id}, **kw)


def temporaries(cloud):
    return (
        [i.name for i in cloud.image.images_by_id.values() if i.name.startswith("osm-tmp-")]
        + [v.name for v in cloud.block_storage.vols.values() if v.name.startswith("osm-tmp-")]
        + [s.name for s in cloud.block_storage.snaps.values()]
    )


def test_snapshot_route_copies_the_bytes_and_leaves_the_source_attached(clouds):
    src, dst = clouds
    server, vol, source = attached_volume(src)

    result = image_copier(src, dst).copy(source, spec(vol.id))

    copy = dst.block_storage.vols[result.volume_id]
    assert copy.data == DATA
    assert result.sha256 == hashlib.sha256(DATA).hexdigest()
    assert result.bytes == len(DATA)
    assert result.access == "snapshot"
    assert copy.metadata == {SOURCE_ID_KEY: vol.id}
    assert vol.status == "in-use" and vol.attachments[0]["server_id"] == server.id
    assert [c for c in src.block_storage.calls if c[0] == "upload"][0][1] != vol.id  # the clone


def test_without_snapshots_a_forced_upload_is_tried_next(clouds):
    src, dst = clouds
    src.block_storage.snapshot_status = "error"
    src.block_storage.force_upload = True
    _, vol, source = attached_volume(src, root=True)

    result = image_copier(src, dst).copy(source, spec(vol.id))

    assert result.access == "force_upload"
    assert dst.block_storage.vols[result.volume_id].data == DATA
    assert src.block_storage.snaps == {}  # the failed snapshot was removed


def test_a_data_volume_of_a_stopped_server_is_detached_and_attached_back(clouds):
    src, dst = clouds
    src.block_storage.snapshot_status = "error"
    server, vol, source = attached_volume(src)
    journal = SimpleNamespace(events=[])
    journal.record_detach = lambda *a: journal.events.append(("detach",) + a)
    journal.record_reattach = lambda *a: journal.events.append(("reattach",) + a)

    result = image_copier(src, dst, journal=journal).copy(source, spec(vol.id))

    assert result.access == "detach"
    assert journal.events == [("detach", vol.id, server.id, "/dev/vdb"), ("reattach", vol.id)]
    assert vol.status == "in-use" and vol.attachments == [{"server_id": server.id, "device": "/dev/vdb"}]


def test_a_boot_volume_nobody_can_read_fails_naming_every_way_tried(clouds):
    src, dst = clouds
    src.block_storage.snapshot_status = "error"
    _, vol, source = attached_volume(src, root=True)

    with pytest.raises(SourceDiskUnreadable) as excinfo:
        image_copier(src, dst).copy(source, spec(vol.id))

    message = str(excinfo.value)
    assert vol.id in message
    for fragment in ("snapshot", "enable_force_upload", "Nova never detaches a root volume"):
        assert fragment in message
    assert vol.status == "in-use" and dst.block_storage.vols == {}


def test_a_running_server_keeps_its_data_volume(clouds):
    src, dst = clouds
    src.block_storage.snapshot_status = "error"
    server, vol, source = attached_volume(src)
    server.status = "ACTIVE"

    with pytest.raises(SourceDiskUnreadable, match="a volume is only detached from a SHUTOFF"):
        image_copier(src, dst).copy(source, spec(vol.id))
    assert vol.status == "in-use"


def test_a_stream_cut_mid_way_leaves_no_destination_image_and_a_rerun_reuses_the_source_image(clouds):
    src, dst = clouds
    _, vol, source = attached_volume(src)
    src.image.fail_after = len(DATA) // 2

    with pytest.raises(ConnectionResetError):
        image_copier(src, dst).copy(source, spec(vol.id))
    assert dst.image.images_by_id == {}
    assert dst.block_storage.vols == {}
    src_images = [i for i in src.image.images_by_id.values() if i.name == source.tmp_name]
    assert len(src_images) == 1

    src.image.fail_after = None
    uploads_before = len([c for c in src.block_storage.calls if c[0] == "upload"])
    result = image_copier(src, dst).copy(source, spec(vol.id))

    assert dst.block_storage.vols[result.volume_id].data == DATA
    assert len([c for c in src.block_storage.calls if c[0] == "upload"]) == uploads_before
    assert result.access == "reused"


def test_a_killed_upload_left_queued_in_the_destination_is_replaced(clouds):
    src, dst = clouds
    _, vol, source = attached_volume(src)
    stale = dst.image.add(source.tmp_name, None, status="queued")

    result = image_copier(src, dst).copy(source, spec(vol.id))

    assert stale.id not in dst.image.images_by_id
    assert dst.block_storage.vols[result.volume_id].data == DATA


def test_a_verified_destination_image_is_reused_without_streaming_again(clouds):
    src, dst = clouds
    _, vol, source = attached_volume(src)
    copier = image_copier(src, dst)
    src_image, _ = copier._source_image(source)
    copier._transfer(src_image, source)
    src.image.fail_after = 0  # any new download would fail

    result = copier.copy(source, spec(vol.id))

    assert result.access == "reused"
    assert result.sha256 == hashlib.sha256(DATA).hexdigest()


def test_verification_fails_when_the_destination_stored_other_bytes(clouds, monkeypatch):
    src, dst = clouds
    _, vol, source = attached_volume(src)

    def corrupting_upload(conn, image, reader, size):
        data = reader.read()
        img = conn.image.images_by_id[image.id]
        img.data, img.size, img.status = data[:-1] + b"x", len(data), "active"
        img.hash_algo, img.hash_value = "sha512", hashlib.sha512(img.data).hexdigest()
        img.checksum = None

    monkeypatch.setattr(transfer, "upload_image_data", corrupting_upload)

    with pytest.raises(CopyError, match="sha512 computed by the destination differs"):
        image_copier(src, dst).copy(source, spec(vol.id))
    assert dst.image.images_by_id == {}


def test_cleanup_removes_every_temporary_in_both_clouds(clouds):
    src, dst = clouds
    _, vol, source = attached_volume(src)
    copier = image_copier(src, dst)
    copier.copy(source, spec(vol.id))
    dst.image.add(source.tmp_name, b"x")
    assert temporaries(src) and temporaries(dst)

    removed = copier.cleanup(source)

    assert temporaries(src) == [] and temporaries(dst) == []
    # source snapshot, volume and image; the verified destination image and a stray one
    assert sorted(r.split()[0] + " " + r.split()[1] for r in removed) == [
        "destination image",
        "destination image",
        "source image",
        "source snapshot",
        "source volume",
    ]
    assert copier.cleanup(source) == []


def test_server_disk_is_read_through_a_server_snapshot_and_sized_to_the_spec(clouds):
    src, dst = clouds
    server = src.add_server()
    source = DiskSource("server_disk", server.id, None, None, True, "vm root")

    result = image_copier(src, dst).copy(source, spec(server.id, is_bootable=True))

    assert result.access == "server_snapshot"
    assert result.image_properties == {"hw_machine_type": "q35"}  # instance_uuid is a fact
    assert dst.block_storage.vols[result.volume_id].data == src.root_disk


def test_a_copier_gets_its_settings_in_the_one_context_object(clouds):
    src, dst = clouds
    journal = SimpleNamespace()

    copier = disk_copy.make_copier(
        "image", src, dst, journal=journal, access_order=["detach"], chunk_size=4096
    )

    assert copier.context == disk_copy.CopyContext(
        src, dst, journal, {"access_order": ["detach"], "chunk_size": 4096}
    )
    assert (copier.access_order, copier.chunk_size, copier.journal) == (("detach",), 4096, journal)
    assert disk_copy.make_copier("image", src, dst).access_order == ImageDiskCopier.ACCESS_ORDER


def test_make_copier_knows_the_image_method_only():
    assert isinstance(disk_copy.make_copier("image", None, None), ImageDiskCopier)
    with pytest.raises(CopyError, match="unknown copy method 'ssh'"):
        disk_copy.make_copier("ssh", None, None)


# -- orchestration of one disk ------------------------------------------------------------------


def server_record(volume_id, server_id="srv-x", vim=None):
    return Server(
        {
            "type": Server.type,
            "params": {
                "name": "vm",
                "flavor": {"name": "m1"},
                "image": None,
                "volumes": [
                    {
                        "name": "boot",
                        "size": 1,
                        "device": "/dev/sda",
                        "boot_index": 0,
                        "is_bootable": True,
                        "volume_type": "slow",
                        "volume_image_metadata": vim
                        or {"hw_firmware_type": "uefi", "image_id": "src-img", "image_name": "gone"},
                    }
                ],
            },
            "_info": {"id": server_id, "volumes": [{"id": volume_id, "device": "/dev/sda"}]},
            "_migration_params": {"volume_type_map": {"slow": "fast"}, "boot_volume_params": {}},
        }
    )


def test_ensure_disk_copy_sets_image_metadata_and_marker_and_is_idempotent(clouds):
    src, dst = clouds
    src.block_storage.force_upload = True
    _, vol, _ = attached_volume(src, root=True)
    server = server_record(vol.id)
    disk = migrate.disk_plan(server)[0]
    copier = image_copier(src, dst)

    first = migrate.ensure_disk_copy(copier, dst, disk, server)
    again = migrate.ensure_disk_copy(copier, dst, disk, server)

    copy = dst.block_storage.vols[first.volume_id]
    assert copy.volume_image_metadata == {"hw_firmware_type": "uefi", "image_name": "gone"}
    assert copy.metadata[SHA256_KEY] == hashlib.sha256(DATA).hexdigest()
    assert copy.volume_type == "fast"  # volume_type_map
    assert again.access == "reused" and again.volume_id == first.volume_id
    assert len(dst.block_storage.vols) == 1
    assert temporaries(src) == [] and temporaries(dst) == []


def test_ensure_disk_copy_replaces_an_unfinished_destination_volume(clouds):
    src, dst = clouds
    src.block_storage.force_upload = True
    _, vol, _ = attached_volume(src, root=True)
    server = server_record(vol.id)
    half = dst.block_storage.add("boot", b"partial", metadata={SOURCE_ID_KEY: vol.id})

    result = migrate.ensure_disk_copy(image_copier(src, dst), dst, migrate.disk_plan(server)[0], server)

    assert half.id not in dst.block_storage.vols
    assert list(dst.block_storage.vols) == [result.volume_id]


def test_non_blocking_copy_raises_pending_and_resumes_without_a_second_upload_or_volume(clouds):
    src, dst = clouds
    src.block_storage.force_upload = True
    src.block_storage.slow = dst.block_storage.slow = True
    _, vol, _ = attached_volume(src, root=True)
    server = server_record(vol.id)
    disk = migrate.disk_plan(server)[0]

    def step():
        with nonblocking_waits():
            return migrate.ensure_disk_copy(image_copier(src, dst), dst, disk, server)

    def finish(p: Pending) -> None:  # the cloud finishes what the step waits for
        cloud = src if p.side == "src" else dst
        if p.kind == "image":
            cloud.image.images_by_id[p.resource_id].status = "active"
            for v in cloud.block_storage.vols.values():
                if v.status == "uploading":
                    v.status = "in-use" if v.attachments else "available"
        else:
            cloud.block_storage.vols[p.resource_id].status = p.target_statuses[0]

    waits = []
    for _ in range(5):
        try:
            result = step()
            break
        except Pending as p:
            waits.append((p.kind, p.side, p.target_statuses))
            with pytest.raises(Pending):  # called again too early: waits again, starts nothing
                step()
            finish(p)
            last = p

    # temporary volume from the snapshot, its upload, the destination volume from the image
    assert waits == [
        ("volume", "src", ("available",)),
        ("image", "src", ("active",)),
        ("volume", "dst", ("available",)),
    ]
    assert len([c for c in src.block_storage.calls if c[0] == "upload"]) == 1
    assert len([c for c in src.block_storage.calls if c[0] == "create_volume"]) == 1
    assert [c for c in dst.block_storage.calls if c[0] == "create_volume"] == [("create_volume", "boot")]
    copy = dst.block_storage.vols[result.volume_id]
    assert result.volume_id == last.resource_id and list(dst.block_storage.vols) == [copy.id]
    assert copy.data == DATA and copy.metadata[SHA256_KEY] == hashlib.sha256(DATA).hexdigest()
    assert disk_copy.FROM_IMAGE_KEY not in copy.metadata
    assert temporaries(src) == [] and temporaries(dst) == []


def test_blocking_waits_stay_the_default_and_a_failed_resource_raises_not_pending(clouds):
    src, _ = clouds
    server = src.add_server(status="ERROR")
    with nonblocking_waits(), pytest.raises(CopyError, match="status ERROR"):
        disk_copy.cloudops.wait_server(src, server.id, "ACTIVE", what="vm", error=CopyError, side="dst")
    server.status = "BUILD"
    with nonblocking_waits(), pytest.raises(Pending) as pending:
        disk_copy.cloudops.wait_server(src, server.id, "ACTIVE", what="vm", side="dst")
    assert pending.value.to_dict()["failure_statuses"] == ["ERROR"]
    with nonblocking_waits(), pytest.raises(CopyError, match="still 'BUILD'"):  # no side: blocks
        disk_copy.cloudops.wait_server(src, server.id, "ACTIVE", what="vm", timeout=0, error=CopyError)
