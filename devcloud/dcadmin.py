"""Admin-side steps of devcloud.sh that talk to the running cloud.

Run with the devcloud venv's python (it has openstacksdk):

    dcadmin.py [--instance N] catalog                      service users, roles, endpoints
    dcadmin.py [--instance N] wait-compute [--discover 1]  nova-compute up, hypervisor listed
    dcadmin.py [--instance N] seed --clouds-yaml PATH --image-file PATH

``--instance 2`` is the second devcloud (``DEVCLOUD_CLOUDS=2``): every port +10000,
region ``RegionTwo``, its own external network range and the clouds ``devcloud2-*``,
merged into the same clouds.yaml as the first cloud's.

Every step is find-or-create, so each can run any number of times.  The
admin connection is built from an explicit ``auth`` dict and never reads a
clouds.yaml or ``OS_*`` variables.
"""

import argparse
import datetime
import fcntl
import hashlib
import os
import random
import subprocess
import sys
import time

import openstack
import yaml

PASSWORD = "devcloud"
DOMAIN = "default"
# Per instance (set by configure_instance): instance 1 is the historical cloud; instance 2 has
# every port +10000, region RegionTwo, clouds devcloud2-* and its own external network range
# (a different subnet, so the gateway addresses on the conversion-host bridges do not clash).
INSTANCE = 1
PORT_OFFSET = 0
AUTH_URL = "http://127.0.0.1:5000/v3"
REGION = "RegionOne"
CLOUD_PREFIX = "devcloud"
PUBLIC_CIDR = "172.24.4.0/24"
REGIONS = {1: "RegionOne", 2: "RegionTwo"}

# service name, type, url (with {port} offset by the instance)
CATALOG_TEMPLATE = (
    ("glance", "image", "http://127.0.0.1:%d", 9292),
    ("placement", "placement", "http://127.0.0.1:%d", 8778),
    ("nova", "compute", "http://127.0.0.1:%d/v2.1", 8774),
    ("neutron", "network", "http://127.0.0.1:%d", 9696),
    ("cinderv3", "volumev3", "http://127.0.0.1:%d/v3/%%(project_id)s", 8776),
)
CATALOG = tuple((name, stype, url % port) for name, stype, url, port in CATALOG_TEMPLATE)
SERVICE_USERS = ("glance", "placement", "nova", "neutron", "cinder")

PROJECTS = ("src", "dst")
FLAVORS = (("m1.tiny", 1, 512, 1), ("m1.small", 1, 1024, 5))
IMAGE_NAME = "cirros"
IMAGE_SIZE = 4 * 1024 * 1024
IMAGE_SEED = 20261129
NETWORK_QUOTAS = dict(
    network=100, subnet=100, router=20, port=200, floatingip=50, security_group=100, security_group_rule=1000
)
VOLUME_QUOTAS = dict(volumes=50, snapshots=50, gigabytes=1000)
COMPUTE_QUOTAS = dict(instances=20, cores=40, ram=51200)


def configure_instance(instance):
    global INSTANCE, PORT_OFFSET, AUTH_URL, REGION, CLOUD_PREFIX, PUBLIC_CIDR, CATALOG
    INSTANCE = instance
    PORT_OFFSET = (instance - 1) * 10000
    AUTH_URL = "http://127.0.0.1:%d/v3" % (5000 + PORT_OFFSET)
    REGION = REGIONS[instance]
    CLOUD_PREFIX = "devcloud" if instance == 1 else "devcloud%d" % instance
    PUBLIC_CIDR = "172.24.%d.0/24" % (3 + instance)
    CATALOG = tuple((name, stype, url % (port + PORT_OFFSET)) for name, stype, url, port in CATALOG_TEMPLATE)


def log(msg):
    print("[dcadmin] %s" % msg, file=sys.stderr, flush=True)


def admin_connection():
    return openstack.connection.Connection(
        auth_type="password",
        auth=dict(
            auth_url=AUTH_URL,
            username="admin",
            password=PASSWORD,
            project_name="admin",
            user_domain_id=DOMAIN,
            project_domain_id=DOMAIN,
        ),
        region_name=REGION,
        interface="public",
        identity_api_version="3",
    )


def ensure_role(conn, name):
    return conn.identity.find_role(name) or conn.identity.create_role(name=name)


def ensure_project(conn, name, description):
    project = conn.identity.find_project(name, domain_id=DOMAIN)
    if project is None:
        project = conn.identity.create_project(name=name, domain_id=DOMAIN, description=description)
        log("created project %s" % name)
    return project


def ensure_user(conn, name, project):
    user = conn.identity.find_user(name, domain_id=DOMAIN)
    if user is None:
        user = conn.identity.create_user(
            name=name, domain_id=DOMAIN, password=PASSWORD, default_project_id=project.id
        )
        log("created user %s" % name)
    return user


def grant(conn, project, user, role):
    if not conn.identity.validate_user_has_project_role(project, user, role):
        conn.identity.assign_project_role_to_user(project, user, role)


def cmd_catalog(_args):
    conn = admin_connection()
    roles = {name: ensure_role(conn, name) for name in ("admin", "member", "reader", "service")}
    service_project = ensure_project(conn, "service", "devcloud services")
    for name in SERVICE_USERS:
        user = ensure_user(conn, name, service_project)
        grant(conn, service_project, user, roles["admin"])
        grant(conn, service_project, user, roles["service"])
    for name, stype, url in CATALOG:
        service = next(iter(conn.identity.services(type=stype)), None)
        if service is None:
            service = conn.identity.create_service(name=name, type=stype, enabled=True)
            log("created service %s (%s)" % (name, stype))
        have = {(e.interface, e.url) for e in conn.identity.endpoints(service_id=service.id)}
        for interface in ("public", "internal", "admin"):
            if (interface, url) not in have:
                conn.identity.create_endpoint(
                    service_id=service.id, interface=interface, url=url, region_id=REGION
                )
    log("catalog: ok")


def cmd_wait_compute(args):
    conn = admin_connection()
    deadline = time.monotonic() + args.timeout

    def wait(what, check):
        while True:
            try:
                if check():
                    log("%s: ok" % what)
                    return
            except Exception as e:
                log("%s: %s: %s" % (what, type(e).__name__, e))
            if time.monotonic() > deadline:
                sys.exit("timed out waiting for %s" % what)
            time.sleep(2)

    # A service's "up" state comes from its last heartbeat, which may be a
    # stale one from before a restart.  Services started by this run must
    # have reported since --since (their first report comes after init, when
    # their RPC consumers exist), or a request could reach them too early.
    def fresh(service):
        if service.binary not in args.started:
            return True
        if not service.updated_at:
            return False
        updated = datetime.datetime.fromisoformat(service.updated_at.replace("Z", "")).replace(
            tzinfo=datetime.UTC
        )
        return updated.timestamp() >= int(args.since)

    def nova_up(binary):
        return lambda: any(
            s.state == "up" and s.status == "enabled" and fresh(s)
            for s in conn.compute.services(binary=binary)
        )

    def cinder_up(binary):
        return lambda: any(
            s.state == "up" and s.status == "enabled" and fresh(s)
            for s in conn.block_storage.services(binary=binary)
        )

    wait("nova-compute service up", nova_up("nova-compute"))
    for name in args.started:
        if name in ("nova-conductor", "nova-scheduler"):
            wait(name + " service reporting", nova_up(name))
        elif name in ("cinder-scheduler", "cinder-volume"):
            wait(name + " service reporting", cinder_up(name))
    if args.discover:
        subprocess.run(
            [
                os.path.join(os.path.dirname(sys.executable), "nova-manage"),
                "--config-file",
                args.nova_conf,
                "cell_v2",
                "discover_hosts",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        log("discover_hosts: done")
    wait("hypervisor listed", lambda: any(h.state in (None, "up") for h in conn.compute.hypervisors()))
    wait("compute resource provider in placement", lambda: len(list(conn.placement.resource_providers())) > 0)


def image_bytes():
    """The deterministic stand-in for a cirros image (4 MiB, raw)."""
    header = b"devcloud cirros stand-in image, seed %d\n" % IMAGE_SEED
    body = random.Random(IMAGE_SEED).randbytes(IMAGE_SIZE - 512)
    return header.ljust(512, b"\0") + body


def ensure_image(conn, path, admin_project):
    data = image_bytes()
    if not os.path.exists(path) or os.path.getsize(path) != len(data):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    sha = hashlib.sha512(data).hexdigest()
    # only the admin project's public image is ours (tests may create
    # other images called cirros in src or dst)
    for image in conn.image.images(name=IMAGE_NAME, visibility="public", owner=admin_project.id):
        if image.status == "active" and image.hash_value == sha:
            return image
        log("deleting stale image %s (%s)" % (image.id, image.status))
        conn.image.delete_image(image)
    image = conn.image.create_image(
        name=IMAGE_NAME,
        filename=path,
        disk_format="raw",
        container_format="bare",
        visibility="public",
        wait=True,
        allow_duplicates=True,
        validate_checksum=True,
    )
    log("created image %s (%s)" % (IMAGE_NAME, image.id))
    return image


def ensure_public_network(conn, admin_project):
    net = next(iter(conn.network.networks(name="public", project_id=admin_project.id)), None)
    if net is None:
        net = conn.network.create_network(
            name="public",
            project_id=admin_project.id,
            is_shared=True,
            is_router_external=True,
            provider_network_type="flat",
            provider_physical_network="public",
        )
        log("created network public")
    subnet = conn.network.find_subnet("public-subnet", network_id=net.id)
    if subnet is None:
        conn.network.create_subnet(
            name="public-subnet",
            network_id=net.id,
            ip_version=4,
            cidr=PUBLIC_CIDR,
            gateway_ip=PUBLIC_CIDR.replace(".0/24", ".1"),
            allocation_pools=[
                {"start": PUBLIC_CIDR.replace(".0/24", ".10"), "end": PUBLIC_CIDR.replace(".0/24", ".250")}
            ],
            is_dhcp_enabled=False,
            project_id=admin_project.id,
        )
        log("created subnet public-subnet")


def write_clouds_yaml(path):
    """Write this instance's three clouds into ``path``, keeping every other cloud in it (the other
    devcloud instance's entries): read, replace ours, write atomically, under a lock file."""

    def cloud(user, project):
        return {
            "auth": {
                "auth_url": AUTH_URL,
                "username": user,
                "password": PASSWORD,
                "project_name": project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": REGION,
            "interface": "public",
            "identity_api_version": 3,
        }

    ours = {"%s-admin" % CLOUD_PREFIX: cloud("admin", "admin")}
    for name in PROJECTS:
        ours["%s-%s" % (CLOUD_PREFIX, name)] = cloud("%s-member" % name, name)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        clouds = {}
        if os.path.exists(path):
            with open(path) as f:
                clouds = (yaml.safe_load(f) or {}).get("clouds") or {}
        clouds.update(ours)
        # instance 1's clouds first, then instance 2's
        order = sorted(clouds, key=lambda n: (not n.startswith("devcloud-"), n.split("-")[0]))
        text = (
            "# Written by devcloud/devcloud.sh seed. Loopback-only dev clouds: devcloud-* (RegionOne)\n"
            "# and, with DEVCLOUD_CLOUDS=2, devcloud2-* (RegionTwo, every port +10000).\n"
        ) + yaml.safe_dump(
            {"clouds": {n: clouds[n] for n in order}}, sort_keys=False, default_flow_style=False
        )
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


def wait_volume_backend(conn, timeout=240):
    """Wait until cinder-scheduler knows a storage pool: cinder-volume reports its capacity some
    time after it starts, and a volume created before that fails with "No valid backend"."""
    deadline = time.monotonic() + timeout
    while not list(conn.block_storage.backend_pools()):
        if time.monotonic() > deadline:
            sys.exit("[dcadmin] cinder-scheduler knows no storage pool after %d s" % timeout)
        time.sleep(2)
    print("[dcadmin] cinder storage pool reported: ok", flush=True)


def cmd_seed(args):
    conn = admin_connection()
    wait_volume_backend(conn)
    member = ensure_role(conn, "member")
    admin_role = ensure_role(conn, "admin")
    admin_user = conn.identity.find_user("admin", domain_id=DOMAIN)
    admin_project = conn.identity.find_project("admin", domain_id=DOMAIN)
    for name in PROJECTS:
        project = ensure_project(conn, name, "OS Migrate %s tenant" % name)
        user = ensure_user(conn, "%s-member" % name, project)
        grant(conn, project, user, member)
        grant(conn, project, admin_user, admin_role)
        conn.set_network_quotas(project.id, **NETWORK_QUOTAS)
        conn.set_volume_quotas(project.id, **VOLUME_QUOTAS)
        conn.set_compute_quotas(project.id, **COMPUTE_QUOTAS)

    ensure_public_network(conn, admin_project)

    for name, vcpus, ram, disk in FLAVORS:
        if conn.compute.find_flavor(name) is None:
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)
            log("created flavor %s" % name)

    if conn.block_storage.find_type("fast") is None:
        conn.block_storage.create_type(name="fast", extra_specs={"volume_backend_name": "nfs"})
        log("created volume type fast")

    ensure_image(conn, args.image_file, admin_project)
    write_clouds_yaml(args.clouds_yaml)

    # the member users must be able to log in
    for name in PROJECTS:
        openstack.connection.Connection(
            auth_type="password",
            auth=dict(
                auth_url=AUTH_URL,
                username="%s-member" % name,
                password=PASSWORD,
                project_name=name,
                user_domain_id=DOMAIN,
                project_domain_id=DOMAIN,
            ),
            region_name=REGION,
        ).authorize()
    log("seed: ok")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", type=int, choices=sorted(REGIONS), default=1, help="devcloud instance")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("catalog").set_defaults(func=cmd_catalog)
    p = sub.add_parser("wait-compute")
    p.add_argument("--discover", type=int, default=1)
    p.add_argument("--nova-conf", required=True)
    p.add_argument("--timeout", type=int, default=240)
    p.add_argument("--since", type=float, default=0, help="epoch seconds before the services were started")
    p.add_argument("--started", nargs="*", default=[], help="daemons started by this run")
    p.set_defaults(func=cmd_wait_compute)
    p = sub.add_parser("seed")
    p.add_argument("--clouds-yaml", required=True)
    p.add_argument("--image-file", required=True)
    p.set_defaults(func=cmd_seed)
    args = parser.parse_args()
    configure_instance(args.instance)
    args.func(args)


if __name__ == "__main__":
    main()
