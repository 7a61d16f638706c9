// Reading netlink replies for both kernel adapters (SDNNFTablesNetlink, SDNRouteNetlink): the NLMSG_*
// macros and the extended-ack TLVs after an echoed request are not callable from Swift. Uses only the
// kernel's uapi headers, no netlink library.
#ifndef SDN_CNETLINK_MESSAGES_H
#define SDN_CNETLINK_MESSAGES_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>

/// One message found in a netlink receive buffer.
struct sdn_netlink_message {
    const struct nlmsghdr *message;
    uint32_t length;
    uint16_t type;
    uint16_t flags;
    uint32_t seq;
    /// NLMSG_ERROR: 0 for an acknowledgement, else -errno; NLMSG_DONE: the dump's status (0 or -errno).
    int32_t error;
    /// NLMSG_ERROR: the sequence number of the request it answers.
    uint32_t error_seq;
    /// Extended ack: byte offset of the offending attribute in the answered request.
    bool has_error_offset;
    uint32_t error_offset;
    /// Extended ack: the kernel's text, NUL-terminated (empty when none was sent).
    char error_text[256];
};

/// Decodes the message at `*offset` in `buffer` and advances `*offset` past it.
/// Returns 1 when a message was decoded, 0 at the end, -1 for a truncated or malformed message.
int sdn_netlink_next(const void *buffer, size_t length, size_t *offset, struct sdn_netlink_message *message);

/// setsockopt(SOL_NETLINK, option, value) (NETLINK_EXT_ACK, NETLINK_CAP_ACK, memberships, …).
/// Returns 0 or -errno.
int sdn_netlink_set_option(int descriptor, int option, int value);

#endif
