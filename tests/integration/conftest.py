"""Fixtures for integration tests: connections to the real local cloud (devcloud).

The cloud is started by ``devcloud/devcloud.sh up`` (``make test`` does it). Its clouds.yaml is
``$DEVCLOUD_CLOUDS_YAML`` or ``<repo>/.devcloud/clouds.yaml``; without it these tests fail (they
are never skipped).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import openstack.config
import openstack.connection
import openstack.exceptions
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import os_migrate  # noqa: E402
import sample_tenant  # noqa: E402
from os_migrate.resources import REGISTRY  # noqa: E402

#: The Neutron types, in dependency order, from the core's registry (no hard-coded list).
NETWORK_TYPES = tuple(
    t for t in os_migrate.RESOURCE_TYPES if REGISTRY[t].type.startswith("openstack.network.")
)

CLOUDS_YAML = Path(os.environ.get("DEVCLOUD_CLOUDS_YAML", REPO_ROOT / ".devcloud" / "clouds.yaml"))
#: State dir of the running devcloud (its volume files live under data/); next to its clouds.yaml.
DEVCLOUD_HOME = Path(os.environ.get("DEVCLOUD_HOME", CLOUDS_YAML.parent))


#: ``OSM_TEST_TWO_CLOUDS=1``: the destination side of the tests is cloud 2 of the devcloud
#: (clouds ``devcloud2-*``, an independent control plane: ``DEVCLOUD_CLOUDS=2``); default: the
#: ``dst`` project of cloud 1. ``make test`` runs the network, image and workload tests both ways.
TWO_CLOUDS = os.environ.get("OSM_TEST_TWO_CLOUDS", "") == "1"
DST_CLOUD = "devcloud2-dst" if TWO_CLOUDS else "devcloud-dst"
DST_ADMIN_CLOUD = "devcloud2-admin" if TWO_CLOUDS else "devcloud-admin"


def connect(cloud: str):
    """A fresh openstacksdk connection to a devcloud cloud (no OS_* env, no other files)."""
    if not CLOUDS_YAML.exists():
        pytest.fail(
            f"{CLOUDS_YAML} not found: start the local cloud with `devcloud/devcloud.sh up` (or `make test`)"
        )
    config = openstack.config.OpenStackConfig(config_files=[str(CLOUDS_YAML)], load_envvars=False)
    try:
        region = config.get_one(cloud=cloud)
    except openstack.exceptions.ConfigException as e:
        hint = TWO_CLOUDS_HINT if cloud.startswith(CLOUD2_PREFIX + "-") else ""
        pytest.fail(f"cloud {cloud} is not in {CLOUDS_YAML} ({e}){hint}")
    return openstack.connection.Connection(config=region)


#: The second devcloud (``DEVCLOUD_CLOUDS=2``): clouds ``devcloud2-admin|src|dst`` in the same clouds.yaml.
CLOUD2_PREFIX = "devcloud2"
#: Its state dir (``$DEVCLOUD_HOME/cloud2``).
DEVCLOUD2_HOME = DEVCLOUD_HOME / "cloud2"
TWO_CLOUDS_HINT = (
    ": the second cloud is not up; start both with `DEVCLOUD_CLOUDS=2 devcloud/devcloud.sh up` "
    "(`make test` does)"
)


def two_clouds() -> dict[str, openstack.connection.Connection]:
    """Authenticated connections to both devclouds: keys ``admin1, src1, dst1, admin2, src2, dst2``.

    Fails (never skips) with a clear message when the second cloud is not up.
    """
    conns = {}
    for index, prefix in ((1, "devcloud"), (2, CLOUD2_PREFIX)):
        for role in ("admin", "src", "dst"):
            conn = connect(f"{prefix}-{role}")
            try:
                conn.authorize()
            except Exception as e:  # any failure to reach or log in to Keystone
                hint = TWO_CLOUDS_HINT if index == 2 else ": start it with `devcloud/devcloud.sh up`"
                pytest.fail(f"cannot log in to {prefix}-{role} ({type(e).__name__}: {e}){hint}")
            conns[f"{role}{index}"] = conn
    return conns


@pytest.fixture(scope="session")
def clouds2():
    """``two_clouds()`` once per session."""
    return two_clouds()


def connect_admin(project_name: str, cloud: str = "devcloud-admin"):
    """Admin user of a devcloud cloud, scoped to ``project_name`` (admin holds the admin role there)."""
    admin = connect(cloud)
    auth = dict(admin.config.auth, project_name=project_name)
    return openstack.connection.Connection(
        auth_type="password", auth=auth, region_name=admin.config.region_name
    )


@pytest.fixture(scope="session")
def src():
    """Connection of the source tenant (member of project src)."""
    return connect("devcloud-src")


@pytest.fixture(scope="session")
def dst():
    """Connection of the destination tenant (member of project dst of :data:`DST_CLOUD`)."""
    return connect(DST_CLOUD)


def volume_file(volume_id: str) -> Path:
    """Backing file of a devcloud volume, in cloud 1 or cloud 2 (NFS driver over a bind mount)."""
    found = list(DEVCLOUD_HOME.glob(f"**/nfs-export/volume-{volume_id}"))
    assert len(found) == 1, f"backing file of volume {volume_id}: {found}"
    return found[0]


@pytest.fixture(scope="session")
def seeded_src(src):
    """The source project holds exactly the sample tenant."""
    sample_tenant.clean(src)
    sample_tenant.seed(src)
    return src


@pytest.fixture
def empty_dst(dst):
    """The destination project holds no networking resources (except its default group)."""
    sample_tenant.clean(dst)
    return dst


def wait_for(predicate, what: str, timeout: float = 300, interval: float = 2):
    """Poll ``predicate()`` every ``interval`` s until it is truthy and return that value.

    :raises AssertionError: still falsy after ``timeout`` s.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
