#!/usr/bin/python3
"""A DNS client for the filtered DNS tests, run inside a VM namespace.

  dns_probe.py query SERVER NAME [--type T] [--tcp] [--edns] [--question]
      prints "rcode=N tc=0|1 a=ADDR,ADDR other=TYPE,TYPE", and " question=NAME" (the answer's
      question, letter case as received) with --question
  dns_probe.py resolve-connect SERVER PATTERN COUNT PORT
      resolves PATTERN.format(i) for i in 0..COUNT-1 and opens a TCP connection to the first
      address at once; prints "resolved=N connected=N failed=N" and the first failures
  dns_probe.py paired-latency SERVER_A SERVER_B PATTERN COUNT
      asks SERVER_A, then SERVER_B, for PATTERN.format(i), i in 0..COUNT-1, over UDP; prints
      one line per name: "MS_A MS_B" (milliseconds, client-side)
  dns_probe.py burst SERVER PATTERN COUNT
      sends COUNT UDP queries for PATTERN.format(i) at once, collects answers for 3 s; prints
      "rcode=N count" lines ("none" for queries without an answer)
  dns_probe.py tcp-limits SERVER COUNT WAIT_MS
      opens COUNT TCP connections to SERVER:53, sends nothing, waits WAIT_MS and prints
      "open=N closed=N" (closed: the server ended the connection)
  dns_probe.py refused SERVER DOMAIN COUNT
      COUNT random names under DOMAIN, types TXT/NULL/ANY/A/AAAA, mixed case, some with a
      trailing dot, some with EDNS, every other one over TCP; prints "rcode=N count" lines
  dns_probe.py exfil SERVER DOMAIN COUNT
      what a VM that carries data out in names tries: COUNT names under DOMAIN, each a distinct
      first label of 63 random letters and digits in random letter case, their types in turn
      A, AAAA, TXT, NULL, ANY, MX, over UDP; prints "TYPE rcode=N count" lines
"""
import random
import socket
import struct
import sys
import time

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "NULL": 10, "MX": 15, "TXT": 16, "AAAA": 28, "ANY": 255}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def build(name, qtype, edns):
    qid = random.randrange(65536)
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    message = header + encode_name(name) + struct.pack("!HH", qtype, 1)
    if edns:
        message += b"\0" + struct.pack("!HHIH", 41, 4096, 0, 0)
    return qid, message


def skip_name(message, at):
    while True:
        length = message[at]
        if length & 0xC0 == 0xC0:
            return at + 2
        if length == 0:
            return at + 1
        at += 1 + length


def question_name(message):
    if struct.unpack("!H", message[4:6])[0] == 0:
        return ""
    labels, at = [], 12
    while message[at]:
        labels.append(message[at + 1:at + 1 + message[at]].decode())
        at += 1 + message[at]
    return ".".join(labels)


def parse(message):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", message[:12])
    at = 12
    for _ in range(qd):
        at = skip_name(message, at) + 4
    addresses, others = [], []
    for _ in range(an):
        at = skip_name(message, at)
        rtype, _, _, length = struct.unpack("!HHIH", message[at:at + 10])
        at += 10
        if rtype == 1:
            addresses.append(socket.inet_ntoa(message[at:at + 4]))
        else:
            others.append(str(rtype))
        at += length
    return qid, flags & 0xF, bool(flags & 0x200), addresses, others


def ask(server, name, qtype, tcp=False, edns=False, timeout=3.0):
    qid, message = build(name, qtype, edns)
    if tcp:
        with socket.create_connection((server, 53), timeout=timeout) as conn:
            conn.sendall(struct.pack("!H", len(message)) + message)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
                chunk = conn.recv(65536)
                if not chunk:
                    raise OSError("connection closed")
                data += chunk
            answer = data[2:]
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(message, (server, 53))
            answer, _ = sock.recvfrom(65536)
    parsed = parse(answer)
    if parsed[0] != qid:
        raise OSError("answer with another id")
    return parsed[1:] + (question_name(answer),)


def main(argv):
    mode = argv[1]
    if mode == "query":
        server, name = argv[2], argv[3]
        qtype = TYPES[argv[argv.index("--type") + 1]] if "--type" in argv else 1
        try:
            rcode, tc, addresses, others, question = ask(server, name, qtype, "--tcp" in argv,
                                                         "--edns" in argv)
        except OSError as error:
            print(f"no answer: {error}")
            return 1
        line = f"rcode={rcode} tc={int(tc)} a={','.join(addresses)} other={','.join(others)}"
        if "--question" in argv:
            line += f" question={question}"
        print(line)
    elif mode == "resolve-connect":
        server, pattern, count, port = argv[2], argv[3], int(argv[4]), int(argv[5])
        resolved = connected = 0
        failures = []
        for i in range(count):
            name = pattern.format(i)
            try:
                rcode, _, addresses, _, _ = ask(server, name, 1)
            except OSError as error:
                failures.append(f"{name}: no answer: {error}")
                continue
            if rcode != 0 or not addresses:
                failures.append(f"{name}: rcode {rcode}, addresses {addresses}")
                continue
            resolved += 1
            try:
                with socket.create_connection((addresses[0], port), timeout=2):
                    connected += 1
            except OSError as error:
                failures.append(f"{name} -> {addresses[0]}:{port}: {error}")
        print(f"resolved={resolved} connected={connected} failed={len(failures)}")
        for failure in failures[:5]:
            print(failure)
    elif mode == "paired-latency":
        first, second, pattern, count = argv[2], argv[3], argv[4], int(argv[5])
        for i in range(count):
            name = pattern.format(i)
            times = []
            for server in (first, second):
                started = time.perf_counter()
                rcode = ask(server, name, 1)[0]
                times.append((time.perf_counter() - started) * 1000)
                if rcode != 0:
                    print(f"{name} from {server}: rcode {rcode}", file=sys.stderr)
                    return 1
            print(f"{times[0]:.4f} {times[1]:.4f}")
    elif mode == "burst":
        server, pattern, count = argv[2], argv[3], int(argv[4])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            waiting = {}
            for i in range(count):
                qid, message = build(pattern.format(i), 1, False)
                waiting[qid] = True
                sock.sendto(message, (server, 53))
            rcodes = {}
            deadline = time.monotonic() + 3
            while waiting and time.monotonic() < deadline:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    answer, _ = sock.recvfrom(65536)
                except OSError:
                    break
                qid, rcode = parse(answer)[:2]
                if waiting.pop(qid, None):
                    rcodes[rcode] = rcodes.get(rcode, 0) + 1
            if waiting:
                rcodes["none"] = len(waiting)
        for rcode, n in sorted(rcodes.items(), key=str):
            print(f"rcode={rcode} {n}")
    elif mode == "tcp-limits":
        server, count, wait_ms = argv[2], int(argv[3]), int(argv[4])
        connections = [socket.create_connection((server, 53), timeout=2) for _ in range(count)]
        time.sleep(wait_ms / 1000)
        closed = 0
        for conn in connections:
            conn.setblocking(False)
            try:
                closed += conn.recv(1, socket.MSG_PEEK) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
            conn.close()
        print(f"open={count - closed} closed={closed}")
    elif mode == "refused":
        server, domain, count = argv[2], argv[3], int(argv[4])
        rcodes = {}
        kinds = ["TXT", "NULL", "ANY", "A", "AAAA"]
        for i in range(count):
            label = "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                            for _ in range(random.randrange(1, 40)))
            name = f"{label}.{domain}"
            name = "".join(c.upper() if random.random() < 0.5 else c for c in name)
            if i % 3 == 0:
                name += "."
            try:
                rcode = ask(server, name, TYPES[kinds[i % len(kinds)]], tcp=i % 2 == 1,
                            edns=i % 4 < 2)[0]
            except OSError:
                rcode = "none"
            rcodes[rcode] = rcodes.get(rcode, 0) + 1
        for rcode, n in sorted(rcodes.items(), key=str):
            print(f"rcode={rcode} {n}")
    elif mode == "exfil":
        server, domain, count = argv[2], argv[3], int(argv[4])
        kinds = ["A", "AAAA", "TXT", "NULL", "ANY", "MX"]
        outcomes = {}
        for i in range(count):
            label = "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                            for _ in range(63))
            name = "".join(c.upper() if random.random() < 0.5 else c for c in label)
            kind = kinds[i % len(kinds)]
            try:
                rcode = ask(server, f"{name}.{domain}", TYPES[kind])[0]
            except OSError:
                rcode = "none"
            outcomes[(kind, rcode)] = outcomes.get((kind, rcode), 0) + 1
        for (kind, rcode), n in sorted(outcomes.items(), key=str):
            print(f"{kind} rcode={rcode} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
