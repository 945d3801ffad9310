#!/usr/bin/env python3
"""A minimal Zabbix trapper for tests: accepts sender connections on 127.0.0.1, saves each
request frame byte for byte, and answers like a Zabbix server ("success", processed = the
number of items). Bounded: stops after --max connections or --timeout seconds.

Usage: zabbix_trapper.py --port-file FILE --out DIR [--max N] [--timeout S]
Frames are written to DIR/frame-1.bin, DIR/frame-2.bin, ... in order of arrival.
"""
import argparse
import json
import os
import socket
import struct
import sys
import time


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_frame(conn):
    """Returns the raw frame (header, length fields, body) and the body."""
    head = read_exact(conn, 5)
    if head[:4] != b"ZBXD":
        raise ValueError(f"not a ZBXD frame: {head!r}")
    flags = head[4]
    # Flag 0x04 (large packet): two 8-byte lengths; otherwise two 4-byte ones
    # (data length, then the uncompressed length or zero).
    size = 16 if flags & 0x04 else 8
    lengths = read_exact(conn, size)
    fmt = "<QQ" if size == 16 else "<II"
    length, _reserved = struct.unpack(fmt, lengths)
    if length > 16 * 1024 * 1024:
        raise ValueError(f"frame too large: {length}")
    body = read_exact(conn, length)
    return head + lengths + body, body


def answer(body):
    try:
        items = len(json.loads(body).get("data", []))
    except (ValueError, AttributeError):
        items = 0
    info = f"processed: {items}; failed: 0; total: {items}; seconds spent: 0.000042"
    payload = json.dumps({"response": "success", "info": info}).encode()
    return b"ZBXD\x01" + struct.pack("<II", len(payload), 0) + payload


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--max", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.getsockname()[1]))
    os.replace(tmp, args.port_file)
    deadline = time.monotonic() + args.timeout
    count = 0
    while count < args.max:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        server.settimeout(left)
        try:
            conn, _ = server.accept()
        except socket.timeout:
            break
        with conn:
            conn.settimeout(10)
            try:
                raw, body = read_frame(conn)
            except (EOFError, ValueError, socket.timeout) as e:
                print(f"zabbix_trapper: bad request: {e}", file=sys.stderr)
                continue
            count += 1
            with open(os.path.join(args.out, f"frame-{count}.bin"), "wb") as f:
                f.write(raw)
            conn.sendall(answer(body))
    server.close()


if __name__ == "__main__":
    main()
