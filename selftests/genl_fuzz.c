// SPDX-License-Identifier: GPL-2.0
/*
 * genl_fuzz: generated and mutated requests to the generic netlink family "IPVS".
 *
 *   genl_fuzz SEED COUNT [--log] [--batch N] [--times] [--show N] [--supported-only]
 *             [--ipv6] [--mixed-af]
 *
 * Sends COUNT requests, one at a time, each with NLM_F_ACK, and reads everything the kernel
 * answers to it: reply messages, then the ack (a doit), or the parts of a dump up to
 * NLMSG_DONE. The sequence depends only on SEED, never on the answers, so the same SEED
 * against two modules from the same state is the same conversation.
 *
 * A request is built from the family's own vocabulary (commands, nested SERVICE / DEST /
 * DAEMON attributes, values drawn mostly from small pools so that services and dests really
 * get created, edited and deleted) and then, for about half of them, mutated: random bytes
 * overwritten, the message cut short, attribute lengths lied about, unknown or duplicated
 * attributes, nesting flags flipped, a wrong genl version or command.
 *
 * With --log, prints one line per request: "N cmd=C dump=D err=E replies=R done=X", where E
 * is the ack's errno name (or "-" for a dump that ended with NLMSG_DONE) and X the DONE
 * message's status. Always prints a summary line at the end:
 *   "requests=N acked=A dumps=D timeouts=T errnos=..."
 * and exits 1 if any request got no answer within the timeout (the kernel must answer every
 * request whose netlink header is sound, and this tool only sends sound headers).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>

#define BUF_SIZE (64 * 1024)
#define MAX_REQ (16 * 1024)
#define BATCH_MAX 32

static uint64_t rng_state;
/* --supported-only: see keep_supported(); how many values it rewrote */
static int supported_only;
/*
 * With --supported-only: --ipv6 lets IPv6 services and IPv6 dests of IPv6 services through
 * (once ipvs_rs has them), draws IPv6 as often as IPv4 (pick_af) and gives IPv6 services
 * prefix lengths as netmasks (put_service), each from a pool of the same size, so the
 * sequence of draws stays the same; --mixed-af (with --ipv6) lets dests of the other family
 * through too (stock takes them as tunnel servers). Off by default: t_genl_fuzz passes them
 * when told (GENL_FUZZ_IPV6).
 */
static int ipv6_supported, mixed_af_supported;
static unsigned long long supported_rewrites;

static uint64_t rnd(void)
{
	/* xorshift64*: small, fast and the same everywhere */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint32_t below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

/* true with probability P percent */
static int chance(unsigned int p)
{
	return below(100) < p;
}

/* ---- building a request ---------------------------------------------------------------- */

struct req {
	unsigned char buf[MAX_REQ];
	size_t len;
	uint8_t cmd;
	int dump;
};

/* The request built last, which the next one repeats now and then (see build()). */
static struct req previous;

static int room(struct req *r, size_t n)
{
	return r->len + n <= sizeof(r->buf);
}

/* Appends an attribute of TYPE with LEN bytes of DATA; returns its offset, or -1 if full. */
static long put(struct req *r, uint16_t type, const void *data, size_t len)
{
	size_t total = NLA_HDRLEN + NLA_ALIGN(len);
	struct nlattr *nla;
	long off = (long)r->len;

	if (!room(r, total))
		return -1;
	nla = (struct nlattr *)(r->buf + r->len);
	nla->nla_type = type;
	nla->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (len)
		memcpy(r->buf + r->len + NLA_HDRLEN, data, len);
	memset(r->buf + r->len + NLA_HDRLEN + len, 0, NLA_ALIGN(len) - len);
	r->len += total;
	return off;
}

static void put_u8(struct req *r, uint16_t t, uint8_t v) { put(r, t, &v, 1); }
static void put_u16(struct req *r, uint16_t t, uint16_t v) { put(r, t, &v, 2); }
static void put_u32(struct req *r, uint16_t t, uint32_t v) { put(r, t, &v, 4); }

static long nest_start(struct req *r, uint16_t type)
{
	return put(r, (uint16_t)(type | (chance(90) ? NLA_F_NESTED : 0)), NULL, 0);
}

static void nest_end(struct req *r, long off)
{
	struct nlattr *nla;

	if (off < 0)
		return;
	nla = (struct nlattr *)(r->buf + off);
	nla->nla_len = (uint16_t)(r->len - (size_t)off);
}

static void put_random_bytes(struct req *r, uint16_t type, size_t max)
{
	unsigned char b[256];
	size_t n = below((uint32_t)(max < sizeof(b) ? max : sizeof(b)) + 1), i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)rnd();
	put(r, type, b, n);
}

/* Most values come from small pools, so that requests meet the objects earlier ones made. */
static uint16_t pick_af(void)
{
	static const uint16_t af[] = { AF_INET, AF_INET, AF_INET, AF_INET6, 0, 7, 0xffff };
	/* --ipv6: as many IPv6 as IPv4 objects (the same draws as from af[]) */
	static const uint16_t af6[] = { AF_INET, AF_INET6, AF_INET, AF_INET6, 0, 7, 0xffff };

	return (ipv6_supported ? af6 : af)[below(sizeof(af) / sizeof(af[0]))];
}

static void put_addr(struct req *r, uint16_t type, int vip)
{
	unsigned char a[16] = { 0 };
	size_t len = 16;
	uint32_t v4;

	switch (below(10)) {
	case 0: len = 4; break;			/* only the IPv4 part */
	case 1: len = below(20); break;		/* any length */
	default: break;
	}
	if (chance(90)) {
		static const char *const vips[] = { "10.0.0.1", "10.0.0.2", "10.0.0.3", "192.0.2.1" };
		static const char *const rips[] = { "10.1.0.1", "10.1.0.2", "10.1.0.3", "0.0.0.0",
						    "224.0.0.1", "255.255.255.255", "127.0.0.1" };
		const char *s = vip ? vips[below(4)] : rips[below(chance(80) ? 3 : 7)];

		inet_pton(AF_INET, s, &v4);
		memcpy(a, &v4, 4);
	} else {
		for (size_t i = 0; i < sizeof(a); i++)
			a[i] = (unsigned char)rnd();
	}
	put(r, type, a, len);
}

static uint32_t pick_u32(const uint32_t *pool, size_t n)
{
	return chance(85) ? pool[below((uint32_t)n)] : (uint32_t)rnd();
}

static void put_name(struct req *r, uint16_t type, const char *const *pool, size_t n)
{
	if (chance(94)) {
		const char *s = pool[below((uint32_t)n)];

		/* NUL-terminated as the tools send it, or not */
		put(r, type, s, strlen(s) + (chance(90) ? 1 : 0));
	} else {
		put_random_bytes(r, type, 40);
	}
}

static const char *const sched_names[] = { "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh",
					   "sed", "nq", "fo", "ovf", "mh", "twos", "", "nosuch",
					   "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr" };

static void put_service(struct req *r)
{
	static const uint32_t ports[] = { 80, 443, 53, 0, 65535 };
	static const uint32_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, 0, 1, IPPROTO_SCTP };
	static const uint32_t marks[] = { 1, 2, 0 };
	static const uint32_t timeouts[] = { 0, 1, 300, 0x7fffffff, 0xffffffff };
	static const uint32_t masks[] = { 0xffffffff, 0x00ffffff, 0, 0x0000ffff, 0xff00ff00 };
	/* With --ipv6, an IPv6 service's prefix lengths (as many draws as from masks[]) */
	static const uint32_t plens[] = { 128, 64, 0, 129, 0xffffffff };
	static const char *const pe[] = { "nosuch", "", "sip" };
	long n = nest_start(r, IPVS_CMD_ATTR_SERVICE);
	uint16_t af = pick_af();

	if (chance(90))
		put_u16(r, IPVS_SVC_ATTR_AF, af);
	if (chance(25)) {
		put_u32(r, IPVS_SVC_ATTR_FWMARK, pick_u32(marks, 3));
	} else {
		if (chance(92)) {
			put_u16(r, IPVS_SVC_ATTR_PROTOCOL, (uint16_t)pick_u32(protos, chance(80) ? 2 : 5));
		}
		if (chance(92))
			put_addr(r, IPVS_SVC_ATTR_ADDR, 1);
		if (chance(92))
			put_u16(r, IPVS_SVC_ATTR_PORT, htons((uint16_t)pick_u32(ports, chance(80) ? 2 : 5)));
	}
	if (chance(5))	/* both forms at once */
		put_u32(r, IPVS_SVC_ATTR_FWMARK, pick_u32(marks, 3));
	if (chance(70))
		put_name(r, IPVS_SVC_ATTR_SCHED_NAME, sched_names,
			 chance(90) ? 14 : sizeof(sched_names) / sizeof(sched_names[0]));
	if (chance(70)) {
		struct ip_vs_flags f = { (uint32_t)(chance(70) ? below(0x40) : rnd()),
					 (uint32_t)(chance(70) ? 0xffffffff : rnd()) };

		put(r, IPVS_SVC_ATTR_FLAGS, &f, chance(95) ? sizeof(f) : below(sizeof(f)));
	}
	if (chance(70))
		put_u32(r, IPVS_SVC_ATTR_TIMEOUT, pick_u32(timeouts, 5));
	if (chance(70))
		put_u32(r, IPVS_SVC_ATTR_NETMASK,
			pick_u32(ipv6_supported && af == AF_INET6 ? plens : masks, 5));
	if (chance(5))
		put_name(r, IPVS_SVC_ATTR_PE_NAME, pe, 3);
	if (chance(3))
		put_random_bytes(r, IPVS_SVC_ATTR_STATS, 64);
	nest_end(r, n);
}

static void put_dest(struct req *r)
{
	static const uint32_t ports[] = { 80, 8080, 0 };
	static const uint32_t fwd[] = { IP_VS_CONN_F_MASQ, IP_VS_CONN_F_DROUTE, IP_VS_CONN_F_TUNNEL,
					IP_VS_CONN_F_LOCALNODE, IP_VS_CONN_F_BYPASS, 7 };
	static const uint32_t weights[] = { 0, 1, 5, 100, 0x7fffffff, 0xffffffff };
	static const uint32_t thresh[] = { 0, 1, 10, 0xffffffff };
	long n = nest_start(r, IPVS_CMD_ATTR_DEST);

	if (chance(92))
		put_addr(r, IPVS_DEST_ATTR_ADDR, 0);
	if (chance(92))
		put_u16(r, IPVS_DEST_ATTR_PORT, htons((uint16_t)pick_u32(ports, 3)));
	if (chance(80))
		put_u32(r, IPVS_DEST_ATTR_FWD_METHOD, pick_u32(fwd, chance(80) ? 3 : 6));
	if (chance(80))
		put_u32(r, IPVS_DEST_ATTR_WEIGHT, pick_u32(weights, 6));
	if (chance(60))
		put_u32(r, IPVS_DEST_ATTR_U_THRESH, pick_u32(thresh, 4));
	if (chance(60))
		put_u32(r, IPVS_DEST_ATTR_L_THRESH, pick_u32(thresh, 4));
	if (chance(30))
		put_u16(r, IPVS_DEST_ATTR_ADDR_FAMILY, pick_af());
	if (chance(15))
		put_u8(r, IPVS_DEST_ATTR_TUN_TYPE, (uint8_t)(chance(80) ? below(4) : rnd()));
	if (chance(15))
		put_u16(r, IPVS_DEST_ATTR_TUN_PORT, htons((uint16_t)(chance(80) ? 6080 : rnd())));
	if (chance(15))
		put_u16(r, IPVS_DEST_ATTR_TUN_FLAGS, (uint16_t)(chance(80) ? below(8) : rnd()));
	if (chance(3))
		put_u32(r, IPVS_DEST_ATTR_ACTIVE_CONNS, (uint32_t)rnd());
	nest_end(r, n);
}

static void put_daemon(struct req *r)
{
	/* Only names no guest netns has: a sync daemon never starts (stock would start one). */
	static const char *const ifn[] = { "nosuch0", "", "ifname-of-sixteen-bytes", "eth99" };
	static const uint32_t states[] = { IP_VS_STATE_MASTER, IP_VS_STATE_BACKUP, 3, 0 };
	long n = nest_start(r, IPVS_CMD_ATTR_DAEMON);

	if (chance(90))
		put_u32(r, IPVS_DAEMON_ATTR_STATE, pick_u32(states, 4));
	if (chance(85))
		put_name(r, IPVS_DAEMON_ATTR_MCAST_IFN, ifn, 4);
	if (chance(85))
		put_u32(r, IPVS_DAEMON_ATTR_SYNC_ID, (uint32_t)below(300));
	if (chance(30))
		put_u16(r, IPVS_DAEMON_ATTR_SYNC_MAXLEN, (uint16_t)(chance(50) ? 1500 : rnd()));
	if (chance(30)) {
		uint32_t g = htonl(chance(60) ? 0xe0000051 : (uint32_t)rnd());

		put(r, IPVS_DAEMON_ATTR_MCAST_GROUP, &g, 4);
	}
	if (chance(15)) {
		unsigned char g6[16] = { 0xff, 0x02 };

		if (chance(40))
			g6[0] = (unsigned char)rnd();
		g6[15] = 0x51;
		put(r, IPVS_DAEMON_ATTR_MCAST_GROUP6, g6, 16);
	}
	if (chance(20))
		put_u16(r, IPVS_DAEMON_ATTR_MCAST_PORT, (uint16_t)rnd());
	if (chance(20))
		put_u8(r, IPVS_DAEMON_ATTR_MCAST_TTL, (uint8_t)rnd());
	nest_end(r, n);
}

/* The attributes a command usually carries, with others now and then. */
static void put_attrs(struct req *r, uint8_t cmd)
{
	int svc = 0, dest = 0, daemon = 0, timeouts = 0;

	switch (cmd) {
	case IPVS_CMD_NEW_SERVICE: case IPVS_CMD_SET_SERVICE: case IPVS_CMD_DEL_SERVICE:
	case IPVS_CMD_GET_SERVICE: case IPVS_CMD_GET_DEST: case IPVS_CMD_ZERO:
		svc = chance(95);
		break;
	case IPVS_CMD_NEW_DEST: case IPVS_CMD_SET_DEST: case IPVS_CMD_DEL_DEST:
		svc = chance(95);
		dest = chance(95);
		break;
	case IPVS_CMD_NEW_DAEMON: case IPVS_CMD_DEL_DAEMON:
		daemon = chance(95);
		break;
	case IPVS_CMD_SET_CONFIG:
		timeouts = 1;
		break;
	default:
		break;
	}
	svc |= chance(3);
	dest |= chance(3);
	daemon |= chance(2);
	timeouts |= chance(2);
	if (svc)
		put_service(r);
	if (dest)
		put_dest(r);
	if (daemon)
		put_daemon(r);
	if (timeouts) {
		static const uint32_t t[] = { 0, 1, 60, 900, 0x7fffffff, 0x80000000, 0xffffffff };

		if (chance(70))
			put_u32(r, IPVS_CMD_ATTR_TIMEOUT_TCP, pick_u32(t, 7));
		if (chance(70))
			put_u32(r, IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, pick_u32(t, 7));
		if (chance(70))
			put_u32(r, IPVS_CMD_ATTR_TIMEOUT_UDP, pick_u32(t, 7));
	}
	if (chance(3))	/* an attribute type the family does not know */
		put_random_bytes(r, (uint16_t)(IPVS_CMD_ATTR_MAX + 1 + below(40)), 16);
}

/* Damage a built request's payload (from FROM on): the kernel must answer it all the same. */
static void mutate(struct req *r, size_t from)
{
	unsigned int rounds = 1 + below(3), i;

	for (i = 0; i < rounds && r->len > from; i++) {
		size_t span = r->len - from, at = from + below((uint32_t)span);

		switch (below(8)) {
		case 0: /* a few random bytes */
		case 1:
			for (unsigned int k = 1 + below(4); k && at < r->len; k--, at++)
				r->buf[at] = (unsigned char)rnd();
			break;
		case 2: /* cut short anywhere */
			r->len = at;
			break;
		case 3: /* one attribute's length: 0..3, too big, or odd */
		case 4: {
			size_t off = from + (below((uint32_t)span) & ~(size_t)3);

			if (off + 2 <= r->len) {
				uint16_t bad[] = { 0, 3, 4, 5, 0xffff, (uint16_t)(r->len - off + 4),
						   (uint16_t)rnd() };
				uint16_t v = bad[below(7)];

				memcpy(r->buf + off, &v, 2);
			}
			break;
		}
		case 5: /* a nested flag flipped, or an attribute's type changed */
			if ((at & ~(size_t)3) + 4 <= r->len) {
				struct nlattr *nla = (struct nlattr *)(r->buf + (at & ~(size_t)3));

				nla->nla_type ^= chance(50) ? NLA_F_NESTED : (uint16_t)(1 + below(12));
			}
			break;
		case 6: /* a duplicate of the whole payload's first attribute at the end */
			if (from + NLA_HDRLEN <= r->len) {
				struct nlattr *first = (struct nlattr *)(r->buf + from);
				size_t l = NLA_ALIGN(first->nla_len);

				if (l >= NLA_HDRLEN && from + l <= r->len && room(r, l)) {
					memmove(r->buf + r->len, r->buf + from, l);
					r->len += l;
				}
			}
			break;
		default: /* a random tail */
			put_random_bytes(r, (uint16_t)rnd(), 64);
			break;
		}
	}
}

/*
 * --supported-only: what ipvs_rs refuses by design until it has it (rust/ipvs_core/support.rs)
 * while stock accepts it is taken out of the finished request, after any mutation: an IPv6
 * service with a prefix length stock takes (1..128; without one, both refuse it), an SCTP
 * service, the persistence engine "sip", an IPv6 real server (stock takes one as a tunnel
 * server of an IPv4 service). With --ipv6 the IPv6 service stays, and
 * a dest's family is rewritten only where it differs from the service's (the last AF of the
 * request's SERVICE nest: mixed families, tunnel servers only), to the service's; with
 * --mixed-af too that stays as well. Values are rewritten in place, in every
 * attribute the kernel would read as one of those (each nest as the kernel walks it, every
 * duplicate), so the request's layout, and what else it tests, stays as generated: a
 * mutated byte can make any of them, which the generator alone cannot rule out. Returns how
 * many values were rewritten.
 */
static unsigned int keep_supported_nest(unsigned char *p, size_t len, uint16_t nest,
					uint16_t *svc_af)
{
	unsigned int rewritten = 0;
	int ipv6 = 0;

	for (int pass = 0; pass < 2; pass++) {
		size_t off = 0;

		while (off + NLA_HDRLEN <= len) {
			struct nlattr *a = (struct nlattr *)(p + off);
			unsigned char *v = p + off + NLA_HDRLEN;
			uint16_t type = a->nla_type & NLA_TYPE_MASK, u16 = 0;
			uint32_t u32 = 0;
			size_t vlen;

			if (a->nla_len < NLA_HDRLEN || a->nla_len > len - off)
				break;
			vlen = a->nla_len - NLA_HDRLEN;
			off += NLA_ALIGN(a->nla_len);
			if (vlen >= 2)
				memcpy(&u16, v, 2);
			if (vlen >= 4)
				memcpy(&u32, v, 4);
			if (nest == IPVS_CMD_ATTR_SERVICE && pass == 0) {
				ipv6 |= type == IPVS_SVC_ATTR_AF && vlen >= 2 && u16 == AF_INET6;
				if (type == IPVS_SVC_ATTR_AF && vlen >= 2)
					*svc_af = u16;
			} else if (nest == IPVS_CMD_ATTR_SERVICE) {
				if (type == IPVS_SVC_ATTR_NETMASK && ipv6 && !ipv6_supported &&
				    vlen >= 4 && u32 >= 1 && u32 <= 128) {
					u32 = 129;
					memcpy(v, &u32, 4);
				} else if (type == IPVS_SVC_ATTR_PROTOCOL && vlen >= 2 && u16 == IPPROTO_SCTP) {
					u16 = IPPROTO_SCTP + 1;
					memcpy(v, &u16, 2);
				} else if (type == IPVS_SVC_ATTR_PE_NAME && vlen >= 3 && !memcmp(v, "sip", 3)) {
					v[0] = 'x';
				} else {
					continue;
				}
				rewritten++;
			} else if (nest == IPVS_CMD_ATTR_DEST && pass == 1) {
				if (type == IPVS_DEST_ATTR_ADDR_FAMILY && vlen >= 2 && u16 == AF_INET6 &&
				    !ipv6_supported) {
					u16 = AF_INET;
					memcpy(v, &u16, 2);
				} else if (type == IPVS_DEST_ATTR_ADDR_FAMILY && vlen >= 2 && ipv6_supported &&
					   !mixed_af_supported && (u16 == AF_INET || u16 == AF_INET6) &&
					   (*svc_af == AF_INET || *svc_af == AF_INET6) && u16 != *svc_af) {
					u16 = *svc_af;
					memcpy(v, &u16, 2);
				} else {
					continue;
				}
				rewritten++;
			}
		}
	}
	return rewritten;
}

static unsigned int keep_supported(struct req *r)
{
	size_t off = NLMSG_HDRLEN + GENL_HDRLEN;
	unsigned int rewritten = 0;
	uint16_t svc_af = 0;

	/* The SERVICE nests first (the service's family), then the DEST nests. */
	for (uint16_t want = IPVS_CMD_ATTR_SERVICE; want <= IPVS_CMD_ATTR_DEST; want++) {
		off = NLMSG_HDRLEN + GENL_HDRLEN;
		while (off + NLA_HDRLEN <= r->len) {
			struct nlattr *a = (struct nlattr *)(r->buf + off);
			uint16_t type = a->nla_type & NLA_TYPE_MASK;

			if (a->nla_len < NLA_HDRLEN || a->nla_len > r->len - off)
				break;
			if (type == want)
				rewritten += keep_supported_nest(r->buf + off + NLA_HDRLEN,
								 a->nla_len - NLA_HDRLEN, type,
								 &svc_af);
			off += NLA_ALIGN(a->nla_len);
		}
	}
	return rewritten;
}

/*
 * Commands weighted so that state builds up between flushes (services with several dests,
 * so that EEXIST, edits of live objects and multi-part dumps happen), in per mille.
 */
static uint8_t pick_cmd(void)
{
	static const struct { uint8_t cmd; uint16_t weight; } w[] = {
		{ IPVS_CMD_NEW_SERVICE, 150 }, { IPVS_CMD_SET_SERVICE, 60 }, { IPVS_CMD_DEL_SERVICE, 35 },
		{ IPVS_CMD_GET_SERVICE, 80 }, { IPVS_CMD_NEW_DEST, 200 }, { IPVS_CMD_SET_DEST, 80 },
		{ IPVS_CMD_DEL_DEST, 50 }, { IPVS_CMD_GET_DEST, 80 }, { IPVS_CMD_NEW_DAEMON, 30 },
		{ IPVS_CMD_DEL_DAEMON, 25 }, { IPVS_CMD_GET_DAEMON, 25 }, { IPVS_CMD_SET_CONFIG, 30 },
		{ IPVS_CMD_GET_CONFIG, 25 }, { IPVS_CMD_SET_INFO, 10 }, { IPVS_CMD_GET_INFO, 25 },
		{ IPVS_CMD_ZERO, 40 }, { IPVS_CMD_FLUSH, 5 }, { IPVS_CMD_UNSPEC, 10 },
	};
	uint32_t x = below(1000);

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		if (x < w[i].weight)
			return w[i].cmd;
		x -= w[i].weight;
	}
	return (uint8_t)(IPVS_CMD_MAX + 1 + below(256 - IPVS_CMD_MAX - 1));	/* unknown: 4% */
}

static size_t build(struct req *r, uint16_t family, uint32_t seq, uint8_t *cmd_out, int *dump_out)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)r->buf;
	struct genlmsghdr *g;
	uint8_t cmd;
	int dump;

	/* 5%: the previous request again, so that what it created now exists (EEXIST) and what it
	 * deleted is gone, whatever the seed; the sequence number is the new one. */
	if (previous.len && chance(5)) {
		memcpy(r->buf, previous.buf, previous.len);
		r->len = previous.len;
		nlh->nlmsg_seq = seq;
		*cmd_out = previous.cmd;
		*dump_out = previous.dump;
		return r->len;
	}
	memset(r->buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	r->len = NLMSG_HDRLEN + GENL_HDRLEN;
	cmd = pick_cmd();
	/* the get commands as dumps mostly, as the tools send them; the others now and then */
	dump = (cmd == IPVS_CMD_GET_SERVICE || cmd == IPVS_CMD_GET_DEST || cmd == IPVS_CMD_GET_DAEMON)
		? chance(70) : chance(4);
	g = (struct genlmsghdr *)(r->buf + NLMSG_HDRLEN);
	g->cmd = cmd;
	g->version = (uint8_t)(chance(97) ? IPVS_GENL_VERSION : rnd());
	put_attrs(r, cmd);
	if (chance(45))
		mutate(r, NLMSG_HDRLEN + (chance(90) ? GENL_HDRLEN : 0));
	if (supported_only)
		supported_rewrites += keep_supported(r);
	/* the netlink header itself is always sound: its length is what is sent */
	nlh->nlmsg_len = (uint32_t)r->len;
	nlh->nlmsg_type = family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0);
	nlh->nlmsg_seq = seq;
	*cmd_out = cmd;
	*dump_out = dump;
	memcpy(previous.buf, r->buf, r->len);
	previous.len = r->len;
	previous.cmd = cmd;
	previous.dump = dump;
	return r->len;
}

/* ---- talking to the kernel ------------------------------------------------------------- */

static int nl_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	struct timeval tv = { .tv_sec = 10 };
	int one = 1, big = 1 << 20;

	if (fd < 0) {
		perror("socket");
		exit(2);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	/* acks without a copy of the request */
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return fd;
}

static uint16_t resolve_family(int fd, unsigned char *buf)
{
	struct req r;
	struct nlmsghdr *nlh = (struct nlmsghdr *)r.buf;
	struct genlmsghdr *g = (struct genlmsghdr *)(r.buf + NLMSG_HDRLEN);
	ssize_t n;

	memset(r.buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	r.len = NLMSG_HDRLEN + GENL_HDRLEN;
	g->cmd = CTRL_CMD_GETFAMILY;
	g->version = 1;
	put(&r, CTRL_ATTR_FAMILY_NAME, IPVS_GENL_NAME, sizeof(IPVS_GENL_NAME));
	nlh->nlmsg_len = (uint32_t)r.len;
	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	if (send(fd, r.buf, r.len, 0) < 0 || (n = recv(fd, buf, BUF_SIZE, 0)) < 0) {
		perror("family");
		exit(2);
	}
	for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
		struct nlattr *a = (struct nlattr *)((unsigned char *)NLMSG_DATA(h) + GENL_HDRLEN);
		int left = (int)h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;

		if (h->nlmsg_type != GENL_ID_CTRL)
			break;
		while (left >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= left) {
			if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID)
				return *(uint16_t *)((unsigned char *)a + NLA_HDRLEN);
			left -= NLA_ALIGN(a->nla_len);
			a = (struct nlattr *)((unsigned char *)a + NLA_ALIGN(a->nla_len));
		}
	}
	fprintf(stderr, "family IPVS not found (module not loaded?)\n");
	exit(2);
}

struct answer {
	int err;	/* the ack's error (0 or -errno); INT32_MIN: none */
	int done;	/* NLMSG_DONE's status; INT32_MIN: none */
	unsigned int replies;
};

/* What recv() returned and was not consumed yet: a batch's answers come back together. */
static ssize_t rx_len;
static size_t rx_pos;

/* Reads until the answer to SEQ is complete; 0, or -1 on a timeout or a socket error. */
static int read_answer(int fd, unsigned char *buf, uint32_t seq, struct answer *a)
{
	a->err = a->done = INT32_MIN;
	a->replies = 0;
	for (;;) {
		while (rx_pos < (size_t)rx_len) {
			struct nlmsghdr *h = (struct nlmsghdr *)(buf + rx_pos);
			size_t left = (size_t)rx_len - rx_pos;

			if (left < NLMSG_HDRLEN || h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > left) {
				rx_pos = (size_t)rx_len;	/* cannot happen: the kernel frames them */
				break;
			}
			rx_pos += NLMSG_ALIGN(h->nlmsg_len);
			if (h->nlmsg_seq != seq)
				continue;	/* a late part of an earlier answer */
			if (h->nlmsg_type == NLMSG_ERROR) {
				a->err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				return 0;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				a->done = h->nlmsg_len >= NLMSG_HDRLEN + sizeof(int)
					? *(int *)NLMSG_DATA(h) : 0;
				return 0;
			}
			a->replies++;
		}
		rx_pos = 0;
		rx_len = recv(fd, buf, BUF_SIZE, 0);
		if (rx_len < 0) {
			int e = errno;

			rx_len = 0;
			if (e == EINTR)
				continue;
			fprintf(stderr, "seq %u: recv: %s\n", seq, strerror(e));
			return -1;
		}
	}
}

static const char *errname(int e)
{
	static char other[16];

	switch (-e) {
	case 0: return "ok";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case E2BIG: return "E2BIG";
	case ENOMEM: return "ENOMEM";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ERANGE: return "ERANGE";
	case EMSGSIZE: return "EMSGSIZE";
	case ENOPROTOOPT: return "ENOPROTOOPT";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case ENOBUFS: return "ENOBUFS";
	default:
		snprintf(other, sizeof(other), "E%d", -e);
		return other;
	}
}

/* Requests are sent in batches (one sendmsg, several netlink messages: the kernel handles
 * them one after the other, as if sent alone) to save system calls under emulation. A dump
 * always goes alone: a second dump started while one is running gets EBUSY. */
struct batch {
	unsigned char buf[BATCH_MAX * (MAX_REQ + NLMSG_ALIGNTO)];
	size_t len;
	unsigned int n;
	uint8_t cmd[BATCH_MAX];
	int dump[BATCH_MAX];
};

int main(int argc, char **argv)
{
	static struct req r;
	static struct batch b;
	unsigned char *buf;
	unsigned long long count, i = 0, next = 0;
	unsigned long long acked = 0, dumps = 0, timeouts = 0, by_errno[256] = { 0 };
	unsigned int batch_max = BATCH_MAX;
	/* with --times: nanoseconds spent per command (batches of one), to find slow paths */
	static unsigned long long ns_by_cmd[256], n_by_cmd[256];
	int times = 0;
	/* with --show N: print request N (counting from 0) in hex, send nothing */
	unsigned long long show = 0;
	struct timespec t0, t1;
	uint16_t family;
	int fd, log = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: genl_fuzz SEED COUNT [--log] [--batch N]\n");
		return 2;
	}
	rng_state = strtoull(argv[1], NULL, 0) * 0x9E3779B97F4A7C15ULL + 1;
	count = strtoull(argv[2], NULL, 0);
	for (int k = 3; k < argc; k++) {
		if (!strcmp(argv[k], "--log"))
			log = 1;
		else if (!strcmp(argv[k], "--show") && k + 1 < argc)
			show = strtoull(argv[++k], NULL, 0) + 1;
		else if (!strcmp(argv[k], "--supported-only"))
			supported_only = 1;
		else if (!strcmp(argv[k], "--ipv6"))
			ipv6_supported = 1;
		else if (!strcmp(argv[k], "--mixed-af"))
			mixed_af_supported = 1;
		else if (!strcmp(argv[k], "--times"))
			times = 1;
		else if (!strcmp(argv[k], "--batch") && k + 1 < argc)
			batch_max = (unsigned int)atoi(argv[++k]);
	}
	if (batch_max < 1 || batch_max > BATCH_MAX || times)
		batch_max = times ? 1 : BATCH_MAX;
	buf = malloc(BUF_SIZE);
	if (!buf)
		return 2;
	if (show) {
		for (i = 0; i < show; i++) {
			uint8_t cmd;
			int dump;

			build(&r, 0, (uint32_t)(i + 1), &cmd, &dump);
		}
		for (size_t k = NLMSG_HDRLEN; k < r.len; k++)
			printf("%02x%s", r.buf[k], (k - NLMSG_HDRLEN) % 4 == 3 ? " " : "");
		printf("\n");
		return 0;
	}
	fd = nl_open();
	family = resolve_family(fd, buf);

	while (i < count) {
		/* fill a batch: requests next.., stopping before a dump that is not first */
		b.len = 0;
		b.n = 0;
		while (next < count && b.n < batch_max) {
			uint8_t cmd;
			int dump;
			size_t len;

			if (!r.len) {	/* not built yet (or sent): build request number next */
				len = build(&r, family, (uint32_t)(next + 1), &cmd, &dump);
				r.cmd = cmd;
				r.dump = dump;
			}
			len = r.len;
			if (r.dump && b.n)
				break;
			memcpy(b.buf + b.len, r.buf, len);
			memset(b.buf + b.len + len, 0, NLMSG_ALIGN(len) - len);
			b.len += NLMSG_ALIGN(len);
			b.cmd[b.n] = r.cmd;
			b.dump[b.n] = r.dump;
			b.n++;
			next++;
			r.len = 0;
			if (b.dump[b.n - 1])
				break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (send(fd, b.buf, b.len, 0) < 0) {
			fprintf(stderr, "request %llu: send: %s\n", i, strerror(errno));
			return 2;
		}
		for (unsigned int k = 0; k < b.n; k++, i++) {
			uint32_t seq = (uint32_t)(i + 1);
			struct answer a;

			if (read_answer(fd, buf, seq, &a) < 0) {
				timeouts++;
				if (log)
					printf("%llu cmd=%u dump=%d timeout\n", i, b.cmd[k], b.dump[k]);
				/* a fresh socket, so that a late answer cannot pass for a later one's */
				close(fd);
				fd = nl_open();
				rx_len = 0;
				rx_pos = 0;
				timeouts += b.n - k - 1;
				i += b.n - k;
				break;
			}
			if (times) {
				clock_gettime(CLOCK_MONOTONIC, &t1);
				ns_by_cmd[b.cmd[k]] += (unsigned long long)((t1.tv_sec - t0.tv_sec) * 1000000000LL +
									    (t1.tv_nsec - t0.tv_nsec));
				n_by_cmd[b.cmd[k]]++;
			}
			if (a.err != INT32_MIN) {
				acked++;
				by_errno[-a.err & 0xff]++;
			} else {
				dumps++;
			}
			if (log)
				printf("%llu cmd=%u dump=%d err=%s replies=%u done=%s\n", i, b.cmd[k], b.dump[k],
				       a.err == INT32_MIN ? "-" : errname(a.err), a.replies,
				       a.done == INT32_MIN ? "-" : errname(a.done));
		}
	}
	printf("requests=%llu acked=%llu dumps=%llu timeouts=%llu ", count, acked, dumps, timeouts);
	if (supported_only)
		printf("rewritten=%llu ", supported_rewrites);
	printf("errnos=");
	for (int e = 0; e < 256; e++)
		if (by_errno[e])
			printf("%s:%llu,", errname(-e), by_errno[e]);
	printf("\n");
	for (int c = 0; times && c <= IPVS_CMD_MAX + 1; c++)
		if (n_by_cmd[c])
			printf("cmd %d: %llu requests, %llu us each\n", c, n_by_cmd[c],
			       ns_by_cmd[c] / n_by_cmd[c] / 1000);
	return timeouts ? 1 : 0;
}
