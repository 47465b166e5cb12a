#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Traffic for t_failover_diff.sh: long-lived flows whose every byte is accounted for.

  sink PORT DIR          TCP server: for each connection, reads until EOF, checking that the
                         stream is the pattern `stream` sends; keeps DIR/sink.PORT (bytes so
                         far, rewritten every 8 KiB); at EOF answers "OK <bytes> <valid>\\n".
  echo PORT              UDP server: sends every datagram back.
  stream VIP PORT CPORT DIR
                         TCP client from port CPORT: sends the pattern at about 50 KiB/s until
                         DIR/stop exists, then shuts its side down and reads the answer. Prints
                         one line: whether the connection was reset, and whether the server got
                         every byte sent, in order.
  udp VIP PORT CPORT DIR UDP client from port CPORT: a numbered datagram every 50 ms until
                         DIR/stop exists; counts the echoes, and those received after
                         DIR/failed-over appeared. Prints one line.

Lines printed carry no counts that depend on timing: they are compared between stock and
ipvs_rs.
"""
import os
import socket
import sys
import time

CHUNK = 1000
PERIOD = 0.02


def pattern(offset, n):
    """The stream's bytes [offset, offset + n): a counter mod 251, which no shift repeats."""
    return bytes((offset + i) % 251 for i in range(n))


def sink(port, d):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(8)
    progress = os.path.join(d, "sink.%d" % port)
    while True:
        c, _ = srv.accept()
        total, valid, reported = 0, True, 0
        while True:
            try:
                b = c.recv(65536)
            except OSError:
                valid = False
                break
            if not b:
                break
            if valid and b != pattern(total, len(b)):
                valid = False
            total += len(b)
            if total - reported >= 8192:
                reported = total
                with open(progress + ".tmp", "w") as f:
                    f.write("%d\n" % total)
                os.replace(progress + ".tmp", progress)
        try:
            c.sendall(b"OK %d %s\n" % (total, b"valid" if valid else b"corrupt"))
            c.close()
        except OSError:
            pass


def echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        b, peer = s.recvfrom(2048)
        s.sendto(b, peer)


def stream(vip, port, cport, d):
    stop = os.path.join(d, "stop")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", cport))
    sent, error = 0, None
    try:
        s.settimeout(30)
        s.connect((vip, port))
        s.settimeout(None)
        while not os.path.exists(stop):
            s.sendall(pattern(sent, CHUNK))
            sent += CHUNK
            time.sleep(PERIOD)
        s.shutdown(socket.SHUT_WR)
        # The answer comes once every byte is in: the failover's retransmissions included.
        s.settimeout(120)
        answer = b""
        while not answer.endswith(b"\n"):
            b = s.recv(100)
            if not b:
                break
            answer += b
    except OSError as e:
        error, answer = e.__class__.__name__, b""
    words = answer.split()
    got = words[1:3] == [b"%d" % sent, b"valid"] if len(words) == 3 else False
    print("tcp %d: %s, every byte sent arrived in order: %s" % (
        port, "error " + error if error else "no reset", "yes" if got else "no"))


def udp(vip, port, cport, d):
    stop, failed_over = os.path.join(d, "stop"), os.path.join(d, "failed-over")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", cport))
    s.connect((vip, port))
    s.setblocking(False)
    seq, echoes, after = 0, 0, 0
    while not os.path.exists(stop):
        try:
            s.send(b"%d" % seq)
        except OSError:
            pass
        seq += 1
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline:
            try:
                s.recv(2048)
            except BlockingIOError:
                time.sleep(0.005)
                continue
            except OSError:
                continue
            echoes += 1
            if os.path.exists(failed_over):
                after += 1
    print("udp %d: echoes before the end: %s, after the failover: %s" % (
        port, "yes" if echoes else "no", "yes" if after else "no"))


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "sink":
        sink(int(argv[2]), argv[3])
    elif cmd == "echo":
        echo(int(argv[2]))
    elif cmd == "stream":
        stream(argv[2], int(argv[3]), int(argv[4]), argv[5])
    elif cmd == "udp":
        udp(argv[2], int(argv[3]), int(argv[4]), argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
