/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One-line wrappers of static inline functions and macros that Rust cannot call directly,
 * in the manner of the kernel's rust/helpers/. Nothing else belongs here.
 */
#ifndef IPVS_RS_HELPERS_H
#define IPVS_RS_HELPERS_H

#include <linux/types.h>

struct genl_info;
struct genl_family;
struct net;
struct netlink_callback;
struct seq_file;
struct sk_buff;
struct proc_dir_entry;

struct net *ipvs_rs_genl_info_net(const struct genl_info *info);
struct net *ipvs_rs_skb_sock_net(const struct sk_buff *skb);
void *ipvs_rs_net_generic(const struct net *net, unsigned int id);
struct proc_dir_entry *ipvs_rs_net_proc_dir(const struct net *net);
struct net *ipvs_rs_seq_file_single_net(struct seq_file *seq);
struct sk_buff *ipvs_rs_nlmsg_new_default(void);
void ipvs_rs_nlmsg_free(struct sk_buff *skb);
void *ipvs_rs_genlmsg_put_reply(struct sk_buff *skb, struct genl_info *info,
				const struct genl_family *family, u8 cmd);
void *ipvs_rs_genlmsg_put_dump(struct sk_buff *skb, struct netlink_callback *cb,
			       const struct genl_family *family, u8 cmd);
void ipvs_rs_genlmsg_end(struct sk_buff *skb, void *hdr);
void ipvs_rs_genlmsg_cancel(struct sk_buff *skb, void *hdr);
int ipvs_rs_genlmsg_reply(struct sk_buff *skb, struct genl_info *info);
unsigned char *ipvs_rs_skb_tail_pointer(const struct sk_buff *skb);
int ipvs_rs_skb_tailroom(const struct sk_buff *skb);
unsigned int ipvs_rs_skb_len(const struct sk_buff *skb);
const struct genl_family *ipvs_rs_dump_family(struct netlink_callback *cb);
unsigned int ipvs_rs_hz(void);
unsigned long ipvs_rs_totalram_pages(void);

#endif
