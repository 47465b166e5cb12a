/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel headers the module's generated bindings are made from (tools/gen-bindings). */
#include <linux/moduleparam.h>
#include <linux/netlink.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/skbuff.h>
#include <linux/ipv6.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/ip_vs.h>
#include <linux/netfilter.h>
#include <linux/netdevice.h>
#include <linux/notifier.h>
#include <linux/netfilter_ipv4.h>
#include <linux/timer.h>
#include <linux/workqueue.h>
#include <linux/mm.h>
#include <net/ip.h>
#include <net/route.h>
#include <net/ip6_route.h>
#include <net/ip_tunnels.h>
#include <net/gso.h>
#include <net/udp.h>
#include <net/ip6_checksum.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/ipv6/nf_defrag_ipv6.h>
#include "helpers.h"
