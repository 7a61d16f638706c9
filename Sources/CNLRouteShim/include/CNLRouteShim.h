// What Swift cannot do directly for SDNRouteNetlink: read netlink acknowledgements with their extended-ack
// text (NLMSG_* macros, TLVs after the echoed request), create a tap device (TUNSETIFF and TUNSETPERSIST
// are function-like ioctl macros), and set SOL_NETLINK socket options. Uses only the kernel's uapi
// headers, not libnl. Only SDNRouteNetlink imports this module.
#ifndef SDN_CNLROUTE_SHIM_H
#define SDN_CNLROUTE_SHIM_H

#include <netinet/in.h>
#include <stdint.h>
#include <stddef.h>
#include <linux/netlink.h>

/// One message found in a netlink receive buffer.
struct sdn_rtnl_message {
    const struct nlmsghdr *header;
    uint16_t type;
    uint16_t flags;
    uint32_t seq;
    /// NLMSG_ERROR: 0 for an acknowledgement, else -errno; NLMSG_DONE: the dump's status (0 or -errno).
    int32_t error;
    /// NLMSG_ERROR: the sequence number of the request it answers.
    uint32_t error_seq;
    /// Extended ack: the kernel's text, NUL-terminated (empty when none was sent).
    char error_text[256];
};

/// Decodes the message at `*offset` in `buffer` and advances `*offset` past it.
/// Returns 1 when a message was decoded, 0 at the end, -1 for a truncated or malformed message.
int sdn_rtnl_next(const void *buffer, size_t length, size_t *offset, struct sdn_rtnl_message *message);

/// Creates a persistent tap device `name` (no packet information header), as `ip tuntap add mode tap`.
/// It is created in the network namespace of the calling thread. Returns 0 or -errno.
int sdn_rtnl_create_tap(const char *name);

/// setsockopt(SOL_NETLINK, option, value). Returns 0 or -errno.
int sdn_rtnl_set_netlink_option(int descriptor, int option, int value);

#endif
