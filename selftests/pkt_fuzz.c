// SPDX-License-Identifier: GPL-2.0
/*
 * Packet fuzzer of t_pkt_fuzz_diff.sh: generates malformed and edge-case IPv4/TCP/UDP/ICMP
 * packets from a seed, sends each as an Ethernet frame from the client netns into the
 * director, and records what the director did with it.
 *
 *   pkt_fuzz [-v VERDICTS -l LOG] CLIENT_NETNS SEED COUNT SEND_DEV TAP_DEV...
 *
 * Starts in the director netns and opens there an AF_PACKET tap on each TAP_DEV (its
 * outgoing IPv4 frames: the kernel hands the tap a copy in dev_queue_xmit, before the
 * driver's xmit); then enters CLIENT_NETNS (a /run/netns path) and sends from SEND_DEV, a
 * veth whose peer is the director's first TAP_DEV (l0, MAC 02:00:00:00:00:01).
 * (A tun device would write into the director directly, but the test kernel has no
 * CONFIG_TUN; a veth peer is the same receive path from netif_rx on.)
 * After each packet it sends a marker, an echo request from 10.0.0.2 to 10.0.0.1, and reads
 * the taps until the director's echo reply to that marker went out on the first TAP_DEV:
 * the process is pinned to one CPU, so both frames sit in that CPU's backlog in order and
 * the director has done everything it does with the packet before it answers the marker
 * (in practice within the sendto() itself: veth_xmit's netif_rx runs with BHs off and the
 * NET_RX softirq runs when dev_queue_xmit enables them again). A condition, not a time.
 * At the end the fuzzer polls once more and reports anything that came late ("late N").
 *
 * With -v, one verdict line per packet goes to VERDICTS: "N w=RET OUT...", each OUT being
 * "DEV:PROTO/LEN/HASH" (ICMP: "DEV:icmpTYPE.CODE/LEN/HASH"); the hash covers the IPv4
 * packet with its IP ID and header checksum zeroed (the kernel picks IDs of packets it
 * builds itself, e.g. the outer header of IPIP or an ICMP error). With -l, "N DESC HEX"
 * lines describe each packet, with -o, "N DEV HEX" lines each packet the director sent.
 * With -n it only prints the descriptions, sending nothing. Without them only the summary is printed (robustness mode,
 * with a marker every 32 packets only).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXPKT 2048
#define MAXDEV 8
#define QLEN 32

/* The addresses of the .sh's topology. */
#define VIP 0x0a000064u      /* 10.0.0.100 */
#define DIR_L0B 0x0a000101u  /* 10.0.1.1: the director's second address on l0 */
#define DIR_L0 0x0a000001u   /* 10.0.0.1 */
#define CLIENT 0x0a000002u   /* 10.0.0.2: the real client netns (permanent neighbour) */
#define CLNET 0x0a090000u    /* 10.9.0.0/24: the fuzzer's clients, routed via 10.0.0.2 */
#define RS(i) (0xac100002u | ((uint32_t)(i) << 8)) /* 172.16.i.2 */
#define DIR_RS(i) (0xac100001u | ((uint32_t)(i) << 8))

struct svc { uint8_t proto; uint16_t port; };
/* VIP ports: services of the .sh and two without a service. */
static const struct svc svcs[] = {
	{ 6, 80 }, { 6, 443 }, { 6, 8080 }, { 17, 80 }, { 17, 53 }, { 6, 22 }, { 17, 9 },
};
#define NSVC (sizeof(svcs) / sizeof(svcs[0]))

static uint64_t rng;
static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static uint32_t rn(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }
static int chance(int pct) { return rn(100) < (uint32_t)pct; }

struct pkt {
	uint8_t b[MAXPKT];
	int len;
	char desc[160];
};

static void adddesc(struct pkt *p, const char *fmt, ...)
{
	size_t n = strlen(p->desc);
	va_list ap;

	if (n >= sizeof(p->desc) - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(p->desc + n, sizeof(p->desc) - n, fmt, ap);
	va_end(ap);
}

static void put16(uint8_t *b, uint16_t v) { b[0] = v >> 8; b[1] = v & 0xff; }
static void put32(uint8_t *b, uint32_t v) { put16(b, v >> 16); put16(b + 2, v & 0xffff); }
static uint16_t get16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }

static uint32_t sum(const uint8_t *b, int len, uint32_t s)
{
	int i;

	for (i = 0; i + 1 < len; i += 2)
		s += get16(b + i);
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8;
	return s;
}
static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* IPv4 header with options OPT (OPTLEN, a multiple of 4), payload already at b+20+optlen. */
static void ip_hdr(struct pkt *p, uint32_t src, uint32_t dst, uint8_t proto, int optlen,
		   const uint8_t *opt, int l4len)
{
	uint8_t *h = p->b;
	int hl = 20 + optlen;

	h[0] = 0x40 | (hl / 4);
	h[1] = 0;
	put16(h + 2, (uint16_t)(hl + l4len));
	put16(h + 4, (uint16_t)rn(65536));
	put16(h + 6, chance(50) ? 0x4000 : 0);
	h[8] = 64;
	h[9] = proto;
	put16(h + 10, 0);
	put32(h + 12, src);
	put32(h + 16, dst);
	if (optlen)
		memcpy(h + 20, opt, optlen);
	put16(h + 10, fold(sum(h, hl, 0)));
	p->len = hl + l4len;
}

static uint32_t pseudo(uint32_t src, uint32_t dst, uint8_t proto, int len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + (uint32_t)len;
}

/* L4 checksum of the packet as its IP header says (header length from ihl). */
static void l4_csum(struct pkt *p)
{
	uint8_t *h = p->b;
	int hl = (h[0] & 15) * 4, l = p->len - hl;
	uint32_t src = (uint32_t)get16(h + 12) << 16 | get16(h + 14);
	uint32_t dst = (uint32_t)get16(h + 16) << 16 | get16(h + 18);
	uint8_t *l4 = h + hl;

	switch (h[9]) {
	case 6:
		if (l < 20)
			return;
		put16(l4 + 16, 0);
		put16(l4 + 16, fold(sum(l4, l, pseudo(src, dst, 6, l))));
		break;
	case 17:
		if (l < 8)
			return;
		put16(l4 + 6, 0);
		put16(l4 + 6, fold(sum(l4, l, pseudo(src, dst, 17, l))));
		if (get16(l4 + 6) == 0)
			put16(l4 + 6, 0xffff);
		break;
	case 1:
		if (l < 4)
			return;
		put16(l4 + 2, 0);
		put16(l4 + 2, fold(sum(l4, l, 0)));
		break;
	}
}

static void ip_csum(struct pkt *p)
{
	int hl = (p->b[0] & 15) * 4;

	if (hl > p->len)
		hl = p->len;
	put16(p->b + 10, 0);
	put16(p->b + 10, fold(sum(p->b, hl, 0)));
}

static int rand_options(uint8_t *o)
{
	int n = 0, k = rn(6);

	switch (k) {
	case 0: /* router alert */
		o[n++] = 148; o[n++] = 4; o[n++] = 0; o[n++] = 0;
		break;
	case 1: /* record route, room for 2 */
		o[n++] = 7; o[n++] = 11; o[n++] = 4;
		memset(o + n, 0, 8); n += 8;
		o[n++] = 0;
		break;
	case 2: /* timestamp, full (a free slot would get the current time: not reproducible) */
		o[n++] = 68; o[n++] = 12; o[n++] = 13; o[n++] = 0;
		memset(o + n, 0, 8); n += 8;
		break;
	case 3: /* NOPs and EOL */
		o[n++] = 1; o[n++] = 1; o[n++] = 1; o[n++] = 0;
		break;
	case 4: /* loose source route (refused by default) */
		o[n++] = 131; o[n++] = 7; o[n++] = 4; put32(o + n, RS(1)); n += 4;
		o[n++] = 0;
		break;
	default: /* garbage */
		n = 4 * (1 + rn(10));
		for (k = 0; k < n; k++)
			o[k] = (uint8_t)rnd();
		if (chance(50))
			o[1] = (uint8_t)rn(3); /* option length 0..2: invalid */
		break;
	}
	while (n & 3)
		o[n++] = 0;
	return n;
}

/* TCP segment at the IP payload; returns its length. */
static int tcp_seg(uint8_t *t, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		   uint8_t flags, int paylen, int mss)
{
	int hl = mss ? 24 : 20, i;

	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)((hl / 4) << 4);
	t[13] = flags;
	put16(t + 14, 65535);
	put16(t + 16, 0);
	put16(t + 18, 0);
	if (mss) {
		t[20] = 2; t[21] = 4; put16(t + 22, (uint16_t)mss);
	}
	for (i = 0; i < paylen; i++)
		t[hl + i] = (uint8_t)('a' + i % 26);
	return hl + paylen;
}

static int udp_dgram(uint8_t *u, uint16_t sport, uint16_t dport, int paylen)
{
	int i;

	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + paylen));
	put16(u + 6, 0);
	for (i = 0; i < paylen; i++)
		u[8 + i] = (uint8_t)('A' + i % 26);
	return 8 + paylen;
}

static int rand_paylen(void)
{
	switch (rn(8)) {
	case 0: return 0;
	case 1: return 1400 + (int)rn(100); /* near the MTU: TUN needs 20 bytes more */
	case 2: return (int)rn(1600);
	default: return (int)rn(64);
	}
}

/* Flows: a few per window of WIN packets, so that whatever a flow leaves in the connection
 * table is hit within a fraction of a second, far from every timeout (no verdict may
 * depend on the host's speed); each window has its own source ports. */
#define WIN 64
#define NFLOW 6
struct flow {
	uint32_t src;
	uint16_t sport;
	const struct svc *s;
	uint32_t seq, ack;
	int stage;
	int rs;     /* the real server a reply pretends to come from (1..3) */
};
static struct flow flows[NFLOW];
static unsigned long cur_win = ~0ul;

static void new_window(unsigned long w)
{
	int k;

	cur_win = w;
	for (k = 0; k < NFLOW; k++) {
		flows[k].src = CLNET | (2 + rn(40));
		flows[k].sport = (uint16_t)(1024 + (w * NFLOW + k) % 60000);
		flows[k].s = &svcs[rn(5)];          /* a VIP port with a service */
		flows[k].seq = (uint32_t)rnd();
		flows[k].ack = (uint32_t)rnd();
		flows[k].stage = 0;
		flows[k].rs = 1 + rn(3);
	}
}

/* A plausible packet of flow F (client to VIP), advancing the flow. */
static void flow_packet(struct pkt *p, struct flow *f)
{
	int l, pl;
	uint8_t fl;

	if (f->s->proto == 17) {
		pl = rand_paylen();
		l = udp_dgram(p->b + 20, f->sport, f->s->port, pl);
		ip_hdr(p, f->src, VIP, 17, 0, NULL, l);
		adddesc(p, "udp flow %u:%u payload %d", f->src & 0xff, f->sport, pl);
	} else {
		pl = 0;
		switch (f->stage) {
		case 0: fl = 0x02; break;                                   /* SYN */
		case 1: fl = 0x10; break;                                   /* ACK */
		default:
			switch (rn(6)) {
			case 0: fl = 0x11; break;                           /* FIN ACK */
			case 1: fl = 0x04; break;                           /* RST */
			case 2: fl = 0x02; break;                           /* SYN again */
			default: fl = 0x18; pl = rand_paylen(); break;      /* PSH ACK data */
			}
		}
		l = tcp_seg(p->b + 20, f->sport, f->s->port, f->seq, f->ack, fl, pl,
			    fl == 0x02 ? 1460 : 0);
		ip_hdr(p, f->src, VIP, 6, 0, NULL, l);
		adddesc(p, "tcp flow %u:%u->%u flags %02x payload %d", f->src & 0xff, f->sport,
			f->s->port, fl, pl);
		f->seq += (uint32_t)pl + ((fl & 0x03) ? 1 : 0);
		f->stage++;
	}
	l4_csum(p);
}

/* A reply-direction packet: from a real server's address to the flow's client, as the
 * director's FORWARD path sees NAT replies. */
static void reply_packet(struct pkt *p, struct flow *f)
{
	int l, pl = (int)rn(64);
	uint32_t rs = RS(f->rs);

	if (f->s->proto == 17) {
		l = udp_dgram(p->b + 20, f->s->port, f->sport, pl);
		ip_hdr(p, rs, f->src, 17, 0, NULL, l);
	} else {
		uint8_t fl = (uint8_t)(chance(50) ? 0x12 : (chance(50) ? 0x10 : (uint8_t)rnd()));

		l = tcp_seg(p->b + 20, f->s->port, f->sport, f->ack, f->seq, fl, pl, 0);
		ip_hdr(p, rs, f->src, 6, 0, NULL, l);
	}
	l4_csum(p);
	adddesc(p, "reply from rs%d to %u:%u", f->rs, f->src & 0xff, f->sport);
}

/* An ICMP error quoting flow F: either from a router to the VIP about a packet the VIP
 * sent to the client (ip_vs_in_icmp), or from a real server to the client about a packet
 * the client sent it (ip_vs_out_icmp). Sometimes quotes too little or nonsense. */
static void icmp_error(struct pkt *p, struct flow *f)
{
	static const uint8_t types[][2] = {
		{ 3, 0 }, { 3, 1 }, { 3, 3 }, { 3, 4 }, { 3, 13 }, { 11, 0 }, { 12, 0 }, { 5, 1 }, { 4, 0 },
	};
	uint8_t *ic = p->b + 20, *q = ic + 8;
	const uint8_t *ty = types[rn(sizeof(types) / 2)];
	struct pkt in;
	int inlen, qlen;
	int out = chance(50);
	uint32_t src, dst;

	memset(&in, 0, sizeof(in));
	if (out) {      /* the client's packet to the real server, quoted by the server */
		if (f->s->proto == 17)
			inlen = udp_dgram(in.b + 20, f->sport, f->s->port, 8);
		else
			inlen = tcp_seg(in.b + 20, f->sport, f->s->port, f->seq, f->ack, 0x10, 0, 0);
		ip_hdr(&in, f->src, RS(f->rs), f->s->proto, 0, NULL, inlen);
		src = RS(f->rs);
		dst = f->src;
	} else {        /* the VIP's packet to the client, quoted by a router */
		if (f->s->proto == 17)
			inlen = udp_dgram(in.b + 20, f->s->port, f->sport, 8);
		else
			inlen = tcp_seg(in.b + 20, f->s->port, f->sport, f->ack, f->seq, 0x12, 0, 0);
		ip_hdr(&in, VIP, f->src, f->s->proto, 0, NULL, inlen);
		src = chance(50) ? (0xc6120000u | rn(65536)) : f->src;
		dst = VIP;
	}
	l4_csum(&in);
	qlen = in.len;
	switch (rn(6)) {
	case 0: qlen = 28; break;                               /* IP + 8 bytes, as routers do */
	case 1: qlen = (int)rn((uint32_t)in.len); break;        /* cut anywhere */
	case 2: in.b[0] = (uint8_t)(0x40 | rn(16)); break;      /* quoted ihl nonsense */
	case 3: in.b[9] = (uint8_t)rnd(); break;                /* quoted protocol */
	default: break;
	}
	memcpy(q, in.b, (size_t)qlen);
	ic[0] = ty[0];
	ic[1] = ty[1];
	put16(ic + 2, 0);
	put32(ic + 4, ty[1] == 4 && ty[0] == 3 ? (uint32_t)(chance(50) ? 1000 : rn(2000)) : 0);
	ip_hdr(p, src, dst, 1, 0, NULL, 8 + qlen);
	l4_csum(p);
	adddesc(p, "icmp %u.%u %s quoting %s flow %u:%u (%d bytes)", ty[0], ty[1],
		out ? "from rs" : "to vip", f->s->proto == 6 ? "tcp" : "udp", f->src & 0xff,
		f->sport, qlen);
}

static struct pkt queue[QLEN];
static int qhead, qtail;

static void enqueue(const struct pkt *p)
{
	if ((qtail + 1) % QLEN == qhead)
		return;
	queue[qtail] = *p;
	qtail = (qtail + 1) % QLEN;
}

/* Splits P into fragments (offsets multiple of 8) queued in some order: all of them,
 * some missing, overlapping, tiny, duplicated. */
static void fragment(struct pkt *p)
{
	int hl = (p->b[0] & 15) * 4, pl = p->len - hl, off = 0, n = 0, i, k;
	int mode = (int)rn(5);
	struct pkt fr[12];

	if (pl < 16) {
		enqueue(p);
		return;
	}
	while (off < pl && n < 12) {
		int sz = mode == 3 ? 8 : 8 * (1 + (int)rn((uint32_t)(pl / 8 < 12 ? pl / 8 : 12)));
		int ovl = (mode == 2 && off >= 8 && chance(50)) ? 8 : 0;
		int o = off - ovl;
		int last = o + sz >= pl;

		if (last)
			sz = pl - o;
		memset(&fr[n], 0, sizeof(fr[n]));
		memcpy(fr[n].b, p->b, (size_t)hl);
		memcpy(fr[n].b + hl, p->b + hl + o, (size_t)sz);
		fr[n].len = hl + sz;
		put16(fr[n].b + 2, (uint16_t)(hl + sz));
		put16(fr[n].b + 6, (uint16_t)((last ? 0 : 0x2000) | (o / 8)));
		ip_csum(&fr[n]);
		snprintf(fr[n].desc, sizeof(fr[n].desc), "frag %s off %d len %d%s of [%.100s]",
			 mode == 2 ? "ovl" : mode == 3 ? "tiny" : "", o, sz, last ? " last" : "",
			 p->desc);
		off = o + sz;
		n++;
	}
	switch (mode) {
	case 1: /* reversed */
		for (i = n - 1; i >= 0; i--)
			enqueue(&fr[i]);
		break;
	case 4: /* one missing, one duplicated */
		k = (int)rn((uint32_t)n);
		for (i = 0; i < n; i++)
			if (i != k || n == 1)
				enqueue(&fr[i]);
		enqueue(&fr[0]);
		break;
	default:
		for (i = 0; i < n; i++)
			enqueue(&fr[i]);
	}
}

/* A reply from a real server to port 0 of a client is left out: stock's
 * ip_vs_conn_out_get() matches it with the client's persistence template (whose client port
 * is 0) and translates it as a reply of that template, changing the template's TCP state
 * and timeout; ipvs_rs never takes a template for a reply (a known difference, not a case
 * worth copying). */
static int mutating_reply;

/* Damages a well-formed packet in one of many ways. */
static void mutate(struct pkt *p)
{
	uint8_t *h = p->b, opt[44];
	int hl = (h[0] & 15) * 4, k, n;
	uint8_t *l4 = h + hl;

	switch (rn(16)) {
	case 0:
		p->len = (int)rn((uint32_t)p->len);
		adddesc(p, " | truncated to %d", p->len);
		break;
	case 1:
		h[0] = (uint8_t)(0x40 | rn(16));
		if (chance(50))
			ip_csum(p);
		adddesc(p, " | ihl %d", h[0] & 15);
		break;
	case 2:
		k = chance(50) ? (int)rn((uint32_t)p->len) : p->len + 1 + (int)rn(100);
		put16(h + 2, (uint16_t)k);
		ip_csum(p);
		adddesc(p, " | tot_len %d of %d", k, p->len);
		break;
	case 3:
		n = rand_options(opt);
		if (p->len + n > MAXPKT || hl + n > 60)
			break;
		memmove(h + hl + n, h + hl, (size_t)(p->len - hl));
		memcpy(h + hl, opt, (size_t)n);
		p->len += n;
		h[0] = (uint8_t)(0x40 | ((hl + n) / 4));
		put16(h + 2, (uint16_t)p->len);
		ip_csum(p);
		adddesc(p, " | options %d bytes (%u)", n, opt[0]);
		break;
	case 4:
		put16(h + 10, (uint16_t)(get16(h + 10) ^ (1 + rn(0xfffe))));
		adddesc(p, " | bad ip csum");
		break;
	case 5:
		if (p->len > hl + 8) {
			k = h[9] == 6 ? 16 : h[9] == 17 ? 6 : 2;
			put16(l4 + k, (uint16_t)(get16(l4 + k) ^ (1 + rn(0xfffe))));
		}
		adddesc(p, " | bad l4 csum");
		break;
	case 6:
		h[8] = (uint8_t)rn(2);
		ip_csum(p);
		adddesc(p, " | ttl %d", h[8]);
		break;
	case 7:
		if (h[9] == 6 && p->len >= hl + 20) {
			static const uint8_t fl[] = { 0x02, 0x04, 0x01, 0x00, 0xff, 0x3f, 0x12, 0x06, 0x03, 0x29 };

			l4[13] = fl[rn(sizeof(fl))];
			if (chance(30))
				l4[12] = (uint8_t)(rn(16) << 4);
			l4_csum(p);
			adddesc(p, " | tcp flags %02x doff %d", l4[13], l4[12] >> 4);
		}
		break;
	case 8:
		if (h[9] == 17 && p->len >= hl + 8) {
			static const int ul[] = { 0, 1, 7, 8, 9, 65535 };

			k = chance(50) ? ul[rn(6)] : (int)rn(2000);
			put16(l4 + 4, (uint16_t)k);
			if (chance(50))
				put16(l4 + 6, 0);
			else
				l4_csum(p);
			adddesc(p, " | udp len %d", k);
		}
		break;
	case 9:
		if (p->len >= hl + 4) {
			put16(l4 + (mutating_reply || chance(50) ? 0 : 2), 0);
			l4_csum(p);
			adddesc(p, " | port 0");
		}
		break;
	case 10:
	case 11:
		fragment(p);
		p->len = -1;
		break;
	case 12:
		for (k = 0; k < 1 + (int)rn(4); k++)
			if (p->len)
				h[rn((uint32_t)p->len)] ^= (uint8_t)(1 + rn(255));
		adddesc(p, " | bytes flipped");
		break;
	case 13:
		put16(h + 6, (uint16_t)(chance(50) ? 0x2000 : (0x2000 | rn(200))));
		ip_csum(p);
		adddesc(p, " | frag bits %04x", get16(h + 6));
		break;
	case 14:
		if (h[9] == 17 && p->len >= hl + 8) {
			put16(l4 + 6, 0);
			adddesc(p, " | udp csum 0");
		}
		break;
	default:
		h[9] = (uint8_t)(chance(50) ? (h[9] == 6 ? 17 : 6) : rn(256));
		ip_csum(p);
		adddesc(p, " | protocol %u", h[9]);
		break;
	}
}

static uint32_t other_dst(void)
{
	switch (rn(8)) {
	case 0: return DIR_L0B;
	case 1: return DIR_L0;
	case 2: return RS(1 + rn(3));
	case 3: return DIR_RS(1 + rn(3));
	case 4: return 0xffffffffu;
	case 5: return CLNET | 0xff;
	case 6: return chance(50) ? CLIENT : 0xe0000001u;
	default: return 0xc6120000u | rn(65536); /* 198.18/16: the default route, to the client */
	}
}

static uint32_t other_src(void)
{
	switch (rn(6)) {
	case 0: return 0;
	case 1: return 0x7f000001u;
	case 2: return VIP;
	case 3: return RS(1 + rn(3));
	default: return 0xc6120000u | rn(65536);
	}
}

/* The next packet to inject. */
static void next_packet(struct pkt *p, unsigned long i)
{
	struct flow *f;
	int k, l;

	if (i / WIN != cur_win)
		new_window(i / WIN);
	if (qhead != qtail) {
		*p = queue[qhead];
		qhead = (qhead + 1) % QLEN;
		return;
	}
	memset(p, 0, sizeof(*p));
	f = &flows[rn(NFLOW)];
	k = (int)rn(100);
	if (k < 40) {                   /* a flow's next packet, as it should be */
		flow_packet(p, f);
	} else if (k < 62) {            /* a flow's packet, damaged */
		flow_packet(p, f);
		mutate(p);
	} else if (k < 70) {
		reply_packet(p, f);
		if (chance(30)) {
			mutating_reply = 1;
			mutate(p);
			mutating_reply = 0;
		}
	} else if (k < 78) {
		icmp_error(p, f);
		if (chance(20))
			mutate(p);
	} else if (k < 88) {            /* to or from other addresses */
		const struct svc *s = &svcs[rn(NSVC)];
		uint32_t src = chance(70) ? (CLNET | (2 + rn(40))) : other_src();
		uint32_t dst = chance(60) ? other_dst() : VIP;

		if (s->proto == 6)
			l = tcp_seg(p->b + 20, (uint16_t)rn(65536), s->port, (uint32_t)rnd(), 0,
				    (uint8_t)rnd(), (int)rn(32), 0);
		else
			l = udp_dgram(p->b + 20, (uint16_t)rn(65536), s->port, (int)rn(32));
		if (chance(10)) {       /* an echo request */
			memset(p->b + 20, 0, 8);
			p->b[20] = 8;
			l = 8 + (int)rn(32);
			ip_hdr(p, src, dst, 1, 0, NULL, l);
		} else {
			ip_hdr(p, src, dst, s->proto, 0, NULL, l);
		}
		l4_csum(p);
		adddesc(p, "other %08x->%08x proto %u", src, dst, p->b[9]);
		if (chance(40))
			mutate(p);
	} else if (k < 92) {            /* zero length, one byte, garbage */
		static const int lens[] = { 0, 1, 2, 19, 20 };

		p->len = chance(50) ? lens[rn(5)] : (int)rn(120);
		for (l = 0; l < p->len; l++)
			p->b[l] = (uint8_t)rnd();
		if (p->len && chance(80))
			p->b[0] = chance(50) ? 0x45 : (uint8_t)(0x40 | rn(16));
		if (p->len >= 20 && chance(50)) {
			put32(p->b + 16, VIP);
			put16(p->b + 2, (uint16_t)p->len);
			ip_csum(p);
		}
		adddesc(p, "garbage %d bytes", p->len);
	} else {                        /* a whole flow packet cut into fragments */
		flow_packet(p, f);
		fragment(p);
		*p = queue[qhead];
		qhead = (qhead + 1) % QLEN;
		return;
	}
	if (p->len < 0) {               /* fragmented by mutate() */
		*p = queue[qhead];
		qhead = (qhead + 1) % QLEN;
	}
}

/* ------------------------------------------------------------------ the taps */

static int sendfd, ndev, tapfd[MAXDEV];
static const char *devname[MAXDEV];
static unsigned long outs[MAXDEV], late, markers_lost;
static const uint8_t dir_mac[6] = { 2, 0, 0, 0, 0, 1 }, cl_mac[6] = { 2, 0, 0, 0, 0, 2 };
#define MARK_ID 0xf022
#define MARK_MAGIC 0x7a7a6d6bu

static uint64_t hash(const uint8_t *b, int len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	int i;

	for (i = 0; i < len; i++) {
		uint8_t c = b[i];

		if (i == 4 || i == 5 || i == 10 || i == 11)
			c = 0;
		h = (h ^ c) * 0x100000001b3ull;
	}
	return h;
}

static FILE *outlog;
static unsigned long cur_pkt;

/* LEN bytes as hex and a newline (one fwrite: printf per byte is slow under TCG). */
static void put_hex(FILE *f, const uint8_t *b, int len)
{
	static const char dig[] = "0123456789abcdef";
	char buf[2 * 65536 + 1];
	int k;

	for (k = 0; k < len && k < 65536; k++) {
		buf[2 * k] = dig[b[k] >> 4];
		buf[2 * k + 1] = dig[b[k] & 15];
	}
	buf[2 * k] = '\n';
	fwrite(buf, 1, (size_t)(2 * k + 1), f);
}

static void describe_out(FILE *v, const char *dev, const uint8_t *ip, int len)
{
	int hl = (ip[0] & 15) * 4;

	if (!v)
		return;
	if (outlog) {
		fprintf(outlog, "%lu %s ", cur_pkt, dev);
		put_hex(outlog, ip, len);
	}
	if (len >= 20 && ip[9] == 1 && len >= hl + 2)
		fprintf(v, " %s:icmp%u.%u/%d/%08x", dev, ip[hl], ip[hl + 1], len,
			(uint32_t)hash(ip, len));
	else
		fprintf(v, " %s:%u/%d/%08x", dev, len >= 20 ? ip[9] : 256, len,
			(uint32_t)hash(ip, len));
}

/* The director's echo reply to marker SEQ? */
static int is_marker_reply(const uint8_t *ip, int len, uint32_t seq)
{
	const uint8_t *ic = ip + 20;

	return len == 20 + 16 && ip[0] == 0x45 && ip[9] == 1 && ic[0] == 0 &&
	       get16(ic + 4) == MARK_ID && get16(ic + 8) == (MARK_MAGIC >> 16) &&
	       get16(ic + 10) == (MARK_MAGIC & 0xffff) &&
	       ((uint32_t)get16(ic + 12) << 16 | get16(ic + 14)) == seq;
}

/* Reads what tap D holds, describing it to V; stops after the reply to marker SEQ (returns
 * 1) or when nothing is left (returns 0). *N counts the other IPv4 packets. */
static int drain_one(FILE *v, int d, int want_marker, uint32_t seq, unsigned long *n)
{
	uint8_t buf[65536];
	struct sockaddr_ll sll;
	socklen_t sl;
	ssize_t r;

	for (;;) {
		sl = sizeof(sll);
		r = recvfrom(tapfd[d], buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&sll, &sl);
		if (r <= 0)
			return 0;
		if (sll.sll_pkttype != PACKET_OUTGOING || ntohs(sll.sll_protocol) != ETH_P_IP ||
		    r < ETH_HLEN + 20)
			continue;
		if (d == 0 && want_marker && is_marker_reply(buf + ETH_HLEN, (int)r - ETH_HLEN, seq))
			return 1;
		if (d == 0 && r >= ETH_HLEN + 36 &&
		    is_marker_reply(buf + ETH_HLEN, (int)r - ETH_HLEN,
				    (uint32_t)get16(buf + ETH_HLEN + 32) << 16 | get16(buf + ETH_HLEN + 34)))
			continue;       /* an older marker's reply */
		describe_out(v, devname[d], buf + ETH_HLEN, (int)r - ETH_HLEN);
		outs[d]++;
		(*n)++;
	}
}

/* Everything the taps hold; 1 if the reply to marker SEQ came (on the first tap, l0):
 * then what the other taps hold was all sent before it. */
static int drain(FILE *v, int want_marker, uint32_t seq, unsigned long *n)
{
	int found = drain_one(v, 0, want_marker, seq, n), d;

	for (d = 1; d < ndev; d++)
		drain_one(v, d, 0, 0, n);
	return found;
}

static ssize_t send_ip(const uint8_t *ip, int len)
{
	uint8_t f[MAXPKT + ETH_HLEN];

	memcpy(f, dir_mac, 6);
	memcpy(f + 6, cl_mac, 6);
	put16(f + 12, ETH_P_IP);
	memcpy(f + ETH_HLEN, ip, (size_t)len);
	return send(sendfd, f, (size_t)len + ETH_HLEN, 0);
}

/* Sends marker SEQ and reads the taps until the director answered it (or 10 s passed:
 * the marker counts as lost, the verdict line says so). */
static void sync_marker(FILE *v, uint32_t seq, unsigned long *n)
{
	struct pkt m;
	struct pollfd pfd;
	int tries;

	memset(&m, 0, sizeof(m));
	m.b[20] = 8;
	put16(m.b + 24, MARK_ID);
	put16(m.b + 26, (uint16_t)seq);
	put32(m.b + 28, MARK_MAGIC);
	put32(m.b + 32, seq);
	ip_hdr(&m, CLIENT, DIR_L0, 1, 0, NULL, 16);
	m.b[6] = 0;     /* fixed header: no DF, ID 0 */
	put16(m.b + 4, 0);
	ip_csum(&m);
	l4_csum(&m);
	if (send_ip(m.b, m.len) != m.len + ETH_HLEN) {
		perror("pkt_fuzz: sending a marker");
		exit(2);
	}
	pfd.fd = tapfd[0];
	pfd.events = POLLIN;
	for (tries = 0; tries < 100; tries++) {
		if (drain(v, 1, seq, n))
			return;
		/* Deferred to ksoftirqd: let it run before sleeping in poll. */
		sched_yield();
		if (drain(v, 1, seq, n))
			return;
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			break;
	}
	markers_lost++;
	if (v)
		fprintf(v, " MARKER-LOST");
}

static int open_tap(const char *name, int proto)
{
	struct sockaddr_ll sll;
	int fd = socket(AF_PACKET, SOCK_RAW, htons(proto)), sz = 1 << 22;
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (fd < 0 || ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		fprintf(stderr, "pkt_fuzz: %s: %s\n", name, strerror(errno));
		exit(2);
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(proto);
	sll.sll_ifindex = ifr.ifr_ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "pkt_fuzz: bind %s: %s\n", name, strerror(errno));
		exit(2);
	}
	if (proto && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		perror("pkt_fuzz: SO_RCVBUFFORCE (keeping the default)");
	return fd;
}

int main(int argc, char **argv)
{
	const char *vpath = NULL, *lpath = NULL;
	FILE *v = NULL, *lg = NULL;
	unsigned long count, i, werr = 0, inj = 0, dummy = 0;
	struct pollfd pfd[MAXDEV];
	cpu_set_t cpus;
	struct pkt p;
	int opt, d, nsfd, dry = 0;

	while ((opt = getopt(argc, argv, "v:l:o:n")) != -1) {
		switch (opt) {
		case 'n': dry = 1; break;
		case 'o':
			outlog = fopen(optarg, "w");
			if (!outlog) {
				perror(optarg);
				return 2;
			}
			break;
		case 'v': vpath = optarg; break;
		case 'l': lpath = optarg; break;
		default: goto usage;
		}
	}
	if (argc - optind < 5 || argc - optind - 4 > MAXDEV)
		goto usage;
	rng = strtoull(argv[optind + 1], NULL, 0);
	count = strtoul(argv[optind + 2], NULL, 0);
	if (dry) {      /* -n: only describe the packets, on stdout */
		for (i = 0; i < count; i++) {
			next_packet(&p, i);
			printf("%lu %s len %d\n", i, p.desc, p.len);
		}
		return 0;
	}

	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus) < 0) {
		perror("pkt_fuzz: sched_setaffinity");
		return 2;
	}
	ndev = argc - optind - 4;
	for (d = 0; d < ndev; d++) {
		devname[d] = argv[optind + 4 + d];
		tapfd[d] = open_tap(devname[d], ETH_P_ALL);
	}
	nsfd = open(argv[optind], O_RDONLY);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
		perror(argv[optind]);
		return 2;
	}
	sendfd = open_tap(argv[optind + 3], 0);
	if (vpath && !(v = fopen(vpath, "w"))) {
		perror(vpath);
		return 2;
	}
	if (lpath && !(lg = fopen(lpath, "w"))) {
		perror(lpath);
		return 2;
	}
	/* Start from empty taps: marker 0xffffffff flushes what the setup left. */
	sync_marker(NULL, 0xffffffffu, &dummy);
	memset(outs, 0, sizeof(outs));
	markers_lost = 0;

	for (i = 0; i < count; i++) {
		ssize_t w;

		next_packet(&p, i);
		cur_pkt = i;
		w = send_ip(p.b, p.len);
		if (w < 0)
			werr++;
		else
			inj++;
		if (v)
			fprintf(v, "%lu w=%ld", i, w < 0 ? (long)-errno : (long)w - ETH_HLEN);
		if (v || i % 32 == 31 || i == count - 1)
			sync_marker(v, (uint32_t)i, &dummy);
		if (v)
			fputc('\n', v);
		if (lg) {
			fprintf(lg, "%lu %s len %d ", i, p.desc, p.len);
			put_hex(lg, p.b, p.len);
		}
	}

	/* Anything the director still sends in the half second after the last marker came
	 * late: the verdicts above would not have seen it. */
	for (d = 0; d < ndev; d++) {
		pfd[d].fd = tapfd[d];
		pfd[d].events = POLLIN;
	}
	for (d = 0; d < 20 && poll(pfd, (nfds_t)ndev, 500) > 0; d++)
		drain(NULL, 0, 0, &late);

	printf("packets %lu sent %lu send_errors %lu markers_lost %lu late %lu out", count, inj,
	       werr, markers_lost, late);
	for (d = 0; d < ndev; d++)
		printf(" %s=%lu", devname[d], outs[d]);
	printf("\n");
	if ((v && fclose(v)) || (lg && fclose(lg)) || (outlog && fclose(outlog))) {
		perror("pkt_fuzz: writing the verdicts");
		return 2;
	}
	return 0;
usage:
	fprintf(stderr, "usage: pkt_fuzz [-v VERDICTS -l LOG -o OUTPUTS] CLIENT_NETNS SEED COUNT SEND_DEV TAP_DEV...\n");
	return 2;
}
