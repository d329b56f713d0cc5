"""Admin content across two independent clouds (devcloud cloud 1 -> cloud 2), then a tenant of it.

Cloud 1 gets a non-default domain with a three-level project tree, three users with member,
reader and admin roles, a group with two members (and a role), a private flavor with extra specs
and access for two projects, and non-default quotas. ``os_migrate`` exports them as admin from
cloud 1 and imports them as admin into cloud 2, whose Keystone, Nova, Neutron and Cinder share
nothing with cloud 1's: the destination must match on every field (a re-export of cloud 2 with
the same selection equals the source's, ids and usage aside), and a re-run makes no write. Then the
migrated user logs into the migrated project of cloud 2 with the run's initial password, and the
project's networks, image (with data), keypair and a server with a data volume (on the migrated
private flavor) move across; the volume's bytes are compared with the source's.

Needs both clouds up (``DEVCLOUD_CLOUDS=2 devcloud/devcloud.sh up``; ``make test`` does it).
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from pathlib import Path

import openstack.connection
import pytest
import yaml
from openstack import exceptions as sdk_exc

import os_migrate
from os_migrate.cloud import RequestCounter, find_or_none
from os_migrate.resources import ADMIN_TYPES
from os_migrate.workload import export_workloads, migrate_server, preflight

from .conftest import connect, volume_file, wait_for

DOMAIN = "osm-corp"
TOP, MID, LEAF, OTHER = "osm-top", "osm-mid", "osm-leaf", "osm-other"
USERS = {"osm-ann": ("member", LEAF), "osm-bob": ("reader", MID), "osm-cid": ("admin", TOP)}
GROUP = "osm-ops"
FLAVOR = "osm.private"
EXTRA_SPECS = {"hw:cpu_policy": "dedicated", "osm:tier": "gold"}
SOURCE_PASSWORD = "src-Pa55-osm"
INITIAL_PASSWORD = "dst-initial-Pa55"
QUOTAS = {"cores": 7, "ram": 7777, "instances": 5}
NET_QUOTAS = {"networks": 7, "ports": 70}
VOL_QUOTAS = {"volumes": 7, "gigabytes": 77}
FILTERS = {"projects": ["regex:^osm-(top|mid|leaf)$"]}
TENANT_TYPES = [
    "networks",
    "subnets",
    "routers",
    "router_interfaces",
    "security_groups",
    "security_group_rules",
    "images",
    "keypairs",
]
MIB = 1024 * 1024
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIrNOmf/9KKvUcTUdE6uXLHn0eWAiKFGTw5AvbD3doQy osm-key"


def admin_of(cloud: int):
    return connect("devcloud-admin" if cloud == 1 else "devcloud2-admin")


def user_conn(admin, username: str, password: str, project: str):
    """Connection of a user of domain ``osm-corp`` scoped to one of its projects."""
    auth = {
        "auth_url": admin.config.auth["auth_url"],
        "username": username,
        "password": password,
        "user_domain_name": DOMAIN,
        "project_name": project,
        "project_domain_name": DOMAIN,
    }
    return openstack.connection.Connection(
        auth_type="password", auth=auth, region_name=admin.config.region_name
    )


def project_admin(admin, project):
    """The cloud's admin user scoped to ``project`` (given the admin role there first)."""
    role = admin.identity.find_role("admin", ignore_missing=False)
    me = admin.identity.get_user(admin.current_user_id)
    admin.identity.assign_project_role_to_user(project, me, role)
    auth = {
        **admin.config.auth,
        "project_id": project.id,
    }
    auth.pop("project_name", None)
    auth.pop("project_domain_name", None)
    return openstack.connection.Connection(
        auth_type="password", auth=auth, region_name=admin.config.region_name
    )


def purge(admin) -> None:
    """Remove the test's domain (with everything its projects hold) and flavor from one cloud."""
    flavor = find_or_none(admin.compute.find_flavor, FLAVOR)
    domain = find_or_none(admin.identity.find_domain, DOMAIN)
    if domain is not None:
        for project in list(admin.identity.projects(domain_id=domain.id)):
            conn = project_admin(admin, project)
            servers = list(conn.compute.servers(project_id=project.id, all_projects=True))
            for s in servers:
                conn.compute.delete_server(s)
            for s in servers:
                conn.compute.wait_for_delete(s, wait=300)
            for v in list(conn.block_storage.volumes(all_projects=True, project_id=project.id)):
                wait_for(
                    lambda v=v, c=conn: c.block_storage.get_volume(v.id).status in ("available", "error"),
                    "volume idle",
                )
                conn.block_storage.delete_volume(v)
                conn.block_storage.wait_for_delete(v, wait=300)
            for img in list(conn.image.images(owner=project.id)):
                conn.image.delete_image(img)
            for fip in list(conn.network.ips(project_id=project.id)):
                conn.network.delete_ip(fip)
            for router in list(conn.network.routers(project_id=project.id)):
                for port in list(
                    conn.network.ports(device_id=router.id, device_owner="network:router_interface")
                ):
                    conn.network.remove_interface_from_router(router, port_id=port.id)
                conn.network.delete_router(router)
            for port in list(conn.network.ports(project_id=project.id)):
                if not (port.device_owner or "").startswith("network:"):
                    conn.network.delete_port(port)
            for net in list(conn.network.networks(project_id=project.id)):
                conn.network.delete_network(net)
            for sg in list(conn.network.security_groups(project_id=project.id)):
                if sg.name != "default":
                    conn.network.delete_security_group(sg)
        for user in list(admin.identity.users(domain_id=domain.id)):
            for kp in list(admin.compute.keypairs(user_id=user.id)):
                admin.compute.delete_keypair(kp, user_id=user.id)
        projects = list(admin.identity.projects(domain_id=domain.id))
        for _ in range(len(projects)):
            for project in list(admin.identity.projects(domain_id=domain.id)):
                with contextlib.suppress(sdk_exc.HttpException):  # a parent with children: next round
                    admin.identity.delete_project(project)
        admin.identity.update_domain(domain, is_enabled=False)
        admin.identity.delete_domain(domain)
    if flavor is not None:
        admin.compute.delete_flavor(flavor)


def seed_source(admin) -> dict:
    """The admin content of the module docstring, in cloud 1."""
    domain = admin.identity.create_domain(name=DOMAIN, description="OS Migrate test domain")
    top = admin.identity.create_project(
        name=TOP, domain_id=domain.id, description="top of the tree", tags=["osm", "tier-1"]
    )
    mid = admin.identity.create_project(name=MID, domain_id=domain.id, parent_id=top.id, description="middle")
    leaf = admin.identity.create_project(name=LEAF, domain_id=domain.id, parent_id=mid.id, description="leaf")
    other = admin.identity.create_project(name=OTHER, domain_id=domain.id, description="not selected")
    projects = {TOP: top, MID: mid, LEAF: leaf, OTHER: other}
    roles = {r.name: r for r in admin.identity.roles()}
    users = {}
    for name, (role, project) in USERS.items():
        users[name] = admin.identity.create_user(
            name=name,
            domain_id=domain.id,
            password=SOURCE_PASSWORD,
            email=f"{name}@example.org",
            description=f"{role} of {project}",
            default_project_id=projects[project].id,
        )
        admin.identity.assign_project_role_to_user(projects[project], users[name], roles[role])
    group = admin.identity.create_group(name=GROUP, domain_id=domain.id, description="operators")
    for name in ("osm-ann", "osm-bob"):
        admin.identity.add_user_to_group(users[name], group)
    admin.identity.assign_project_role_to_group(projects[MID], group, roles["member"])
    flavor = admin.compute.create_flavor(
        name=FLAVOR,
        vcpus=1,
        ram=512,
        disk=1,
        swap=0,
        ephemeral=0,
        is_public=False,
        description="private tier",
    )
    admin.compute.create_flavor_extra_specs(flavor, EXTRA_SPECS)
    for name in (TOP, LEAF):
        admin.compute.flavor_add_tenant_access(flavor, projects[name].id)
    admin.compute.update_quota_set(leaf.id, **QUOTAS)
    admin.network.update_quota(leaf.id, **NET_QUOTAS)
    admin.block_storage.update_quota_set(leaf.id, **VOL_QUOTAS)
    return projects


def params_of(data_dir: Path) -> dict:
    """``{type: {identity: params}}`` of an admin data dir."""
    out = {}
    for type_key in ADMIN_TYPES:
        cls = os_migrate.resources.REGISTRY[type_key]
        records = yaml.safe_load((data_dir / f"{type_key}.yml").read_text())["resources"]
        out[type_key] = {cls(r).identity: r["params"] for r in records}
    return out


@pytest.fixture(scope="module")
def clouds(tmp_path_factory):
    src_admin, dst_admin = admin_of(1), admin_of(2)
    assert src_admin.config.auth["auth_url"] != dst_admin.config.auth["auth_url"]
    purge(dst_admin)
    purge(src_admin)
    projects = seed_source(src_admin)
    data_dir = tmp_path_factory.mktemp("admin")
    return {
        "src": src_admin,
        "dst": dst_admin,
        "projects": projects,
        "data_dir": data_dir,
        "tmp": tmp_path_factory,
    }


def test_admin_content_moves_to_an_independent_cloud_and_matches_on_every_field(clouds):
    src, dst, data_dir = clouds["src"], clouds["dst"], clouds["data_dir"]
    summary = os_migrate.export_resources(src, data_dir, types=ADMIN_TYPES, filters=FILTERS)
    assert summary["counts"]["projects"] == 3 and summary["counts"]["users"] == 3
    staged = "".join((data_dir / f"{t}.yml").read_text() for t in ADMIN_TYPES)
    assert SOURCE_PASSWORD not in staged and "password" not in staged
    # the destination has none of it: the clouds are independent
    assert find_or_none(dst.identity.find_domain, DOMAIN) is None

    result = os_migrate.import_resources(
        dst, data_dir, types=ADMIN_TYPES, options={"quota_mode": "copy", "user_password": INITIAL_PASSWORD}
    )
    assert result["counts"]["create"] >= 3 + 3 + 1 + 1 + 5

    again = clouds["tmp"].mktemp("admin-dst")
    os_migrate.export_resources(dst, again, types=ADMIN_TYPES, filters=FILTERS)
    assert params_of(again) == params_of(data_dir)
    by_type = params_of(again)
    assert by_type["projects"][f"{DOMAIN}/{LEAF}"]["parent"] == {"name": MID, "domain_name": DOMAIN}
    assert by_type["projects"][f"{DOMAIN}/{TOP}"]["tags"] == ["osm", "tier-1"]
    assert by_type["groups"][f"{DOMAIN}/{GROUP}"]["members"] == [
        {"name": "osm-ann", "domain_name": DOMAIN},
        {"name": "osm-bob", "domain_name": DOMAIN},
    ]
    flavor = by_type["flavors"][FLAVOR]
    assert flavor["extra_specs"] == EXTRA_SPECS and flavor["is_public"] is False
    assert flavor["access"] == [{"name": LEAF, "domain_name": DOMAIN}, {"name": TOP, "domain_name": DOMAIN}]
    quota = by_type["quotas"][f"{DOMAIN}/{LEAF}"]
    assert {k: quota["compute"][k] for k in QUOTAS} == QUOTAS
    assert {k: quota["network"][k] for k in NET_QUOTAS} == NET_QUOTAS
    assert {k: quota["block_storage"][k] for k in VOL_QUOTAS} == VOL_QUOTAS
    roles = {a.split(" ")[0] + " " + a.split(" ")[1] for a in by_type["role_assignments"]}
    assert {
        "member user:osm-corp/osm-ann",
        "reader user:osm-corp/osm-bob",
        "admin user:osm-corp/osm-cid",
    } <= roles
    assert "member group:osm-corp/osm-ops" in roles
    assert OTHER not in {p.split("/")[1] for p in by_type["projects"]}

    with RequestCounter(dst) as counter:
        rerun = os_migrate.import_resources(
            dst, data_dir, types=ADMIN_TYPES, options={"user_password": INITIAL_PASSWORD}
        )
    assert (rerun["counts"]["create"], rerun["counts"]["update"], counter.writes) == (0, 0, 0)


def test_tenant_credentials_are_refused_for_admin_types_before_any_write(clouds):
    member = connect("devcloud2-dst")
    with RequestCounter(member) as counter, pytest.raises(os_migrate.ValidationError) as err:
        os_migrate.import_resources(member, clouds["data_dir"], types=["projects", "flavors"])
    assert counter.writes == 0
    assert "'projects' (openstack.identity.Project) needs an admin connection to import" in str(err.value)
    assert "'flavors' (openstack.compute.Flavor) needs an admin connection" in str(err.value)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(4 * MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def test_a_tenant_of_the_migrated_project_moves_across_with_its_bytes(clouds):
    """The migrated user, with the run's initial password, receives its project's content."""
    src = user_conn(clouds["src"], "osm-ann", SOURCE_PASSWORD, LEAF)
    dst = user_conn(clouds["dst"], "osm-ann", INITIAL_PASSWORD, LEAF)
    assert dst.current_project_id != src.current_project_id

    net = src.network.create_network(name="osm-net")
    subnet = src.network.create_subnet(name="osm-sub", network_id=net.id, cidr="10.70.1.0/24", ip_version=4)
    public = src.network.find_network("public", ignore_missing=False)
    router = src.network.create_router(name="osm-router", external_gateway_info={"network_id": public.id})
    src.network.add_interface_to_router(router, subnet=subnet.id)
    sg = src.network.create_security_group(name="osm-web", description="web")
    src.network.create_security_group_rule(
        security_group_id=sg.id,
        direction="ingress",
        ether_type="IPv4",
        protocol="tcp",
        port_range_min=443,
        port_range_max=443,
    )
    src.compute.create_keypair(name="osm-key", public_key=PUBLIC_KEY)
    boot = src.image.create_image(
        name="osm-image",
        data=random.Random(9).randbytes(4 * MIB),
        disk_format="raw",
        container_format="bare",
        visibility="private",
        allow_duplicates=True,
    )
    payload = src.image.create_image(
        name="osm-payload",
        data=random.Random(10).randbytes(6 * MIB),
        disk_format="raw",
        container_format="bare",
        visibility="private",
        allow_duplicates=True,
    )
    volume = src.block_storage.create_volume(name="osm-data", size=1, image_id=payload.id)
    src.block_storage.wait_for_status(volume, "available", wait=300)
    src.image.delete_image(payload)  # the volume holds the bytes now
    flavor = src.compute.find_flavor(FLAVOR, ignore_missing=False)
    server = src.compute.create_server(
        name="osm-vm",
        image_id=boot.id,
        flavor_id=flavor.id,
        networks=[{"uuid": net.id}],
        key_name="osm-key",
        security_groups=[{"name": "osm-web"}],
    )
    src.compute.wait_for_server(server, wait=300)
    src.compute.create_volume_attachment(server, volume_id=volume.id)
    wait_for(lambda: src.block_storage.get_volume(volume.id).status == "in-use", "data volume attached")

    data_dir = clouds["tmp"].mktemp("tenant")
    os_migrate.export_resources(src, data_dir, types=TENANT_TYPES)
    os_migrate.import_resources(dst, data_dir, types=TENANT_TYPES, src_conn=src)
    dst_image = dst.image.find_image("osm-image", ignore_missing=False)
    assert dst_image.hash_value == src.image.get_image(boot.id).hash_value
    assert dst.compute.find_keypair("osm-key", ignore_missing=False).public_key == PUBLIC_KEY

    export_workloads(src, data_dir, servers=["osm-vm"])
    report = preflight(src, dst, data_dir, servers=["osm-vm"])
    assert report["servers"] == ["osm-vm"]
    result = migrate_server(src, dst, data_dir, "osm-vm")
    assert result["result"] == "migrated", result

    migrated = dst.compute.find_server("osm-vm", ignore_missing=False)
    migrated = dst.compute.get_server(migrated.id)
    assert migrated.flavor["original_name"] == FLAVOR
    attached = [a["id"] for a in migrated.attached_volumes]
    assert len(attached) == 1
    assert sha256_of(volume_file(attached[0])) == sha256_of(volume_file(volume.id))
    assert volume_file(attached[0]) != volume_file(volume.id)
    # the source was left running... stopped, as asked, and otherwise intact
    assert src.compute.get_server(server.id).status == "SHUTOFF"
    assert src.block_storage.get_volume(volume.id).status == "in-use"


def test_the_admin_dag_creates_a_new_user_and_logs_names_but_no_secret(
    clouds, airflow_db, monkeypatch, caplog, tmp_path
):
    """A user added in the source since the first run: the DAG creates it with the password of an
    Airflow Variable; the task logs name it in full, and no password is in logs, XCom or YAML."""
    import json
    import logging

    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from .conftest import CLOUDS_YAML, REPO_ROOT

    src = clouds["src"]
    domain = src.identity.find_domain(DOMAIN, ignore_missing=False)
    dee = src.identity.create_user(
        name="osm-dee", domain_id=domain.id, password=SOURCE_PASSWORD, email="dee@example.org"
    )
    member = src.identity.find_role("member", ignore_missing=False)
    src.identity.assign_project_role_to_user(clouds["projects"][LEAF], dee, member)
    for side, cloud in (("SRC", "devcloud-admin"), ("DST", "devcloud2-admin")):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_OSM_{side}_ADMIN",
            json.dumps(
                {"conn_type": "openstack", "extra": {"cloud": cloud, "clouds_yaml": str(CLOUDS_YAML)}}
            ),
        )
    dag_password = "dag-Variable-Pa55"
    monkeypatch.setenv("AIRFLOW_VAR_OSM_INITIAL_PASSWORD", dag_password)
    dag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "os_migrate_admin.py")).dags["os_migrate_admin"]
    caplog.set_level(logging.INFO)
    run = dag.test(
        run_conf={
            "src_conn_id": "osm_src_admin",
            "dst_conn_id": "osm_dst_admin",
            "data_dir": str(tmp_path),
            "projects_filter": FILTERS["projects"],
            "user_password_variable": "osm_initial_password",
            "quota_mode": "raise",
        }
    )
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    summary = next(ti for ti in run.get_task_instances() if ti.task_id == "summary").xcom_pull(
        task_ids="summary"
    )
    assert summary["imported"]["users"]["create"] == 1
    assert summary["imported"]["role_assignments"]["create"] == 1
    assert "create openstack.identity.User 'osm-corp/osm-dee': done" in caplog.text
    # the new user logs into the destination with the Variable's password
    user_conn(clouds["dst"], "osm-dee", dag_password, LEAF).authorize()

    staged = [p.read_text() for p in tmp_path.rglob("*.yml")]
    with create_session() as session:
        xcoms = [str(x.value) for x in session.query(XComModel).filter(XComModel.run_id == run.run_id)]
    assert xcoms and staged
    for secret in (dag_password, SOURCE_PASSWORD, INITIAL_PASSWORD):
        assert not any(secret in text for text in staged + xcoms + [caplog.text])
