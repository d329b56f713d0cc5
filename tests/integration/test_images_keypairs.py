"""Images (metadata + data) and keypairs src -> dst on the real local cloud."""

from __future__ import annotations

import hashlib
import random

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from openstack.image.v2.image import Image as SdkImage

import os_migrate
from os_migrate import RequestCounter, export_resources, import_resources
from os_migrate.cloud import find_or_none

IMAGE_NAME = "osm-test-image"
IMAGE_SIZE = 20 * 1024 * 1024
PROPERTIES = {
    "hw_disk_bus": "scsi",
    "hw_scsi_model": "virtio-scsi",
    "os_distro": "cirros",
    "architecture": "x86_64",
    "app_tier": "web",
    "backup_policy": "daily",
}
KEYPAIR = "osm-test-key"


def image_bytes() -> bytes:
    return random.Random(42).randbytes(IMAGE_SIZE)


def delete_images(conn, name):
    for img in list(conn.image.images(owner=conn.current_project_id, name=name)):
        if img.is_protected:
            conn.image.update_image(img, is_protected=False)
        conn.image.delete_image(img)


def download_sha512(conn, image_id) -> str:
    h = hashlib.sha512()
    for chunk in conn.image.download_image(image_id, stream=True).iter_content(1 << 20):
        h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="module")
def src_image(src):
    delete_images(src, IMAGE_NAME)
    image = SdkImage.new(
        name=IMAGE_NAME,
        disk_format="raw",
        container_format="bare",
        min_disk=1,
        min_ram=64,
        tags=["b-tag", "a-tag"],
        **PROPERTIES,
    )
    image = image.create(src.image)
    image.upload(src.image, data=image_bytes(), size=IMAGE_SIZE)
    image = src.image.get_image(image.id)
    assert image.status == "active"
    return image


@pytest.fixture(scope="module")
def image_data_dir(src, src_image, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("images")
    export_resources(src, data_dir, types=["images"], filters={"images": [IMAGE_NAME]})
    return data_dir


def test_export_keeps_properties_and_leaves_out_read_only_fields(image_data_dir, src_image):
    (record,) = yaml.safe_load((image_data_dir / "images.yml").read_text())["resources"]
    params = record["params"]
    assert params["properties"] == PROPERTIES
    assert params["tags"] == ["a-tag", "b-tag"]
    assert (params["disk_format"], params["min_disk"], params["min_ram"]) == ("raw", 1, 64)
    flat = yaml.safe_dump(params)
    for read_only in (
        "stores",
        "self",
        "direct_url",
        "locations",
        "os_hash",
        "checksum",
        "file",
        "schema",
        "size",
        "status",
    ):
        assert read_only not in flat, read_only
    assert record["_info"]["hash_value"] == src_image.hash_value
    assert record["_info"]["hash_algo"] == "sha512"


def test_image_migrates_with_equal_bytes_and_properties(src, dst, image_data_dir, src_image):
    delete_images(dst, IMAGE_NAME)
    result = import_resources(dst, image_data_dir, types=["images"], src_conn=src)
    assert result["counts"]["create"] == 1
    (image,) = list(dst.image.images(owner=dst.current_project_id, name=IMAGE_NAME))
    assert image.status == "active" and image.size == IMAGE_SIZE
    assert download_sha512(dst, image.id) == hashlib.sha512(image_bytes()).hexdigest()
    assert image.hash_value == src_image.hash_value
    props = os_migrate.resources.image.image_properties(image)
    assert {k: props[k] for k in PROPERTIES} == PROPERTIES
    assert sorted(image.tags) == ["a-tag", "b-tag"]


def test_second_run_neither_uploads_nor_updates(src, dst, image_data_dir):
    dst.authorize()
    with RequestCounter(dst) as counter:
        result = import_resources(dst, image_data_dir, types=["images"], src_conn=src)
    assert counter.writes == 0, counter.write_urls
    assert result["counts"]["unchanged"] == 1
    assert len(list(dst.image.images(owner=dst.current_project_id, name=IMAGE_NAME))) == 1


def test_interrupted_upload_leaves_no_active_image_and_rerun_completes(src, dst, image_data_dir, monkeypatch):
    delete_images(dst, IMAGE_NAME)
    real_download = src.image.download_image

    def broken_download(image, **kwargs):
        resp = real_download(image, **kwargs)
        real_iter = resp.iter_content

        def chunks(chunk_size=1 << 20):
            for i, chunk in enumerate(real_iter(chunk_size=chunk_size)):
                if i == 5:
                    raise ConnectionError("source stream cut after 5 MiB")
                yield chunk

        resp.iter_content = chunks
        return resp

    monkeypatch.setattr(src.image, "download_image", broken_download)
    with pytest.raises(os_migrate.ApplyError, match="source stream cut"):
        import_resources(dst, image_data_dir, types=["images"], src_conn=src)
    assert [i.status for i in dst.image.images(owner=dst.current_project_id, name=IMAGE_NAME)] == []
    monkeypatch.undo()

    # A process killed mid-upload cannot clean up: it leaves a non-active image behind.
    SdkImage.new(name=IMAGE_NAME, disk_format="raw", container_format="bare").create(dst.image)
    result = import_resources(dst, image_data_dir, types=["images"], src_conn=src)
    assert result["counts"]["create"] == 1
    (image,) = list(dst.image.images(owner=dst.current_project_id, name=IMAGE_NAME))
    assert image.status == "active"
    assert download_sha512(dst, image.id) == hashlib.sha512(image_bytes()).hexdigest()


def test_public_visibility_needs_admin_and_is_refused_up_front(src, dst, image_data_dir, tmp_path):
    path = tmp_path / "images.yml"
    doc = yaml.safe_load((image_data_dir / "images.yml").read_text())
    doc["resources"][0]["params"]["visibility"] = "public"
    doc["resources"][0]["params"]["name"] = "osm-public-attempt"
    path.write_text(yaml.safe_dump(doc))
    dst.authorize()
    with RequestCounter(dst) as counter, pytest.raises(os_migrate.ValidationError) as e:
        import_resources(dst, tmp_path, types=["images"], src_conn=src)
    assert counter.writes == 0
    (error,) = e.value.errors
    assert "params.visibility" in error and "needs an admin" in error


@pytest.fixture(scope="module")
def src_keypair(src):
    key = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    if find_or_none(src.compute.find_keypair, KEYPAIR):
        src.compute.delete_keypair(KEYPAIR)
    return src.compute.create_keypair(name=KEYPAIR, public_key=f"{key} osm-test")


def test_keypairs_migrate_and_rerun_is_idempotent(src, dst, src_keypair, tmp_path):
    if find_or_none(dst.compute.find_keypair, KEYPAIR):
        dst.compute.delete_keypair(KEYPAIR)
    export_resources(src, tmp_path, types=["keypairs"], filters={"keypairs": [KEYPAIR]})
    text = (tmp_path / "keypairs.yml").read_text()
    assert "PRIVATE" not in text.upper()
    result = import_resources(dst, tmp_path, types=["keypairs"])
    assert result["counts"]["create"] == 1
    migrated = dst.compute.get_keypair(KEYPAIR)
    assert migrated.public_key == src_keypair.public_key
    assert migrated.fingerprint == src_keypair.fingerprint
    dst.authorize()
    with RequestCounter(dst) as counter:
        again = import_resources(dst, tmp_path, types=["keypairs"])
    assert counter.writes == 0
    assert again["counts"]["unchanged"] == 1


def test_admin_exports_other_users_keypairs_and_recreates_them_for_that_user(src, dst, src_keypair, tmp_path):
    from .conftest import DST_ADMIN_CLOUD, connect_admin

    admin_src, admin_dst = connect_admin("src"), connect_admin("dst", DST_ADMIN_CLOUD)
    export_resources(admin_src, tmp_path, types=["keypairs"], filters={"keypairs": [KEYPAIR]})
    doc = yaml.safe_load((tmp_path / "keypairs.yml").read_text())
    (record,) = [r for r in doc["resources"] if r["params"].get("user")]
    assert record["params"]["user"] == {"name": "src-member", "domain_name": "Default"}
    # The operator maps the user to its destination twin by editing the YAML.
    record["params"]["user"]["name"] = "dst-member"
    record["params"]["name"] = "osm-admin-copied"
    doc["resources"] = [record]
    (tmp_path / "keypairs.yml").write_text(yaml.safe_dump(doc))
    if find_or_none(dst.compute.find_keypair, "osm-admin-copied"):
        dst.compute.delete_keypair("osm-admin-copied")
    result = import_resources(admin_dst, tmp_path, types=["keypairs"])
    assert result["counts"]["create"] == 1
    assert dst.compute.get_keypair("osm-admin-copied").public_key == src_keypair.public_key
    again = import_resources(admin_dst, tmp_path, types=["keypairs"])
    assert again["counts"] == {"create": 0, "update": 0, "unchanged": 1, "skip": 0}
    # A tenant cannot import another user's keypair: refused up front.
    with pytest.raises(os_migrate.ValidationError, match="params.user.*needs an admin"):
        import_resources(dst, tmp_path, types=["keypairs"])


def test_staged_image_data_imports_without_the_source_cloud(src, dst, src_image, tmp_path):
    export_resources(src, tmp_path, types=["images"], filters={"images": [IMAGE_NAME]}, stage_image_data=True)
    (record,) = yaml.safe_load((tmp_path / "images.yml").read_text())["resources"]
    staged = tmp_path / record["_migration_params"]["data_file"]
    assert hashlib.sha512(staged.read_bytes()).hexdigest() == src_image.hash_value
    # a plain re-export keeps the operator's knob
    export_resources(src, tmp_path, types=["images"], filters={"images": [IMAGE_NAME]})
    (again,) = yaml.safe_load((tmp_path / "images.yml").read_text())["resources"]
    assert again["_migration_params"]["data_file"] == record["_migration_params"]["data_file"]
    delete_images(dst, IMAGE_NAME)
    result = import_resources(dst, tmp_path, types=["images"], src_conn=None)
    assert result["counts"]["create"] == 1
    (image,) = list(dst.image.images(owner=dst.current_project_id, name=IMAGE_NAME))
    assert image.hash_value == src_image.hash_value
