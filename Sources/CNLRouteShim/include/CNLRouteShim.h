// What Swift cannot do directly for SDNRouteNetlink: create a tap device (TUNSETIFF and TUNSETPERSIST are
// function-like ioctl macros). Reading replies is CNetlinkMessages'. Only SDNRouteNetlink imports this.
#ifndef SDN_CNLROUTE_SHIM_H
#define SDN_CNLROUTE_SHIM_H

#include <netinet/in.h>
#include <stdint.h>
#include <stddef.h>
#include <linux/netlink.h>

/// Creates a persistent tap device `name` (no packet information header), as `ip tuntap add mode tap`.
/// It is created in the network namespace of the calling thread. Returns 0 or -errno.
int sdn_rtnl_create_tap(const char *name);

#endif
