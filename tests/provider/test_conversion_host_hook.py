"""Conversion hosts from Airflow SSH Connections (providers-ssh's field names), host keys required."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from os_migrate.workload.conversion_host import HostError
from os_migrate_airflow.hooks.conversion_host import host_access, host_key_line

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIrNOmf/9KKvUcTUdE6uXLHn0eWAiKFGTw5AvbD3doQy"


def private_key() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        .decode()
    )


def set_conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "ssh", **fields}))


def test_ssh_connection_becomes_host_access_without_showing_the_key(monkeypatch):
    key = private_key()
    set_conn(
        monkeypatch,
        "ch_src",
        host="192.0.2.7",
        port=2222,
        login="root",
        extra={
            "private_key": key,
            "host_key": HOST_KEY,
            "server": "convhost-src",
            "peer_address": "10.0.0.7",
        },
    )
    access = host_access("ch_src")
    assert (access.server, access.address, access.port, access.username) == (
        "convhost-src",
        "192.0.2.7",
        2222,
        "root",
    )
    assert (access.host_key, access.peer_address, access.private_key) == (HOST_KEY, "10.0.0.7", key)
    assert "PRIVATE" not in repr(access) and key.splitlines()[1] not in repr(access)


def test_bare_base64_host_key_gets_its_type():
    assert host_key_line(HOST_KEY.split()[1]) == HOST_KEY
    with pytest.raises(HostError, match="not an SSH public key"):
        host_key_line("not-base64!")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"private_key": "k"}, "extra host_key is missing"),
        ({"host_key": HOST_KEY}, "extra private_key or key_file is missing"),
        ({"host_key": HOST_KEY, "private_key": "k", "no_host_key_check": True}, "no_host_key_check is on"),
    ],
)
def test_connections_that_cannot_be_checked_are_refused(monkeypatch, extra, message):
    set_conn(monkeypatch, "ch_bad", host="192.0.2.7", login="root", extra=extra)
    with pytest.raises(HostError, match=f"Airflow Connection 'ch_bad': {message}"):
        host_access("ch_bad")


def test_key_file_must_be_private(monkeypatch, tmp_path):
    path = tmp_path / "id"
    path.write_text(private_key())
    path.chmod(0o644)
    set_conn(
        monkeypatch,
        "ch_file",
        host="192.0.2.7",
        login="root",
        extra={"key_file": str(path), "host_key": HOST_KEY},
    )
    with pytest.raises(HostError, match="readable by others"):
        host_access("ch_file")
    path.chmod(0o600)
    assert host_access("ch_file").private_key == path.read_text()
