#!/usr/bin/env python3
"""A UDP flood and its receiver, for the fail-closed tests: what reaches the receiver is judged
there, never at the sender.

  udp_flood.py send DEST PORT RATE
      Sends numbered datagrams to DEST:PORT at RATE per second until killed; send errors (a
      route that drops them) are ignored.
  udp_flood.py receive PORT [PORT...]
      Prints "ready", then "PORT BYTES" for every datagram received on any of the ports, one
      per line, flushed, until killed.
"""
import select
import socket
import sys
import time


def send(dest, port, rate):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    interval = 1.0 / rate
    sequence = 0
    next_at = time.monotonic()
    while True:
        try:
            sock.sendto(f"{sequence}\n".encode(), (dest, port))
        except OSError:
            pass
        sequence += 1
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def receive(ports):
    sockets = {}
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        sockets[sock] = port
    print("ready", flush=True)
    while True:
        readable, _, _ = select.select(list(sockets), [], [])
        for sock in readable:
            data, _ = sock.recvfrom(2048)
            print(f"{sockets[sock]} {len(data)}", flush=True)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "receive":
        receive([int(port) for port in sys.argv[2:]])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
