"""The shared Glance data module: property filtering and the three-way verification."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

from os_migrate import transfer

DATA = b"disk bytes" * 1000


def streamed(data=DATA, algo="sha512"):
    reader = transfer.HashingReader([data[:4000], data[4000:]], len(data), ("md5", algo))
    while reader.read(1024):
        pass
    return reader.stats()


def image(data=DATA, **over):
    base = dict(
        status="active",
        size=len(data),
        hash_algo="sha512",
        hash_value=hashlib.sha512(data).hexdigest(),
        checksum=hashlib.md5(data).hexdigest(),
    )
    base.update(over)
    return SimpleNamespace(**base)


def expected(img):
    return {
        "size": img.size,
        "hash_algo": img.hash_algo,
        "hash_value": img.hash_value,
        "checksum": img.checksum,
    }


def test_a_faithful_copy_has_no_problem():
    assert transfer.verification_problems(expected(image()), streamed(), image()) == []


def test_every_side_of_a_mismatch_is_named():
    other = b"other bytes" * 10
    problems = transfer.verification_problems(
        expected(image()), streamed(other), image(other, status="saving", checksum=None)
    )

    assert problems == [
        f"read {len(other)} bytes, the source image has {len(DATA)}",
        "sha512 of the bytes read differs from the source image's",
        "md5 of the bytes read differs from the source image's checksum",
        "destination image is 'saving', not 'active'",
    ]
    stored_other = image(other)
    assert transfer.verification_problems(expected(image()), streamed(), stored_other) == [
        f"destination stored {len(other)} bytes, {len(DATA)} were sent",
        "sha512 computed by the destination differs from the bytes sent",
        "md5 computed by the destination differs from the bytes sent",
    ]


def test_a_destination_without_any_hash_is_not_verified():
    silent = image(hash_algo=None, hash_value=None, checksum=None)

    assert transfer.verification_problems(expected(image()), streamed(), silent) == [
        "the destination reported no hash of the bytes it stored"
    ]


def test_guest_properties_leave_out_file_keys_source_facts_and_structures():
    img = SimpleNamespace(
        properties={
            "hw_machine_type": "q35",
            "instance_uuid": "src-vm",
            "os_glance_import_task": "t",
            "owner_specified.openstack.sha256": "x",
            "os_migrate_sha256": "y",
            "block_device_mapping": "[]",
            "nested": {"a": 1},
        },
        to_dict=lambda **kw: {"name": "img", "disk_format": "raw", "min_disk": 1, "os_distro": "cirros"},
    )

    assert transfer.guest_properties(img) == {"hw_machine_type": "q35", "os_distro": "cirros"}
    assert "instance_uuid" in transfer.image_properties(img)
