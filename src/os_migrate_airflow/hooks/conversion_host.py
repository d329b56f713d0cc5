"""Conversion hosts from Airflow SSH Connections (conn_type ``ssh`` of apache-airflow-providers-ssh).

A provided conversion host is one SSH Connection, filled in the UI's SSH form or as JSON
(``AIRFLOW_CONN_<ID>``)::

    {
      "conn_type": "ssh",
      "host": "203.0.113.10",           # address the Airflow worker connects to
      "port": 22,
      "login": "root",                  # needs root rights on the host (attach, nbdkit on devices)
      "extra": {
        "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\\n...",   # or "key_file": "/path" (0600)
        "host_key": "ssh-ed25519 AAAA...",   # required: host keys are checked, never accepted blindly
        "server": "convhost-src",            # the host's Nova server (name or id) in its cloud
        "peer_address": "10.0.0.5"           # optional: how the other host reaches this one
      }
    }

These are the extra names of providers-ssh's ``SSHHook`` (``private_key``, ``key_file``,
``host_key``), so the same Connection also works for its SSH operators. ``no_host_key_check: true``
is refused. The Connection is read where the task runs; the key goes from the (encrypted)
Connection into memory only: never into XCom, the data dir or a log line.
"""

from __future__ import annotations

import base64
import struct

from airflow.sdk import BaseHook

from os_migrate.workload.conversion_host import HostAccess, HostError, read_private_key_file


def host_key_line(value: str) -> str:
    """``<type> <base64>`` from either that or providers-ssh's bare base64 form.

    :raises HostError: not a public key.
    """
    parts = value.split()
    if len(parts) >= 2:
        return f"{parts[0]} {parts[1]}"
    try:
        blob = base64.b64decode(parts[0], validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        keytype = blob[4 : 4 + length].decode("ascii")
    except (IndexError, ValueError, struct.error, UnicodeDecodeError) as e:
        raise HostError(f"host_key {value[:20]!r}... is not an SSH public key") from e
    return f"{keytype} {parts[0]}"


def host_access(conn_id: str) -> HostAccess:
    """The conversion host of Airflow SSH Connection ``conn_id`` (the core's ``ssh_resolver``).

    :raises HostError: no host, no key, no host key, or host key checking disabled; the message
        names the Connection and the field.
    """
    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    where = f"Airflow Connection {conn_id!r}"
    if str(extra.get("no_host_key_check", "false")).lower() == "true":
        raise HostError(f"{where}: no_host_key_check is on; conversion hosts need extra host_key")
    if not conn.host:
        raise HostError(f"{where}: host (the address of the conversion host) is empty")
    if not extra.get("host_key"):
        raise HostError(f"{where}: extra host_key is missing (the host's public key, as recorded)")
    private = extra.get("private_key")
    if not private and extra.get("key_file"):
        private = read_private_key_file(extra["key_file"], where=f"{where}: extra key_file")
    if not private:
        raise HostError(f"{where}: extra private_key or key_file is missing")
    return HostAccess(
        server=str(extra.get("server") or conn.host),
        address=str(conn.host),
        host_key=host_key_line(str(extra["host_key"])),
        private_key=str(private),
        username=conn.login or "root",
        port=int(conn.port or 22),
        peer_address=extra.get("peer_address"),
        name=str(extra.get("server") or conn_id),
    )


__all__ = ["host_access", "host_key_line"]
