// SPDX-License-Identifier: GPL-2.0
/*
 * udp_flood: 64-byte UDP packets from a fixed set of flows, from a process, for profiling
 * with `make bench` (BENCH_PERF=1). pktgen is the better generator, but perf cannot sample
 * its kernel thread in the TCG guest; packets sent from a process are handled, through the
 * director and the real server, in that process's context, where perf sees them.
 *
 *   udp_flood DST_ADDR DST_PORT SECONDS SRC_ADDR SRC_PORT FLOWS
 *
 * Flow i is SRC_ADDR:SRC_PORT+i -> DST_ADDR:DST_PORT. Prints "sent N seconds S".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FLOWS 4096
#define BATCH 16

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_in dst = { .sin_family = AF_INET }, src = { .sin_family = AF_INET };
	static int fds[MAX_FLOWS];
	char payload[18] = { 0 }; /* 14 + 20 + 8 + 18 = 60 bytes on the wire, 64 with the FCS */
	struct mmsghdr msgs[BATCH];
	struct iovec iov = { .iov_base = payload, .iov_len = sizeof(payload) };
	double seconds, start, end;
	long sent = 0;
	int flows, i;

	if (argc != 7)
		return fprintf(stderr, "usage: udp_flood DST PORT SECONDS SRC SRC_PORT FLOWS\n"), 2;
	if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || inet_pton(AF_INET, argv[4], &src.sin_addr) != 1)
		return fprintf(stderr, "udp_flood: bad address\n"), 2;
	dst.sin_port = htons(atoi(argv[2]));
	seconds = atof(argv[3]);
	flows = atoi(argv[6]);
	if (seconds <= 0 || flows < 1 || flows > MAX_FLOWS)
		return fprintf(stderr, "udp_flood: bad SECONDS or FLOWS\n"), 2;
	for (i = 0; i < flows; i++) {
		src.sin_port = htons(atoi(argv[5]) + i);
		fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&src, sizeof(src)))
			return perror("udp_flood"), 1;
	}
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_name = &dst;
		msgs[i].msg_hdr.msg_namelen = sizeof(dst);
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	start = now_seconds();
	end = start + seconds;
	for (i = 0; now_seconds() < end; i = (i + 1) % flows) {
		int n = sendmmsg(fds[i], msgs, BATCH, 0);

		if (n > 0)
			sent += n;
	}
	printf("sent %ld seconds %.3f\n", sent, now_seconds() - start);
	return sent > 0 ? 0 : 1;
}
