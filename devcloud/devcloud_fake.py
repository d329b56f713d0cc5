"""devcloud's Nova virt driver: the fake driver, with real snapshot bytes.

devcloud.sh copies this file into the installed nova package as
``nova/virt/devcloud_fake.py`` (Nova loads drivers only as
``nova.virt.<name>``) and sets
``compute_driver = devcloud_fake.UploadingFakeDriver``.  Test bed only.

Differences from ``fake.FakeDriverWithoutFakeNodes`` (which already keeps a
stable node identity across restarts):

* ``snapshot()`` uploads the bytes of the server's boot image to the
  snapshot image, which then becomes ``active``; the stock fake driver
  leaves it ``queued`` with no data.
* Instances that Nova's database places on this host are adopted at
  service start (``process_instances_at_startup``), keeping their recorded
  power state, so servers created before a restart can still be stopped,
  started, snapshotted and deleted.
* Conversion hosts: a server whose image has the property
  ``os_migrate_conversion_host=true`` becomes a real host built by
  ``devcloud_convhost`` (``devcloud/convhost.py``, copied next to this file):
  a network namespace with its fixed IPs, a real sshd that accepts the
  server's keypair for root, and each attached volume as a loop device at
  ``/dev/disk/by-id/virtio-<serial>``.  The console log shows the host key
  (cloud-init's ``BEGIN SSH HOST KEY KEYS`` block).  Every other server
  behaves as before.
"""

import os
import tempfile

from nova import exception
from nova.compute import power_state, task_states
from nova.image import glance
from nova.virt import devcloud_convhost as convhost
from nova.virt import driver, fake
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

CONVHOST_PROPERTY = "os_migrate_conversion_host"


def _convhost_base():
    # $DEVCLOUD_HOME/data/convhost (state_path is $DEVCLOUD_HOME/data/nova)
    return os.path.join(os.path.dirname(os.path.abspath(fake.CONF.state_path)), "convhost")


def _wants_convhost(instance):
    value = (instance.system_metadata or {}).get("image_" + CONVHOST_PROPERTY, "")
    return str(value).strip().lower() in ("true", "1", "yes")


def _vifs(network_info):
    vifs = []
    for vif in network_info or []:
        ips = []
        for subnet in vif["network"]["subnets"]:
            gateway = (subnet.get("gateway") or {}).get("address")
            for ip in subnet["ips"]:
                ips.append({"address": ip["address"], "cidr": subnet["cidr"], "gateway": gateway})
        vifs.append({"id": vif["id"], "mac": vif["address"], "network_id": vif["network"]["id"], "ips": ips})
    return vifs


def _volume_file(connection_info):
    """Path of the Cinder NFS driver's volume file and the volume id."""
    data = connection_info.get("data") or {}
    export = data.get("export", "")
    directory = export.split(":", 1)[1] if ":" in export else export
    volume_id = (
        connection_info.get("serial") or data.get("volume_id") or data.get("name", "").removeprefix("volume-")
    )
    return volume_id, os.path.join(directory, data.get("name", ""))


class UploadingFakeDriver(fake.FakeDriverWithoutFakeNodes):
    """Fake driver whose snapshots carry the boot image's bytes."""

    def process_instances_at_startup(self, context, instances):
        base = _convhost_base()
        for instance in instances:
            if convhost.is_host(base, instance.uuid) and instance.power_state == power_state.RUNNING:
                try:
                    convhost.ensure(base, instance.uuid)
                    LOG.info("Conversion host is up again", instance=instance)
                except Exception:
                    LOG.exception("Conversion host could not be brought up", instance=instance)
            if instance.uuid in self.instances:
                continue
            if instance.power_state == power_state.RUNNING:
                state = power_state.RUNNING
            else:
                state = power_state.SHUTDOWN
            self.instances[instance.uuid] = fake.FakeInstance(instance.name, state, instance.uuid)
            flavor = instance.flavor
            self.resources.claim(vcpus=flavor.vcpus, mem=flavor.memory_mb, disk=flavor.root_gb)
            LOG.info("Adopted instance (power state %s)", state, instance=instance)
        return instances

    def snapshot(self, context, instance, image_id, update_task_state):
        if instance.uuid not in self.instances:
            raise exception.InstanceNotRunning(instance_id=instance.uuid)
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        image_api = glance.API()
        snapshot = image_api.get(context, image_id)
        metadata = {
            "disk_format": "raw",
            "container_format": "bare",
            "name": snapshot["name"],
            "properties": {
                "image_location": "snapshot",
                "image_state": "available",
                "owner_id": instance.project_id,
            },
        }
        fd, path = tempfile.mkstemp(prefix="devcloud-snap-", dir=fake.CONF.instances_path)
        os.close(fd)
        try:
            if instance.image_ref:
                image_api.download(context, instance.image_ref, dest_path=path)
            update_task_state(
                task_state=task_states.IMAGE_UPLOADING, expected_state=task_states.IMAGE_PENDING_UPLOAD
            )
            size = os.path.getsize(path)
            with open(path, "rb") as data:
                image_api.update(context, image_id, metadata, data, purge_props=False)
        finally:
            os.unlink(path)
        LOG.info(
            "Snapshot %s uploaded (%d bytes from image %s)",
            image_id,
            size,
            instance.image_ref,
            instance=instance,
        )

    # ------------------------------------------------------------ conversion hosts

    def spawn(
        self,
        context,
        instance,
        image_meta,
        injected_files,
        admin_password,
        allocations,
        network_info=None,
        block_device_info=None,
        power_on=True,
        accel_info=None,
    ):
        super().spawn(
            context,
            instance,
            image_meta,
            injected_files,
            admin_password,
            allocations,
            network_info=network_info,
            block_device_info=block_device_info,
            power_on=power_on,
            accel_info=accel_info,
        )
        if not _wants_convhost(instance):
            return
        base = _convhost_base()
        convhost.create(
            base, instance.uuid, instance.key_data or "", _vifs(network_info), instance.hostname or ""
        )
        for bdm in driver.block_device_info_get_mapping(block_device_info):
            if bdm.get("connection_info"):
                volume_id, path = _volume_file(bdm["connection_info"])
                convhost.attach(base, instance.uuid, volume_id, path)
        if not power_on:
            convhost.teardown(base, instance.uuid)
        LOG.info(
            "Conversion host up: %s",
            convhost.addresses(convhost.load(base, instance.uuid)),
            instance=instance,
        )

    def destroy(
        self,
        context,
        instance,
        network_info,
        block_device_info=None,
        destroy_disks=True,
        destroy_secrets=True,
    ):
        super().destroy(
            context,
            instance,
            network_info,
            block_device_info=block_device_info,
            destroy_disks=destroy_disks,
            destroy_secrets=destroy_secrets,
        )
        base = _convhost_base()
        if convhost.is_host(base, instance.uuid):
            convhost.delete(base, instance.uuid)
            LOG.info("Conversion host removed", instance=instance)

    def power_off(self, instance, timeout=0, retry_interval=0):
        super().power_off(instance, timeout=timeout, retry_interval=retry_interval)
        if convhost.is_host(_convhost_base(), instance.uuid):
            convhost.teardown(_convhost_base(), instance.uuid)

    def power_on(
        self, context, instance, network_info, block_device_info=None, accel_info=None, share_info=None
    ):
        super().power_on(
            context,
            instance,
            network_info,
            block_device_info=block_device_info,
            accel_info=accel_info,
            share_info=share_info,
        )
        if convhost.is_host(_convhost_base(), instance.uuid):
            convhost.ensure(_convhost_base(), instance.uuid)

    def attach_volume(
        self, context, connection_info, instance, mountpoint, disk_bus=None, device_type=None, encryption=None
    ):
        base = _convhost_base()
        if convhost.is_host(base, instance.uuid):
            volume_id, path = _volume_file(connection_info)
            link = convhost.attach(base, instance.uuid, volume_id, path)
            LOG.info("Volume %s attached as %s", volume_id, link, instance=instance)
        super().attach_volume(
            context,
            connection_info,
            instance,
            mountpoint,
            disk_bus=disk_bus,
            device_type=device_type,
            encryption=encryption,
        )

    def detach_volume(self, context, connection_info, instance, mountpoint, encryption=None):
        base = _convhost_base()
        if convhost.is_host(base, instance.uuid):
            volume_id, _ = _volume_file(connection_info)
            convhost.detach(base, instance.uuid, volume_id)
            LOG.info("Volume %s detached", volume_id, instance=instance)
        super().detach_volume(context, connection_info, instance, mountpoint, encryption=encryption)

    def get_console_output(self, context, instance):
        base = _convhost_base()
        if convhost.is_host(base, instance.uuid):
            return convhost.console_text(base, instance.uuid)
        return super().get_console_output(context, instance)
