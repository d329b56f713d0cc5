"""Glance images: metadata as params, data streamed source -> destination and verified.

Params use Glance's attribute names for the core fields (``disk_format``, ``min_disk``,
``visibility``, openstacksdk's ``is_protected``/``is_hidden``) and keep every other property
(``architecture``, ``os_*``, ``hw_*``, custom keys) under ``properties`` with its Glance name.
Read-only and location fields (``stores``, ``self``, ``file``, ``direct_url``, ``locations``,
``os_hash_*``, ``checksum``, ``size``...) are never params; the hashes and size go to ``_info`` and
are used to verify the copy.

Data copy (``create``): the image is created queued, then its data is uploaded from a
:class:`~os_migrate.transfer.HashingReader` over the source download stream (or over a staged file
in the data dir, ``_migration_params.data_file``). After upload, the destination's own
``os_hash_value``/``checksum`` (computed by Glance on the bytes it received) must equal the
source's; otherwise the new image is deleted and the import fails. A failed or interrupted upload
leaves no active image: on error the new image is deleted, and a re-run first deletes any
non-active image of the same name in the project (a killed upload stays ``queued``/``saving``).
Streaming, verification and the list of non-property keys are shared with disk copies
(:mod:`os_migrate.transfer`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from os_migrate import api_rules
from os_migrate.exceptions import DataError
from os_migrate.references import RefIndex
from os_migrate.resources.base import REF_SCHEMA, Resource
from os_migrate.serialization import FILE_MODE, private_mkdir
from os_migrate.transfer import (
    CHUNK_SIZE,
    SOURCE_FACT_PROPERTIES,
    HashingReader,
    create_queued_image,
    file_chunks,
    image_properties,
    progress_bar,
    stream_into_image,
)

LOG = logging.getLogger(__name__)


class Image(Resource):
    """A Glance image owned by the project, with its data."""

    type = "openstack.image.Image"
    type_key = "images"
    ref_kind = "image"
    params_from_sdk = (
        "name",
        "disk_format",
        "container_format",
        "min_disk",
        "min_ram",
        "visibility",
        "is_protected",
        "is_hidden",
        "tags",
    )
    info_from_sdk = (
        "id",
        "owner",
        "status",
        "size",
        "virtual_size",
        "checksum",
        "hash_algo",
        "hash_value",
        "created_at",
        "updated_at",
    )
    ref_params = {"kernel": "image", "ramdisk": "image"}
    create_only = ("disk_format", "container_format", "kernel", "ramdisk")
    unordered = ("tags",)
    omit_defaults = {"is_hidden": False}
    admin_values = {"visibility": ("public", "community")}
    required_params = ("name", "disk_format", "container_format")
    migration_param_defaults = {"data_file": None}
    params_schema = {
        "name": {"type": "string"},
        "disk_format": {"type": "string"},
        "container_format": {"type": "string"},
        "min_disk": {"type": "integer", "minimum": 0},
        "min_ram": {"type": "integer", "minimum": 0},
        "visibility": {"enum": ["public", "private", "shared", "community"]},
        "is_protected": {"type": "boolean"},
        "is_hidden": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "properties": {"type": "object"},
        "kernel": REF_SCHEMA,
        "ramdisk": REF_SCHEMA,
    }

    needs_source = True

    def value_errors(self):
        p = self.params
        errors = api_rules.length_errors("params.name", p.get("name"), api_rules.GLANCE_STR_MAX)
        for f, allowed in (
            ("disk_format", api_rules.DISK_FORMATS),
            ("container_format", api_rules.CONTAINER_FORMATS),
        ):
            if p.get(f) not in allowed:
                errors.append(f"params.{f}: {p.get(f)!r} is not one of Glance's {', '.join(allowed)}")
        for i, tag in enumerate(p.get("tags") or []):
            errors += api_rules.length_errors(f"params.tags[{i}]", tag, api_rules.GLANCE_STR_MAX)
        for f in ("min_disk", "min_ram"):
            errors += api_rules.int_range_errors(f"params.{f}", p.get(f), 0, api_rules.INT32_MAX)
        return errors

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        return conn.image.images()

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.image.get_image(obj_id)

    @classmethod
    def list_sdk(cls, conn, refs):
        return conn.image.images(owner=refs.project_id)

    @classmethod
    def _refs_from_sdk(cls, obj, refs):
        props = image_properties(obj)
        out = {"properties": {k: v for k, v in props.items() if k not in SOURCE_FACT_PROPERTIES}}
        for p in ("kernel", "ramdisk"):
            if getattr(obj, f"{p}_id", None):
                out[p] = refs.ref("image", getattr(obj, f"{p}_id"))
        return out

    @classmethod
    def _extra_info(cls, obj):
        props = image_properties(obj)
        return {"source_properties": {k: v for k, v in props.items() if k in SOURCE_FACT_PROPERTIES}}

    # -- staging (air-gapped moves) --------------------------------------------------------------
    def stage_data(self, conn, data_dir: str | Path) -> str:
        """Download the image data into ``<data_dir>/image_data/<source id>`` (verified).

        An existing staged file whose hash equals the source's is kept (no second download). The
        record's ``_migration_params.data_file`` is set to the path relative to ``data_dir``.

        :returns: that relative path.
        :raises DataError: the downloaded bytes do not hash to the source's ``os_hash_value``.
        """
        rel = f"image_data/{self.source_id}"
        path = Path(data_dir) / rel
        algo = self.info.get("hash_algo") or "sha512"
        expected = self.info.get("hash_value")
        if path.exists() and expected:
            reader = HashingReader(file_chunks(path), None, (algo,))
            while reader.read(CHUNK_SIZE):
                pass
            if reader.hexdigest(algo) == expected:
                self.record.setdefault("_migration_params", {})["data_file"] = rel
                return rel
        private_mkdir(path.parent)
        tmp = path.with_name(path.name + ".part")
        resp = conn.image.download_image(self.source_id, stream=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with progress_bar(self.info.get("size"), f"stage {self.name}") as bar, os.fdopen(fd, "wb") as fh:
            reader = HashingReader(
                resp.iter_content(chunk_size=CHUNK_SIZE), self.info.get("size"), (algo,), bar
            )
            while chunk := reader.read(CHUNK_SIZE):
                fh.write(chunk)
        if expected and reader.hexdigest(algo) != expected:
            tmp.unlink()
            raise DataError(
                f"staged data hashes to {reader.hexdigest(algo)}, source reports {expected}",
                resource=self.describe(),
                field="_info.hash_value",
            )
        tmp.replace(path)
        self.record.setdefault("_migration_params", {})["data_file"] = rel
        return rel

    # -- plan ----------------------------------------------------------------------------------
    def compare(self, twin: Resource) -> tuple[str, dict, list[str]]:
        if twin.info.get("status") != "active":
            return "create", {}, []  # interrupted upload: replaced by create()
        src_hash, dst_hash = self.info.get("hash_value"), twin.info.get("hash_value")
        if src_hash and dst_hash and src_hash != dst_hash:
            return (
                "conflict",
                {},
                [
                    f"params.name: an active image {self.name!r} with different data "
                    f"(os_hash_value {dst_hash[:12]}...) exists in the destination"
                ],
            )
        return super().compare(twin)

    # -- import --------------------------------------------------------------------------------
    def create_body(self, refs: RefIndex) -> dict:
        body = super().create_body(refs)
        body.update(body.pop("properties", None) or {})
        return body

    def update_body(self, changes, refs):
        body = super().update_body(changes, refs)
        if "properties" in changes:
            body.pop("properties", None)
            want = changes["properties"]["to"] or {}
            have = changes["properties"]["from"] or {}
            body.update({k: v for k, v in want.items() if have.get(k) != v})
        return body

    def _delete_interrupted(self, conn, refs: RefIndex) -> None:
        for img in conn.image.images(owner=refs.project_id, name=self.name):
            if img.status != "active":
                LOG.info(
                    "deleting interrupted upload of %s (%s, status %s)", self.describe(), img.id, img.status
                )
                conn.image.delete_image(img, ignore_missing=True)

    def _data_reader(self, source, progress) -> HashingReader:
        size = self.info.get("size")
        algos = ("md5", self.info.get("hash_algo") or "sha512")
        data_file = self.migration_params.get("data_file")
        if data_file:
            path = Path(source.data_dir) / data_file
            if not path.exists():
                raise DataError(
                    f"staged data file {path} not found",
                    resource=self.describe(),
                    field="_migration_params.data_file",
                )
            return HashingReader(file_chunks(path), path.stat().st_size, algos, progress)
        if source is None or source.conn is None:
            raise DataError(
                "image data needs the source cloud connection or a staged _migration_params.data_file",
                resource=self.describe(),
            )
        resp = source.conn.image.download_image(self.source_id, stream=True)
        return HashingReader(resp.iter_content(chunk_size=CHUNK_SIZE), size, algos, progress)

    def create(self, conn, refs, *, source=None):
        self._delete_interrupted(conn, refs)
        image = create_queued_image(conn, **self.create_body(refs))
        uploaded, stats = stream_into_image(
            conn,
            image,
            lambda bar: self._data_reader(source, bar),
            expected={k: self.info.get(k) for k in ("size", "hash_algo", "hash_value", "checksum")},
            desc=f"image {self.describe()}",
            fail=lambda problems: DataError(
                "image data verification failed: " + "; ".join(problems), resource=self.describe()
            ),
            logger=LOG,
        )
        refs.add("image", uploaded)
        self.transfer_stats = stats
        return uploaded

    def update(self, conn, existing, changes, refs, *, source=None):
        return conn.image.update_image(existing.sdk, **self.update_body(changes, refs))
