#define _GNU_SOURCE
#include "CNFTNLShim.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>

static struct nlmsghdr *put_nfnl_header(void *buffer, uint16_t type, uint16_t flags, uint32_t seq, uint8_t family) {
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buffer);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    nlh->nlmsg_seq = seq;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
    nfg->nfgen_family = family;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(NFNL_SUBSYS_NFTABLES);
    return nlh;
}

size_t sdn_nft_batch_begin(void *buffer, uint32_t seq, bool guarded, uint32_t genid) {
    struct nlmsghdr *nlh = put_nfnl_header(buffer, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, AF_UNSPEC);
    if (guarded) mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
    return nlh->nlmsg_len;
}

size_t sdn_nft_batch_end(void *buffer, uint32_t seq) {
    struct nlmsghdr *nlh = put_nfnl_header(buffer, NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq, AF_UNSPEC);
    return nlh->nlmsg_len;
}

size_t sdn_nft_getgen_request(void *buffer, uint32_t seq) {
    struct nlmsghdr *nlh = put_nfnl_header(buffer, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN,
                                           NLM_F_REQUEST | NLM_F_ACK, seq, AF_UNSPEC);
    return nlh->nlmsg_len;
}

int sdn_nft_parse_genid(const struct nlmsghdr *message, uint32_t *genid) {
    const struct nlattr *attr;
    mnl_attr_for_each(attr, message, sizeof(struct nfgenmsg)) {
        if (mnl_attr_get_type(attr) == NFTA_GEN_ID && mnl_attr_validate(attr, MNL_TYPE_U32) == 0) {
            *genid = ntohl(mnl_attr_get_u32(attr));
            return 0;
        }
    }
    return -1;
}

int sdn_nft_string_attribute(const struct nlmsghdr *message, uint16_t type, char *buffer, size_t length) {
    const struct nlattr *attr;
    if (length == 0) return -1;
    mnl_attr_for_each(attr, message, sizeof(struct nfgenmsg)) {
        if (mnl_attr_get_type(attr) == type && mnl_attr_validate(attr, MNL_TYPE_STRING) == 0) {
            size_t size = mnl_attr_get_payload_len(attr);
            const char *text = mnl_attr_get_str(attr);
            size_t copied = strnlen(text, size);
            if (copied >= length) copied = length - 1;
            memcpy(buffer, text, copied);
            buffer[copied] = 0;
            return 0;
        }
    }
    return -1;
}

uint8_t sdn_nft_message_family(const struct nlmsghdr *message) {
    const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(message);
    return nfg->nfgen_family;
}


int sdn_socket_force_buffer(int fd, bool receive, int bytes) {
    int forced = receive ? SO_RCVBUFFORCE : SO_SNDBUFFORCE;
    int plain = receive ? SO_RCVBUF : SO_SNDBUF;
    if (setsockopt(fd, SOL_SOCKET, forced, &bytes, sizeof(bytes)) != 0) {
        // Without CAP_NET_ADMIN only the sysctl-capped size is possible.
        if (setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof(bytes)) != 0) return -1;
    }
    int actual = 0;
    socklen_t size = sizeof(actual);
    if (getsockopt(fd, SOL_SOCKET, plain, &actual, &size) != 0) return -1;
    return actual;
}

int sdn_recv_many(int fd, void *buffer, size_t slot_size, unsigned int slots, size_t *lengths, int flags) {
    struct mmsghdr messages[slots];
    struct iovec vectors[slots];
    struct sockaddr_nl addresses[slots];
    memset(messages, 0, sizeof(messages));
    for (unsigned int i = 0; i < slots; i++) {
        vectors[i].iov_base = (char *)buffer + i * slot_size;
        vectors[i].iov_len = slot_size;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = &addresses[i];
        messages[i].msg_hdr.msg_namelen = sizeof(addresses[i]);
    }
    int count = recvmmsg(fd, messages, slots, flags, NULL);
    if (count < 0) return -1;
    for (int i = 0; i < count; i++) {
        lengths[i] = messages[i].msg_len;
        // A datagram larger than its slot would be silently cut: report it as an error.
        if (messages[i].msg_hdr.msg_flags & MSG_TRUNC) { errno = EMSGSIZE; return -1; }
    }
    return count;
}

ssize_t sdn_send_to_kernel(int fd, const void *buffer, size_t length) {
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    struct iovec vector = { .iov_base = (void *)buffer, .iov_len = length };
    struct msghdr message = {
        .msg_name = &kernel, .msg_namelen = sizeof(kernel), .msg_iov = &vector, .msg_iovlen = 1,
    };
    return sendmsg(fd, &message, 0);
}

int sdn_nft_rule_expression_at(const struct nlmsghdr *message, uint32_t offset, char *name, size_t name_length) {
    const char *start = (const char *)message;
    const struct nlattr *attr;
    mnl_attr_for_each(attr, message, sizeof(struct nfgenmsg)) {
        if (mnl_attr_get_type(attr) != NFTA_RULE_EXPRESSIONS) continue;
        int index = 0;
        const struct nlattr *element;
        mnl_attr_for_each_nested(element, attr) {
            uint32_t begin = (uint32_t)((const char *)element - start);
            uint32_t end = begin + mnl_attr_get_len(element);
            if (offset >= begin && offset < end) {
                const struct nlattr *inner;
                name[0] = 0;
                mnl_attr_for_each_nested(inner, element) {
                    if (mnl_attr_get_type(inner) == NFTA_EXPR_NAME && mnl_attr_validate(inner, MNL_TYPE_NUL_STRING) == 0) {
                        strncpy(name, mnl_attr_get_str(inner), name_length - 1);
                        name[name_length - 1] = 0;
                    }
                }
                return index;
            }
            index++;
        }
    }
    return -1;
}
