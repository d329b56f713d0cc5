"""Conversion host settings: where host access comes from, what is refused, and that keys stay hidden."""

from __future__ import annotations

import json

import pytest

from os_migrate.workload import make_copier
from os_migrate.workload.conversion_host import (
    ConversionHostCopier,
    HostAccess,
    HostError,
    device_path,
    load_private_key,
    new_keypair,
    write_host_file,
)
from os_migrate.workload.errors import CopyError

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIrNOmf/9KKvUcTUdE6uXLHn0eWAiKFGTw5AvbD3doQy"


@pytest.fixture
def key_file(tmp_path):
    private, _ = new_keypair("test")
    path = tmp_path / "id"
    path.write_text(private)
    path.chmod(0o600)
    return path


def test_device_path_is_the_virtio_serial_of_the_volume_id():
    assert (
        device_path("0e1165bd-6d23-442f-b385-1a6b01d048c1") == "/dev/disk/by-id/virtio-0e1165bd-6d23-442f-b"
    )


def test_inline_settings_read_the_key_file_and_never_show_the_key(key_file):
    access = HostAccess.from_settings(
        {"server": "ch", "address": "192.0.2.1", "host_key": HOST_KEY, "private_key_file": str(key_file)},
        side="src",
    )
    assert (access.server, access.address, access.username, access.port) == ("ch", "192.0.2.1", "root", 22)
    assert access.private_key == key_file.read_text()
    assert "PRIVATE" not in repr(access)
    load_private_key(access.private_key)  # a usable key


def test_host_file_round_trip_keeps_the_key_out_of_the_file(key_file, tmp_path):
    access = HostAccess.from_settings(
        {"server": "ch", "address": "192.0.2.1", "host_key": HOST_KEY, "private_key_file": str(key_file)},
        side="dst",
    )
    host_file = tmp_path / "hosts" / "ch.json"
    write_host_file(host_file, access, private_key_file=str(key_file))
    assert oct(host_file.stat().st_mode & 0o777) == "0o600"
    assert "PRIVATE" not in host_file.read_text()
    assert json.loads(host_file.read_text())["private_key_file"] == str(key_file)
    again = HostAccess.from_settings({"host_file": str(host_file)}, side="dst")
    assert again == access


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "copy_settings.src_host: required"),
        ({"server": "ch"}, "copy_settings.src_host: missing address, host_key, private_key_file"),
        (
            {"ssh_conn_id": "ch_src"},
            "copy_settings.src_host.ssh_conn_id: 'ch_src' can only be resolved inside Airflow",
        ),
        ({"host_file": "/nonexistent/ch.json"}, "copy_settings.src_host.host_file: cannot read"),
    ],
)
def test_bad_settings_name_the_setting(value, message):
    with pytest.raises(HostError, match=message.replace(".", r"\.")):
        HostAccess.from_settings(value, side="src")


def test_a_key_file_others_can_read_is_refused(key_file):
    key_file.chmod(0o644)
    with pytest.raises(HostError, match="readable by others"):
        HostAccess.from_settings(
            {"server": "ch", "address": "a", "host_key": HOST_KEY, "private_key_file": str(key_file)},
            side="src",
        )


def test_a_bad_key_is_reported_without_its_text():
    with pytest.raises(HostError) as err:
        load_private_key(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LW1hdGVyaWFs\n-----END OPENSSH PRIVATE KEY-----\n"
        )
    assert "c2VjcmV0" not in str(err.value)


def test_ssh_conn_id_goes_through_the_resolver_and_keeps_the_server_override(key_file):
    base = HostAccess(server="from-conn", address="192.0.2.9", host_key=HOST_KEY, private_key="k")
    got = HostAccess.from_settings(
        {"ssh_conn_id": "ch_dst", "server": "other"}, side="dst", resolver=lambda conn_id: base
    )
    assert (got.server, got.address) == ("other", "192.0.2.9")


def test_the_method_is_registered_and_checks_its_settings():
    copier = make_copier("conversion_host", None, None, tool="nbdcopy")
    assert isinstance(copier, ConversionHostCopier)
    assert copier.check() == [
        "copy method 'conversion_host': copy_settings.src_host: required for copy method 'conversion_host' (a mapping)",
        "copy method 'conversion_host': copy_settings.dst_host: required for copy method 'conversion_host' (a mapping)",
    ]
    with pytest.raises(CopyError, match="copy_settings.tool: 'scp' is not auto, nbdcopy or qemu-img"):
        make_copier("conversion_host", None, None, tool="scp")
