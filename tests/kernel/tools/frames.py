#!/usr/bin/env python3
"""Raw Ethernet frames for port-security tests: send crafted frames from a VM's interface, and
listen on another interface for the frames that made it through.

  frames.py send IFNAME KIND SRC_MAC SRC_IP MARKER [DST_MAC DST_IP]
      KIND: ipv4 (UDP to 255.255.255.255), arp (gratuitous ARP for SRC_IP), dhcp-offer (UDP
      67->68, as a DHCP server answers), dhcp-offer-sport (UDP 40000->68, a server answer from
      another port), tagged (ipv4 inside an 802.1Q tag of VLAN 1082), tagged-secure (ipv4
      inside a tag of the secure VLAN 1081, as a host puts it on its uplink), arp-other-sha (ARP whose
      sender MAC is not the frame's), dhcp-discover (UDP 68->67 from 0.0.0.0; SRC_IP unused),
      ipv6 (UDP to ff02::1), rarp (the announce QEMU sends after a live migration; SRC_IP
      unused), other (ethertype 0x88b5). Every frame is broadcast and carries
      "NETDMARK:" + MARKER, in its payload or after the ARP body. With DST_MAC and DST_IP, ipv4
      is UDP to DST_IP in a frame to DST_MAC (tagged-secure likewise), and arp a request for
      DST_IP in a frame to DST_MAC.
  frames.py listen IFNAME
      Prints "ready", then the marker of every marked frame received, one per line, until killed.
"""
import socket
import struct
import sys

ETH_P_ALL = 0x0003
BROADCAST = b"\xff" * 6


def mac_bytes(text):
    return bytes(int(part, 16) for part in text.split(":"))


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_udp(src_ip, dst_ip, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + udp


def frame(kind, src_mac, src_ip, marker, dst_mac=None, dst_ip=None):
    mac = mac_bytes(src_mac)
    payload = b"NETDMARK:" + marker.encode() + b"\n"
    if kind == "ipv4" and dst_mac:
        return mac_bytes(dst_mac) + mac + b"\x08\x00" + ipv4_udp(src_ip, dst_ip, 40000, 9, payload)
    if kind == "arp" and dst_mac:
        body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, socket.inet_aton(src_ip),
                           b"\0" * 6, socket.inet_aton(dst_ip))
        return mac_bytes(dst_mac) + mac + b"\x08\x06" + body + payload
    if kind == "ipv4":
        return BROADCAST + mac + b"\x08\x00" + ipv4_udp(src_ip, "255.255.255.255", 40000, 9, payload)
    if kind == "dhcp-offer":
        return BROADCAST + mac + b"\x08\x00" + ipv4_udp(src_ip, "255.255.255.255", 67, 68, payload)
    if kind == "dhcp-offer-sport":
        return BROADCAST + mac + b"\x08\x00" + ipv4_udp(src_ip, "255.255.255.255", 40000, 68, payload)
    if kind == "tagged-secure":
        return ((mac_bytes(dst_mac) if dst_mac else BROADCAST) + mac + b"\x81\x00" +
                struct.pack("!H", 1081) + b"\x08\x00" +
                ipv4_udp(src_ip, dst_ip or "255.255.255.255", 40000, 9, payload))
    if kind == "tagged":
        return (BROADCAST + mac + b"\x81\x00" + struct.pack("!H", 1082) + b"\x08\x00" +
                ipv4_udp(src_ip, "255.255.255.255", 40000, 9, payload))
    if kind == "arp-other-sha":
        ip = socket.inet_aton(src_ip)
        other = mac_bytes("02:00:00:00:00:63")
        body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, other, ip, b"\0" * 6, ip)
        return BROADCAST + mac + b"\x08\x06" + body + payload
    if kind == "dhcp-discover":
        return BROADCAST + mac + b"\x08\x00" + ipv4_udp("0.0.0.0", "255.255.255.255", 68, 67, payload)
    if kind == "arp":
        ip = socket.inet_aton(src_ip)
        body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, b"\0" * 6, ip)
        return BROADCAST + mac + b"\x08\x06" + body + payload
    if kind == "ipv6":
        udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
        header = struct.pack("!IHBB16s16s", 6 << 28, len(udp), 17, 64,
                             socket.inet_pton(socket.AF_INET6, "fe80::1"),
                             socket.inet_pton(socket.AF_INET6, "ff02::1"))
        return b"\x33\x33\x00\x00\x00\x01" + mac + b"\x86\xdd" + header + udp
    if kind == "rarp":
        # The announce QEMU broadcasts after a live migration: a reverse request for its own MAC.
        body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 3, mac, b"\0" * 4, mac, b"\0" * 4)
        return BROADCAST + mac + b"\x80\x35" + body + payload
    if kind == "other":
        return BROADCAST + mac + b"\x88\xb5" + payload
    raise SystemExit(f"unknown frame kind {kind}")


def main():
    if len(sys.argv) in (7, 9) and sys.argv[1] == "send":
        ifname, kind, src_mac, src_ip, marker = sys.argv[2:7]
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind((ifname, 0))
            sock.send(frame(kind, src_mac, src_ip, marker, *sys.argv[7:]))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "listen":
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
            sock.bind((sys.argv[2], 0))
            print("ready", flush=True)
            while True:
                data, address = sock.recvfrom(65535)
                if address[2] == socket.PACKET_OUTGOING:
                    continue
                start = data.find(b"NETDMARK:")
                if start >= 0:
                    end = data.find(b"\n", start)
                    print(data[start + 9:end].decode(errors="replace"), flush=True)
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
