// Umbrella header for libnl-3 (its netlink message and attribute API) and the rtnetlink uapi, imported only by
// SDNRouteNetlink. The rtnetlink messages are built from the uapi headers, not with libnl-route-3's object cache.
// <netinet/in.h> and <net/if.h> first: otherwise Swift sees two definitions of `in_addr`, `in6_addr` and
// `ifreq` (this module's, from the linux/ headers, and Glibc's).
#include <netinet/in.h>
#include <net/if.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/neighbour.h>
#include <linux/netconf.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/veth.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
