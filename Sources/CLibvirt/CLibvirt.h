// libvirt (Debian: libvirt-dev), imported by SDNGuests only. The umbrella header, not its parts:
// libvirt-domain.h and friends refuse to be included on their own.
#ifndef SDN_CLIBVIRT_H
#define SDN_CLIBVIRT_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#endif
