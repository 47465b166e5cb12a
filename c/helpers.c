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
#include <net/ip.h>
#include <net/icmp.h>
#include <net/route.h>
#include <linux/netfilter_ipv4.h>
#include <net/checksum.h>
#include <net/ip_vs.h>
#include <linux/random.h>
#include <linux/timer.h>
#include <linux/rcupdate.h>
#include <linux/rcupdate_wait.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <linux/workqueue.h>
#include <linux/icmpv6.h>
#include <net/ip6_route.h>
#include <net/ip6_checksum.h>
#include <linux/netfilter_ipv6.h>
#include <net/addrconf.h>
#include <net/udp.h>
#include <net/xfrm.h>

#include "helpers.h"

struct net *ipvs_rs_genl_info_net(const struct genl_info *info) { return genl_info_net(info); }
struct net *ipvs_rs_skb_sock_net(const struct sk_buff *skb) { return sock_net(skb->sk); }
struct proc_dir_entry *ipvs_rs_net_proc_dir(const struct net *net) { return net->proc_net; }
struct net *ipvs_rs_seq_file_single_net(struct seq_file *seq) { return seq_file_single_net(seq); }
struct net *ipvs_rs_seq_file_net(struct seq_file *seq) { return seq_file_net(seq); }
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
unsigned long ipvs_rs_totalram_pages(void) { return totalram_pages(); }

unsigned char *ipvs_rs_skb_data(const struct sk_buff *skb) { return skb->data; }
void *ipvs_rs_skb_header_pointer(const struct sk_buff *skb, int offset, int len, void *buffer)
{ return skb_header_pointer(skb, offset, len, buffer); }
int ipvs_rs_skb_cow_head(struct sk_buff *skb, unsigned int headroom) { return skb_cow_head(skb, headroom); }
void ipvs_rs_skb_reset_network_header(struct sk_buff *skb) { skb_reset_network_header(skb); }
void ipvs_rs_skb_reset_transport_header(struct sk_buff *skb) { skb_reset_transport_header(skb); }
u32 ipvs_rs_skb_mark(const struct sk_buff *skb) { return skb->mark; }
bool ipvs_rs_skb_is_gso(const struct sk_buff *skb) { return skb_is_gso(skb); }
bool ipvs_rs_skb_csum_partial(const struct sk_buff *skb) { return skb->ip_summed == CHECKSUM_PARTIAL; }
void ipvs_rs_skb_clear_ip_options(struct sk_buff *skb) { memset(&IPCB(skb)->opt, 0, sizeof(IPCB(skb)->opt)); }
__sum16 ipvs_rs_udp4_full_csum(struct sk_buff *skb, unsigned int off, __be32 saddr, __be32 daddr)
{ return csum_tcpudp_magic(saddr, daddr, skb->len - off, IPPROTO_UDP, skb_checksum(skb, off, skb->len - off, 0)); }
void ipvs_rs_skb_csum_unnecessary(struct sk_buff *skb) { skb->ip_summed = CHECKSUM_UNNECESSARY; }
bool ipvs_rs_icmp_csum_ok(struct sk_buff *skb, unsigned int off) { return ip_vs_checksum_common_check(skb, off, IPPROTO_ICMP, AF_INET); }
__sum16 ipvs_rs_skb_csum_fold(struct sk_buff *skb, unsigned int off) { return csum_fold(skb_checksum(skb, off, skb->len - off, 0)); }
bool ipvs_rs_pskb_pull(struct sk_buff *skb, unsigned int len) { return pskb_pull(skb, len) != NULL; }
bool ipvs_rs_pskb_may_pull(struct sk_buff *skb, unsigned int len) { return pskb_may_pull(skb, len); }
void ipvs_rs_skb_set_transport_header(struct sk_buff *skb, int offset) { skb_set_transport_header(skb, offset); }
void ipvs_rs_ipcb_clear_options(struct sk_buff *skb) { memset(&IPCB(skb)->opt, 0, sizeof(IPCB(skb)->opt)); }
void ipvs_rs_icmp_send(struct sk_buff *skb, u8 type, u8 code, __be32 info) { icmp_send(skb, type, code, info); }
void ipvs_rs_ipv4_update_pmtu(struct sk_buff *skb, struct net *net, u32 mtu) { ipv4_update_pmtu(skb, net, mtu, 0, 0); }
void ipvs_rs_consume_skb(struct sk_buff *skb) { consume_skb(skb); }
void ipvs_rs_skb_dst_drop(struct sk_buff *skb) { skb_dst_drop(skb); }
void ipvs_rs_skb_dst_set(struct sk_buff *skb, struct dst_entry *dst) { skb_dst_set(skb, dst); }
void ipvs_rs_skb_dst_set_noref(struct sk_buff *skb, struct dst_entry *dst) { skb_dst_set_noref(skb, dst); }
struct dst_entry *ipvs_rs_rt_dst(struct rtable *rt) { return &rt->dst; }
unsigned int ipvs_rs_dst_mtu(const struct dst_entry *dst) { return dst_mtu(dst); }
bool ipvs_rs_rt_is_local(const struct rtable *rt) { return rt->rt_flags & RTCF_LOCAL; }
bool ipvs_rs_skb_route_is_local(const struct sk_buff *skb) { return skb_rtable(skb) && (skb_rtable(skb)->rt_flags & RTCF_LOCAL); }
int ipvs_rs_ip_route_me_harder(struct net *net, struct sk_buff *skb) { return ip_route_me_harder(net, skb->sk, skb, RTN_LOCAL); }
bool ipvs_rs_dst_hold_safe(struct dst_entry *dst) { return dst_hold_safe(dst); }
void ipvs_rs_dst_hold(struct dst_entry *dst) { dst_hold(dst); }
bool ipvs_rs_dst_valid(struct dst_entry *dst, u32 cookie) { return dst_check(dst, cookie) != NULL; }
u32 ipvs_rs_dst_cookie(struct dst_entry *dst) { return dst->ops->family == AF_INET6 ? rt6_get_cookie(dst_rt6_info(dst)) : 0; }
int ipvs_rs_dst_error(const struct dst_entry *dst) { return dst->error; }
bool ipvs_rs_dst_dev_is_loopback(const struct dst_entry *dst) { return dst->dev && (dst->dev->flags & IFF_LOOPBACK); }
struct dst_entry *ipvs_rs_ip6_route_output(struct net *net, struct flowi6 *fl6) { return ip6_route_output(net, NULL, fl6); }
bool ipvs_rs_skb_dst_dev_is_loopback(const struct sk_buff *skb) { return skb_dst(skb) && ipvs_rs_dst_dev_is_loopback(skb_dst(skb)); }
int ipvs_rs_ip6_route_me_harder(struct net *net, struct sk_buff *skb) { return ip6_route_me_harder(net, skb->sk, skb); }
__sum16 ipvs_rs_ipv6_full_csum(struct sk_buff *skb, unsigned int off, const struct in6_addr *saddr, const struct in6_addr *daddr, u8 proto)
{ return csum_ipv6_magic(saddr, daddr, skb->len - off, proto, skb_checksum(skb, off, skb->len - off, 0)); }
bool ipvs_rs_icmpv6_csum_ok(struct sk_buff *skb, unsigned int off) { return ip_vs_checksum_common_check(skb, off, IPPROTO_ICMPV6, AF_INET6); }
void ipvs_rs_icmpv6_send(struct sk_buff *skb, u8 type, u8 code, u32 info) { icmpv6_send(skb, type, code, info); }
/* Tunnels: the outer header's source address, the inner headers, fragmentation, PMTU. */
int ipvs_rs_ipv6_dev_get_saddr(struct net *net, struct dst_entry *dst, const struct in6_addr *daddr, struct in6_addr *saddr)
{ return ip6_dst_idev(dst) ? ipv6_dev_get_saddr(net, ip6_dst_idev(dst)->dev, daddr, 0, saddr) : -EINVAL; }
void ipvs_rs_skb_transport_at_network(struct sk_buff *skb) { skb->transport_header = skb->network_header; }
void ipvs_rs_skb_set_inner_ipproto(struct sk_buff *skb, u8 proto) { skb_set_inner_ipproto(skb, proto); }
void ipvs_rs_skb_inner_mac_at_inner_network(struct sk_buff *skb) { skb_set_inner_mac_header(skb, skb_inner_network_offset(skb)); }
struct dst_entry *ipvs_rs_xfrm_lookup6(struct net *net, struct dst_entry *dst, struct flowi6 *fl6)
{ dst = xfrm_lookup(net, dst, flowi6_to_flowi(fl6), NULL, 0); return IS_ERR(dst) ? NULL : dst; }
/* GUE and GRE tunnels: the UDP source port, remote checksum offload, the GRE checksum. */
__be16 ipvs_rs_udp_flow_src_port(struct net *net, struct sk_buff *skb) { return udp_flow_src_port(net, skb, 0, 0, false); }
int ipvs_rs_skb_checksum_start_offset(const struct sk_buff *skb) { return skb_checksum_start_offset(skb); }
u16 ipvs_rs_skb_csum_offset(const struct sk_buff *skb) { return skb->csum_offset; }
void ipvs_rs_skb_csum_none(struct sk_buff *skb) { skb->ip_summed = CHECKSUM_NONE; skb->encapsulation = 0; }
void ipvs_rs_skb_set_inner_protocol(struct sk_buff *skb, __be16 proto) { skb_set_inner_protocol(skb, proto); }
__sum16 ipvs_rs_gre_csum(struct sk_buff *skb) { return csum_fold(skb->encapsulation ? lco_csum(skb) : skb_checksum(skb, 0, skb->len, 0)); }
u16 ipvs_rs_ip6cb_frag_max_size(const struct sk_buff *skb) { return IP6CB(skb)->frag_max_size; }
bool ipvs_rs_skb_sk_fullsock(const struct sk_buff *skb) { return skb->sk && sk_fullsock(skb->sk); }
void ipvs_rs_skb_dst_update_pmtu_sk(struct sk_buff *skb, u32 mtu)
{ if (skb_dst(skb) && skb_dst(skb)->ops->update_pmtu) skb_dst(skb)->ops->update_pmtu(skb_dst(skb), skb->sk, NULL, mtu, true); }
void ipvs_rs_skb_dev_default(struct sk_buff *skb, struct net *net) { if (!skb->dev) skb->dev = net->loopback_dev; }
void ipvs_rs_skb_dev_from_dst(struct sk_buff *skb) { if (skb_dst(skb)) skb->dev = skb_dst(skb)->dev; }
struct net *ipvs_rs_netdev_notifier_net(void *ptr) { return dev_net(netdev_notifier_info_to_dev(ptr)); }
void ipvs_rs_inet_proto_csum_replace2(__sum16 *sum, struct sk_buff *skb, __be16 from, __be16 to, bool pseudohdr)
{ inet_proto_csum_replace2(sum, skb, from, to, pseudohdr); }
void ipvs_rs_ip_select_ident(struct net *net, struct sk_buff *skb) { ip_select_ident(net, skb, NULL); }
void ipvs_rs_icmp_send_frag_needed(struct sk_buff *skb, u32 mtu)
{ icmp_send(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, htonl(mtu)); }
void ipvs_rs_icmp_send_ttl_exceeded(struct sk_buff *skb) { icmp_send(skb, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0); }
void ipvs_rs_icmp_send_port_unreach(struct sk_buff *skb) { icmp_send(skb, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0); }
void ipvs_rs_rcu_read_lock(void) { rcu_read_lock(); }
void ipvs_rs_rcu_read_unlock(void) { rcu_read_unlock(); }
void ipvs_rs_rcu_check_read(void) { RCU_LOCKDEP_WARN(!rcu_read_lock_held(), "ipvs_rs: RCU pointer read unlocked"); }
/* spin_lock_init() with the caller's lockdep class (the macro would give all our locks one). */
void ipvs_rs_spin_lock_init(spinlock_t *lock, const char *name, struct lock_class_key *key)
{
#ifdef CONFIG_DEBUG_SPINLOCK
	__raw_spin_lock_init(spinlock_check(lock), name, key, LD_WAIT_CONFIG);
#else
	spin_lock_init(lock);
#endif
}
void ipvs_rs_spin_lock_bh(spinlock_t *lock) { spin_lock_bh(lock); }
void ipvs_rs_spin_unlock_bh(spinlock_t *lock) { spin_unlock_bh(lock); }
void ipvs_rs_spin_lock_nested(spinlock_t *lock, int subclass) { spin_lock_nested(lock, subclass); }
struct kmem_cache *ipvs_rs_kmem_cache_create(const char *name, unsigned int size, unsigned int align) { return kmem_cache_create(name, size, align, 0, NULL); }
void *ipvs_rs_kmem_cache_alloc(struct kmem_cache *cache, bool atomic) { return kmem_cache_alloc(cache, atomic ? GFP_ATOMIC : GFP_KERNEL); }
void ipvs_rs_spin_unlock(spinlock_t *lock) { spin_unlock(lock); }
void ipvs_rs_cond_resched(void) { cond_resched(); }
void ipvs_rs_cond_resched_rcu(void) { cond_resched_rcu(); }
u32 ipvs_rs_get_random_u32(void) { return get_random_u32(); }
unsigned int ipvs_rs_nr_cpu_ids(void) { return nr_cpu_ids; }
bool ipvs_rs_current_may_run_on(unsigned int cpu) { return cpumask_test_cpu(cpu, current->cpus_ptr); }
u64 *ipvs_rs_alloc_percpu_u64s(unsigned int n) { return (u64 __force *)__alloc_percpu(n * sizeof(u64), sizeof(u64)); }
void ipvs_rs_free_percpu(void *p) { free_percpu((void __percpu __force *)p); }
void ipvs_rs_this_cpu_add_u64(u64 *p, u64 v) { this_cpu_add(*(u64 __percpu __force *)p, v); }
u64 *ipvs_rs_per_cpu_ptr(u64 *p, unsigned int cpu) { return (u64 __force *)per_cpu_ptr((u64 __percpu __force *)p, cpu); }
bool ipvs_rs_cpu_possible(unsigned int cpu) { return cpu_possible(cpu); }
bool ipvs_rs_cpu_online(unsigned int cpu) { return cpu_online(cpu); }
unsigned int ipvs_rs_raw_smp_processor_id(void) { return raw_smp_processor_id(); }

bool ipvs_rs_skb_has_dev(const struct sk_buff *skb) { return skb->dev; }
void ipvs_rs_local_bh_disable(void) { local_bh_disable(); }
void ipvs_rs_local_bh_enable(void) { local_bh_enable(); }
void ipvs_rs_skb_orphan(struct sk_buff *skb) { skb_orphan(skb); }
struct nf_conn *ipvs_rs_nf_ct_get(const struct sk_buff *skb, unsigned int *ctinfo)
{ return nf_ct_get(skb, (enum ip_conntrack_info *)ctinfo); }
void ipvs_rs_nf_conntrack_put(struct nf_conn *ct) { nf_conntrack_put(&ct->ct_general); }
void ipvs_rs_nf_ct_set_untracked(struct sk_buff *skb) { nf_ct_set(skb, NULL, IP_CT_UNTRACKED); }
void ipvs_rs_nf_reset_ct(struct sk_buff *skb) { nf_reset_ct(skb); }
int ipvs_rs_nf_conntrack_confirm(struct sk_buff *skb) { return nf_conntrack_confirm(skb); }
bool ipvs_rs_nf_ct_is_confirmed(const struct nf_conn *ct) { return nf_ct_is_confirmed(ct); }
bool ipvs_rs_nf_ct_is_dying(const struct nf_conn *ct) { return nf_ct_is_dying(ct); }
const struct nf_conntrack_tuple *ipvs_rs_nf_ct_reply_tuple(const struct nf_conn *ct)
{ return &ct->tuplehash[IP_CT_DIR_REPLY].tuple; }
void ipvs_rs_nf_conntrack_alter_reply(struct nf_conn *ct, const struct nf_conntrack_tuple *newreply)
{ nf_conntrack_alter_reply(ct, newreply); }
unsigned int ipvs_rs_ip_ct_is_reply(void) { return IP_CT_IS_REPLY; }
/* The entry of tuple `t` in the default zone, referenced, or NULL. */
struct nf_conn *ipvs_rs_nf_ct_find_get(struct net *net, const struct nf_conntrack_tuple *t)
{ struct nf_conntrack_tuple_hash *h = nf_conntrack_find_get(net, &nf_ct_zone_dflt, t); return h ? nf_ct_tuplehash_to_ctrack(h) : NULL; }
void ipvs_rs_nf_ct_kill(struct nf_conn *ct) { nf_ct_kill(ct); }
u32 ipvs_rs_ip_defrag_vs_fwd(void) { return IP_DEFRAG_VS_FWD; }
u32 ipvs_rs_ip_defrag_vs_out(void) { return IP_DEFRAG_VS_OUT; }

void ipvs_rs_init_delayed_work(struct delayed_work *dw, void (*func)(struct work_struct *)) { INIT_DELAYED_WORK(dw, func); }
bool ipvs_rs_queue_delayed_long(struct delayed_work *dw, unsigned long delay) { return queue_delayed_work(system_long_wq, dw, delay); }
bool ipvs_rs_queue_delayed_long_on(int cpu, struct delayed_work *dw, unsigned long delay) { return queue_delayed_work_on(cpu, system_long_wq, dw, delay); }

void ipvs_rs_sk_callback_write_lock(struct sock *sk) { write_lock_bh(&sk->sk_callback_lock); }
void ipvs_rs_sk_callback_write_unlock(struct sock *sk) { write_unlock_bh(&sk->sk_callback_lock); }
void ipvs_rs_sk_callback_read_lock(struct sock *sk) { read_lock_bh(&sk->sk_callback_lock); }
void ipvs_rs_sk_callback_read_unlock(struct sock *sk) { read_unlock_bh(&sk->sk_callback_lock); }
