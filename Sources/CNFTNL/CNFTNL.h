// Umbrella header for libnftnl + libmnl, imported only by SDNNFTablesNetlink.
//
// <netinet/in.h> must come first: otherwise Swift sees two different definitions of `in_addr`
// (this module's and Glibc's). libnftnl's expr.h uses FILE without including <stdio.h>.
#include <netinet/in.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <libnftnl/gen.h>
#include <libnftnl/udata.h>
