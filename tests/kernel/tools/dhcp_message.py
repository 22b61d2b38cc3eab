#!/usr/bin/env python3
"""Crafted DHCP client messages, as a hostile VM would send them, for the DHCP abuse tests.

  dhcp_message.py IFNAME TYPE SRC_MAC SRC_IP DST_IP [FIELD=VALUE ...]
      Sends one DHCP message of TYPE (discover, request, decline, release, inform) from
      SRC_MAC/SRC_IP:68 to DST_IP:67 in a broadcast Ethernet frame on IFNAME. FIELDs: ciaddr,
      giaddr, chaddr (default SRC_MAC), requested (option 50), server (option 54), clientid
      (option 61, type 1 and this MAC), xid (hex). Every message carries
      "NETDMARK:" + xid in its sname field, so that a reply echoing it can be recognised.
"""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from frames import BROADCAST, ipv4_udp, mac_bytes  # noqa: E402

TYPES = {"discover": 1, "request": 3, "decline": 4, "release": 7, "inform": 8}


def message(kind, src_mac, fields):
    chaddr = mac_bytes(fields.get("chaddr", src_mac))
    xid = int(fields.get("xid", "5e5e5e5e"), 16)
    sname = (b"NETDMARK:" + fields.get("xid", "5e5e5e5e").encode()).ljust(64, b"\0")
    header = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0,
                         socket.inet_aton(fields.get("ciaddr", "0.0.0.0")),
                         socket.inet_aton("0.0.0.0"), socket.inet_aton("0.0.0.0"),
                         socket.inet_aton(fields.get("giaddr", "0.0.0.0")),
                         chaddr.ljust(16, b"\0"), sname, b"\0" * 128)
    options = b"\x63\x82\x53\x63" + bytes([53, 1, TYPES[kind]])
    if "requested" in fields:
        options += bytes([50, 4]) + socket.inet_aton(fields["requested"])
    if "server" in fields:
        options += bytes([54, 4]) + socket.inet_aton(fields["server"])
    if "clientid" in fields:
        options += bytes([61, 7, 1]) + mac_bytes(fields["clientid"])
    return header + options + b"\xff"


def main():
    if len(sys.argv) < 6 or sys.argv[2] not in TYPES:
        raise SystemExit(__doc__)
    _, ifname, kind, src_mac, src_ip, dst_ip = sys.argv[:6]
    fields = dict(argument.split("=", 1) for argument in sys.argv[6:])
    payload = message(kind, src_mac, fields)
    frame = BROADCAST + mac_bytes(src_mac) + b"\x08\x00" + ipv4_udp(src_ip, dst_ip, 68, 67, payload)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((ifname, 0))
        sock.send(frame)


if __name__ == "__main__":
    main()
