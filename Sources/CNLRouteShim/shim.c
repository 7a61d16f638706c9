#include "CNLRouteShim.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>
#include <linux/if_tun.h>

#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static void read_ack_tlvs(const struct nlmsghdr *nlh, size_t tlv_offset, struct sdn_rtnl_message *message) {
    const char *start = (const char *)NLMSG_DATA(nlh) + tlv_offset;
    const char *end = (const char *)nlh + nlh->nlmsg_len;
    while (start + NLA_HDRLEN <= end) {
        const struct nlattr *attr = (const struct nlattr *)start;
        if (attr->nla_len < NLA_HDRLEN || start + attr->nla_len > end) break;
        if ((attr->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
            size_t text_length = attr->nla_len - NLA_HDRLEN;
            if (text_length >= sizeof(message->error_text)) text_length = sizeof(message->error_text) - 1;
            memcpy(message->error_text, start + NLA_HDRLEN, text_length);
            message->error_text[text_length] = 0;
        }
        start += NLA_ALIGN(attr->nla_len);
    }
}

int sdn_rtnl_next(const void *buffer, size_t length, size_t *offset, struct sdn_rtnl_message *message) {
    memset(message, 0, sizeof(*message));
    if (*offset >= length) return 0;
    const struct nlmsghdr *nlh = (const struct nlmsghdr *)((const char *)buffer + *offset);
    int remaining = (int)(length - *offset);
    if (!NLMSG_OK(nlh, remaining)) return -1;
    message->header = nlh;
    message->type = nlh->nlmsg_type;
    message->flags = nlh->nlmsg_flags;
    message->seq = nlh->nlmsg_seq;
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) return -1;
        const struct nlmsgerr *err = NLMSG_DATA(nlh);
        message->error = err->error;
        message->error_seq = err->msg.nlmsg_seq;
        if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
            // The TLVs follow the echoed request: only its header when the ack is capped, else all of it.
            size_t tlv_offset = sizeof(struct nlmsgerr);
            if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) tlv_offset += NLMSG_ALIGN(err->msg.nlmsg_len - sizeof(struct nlmsghdr));
            read_ack_tlvs(nlh, tlv_offset, message);
        }
    } else if (nlh->nlmsg_type == NLMSG_DONE && nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
        message->error = *(const int *)NLMSG_DATA(nlh);
        if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) read_ack_tlvs(nlh, NLMSG_ALIGN(sizeof(int)), message);
    }
    *offset += NLMSG_ALIGN(nlh->nlmsg_len);
    return 1;
}

int sdn_rtnl_create_tap(const char *name) {
    int descriptor = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (descriptor < 0) return -errno;
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    request.ifr_flags = IFF_TAP | IFF_NO_PI;
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    int result = 0;
    if (ioctl(descriptor, TUNSETIFF, &request) < 0 || ioctl(descriptor, TUNSETPERSIST, 1) < 0) result = -errno;
    close(descriptor);
    return result;
}

int sdn_rtnl_set_netlink_option(int descriptor, int option, int value) {
    if (setsockopt(descriptor, SOL_NETLINK, option, &value, sizeof(value)) < 0) return -errno;
    return 0;
}
