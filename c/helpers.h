/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One-line wrappers of static inline functions and macros that Rust cannot call directly,
 * in the manner of the kernel's rust/helpers/. Nothing else belongs here.
 */
#ifndef IPVS_RS_HELPERS_H
#define IPVS_RS_HELPERS_H

#include <linux/types.h>
#include <linux/spinlock_types.h>

struct genl_info;
struct genl_family;
struct net;
struct netlink_callback;
struct seq_file;
struct sk_buff;
struct proc_dir_entry;

struct net *ipvs_rs_genl_info_net(const struct genl_info *info);
struct net *ipvs_rs_skb_sock_net(const struct sk_buff *skb);
struct proc_dir_entry *ipvs_rs_net_proc_dir(const struct net *net);
struct net *ipvs_rs_seq_file_single_net(struct seq_file *seq);
struct net *ipvs_rs_seq_file_net(struct seq_file *seq);
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
unsigned long ipvs_rs_totalram_pages(void);


/* Datapath: skb, checksum, route, output, RCU and timers. */
struct dst_entry;
struct rtable;
struct timer_list;
unsigned char *ipvs_rs_skb_data(const struct sk_buff *skb);
void *ipvs_rs_skb_header_pointer(const struct sk_buff *skb, int offset, int len, void *buffer);
int ipvs_rs_skb_cow_head(struct sk_buff *skb, unsigned int headroom);
void ipvs_rs_skb_reset_network_header(struct sk_buff *skb);
void ipvs_rs_skb_reset_transport_header(struct sk_buff *skb);
u32 ipvs_rs_skb_mark(const struct sk_buff *skb);
bool ipvs_rs_skb_is_gso(const struct sk_buff *skb);
bool ipvs_rs_skb_csum_partial(const struct sk_buff *skb);
void ipvs_rs_skb_clear_ip_options(struct sk_buff *skb);
__sum16 ipvs_rs_udp4_full_csum(struct sk_buff *skb, unsigned int off, __be32 saddr, __be32 daddr);
void ipvs_rs_skb_csum_unnecessary(struct sk_buff *skb);
bool ipvs_rs_icmp_csum_ok(struct sk_buff *skb, unsigned int off);
bool ipvs_rs_pskb_pull(struct sk_buff *skb, unsigned int len);
bool ipvs_rs_pskb_may_pull(struct sk_buff *skb, unsigned int len);
void ipvs_rs_skb_set_transport_header(struct sk_buff *skb, int offset);
void ipvs_rs_ipcb_clear_options(struct sk_buff *skb);
void ipvs_rs_icmp_send(struct sk_buff *skb, u8 type, u8 code, __be32 info);
void ipvs_rs_ipv4_update_pmtu(struct sk_buff *skb, struct net *net, u32 mtu);
void ipvs_rs_consume_skb(struct sk_buff *skb);
__sum16 ipvs_rs_skb_csum_fold(struct sk_buff *skb, unsigned int off);
void ipvs_rs_skb_dst_drop(struct sk_buff *skb);
void ipvs_rs_skb_dst_set(struct sk_buff *skb, struct dst_entry *dst);
void ipvs_rs_skb_dst_set_noref(struct sk_buff *skb, struct dst_entry *dst);
struct dst_entry *ipvs_rs_rt_dst(struct rtable *rt);
unsigned int ipvs_rs_dst_mtu(const struct dst_entry *dst);
bool ipvs_rs_rt_is_local(const struct rtable *rt);
bool ipvs_rs_skb_route_is_local(const struct sk_buff *skb);
int ipvs_rs_ip_route_me_harder(struct net *net, struct sk_buff *skb);
bool ipvs_rs_dst_hold_safe(struct dst_entry *dst);
void ipvs_rs_dst_hold(struct dst_entry *dst);
bool ipvs_rs_dst_valid(struct dst_entry *dst, u32 cookie);
u32 ipvs_rs_dst_cookie(struct dst_entry *dst);
int ipvs_rs_dst_error(const struct dst_entry *dst);
bool ipvs_rs_dst_dev_is_loopback(const struct dst_entry *dst);
struct flowi6;
struct in6_addr;
struct dst_entry *ipvs_rs_ip6_route_output(struct net *net, struct flowi6 *fl6);
bool ipvs_rs_skb_dst_dev_is_loopback(const struct sk_buff *skb);
int ipvs_rs_ip6_route_me_harder(struct net *net, struct sk_buff *skb);
__sum16 ipvs_rs_ipv6_full_csum(struct sk_buff *skb, unsigned int off, const struct in6_addr *saddr, const struct in6_addr *daddr, u8 proto);
bool ipvs_rs_icmpv6_csum_ok(struct sk_buff *skb, unsigned int off);
void ipvs_rs_icmpv6_send(struct sk_buff *skb, u8 type, u8 code, u32 info);
int ipvs_rs_ipv6_dev_get_saddr(struct net *net, struct dst_entry *dst, const struct in6_addr *daddr, struct in6_addr *saddr);
void ipvs_rs_skb_transport_at_network(struct sk_buff *skb);
void ipvs_rs_skb_set_inner_ipproto(struct sk_buff *skb, u8 proto);
void ipvs_rs_skb_inner_mac_at_inner_network(struct sk_buff *skb);
struct dst_entry *ipvs_rs_xfrm_lookup6(struct net *net, struct dst_entry *dst, struct flowi6 *fl6);
__be16 ipvs_rs_udp_flow_src_port(struct net *net, struct sk_buff *skb);
int ipvs_rs_skb_checksum_start_offset(const struct sk_buff *skb);
u16 ipvs_rs_skb_csum_offset(const struct sk_buff *skb);
void ipvs_rs_skb_csum_none(struct sk_buff *skb);
void ipvs_rs_skb_set_inner_protocol(struct sk_buff *skb, __be16 proto);
__sum16 ipvs_rs_gre_csum(struct sk_buff *skb);
u16 ipvs_rs_ip6cb_frag_max_size(const struct sk_buff *skb);
bool ipvs_rs_skb_sk_fullsock(const struct sk_buff *skb);
void ipvs_rs_skb_dst_update_pmtu_sk(struct sk_buff *skb, u32 mtu);
void ipvs_rs_skb_dev_default(struct sk_buff *skb, struct net *net);
void ipvs_rs_skb_dev_from_dst(struct sk_buff *skb);
struct net *ipvs_rs_netdev_notifier_net(void *ptr);
void ipvs_rs_inet_proto_csum_replace2(__sum16 *sum, struct sk_buff *skb, __be16 from, __be16 to, bool pseudohdr);
void ipvs_rs_ip_select_ident(struct net *net, struct sk_buff *skb);
void ipvs_rs_icmp_send_frag_needed(struct sk_buff *skb, u32 mtu);
void ipvs_rs_icmp_send_ttl_exceeded(struct sk_buff *skb);
void ipvs_rs_icmp_send_port_unreach(struct sk_buff *skb);
void ipvs_rs_rcu_read_lock(void);
void ipvs_rs_rcu_read_unlock(void);
void ipvs_rs_rcu_check_read(void);
struct lock_class_key;
void ipvs_rs_spin_lock_init(spinlock_t *lock, const char *name, struct lock_class_key *key);
void ipvs_rs_spin_lock_bh(spinlock_t *lock);
void ipvs_rs_spin_unlock_bh(spinlock_t *lock);
void ipvs_rs_spin_lock_nested(spinlock_t *lock, int subclass);
struct kmem_cache;
struct kmem_cache *ipvs_rs_kmem_cache_create(const char *name, unsigned int size, unsigned int align);
void *ipvs_rs_kmem_cache_alloc(struct kmem_cache *cache, bool atomic);
void ipvs_rs_spin_unlock(spinlock_t *lock);
void ipvs_rs_cond_resched(void);
void ipvs_rs_cond_resched_rcu(void);
u32 ipvs_rs_get_random_u32(void);
unsigned int ipvs_rs_nr_cpu_ids(void);
bool ipvs_rs_current_may_run_on(unsigned int cpu);
/* Per-CPU counters: the pointer is the per-CPU base (an offset, not for dereferencing). */
u64 *ipvs_rs_alloc_percpu_u64s(unsigned int n);
void ipvs_rs_free_percpu(void *p);
void ipvs_rs_this_cpu_add_u64(u64 *p, u64 v);
u64 *ipvs_rs_per_cpu_ptr(u64 *p, unsigned int cpu);
bool ipvs_rs_cpu_possible(unsigned int cpu);
bool ipvs_rs_cpu_online(unsigned int cpu);
unsigned int ipvs_rs_raw_smp_processor_id(void);
struct delayed_work;
struct work_struct;
void ipvs_rs_init_delayed_work(struct delayed_work *dw, void (*func)(struct work_struct *));
bool ipvs_rs_queue_delayed_long(struct delayed_work *dw, unsigned long delay);
bool ipvs_rs_queue_delayed_long_on(int cpu, struct delayed_work *dw, unsigned long delay);

/* Before sending on: timestamps, early-demux sockets, conntrack. */
struct nf_conn;
struct nf_conntrack_tuple;
bool ipvs_rs_skb_has_dev(const struct sk_buff *skb);
void ipvs_rs_local_bh_disable(void);
void ipvs_rs_local_bh_enable(void);
void ipvs_rs_skb_orphan(struct sk_buff *skb);
struct nf_conn *ipvs_rs_nf_ct_get(const struct sk_buff *skb, unsigned int *ctinfo);
void ipvs_rs_nf_conntrack_put(struct nf_conn *ct);
void ipvs_rs_nf_ct_set_untracked(struct sk_buff *skb);
void ipvs_rs_nf_reset_ct(struct sk_buff *skb);
int ipvs_rs_nf_conntrack_confirm(struct sk_buff *skb);
bool ipvs_rs_nf_ct_is_confirmed(const struct nf_conn *ct);
bool ipvs_rs_nf_ct_is_dying(const struct nf_conn *ct);
const struct nf_conntrack_tuple *ipvs_rs_nf_ct_reply_tuple(const struct nf_conn *ct);
void ipvs_rs_nf_conntrack_alter_reply(struct nf_conn *ct, const struct nf_conntrack_tuple *newreply);
unsigned int ipvs_rs_ip_ct_is_reply(void);
struct nf_conn *ipvs_rs_nf_ct_find_get(struct net *net, const struct nf_conntrack_tuple *t);
void ipvs_rs_nf_ct_kill(struct nf_conn *ct);
u32 ipvs_rs_ip_defrag_vs_fwd(void);
u32 ipvs_rs_ip_defrag_vs_out(void);

/* Sync daemon sockets. */
struct sock;
void ipvs_rs_sk_callback_write_lock(struct sock *sk);
void ipvs_rs_sk_callback_write_unlock(struct sock *sk);
void ipvs_rs_sk_callback_read_lock(struct sock *sk);
void ipvs_rs_sk_callback_read_unlock(struct sock *sk);

#endif
