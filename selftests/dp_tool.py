#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Traffic for the datapath selftests (stdlib only, bounded in time).

  dp_tool.py serve NAME LOG PORT...  TCP and UDP servers on each PORT: answer each connection
                                     or datagram with NAME, append "proto bytes" lines to LOG
  dp_tool.py tcp ADDR PORT N SIZE    N sequential TCP connections, each sends SIZE bytes and
                                     prints the answer (the real server's name)
  dp_tool.py udp ADDR PORT N SIZE [SPORT]
                                     N datagrams, each from a new socket (a new connection),
                                     or all from source port SPORT; prints each answer
"""
import os
import socket
import sys
import threading


def serve(name, log, ports):
    lock = threading.Lock()

    def record(proto, n):
        with lock, open(log, "a") as f:
            f.write(f"{proto} {n}\n")

    def tcp_loop(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(64)
        while True:
            c, _ = s.accept()
            c.settimeout(5)
            total = 0
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    total += len(d)
                    if b"\n" in d:
                        break
                c.sendall(name.encode() + b"\n")
            except OSError:
                pass
            finally:
                c.close()
                record("tcp", total)

    def udp_loop(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        while True:
            d, peer = s.recvfrom(65536)
            record("udp", len(d))
            s.sendto(name.encode() + b"\n", peer)

    for port in ports:
        threading.Thread(target=udp_loop, args=(port,), daemon=True).start()
        threading.Thread(target=tcp_loop, args=(port,), daemon=True).start()
    threading.Event().wait()


def tcp(addr, port, n, size):
    for _ in range(n):
        try:
            c = socket.create_connection((addr, port), timeout=5)
            c.sendall(b"x" * (size - 1) + b"\n")
            c.shutdown(socket.SHUT_WR)
            ans = c.recv(100).decode().strip() or "EMPTY"
            c.close()
        except OSError as e:
            ans = f"ERROR:{type(e).__name__}"
        print(ans, flush=True)


def udp(addr, port, n, size, sport=None, wait=2.0):
    fixed = None
    if sport is not None:
        fixed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fixed.bind(("0.0.0.0", sport))
        fixed.settimeout(wait)
    for _ in range(n):
        s = fixed or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(wait)
        try:
            s.sendto(b"u" * size, (addr, port))
            ans = s.recv(100).decode().strip()
        except OSError as e:
            ans = f"ERROR:{type(e).__name__}"
        if fixed is None:
            s.close()
        print(ans, flush=True)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        serve(args[0], args[1], [int(p) for p in args[2:]])
    elif cmd == "tcp":
        tcp(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "udp":
        sport = int(args[4]) if len(args) > 4 else None
        udp(args[0], int(args[1]), int(args[2]), int(args[3]), sport, 1.0 if sport else 2.0)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
