"""ML2 mechanism driver for the devcloud test bed.

There are no Neutron agents in devcloud, so no stock driver can bind a
port to a host.  This driver binds every ``normal`` vnic port, on any host,
to the first segment offered, with ``vif_type=ovs``.  Nova's fake virt
driver never plugs the VIF, so this is all a boot needs.  Test bed only.
"""

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class AlwaysBindMechanismDriver(api.MechanismDriver):
    """Bind every normal port to its first segment, without agents."""

    def initialize(self):
        pass

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        vnic_type = context.current.get(portbindings.VNIC_TYPE, portbindings.VNIC_NORMAL)
        if vnic_type != portbindings.VNIC_NORMAL:
            return
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True, portbindings.OVS_HYBRID_PLUG: False},
                status=constants.PORT_STATUS_ACTIVE,
            )
            return
