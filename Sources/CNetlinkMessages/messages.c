#include "CNetlinkMessages.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static void read_ack_tlvs(const struct nlmsghdr *nlh, size_t tlv_offset, struct sdn_netlink_message *message) {
    const char *start = (const char *)NLMSG_DATA(nlh) + tlv_offset;
    const char *end = (const char *)nlh + nlh->nlmsg_len;
    while (start + NLA_HDRLEN <= end) {
        const struct nlattr *attr = (const struct nlattr *)start;
        if (attr->nla_len < NLA_HDRLEN || start + attr->nla_len > end) break;
        size_t payload = attr->nla_len - NLA_HDRLEN;
        switch (attr->nla_type & NLA_TYPE_MASK) {
        case NLMSGERR_ATTR_MSG: {
            size_t text_length = strnlen(start + NLA_HDRLEN, payload);
            if (text_length >= sizeof(message->error_text)) text_length = sizeof(message->error_text) - 1;
            memcpy(message->error_text, start + NLA_HDRLEN, text_length);
            message->error_text[text_length] = 0;
            break;
        }
        case NLMSGERR_ATTR_OFFS:
            if (payload >= sizeof(uint32_t)) {
                memcpy(&message->error_offset, start + NLA_HDRLEN, sizeof(uint32_t));
                message->has_error_offset = true;
            }
            break;
        default:
            break;
        }
        start += NLA_ALIGN(attr->nla_len);
    }
}

int sdn_netlink_next(const void *buffer, size_t length, size_t *offset, struct sdn_netlink_message *message) {
    memset(message, 0, sizeof(*message));
    if (*offset >= length) return 0;
    const struct nlmsghdr *nlh = (const struct nlmsghdr *)((const char *)buffer + *offset);
    int remaining = (int)(length - *offset);
    if (!NLMSG_OK(nlh, remaining)) return -1;
    message->message = nlh;
    message->length = nlh->nlmsg_len;
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

int sdn_netlink_set_option(int descriptor, int option, int value) {
    if (setsockopt(descriptor, SOL_NETLINK, option, &value, sizeof(value)) < 0) return -errno;
    return 0;
}
