"""devcloud smoke test: one tenant's full life cycle, with real bytes.

Run through ``devcloud.sh smoke`` (it sets OS_CLIENT_CONFIG_FILE to the
devcloud clouds.yaml).  Acts as ``devcloud-src`` (the src-member user),
prints PASS/FAIL per check, deletes everything it created and exits
non-zero if any check failed.
"""

import argparse
import contextlib
import hashlib
import sys
import time

import openstack
from openstack import exceptions

GIB = 1024**3


class Smoke:
    def __init__(self, cloud, admin_cloud):
        self.conn = openstack.connect(cloud=cloud)
        self.admin = openstack.connect(cloud=admin_cloud)
        self.prefix = "smoke-%d" % int(time.time())
        self.results = []
        self.created = []  # (kind, resource), deleted in reverse

    # -- bookkeeping

    def check(self, name, func):
        t0 = time.monotonic()
        try:
            detail = func() or ""
        except Exception as e:
            detail = "%s: %s" % (type(e).__name__, e)
            ok = False
        else:
            ok = True
        self.results.append(ok)
        print(
            "%s  %-34s %5.1fs  %s" % ("PASS" if ok else "FAIL", name, time.monotonic() - t0, detail),
            flush=True,
        )
        return ok

    def track(self, kind, res):
        self.created.append((kind, res))
        return res

    def wait_volume(self, vol, status, timeout=300):
        return self.conn.block_storage.wait_for_status(
            vol,
            status=status,
            failures=["error", "error_restoring", "error_extending"],
            interval=1,
            wait=timeout,
        )

    def wait_image(self, image_id, timeout=300):
        deadline = time.monotonic() + timeout
        while True:
            image = self.conn.image.get_image(image_id)
            if image.status == "active":
                return image
            if image.status in ("killed", "deleted", "deactivated"):
                raise RuntimeError("image %s is %s" % (image_id, image.status))
            if time.monotonic() > deadline:
                raise RuntimeError("image %s still %s" % (image_id, image.status))
            time.sleep(1)

    def image_digest(self, image, prefix_len):
        """sha256 of the first prefix_len bytes, total size, tail all zero."""
        resp = self.conn.image.download_image(image, stream=True)
        head = hashlib.sha256()
        got = 0
        tail_zero = True
        try:
            for chunk in resp.iter_content(chunk_size=4 * 1024 * 1024):
                if got < prefix_len:
                    take = chunk[: prefix_len - got]
                    head.update(take)
                    rest = chunk[len(take) :]
                else:
                    rest = chunk
                if rest and rest.count(0) != len(rest):
                    tail_zero = False
                got += len(chunk)
        finally:
            resp.close()
        return head.hexdigest(), got, tail_zero

    # -- the test

    def run(self):
        c = self.conn
        p = self.prefix
        st = {}

        cirros = c.image.find_image("cirros", ignore_missing=False)
        cirros_size = cirros.size
        cirros_sha, got, _ = self.image_digest(cirros, cirros.size)
        if got != cirros_size:
            raise RuntimeError("cirros download is %d bytes" % got)
        public = c.network.find_network("public", ignore_missing=False)
        flavor = c.compute.find_flavor("m1.tiny", ignore_missing=False)

        def network():
            st["net"] = self.track("network", c.network.create_network(name=p + "-net"))
            st["subnet"] = self.track(
                "subnet",
                c.network.create_subnet(
                    name=p + "-subnet", network_id=st["net"].id, ip_version=4, cidr="10.99.0.0/24"
                ),
            )
            return st["subnet"].cidr

        def router():
            st["router"] = self.track(
                "router",
                c.network.create_router(name=p + "-router", external_gateway_info={"network_id": public.id}),
            )
            c.network.add_interface_to_router(st["router"], subnet_id=st["subnet"].id)
            self.track("router-interface", (st["router"], st["subnet"]))
            r = c.network.get_router(st["router"])
            if r.external_gateway_info["network_id"] != public.id:
                raise RuntimeError("gateway not on public")
            return "gateway %s" % r.external_gateway_info["external_fixed_ips"][0]["ip_address"]

        def secgroup():
            st["sg"] = self.track("security-group", c.network.create_security_group(name=p + "-sg"))
            c.network.create_security_group_rule(
                security_group_id=st["sg"].id,
                direction="ingress",
                ethertype="IPv4",
                protocol="tcp",
                port_range_min=22,
                port_range_max=22,
                remote_ip_prefix="0.0.0.0/0",
            )

        def port():
            st["port"] = self.track(
                "port",
                c.network.create_port(
                    name=p + "-port", network_id=st["net"].id, security_group_ids=[st["sg"].id]
                ),
            )
            return st["port"].fixed_ips[0]["ip_address"]

        def server():
            srv = self.track(
                "server",
                c.compute.create_server(
                    name=p + "-vm",
                    image_id=cirros.id,
                    flavor_id=flavor.id,
                    networks=[{"port": st["port"].id}],
                ),
            )
            st["server"] = c.compute.wait_for_server(srv, status="ACTIVE", wait=300)
            # binding details are admin-only
            port = self.admin.network.get_port(st["port"].id)
            if port.status != "ACTIVE" or port.binding_vif_type != "ovs":
                raise RuntimeError("port %s, vif_type %s" % (port.status, port.binding_vif_type))
            return "port ACTIVE, vif_type ovs, host %s" % (port.binding_host_id)

        def floating_ip():
            fip = self.track("floating-ip", c.network.create_ip(floating_network_id=public.id))
            c.network.update_ip(fip, port_id=st["port"].id)
            fip = c.network.get_ip(fip.id)
            if fip.port_id != st["port"].id:
                raise RuntimeError("floating IP not associated")
            return fip.floating_ip_address

        def volume():
            vol = self.track("volume", c.block_storage.create_volume(name=p + "-vol", size=1))
            st["vol"] = self.wait_volume(vol, "available")
            return st["vol"].volume_type

        def attach():
            c.compute.create_volume_attachment(st["server"], volume=st["vol"].id)
            vol = self.wait_volume(st["vol"], "in-use")
            return "attached as %s" % vol.attachments[0].get("device")

        def detach():
            c.compute.delete_volume_attachment(st["server"], st["vol"].id)
            self.wait_volume(st["vol"], "available")

        def stop():
            c.compute.stop_server(st["server"])
            st["server"] = c.compute.wait_for_server(st["server"], status="SHUTOFF", wait=120)

        def snapshot():
            image_id = c.compute.create_server_image(st["server"], p + "-snap").id
            self.track("image", image_id)
            image = self.wait_image(image_id)
            sha, size, _ = self.image_digest(image, cirros_size)
            if size != cirros_size or sha != cirros_sha:
                raise RuntimeError("snapshot bytes differ from cirros (%d bytes)" % size)
            return "%d bytes, same as cirros" % size

        def volume_from_image():
            vol = self.track(
                "volume",
                c.block_storage.create_volume(name=p + "-vol-from-image", size=1, image_id=cirros.id),
            )
            st["vol2"] = self.wait_volume(vol, "available")
            return "bootable=%s" % st["vol2"].is_bootable

        def upload_to_image():
            info = c.block_storage.upload_volume_to_image(
                st["vol2"], p + "-vol-image", disk_format="raw", container_format="bare"
            )
            image_id = info["image_id"]
            self.track("image", image_id)
            image = self.wait_image(image_id, timeout=600)
            self.wait_volume(st["vol2"], "available")
            sha, size, tail_zero = self.image_digest(image, cirros_size)
            if sha != cirros_sha or size != GIB or not tail_zero:
                raise RuntimeError(
                    "round trip mismatch: prefix sha ok=%s size=%d "
                    "tail zero=%s" % (sha == cirros_sha, size, tail_zero)
                )
            return "image->volume->image: %d bytes, prefix equal" % size

        self.check("network + subnet", network)
        self.check("router + gateway + interface", router)
        self.check("security group + rule", secgroup)
        self.check("port", port)
        if self.check("server boot -> ACTIVE", server):
            self.check("floating IP associate", floating_ip)
            if self.check("volume create 1 GiB", volume) and self.check("volume attach -> in-use", attach):
                self.check("volume detach -> available", detach)
            if self.check("server stop -> SHUTOFF", stop):
                self.check("snapshot image -> active, bytes", snapshot)
        if self.check("volume from image", volume_from_image):
            self.check("volume upload-to-image round trip", upload_to_image)

    def cleanup(self):
        c = self.conn
        errors = []
        servers = []
        for kind, res in reversed(self.created):
            try:
                if kind == "server":
                    c.compute.delete_server(res, ignore_missing=True)
                    servers.append(res)
                elif kind == "floating-ip":
                    c.network.delete_ip(res, ignore_missing=True)
                elif kind == "volume":
                    # the server may still hold an attachment; wait it out
                    for _ in range(120):
                        v = c.block_storage.find_volume(res.id)
                        if v is None or v.status not in ("in-use", "detaching", "attaching", "uploading"):
                            break
                        time.sleep(1)
                    c.block_storage.delete_volume(res, ignore_missing=True)
                elif kind == "image":
                    c.image.delete_image(res, ignore_missing=True)
                elif kind == "router-interface":
                    for srv in servers:
                        c.compute.wait_for_delete(srv, wait=120)
                    servers = []
                    router, subnet = res
                    with contextlib.suppress(exceptions.NotFoundException):  # already gone
                        c.network.remove_interface_from_router(router, subnet_id=subnet.id)
                elif kind == "router":
                    c.network.delete_router(res, ignore_missing=True)
                elif kind == "port":
                    for srv in servers:
                        c.compute.wait_for_delete(srv, wait=120)
                    servers = []
                    c.network.delete_port(res, ignore_missing=True)
                elif kind == "security-group":
                    c.network.delete_security_group(res, ignore_missing=True)
                elif kind == "subnet":
                    c.network.delete_subnet(res, ignore_missing=True)
                elif kind == "network":
                    c.network.delete_network(res, ignore_missing=True)
            except exceptions.SDKException as e:
                errors.append("%s: %s" % (kind, e))
        for srv in servers:
            c.compute.wait_for_delete(srv, wait=120)
        # volumes go away asynchronously
        for kind, res in self.created:
            if kind == "volume":
                try:
                    c.block_storage.wait_for_delete(res, wait=120)
                except exceptions.SDKException as e:
                    errors.append("volume: %s" % e)
        if errors:
            raise RuntimeError("; ".join(errors))
        return "%d resources deleted" % len(self.created)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cloud", default="devcloud-src")
    parser.add_argument("--admin-cloud", default="devcloud-admin")
    args = parser.parse_args()
    t0 = time.monotonic()
    smoke = Smoke(args.cloud, args.admin_cloud)
    try:
        smoke.run()
    finally:
        smoke.check("cleanup", smoke.cleanup)
    passed = sum(smoke.results)
    failed = len(smoke.results) - passed
    print("smoke took %.0fs" % (time.monotonic() - t0))
    print("smoke: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
