"""OpenStackResourceStatusTrigger against the real local cloud: a volume being made, a bad id.

The trigger gets its cloud the way it does in the triggerer: an Airflow Connection id (env form,
pointing at the devcloud's clouds.yaml) read by the hook; the run() loop runs under asyncio.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from os_migrate_airflow.triggers.openstack import OpenStackResourceStatusTrigger

from .conftest import CLOUDS_YAML, connect

CONN_ID = "trigger_src"


@pytest.fixture
def src(monkeypatch):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(
            {"conn_type": "openstack", "extra": {"cloud": "devcloud-src", "clouds_yaml": str(CLOUDS_YAML)}}
        ),
    )
    return connect("devcloud-src")


def first_event(**kw):
    trigger = OpenStackResourceStatusTrigger(conn_id=CONN_ID, poll_interval=1, timeout=300, **kw)

    async def run():
        return await anext(trigger.run())

    started = time.monotonic()
    return asyncio.run(run()).payload, time.monotonic() - started


def test_a_volume_made_from_an_image_ends_done_when_available(src):
    image = next(i for i in src.image.images() if i.name == "cirros" and i.status == "active")
    volume = src.block_storage.create_volume(name="osm-trigger-probe", size=1, image_id=image.id)
    try:
        assert src.block_storage.get_volume(volume.id).status in ("creating", "downloading")

        event, seconds = first_event(
            kind="volume", resource_id=volume.id, target_statuses=["available"], failure_statuses=["error"]
        )

        assert event["status"] == "done", event
        assert event["resource_status"] == "available" and event["resource_id"] == volume.id
        assert src.block_storage.get_volume(volume.id).status == "available"
        assert seconds < 300
    finally:
        src.block_storage.delete_volume(volume.id, ignore_missing=True)


def test_a_bad_volume_id_ends_failed_at_once(src):
    event, seconds = first_event(
        kind="volume",
        resource_id="00000000-0000-0000-0000-000000000000",
        target_statuses=["available"],
        failure_statuses=["error"],
    )

    assert event["status"] == "failed" and "not found" in event["message"]
    assert seconds < 30
