"""OpenStackResourceStatusTrigger: serialization (no credentials) and its poll loop, on a fake cloud."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.sdk.module_loading import import_string
from openstack import exceptions as sdk_exc

from os_migrate_airflow.get_provider_info import get_provider_info
from os_migrate_airflow.triggers.openstack import OpenStackResourceStatusTrigger

CLASSPATH = "os_migrate_airflow.triggers.openstack.OpenStackResourceStatusTrigger"


def trigger(**kw):
    args = dict(
        conn_id="openstack_dst",
        kind="volume",
        resource_id="vol-1",
        target_statuses=("available",),
        failure_statuses=("error",),
        poll_interval=0,
        timeout=60,
        what="destination volume 'data'",
    )
    return OpenStackResourceStatusTrigger(**{**args, **kw})


def test_serialize_round_trips_and_holds_the_connection_id_only():
    classpath, kwargs = trigger().serialize()

    assert classpath == CLASSPATH
    assert kwargs == {
        "conn_id": "openstack_dst",
        "kind": "volume",
        "resource_id": "vol-1",
        "target_statuses": ["available"],
        "failure_statuses": ["error"],
        "poll_interval": 0.0,
        "timeout": 60.0,
        "what": "destination volume 'data'",
    }
    again = import_string(classpath)(**kwargs)
    assert again.serialize() == (classpath, kwargs)


def test_the_trigger_is_registered_with_the_provider():
    modules = [m for t in get_provider_info()["triggers"] for m in t["python-modules"]]
    assert modules == ["os_migrate_airflow.triggers.openstack"]
    assert CLASSPATH.rsplit(".", 1)[0] in modules


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind must be one of volume, snapshot, image, server"):
        trigger(kind="network")


class FakeCloud:
    """Answers get_<kind> from a list of states, one per poll (the last one repeats)."""

    def __init__(self, states):
        self.states, self.polls, self.closed = list(states), 0, False
        get = mock.Mock(side_effect=self._get)
        self.block_storage = SimpleNamespace(get_volume=get, get_snapshot=get)
        self.image = SimpleNamespace(get_image=get)
        self.compute = SimpleNamespace(get_server=get)

    def _get(self, resource_id):
        state = self.states[min(self.polls, len(self.states) - 1)]
        self.polls += 1
        if state is None:
            raise sdk_exc.NotFoundException("gone")
        status, task_state = state if isinstance(state, tuple) else (state, None)
        return SimpleNamespace(id=resource_id, status=status, task_state=task_state)

    def close(self):
        self.closed = True


def first_event(t, cloud):
    async def run():
        return await anext(t.run())

    with mock.patch.object(OpenStackResourceStatusTrigger, "_connect", return_value=cloud):
        return asyncio.run(run()).payload


@pytest.mark.parametrize(
    ("kw", "states", "status", "polls"),
    [
        ({}, ["creating", "downloading", "available"], "done", 3),
        ({}, ["creating", "error"], "failed", 2),
        ({}, ["creating", None], "failed", 2),
        ({"timeout": 0}, ["creating"], "timeout", 1),
        (
            {"kind": "server", "target_statuses": ["ACTIVE"], "failure_statuses": ["ERROR"]},
            [("BUILD", "spawning"), ("ACTIVE", "powering-on"), ("ACTIVE", None)],
            "done",
            3,
        ),
        (
            {"kind": "image", "target_statuses": ["active"], "failure_statuses": ["killed"]},
            ["killed"],
            "failed",
            1,
        ),
    ],
)
def test_run_polls_until_done_failed_or_timeout(kw, states, status, polls):
    cloud = FakeCloud(states)

    event = first_event(trigger(**kw), cloud)

    assert event["status"] == status
    assert event["resource_id"] == "vol-1" and event["conn_id"] == "openstack_dst"
    assert cloud.polls == polls and cloud.closed


def test_a_transient_api_error_is_polled_through(monkeypatch):
    monkeypatch.setattr("os_migrate.workload.cloudops.time.sleep", lambda s: None)
    cloud = FakeCloud(["available"])
    answers = iter([sdk_exc.HttpException("busy", http_status=503), None])

    def flaky(resource_id):
        if (err := next(answers)) is not None:
            raise err
        return SimpleNamespace(id=resource_id, status="available")

    cloud.block_storage.get_volume = flaky

    assert first_event(trigger(), cloud)["status"] == "done"
