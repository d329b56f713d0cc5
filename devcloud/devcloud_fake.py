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
"""

import os
import tempfile

from nova import exception
from nova.compute import power_state, task_states
from nova.image import glance
from nova.virt import fake
from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class UploadingFakeDriver(fake.FakeDriverWithoutFakeNodes):
    """Fake driver whose snapshots carry the boot image's bytes."""

    def process_instances_at_startup(self, context, instances):
        for instance in instances:
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
