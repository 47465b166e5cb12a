// SPDX-License-Identifier: GPL-2.0
/* One-line wrappers of static inlines and macros for the Rust side; see helpers.h. */
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/proc_fs.h>
#include <linux/seq_file_net.h>
#include <linux/skbuff.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/sock.h>

#include "helpers.h"

struct net *ipvs_rs_genl_info_net(const struct genl_info *info) { return genl_info_net(info); }
struct net *ipvs_rs_skb_sock_net(const struct sk_buff *skb) { return sock_net(skb->sk); }
void *ipvs_rs_net_generic(const struct net *net, unsigned int id) { return net_generic(net, id); }
struct proc_dir_entry *ipvs_rs_net_proc_dir(const struct net *net) { return net->proc_net; }
struct net *ipvs_rs_seq_file_single_net(struct seq_file *seq) { return seq_file_single_net(seq); }
struct sk_buff *ipvs_rs_nlmsg_new_default(void) { return nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL); }
void ipvs_rs_nlmsg_free(struct sk_buff *skb) { nlmsg_free(skb); }

void *ipvs_rs_genlmsg_put_reply(struct sk_buff *skb, struct genl_info *info,
				const struct genl_family *family, u8 cmd)
{ return genlmsg_put_reply(skb, info, family, 0, cmd); }

void *ipvs_rs_genlmsg_put_dump(struct sk_buff *skb, struct netlink_callback *cb,
			       const struct genl_family *family, u8 cmd)
{ return genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq, family, NLM_F_MULTI, cmd); }

void ipvs_rs_genlmsg_end(struct sk_buff *skb, void *hdr) { genlmsg_end(skb, hdr); }
void ipvs_rs_genlmsg_cancel(struct sk_buff *skb, void *hdr) { genlmsg_cancel(skb, hdr); }
int ipvs_rs_genlmsg_reply(struct sk_buff *skb, struct genl_info *info) { return genlmsg_reply(skb, info); }
unsigned char *ipvs_rs_skb_tail_pointer(const struct sk_buff *skb) { return skb_tail_pointer(skb); }
int ipvs_rs_skb_tailroom(const struct sk_buff *skb) { return skb_tailroom(skb); }
unsigned int ipvs_rs_skb_len(const struct sk_buff *skb) { return skb->len; }
const struct genl_family *ipvs_rs_dump_family(struct netlink_callback *cb) { return genl_dumpit_info(cb)->info.family; }
unsigned int ipvs_rs_hz(void) { return HZ; }
unsigned long ipvs_rs_totalram_pages(void) { return totalram_pages(); }
