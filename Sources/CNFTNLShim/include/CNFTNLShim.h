// Wrappers for what Swift cannot call directly in libmnl/libnftnl and the netlink headers: macros
// (NLMSG_*, mnl_attr_for_each), the nfnetlink batch header with its generation-id attribute, and socket
// options hidden behind _GNU_SOURCE. Only SDNNFTablesNetlink imports this module.
#ifndef SDN_CNFTNL_SHIM_H
#define SDN_CNFTNL_SHIM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>

/// Writes NFNL_MSG_BATCH_BEGIN for nf_tables at `buffer`; with `guarded`, adds NFNL_BATCH_GENID so the
/// kernel refuses the batch (ERESTART) unless the ruleset generation still equals `genid`.
/// Returns the message length.
size_t sdn_nft_batch_begin(void *buffer, uint32_t seq, bool guarded, uint32_t genid);

/// Writes NFNL_MSG_BATCH_END at `buffer`; returns the message length.
size_t sdn_nft_batch_end(void *buffer, uint32_t seq);

/// Writes an NFT_MSG_GETGEN request at `buffer`; returns the message length.
size_t sdn_nft_getgen_request(void *buffer, uint32_t seq);

/// Reads NFTA_GEN_ID from an NFT_MSG_NEWGEN message. Returns 0, or -1 if it is missing.
int sdn_nft_parse_genid(const struct nlmsghdr *message, uint32_t *genid);

/// Copies the string attribute `type` of an nf_tables message (its top-level attributes, after the
/// nfgenmsg) to `buffer`, NUL-terminated and cut to `length` bytes. Returns 0, or -1 if it is missing.
/// (The table an object belongs to is attribute 1 in every object message: NFTA_TABLE_NAME,
/// NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, NFTA_OBJ_TABLE, …)
int sdn_nft_string_attribute(const struct nlmsghdr *message, uint16_t type, char *buffer, size_t length);

/// The nfgenmsg family of an nf_tables message.
uint8_t sdn_nft_message_family(const struct nlmsghdr *message);

/// Raises SO_RCVBUFFORCE / SO_SNDBUFFORCE (needs CAP_NET_ADMIN), falling back to SO_RCVBUF /
/// SO_SNDBUF. Returns the size the kernel reports afterwards, or -1.
int sdn_socket_force_buffer(int fd, bool receive, int bytes);

/// Receives up to `slots` datagrams with one recvmmsg(2) call into consecutive `slot_size` slices of
/// `buffer`, writing each length to `lengths`. Returns the number received or -1 (errno set).
int sdn_recv_many(int fd, void *buffer, size_t slot_size, unsigned int slots, size_t *lengths, int flags);

/// Sends `length` bytes as one datagram to the kernel (pid 0). Returns sendmsg's result.
ssize_t sdn_send_to_kernel(int fd, const void *buffer, size_t length);

/// For an NFT_MSG_NEWRULE message: the index of the expression whose attributes contain byte `offset`
/// of the message (as an extended ack reports it), with the expression's name copied to `name`.
/// Returns -1 when the offset is not inside an expression.
int sdn_nft_rule_expression_at(const struct nlmsghdr *message, uint32_t offset, char *name, size_t name_length);

#endif
