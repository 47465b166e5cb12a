// SPDX-License-Identifier: GPL-2.0
/*
 * tcp_cc: TCP connection setup and teardown rate, for `make bench`.
 *
 *   tcp_cc server PORT
 *       Accepts connections on PORT and closes each at once (the server sends the first FIN,
 *       so TIME_WAIT stays on the server and the client's ports are free again at once).
 *   tcp_cc client ADDR PORT SECONDS CONCURRENCY SRC_ADDR...
 *       Keeps CONCURRENCY connections to ADDR:PORT in flight for SECONDS, each one a full
 *       cycle: connect, wait for the server's FIN, close. Source addresses rotate over
 *       SRC_ADDR... (more 4-tuples before a port comes round again). Counts the cycles
 *       completed within SECONDS and prints one line: "cycles N errors N seconds S rate R".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_SOURCES 64
#define MAX_CONCURRENCY 1024

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_addr(const char *text, struct in_addr *out)
{
	if (inet_pton(AF_INET, text, out) != 1) {
		fprintf(stderr, "tcp_cc: bad IPv4 address '%s'\n", text);
		return -1;
	}
	return 0;
}

static int server(int port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 4096)) {
		perror("tcp_cc server");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int c = accept4(fd, NULL, NULL, 0);

		if (c >= 0)
			close(c);
		else if (errno != EINTR && errno != ECONNABORTED)
			return perror("accept"), 1;
	}
}

struct client {
	int epfd;
	struct sockaddr_in dst;
	struct in_addr src[MAX_SOURCES];
	int nsrc, next_src;
	long cycles, errors;
};

/* Starts one connection; its fd is registered for "connected" (EPOLLOUT). */
static int start_one(struct client *c)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLOUT };
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	src.sin_addr = c->src[c->next_src];
	c->next_src = (c->next_src + 1) % c->nsrc;
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) ||
	    (connect(fd, (struct sockaddr *)&c->dst, sizeof(c->dst)) && errno != EINPROGRESS)) {
		close(fd);
		c->errors++;
		return 0;
	}
	ev.data.fd = fd;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		return -1;
	}
	return 1;
}

/* One event of connection `fd`: connected (wait for the FIN next) or the FIN (done). */
static void on_event(struct client *c, int fd, unsigned int events, int *in_flight)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
	int err = 0;
	socklen_t len = sizeof(err);
	char buf[64];

	if (events & EPOLLOUT) {
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err == 0 && !epoll_ctl(c->epfd, EPOLL_CTL_MOD, fd, &ev))
			return;
		c->errors++;
	} else if (read(fd, buf, sizeof(buf)) == 0) {
		c->cycles++;
	} else if (errno != EAGAIN) {
		c->errors++;
	} else {
		return;
	}
	close(fd);
	(*in_flight)--;
}

static int client(int argc, char **argv)
{
	struct client c = { .dst = { .sin_family = AF_INET } };
	struct epoll_event events[64];
	double seconds, start, end;
	int concurrency, in_flight = 0, i;

	if (argc < 7)
		return fprintf(stderr, "usage: tcp_cc client ADDR PORT SECONDS CONCURRENCY SRC...\n"), 2;
	if (parse_addr(argv[2], &c.dst.sin_addr))
		return 2;
	c.dst.sin_port = htons(atoi(argv[3]));
	seconds = atof(argv[4]);
	concurrency = atoi(argv[5]);
	if (seconds <= 0 || concurrency < 1 || concurrency > MAX_CONCURRENCY)
		return fprintf(stderr, "tcp_cc: bad SECONDS or CONCURRENCY\n"), 2;
	for (i = 6; i < argc && c.nsrc < MAX_SOURCES; i++)
		if (parse_addr(argv[i], &c.src[c.nsrc++]))
			return 2;
	c.epfd = epoll_create1(0);
	if (c.epfd < 0)
		return perror("epoll_create1"), 1;

	start = now_seconds();
	end = start + seconds;
	for (;;) {
		double t = now_seconds();
		int n;

		/* Cycles still in flight at the end are not counted. */
		if (t >= end)
			break;
		while (in_flight < concurrency) {
			int r = start_one(&c);

			if (r < 0)
				return perror("tcp_cc client"), 1;
			in_flight += r;
			if (r == 0)
				break;
		}
		n = epoll_wait(c.epfd, events, 64, 50);
		if (n < 0 && errno != EINTR)
			return perror("epoll_wait"), 1;
		for (i = 0; i < n; i++)
			on_event(&c, events[i].data.fd, events[i].events, &in_flight);
	}
	seconds = now_seconds() - start;
	printf("cycles %ld errors %ld seconds %.3f rate %.1f\n", c.cycles, c.errors, seconds,
	       c.cycles / seconds);
	return c.cycles > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "server"))
		return server(atoi(argv[2]));
	if (argc >= 2 && !strcmp(argv[1], "client"))
		return client(argc, argv);
	fprintf(stderr, "usage: tcp_cc server PORT | tcp_cc client ADDR PORT SECONDS CONCURRENCY SRC...\n");
	return 2;
}
