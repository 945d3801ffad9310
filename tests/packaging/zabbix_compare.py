#!/usr/bin/env python3
"""Compares Zabbix sender frames: ours (housekeeper's) against the real zabbix_sender's.

  zabbix_compare.py items-file FRAME OUT   items of FRAME as a zabbix_sender -T input file
  zabbix_compare.py reference FRAME OUT    the frame housekeeper documents (ZBXD, 0x01,
                                           64-bit little-endian length, JSON body) for the
                                           items and clock of FRAME
  zabbix_compare.py compare OURS REAL      checks that the real zabbix_sender frame and ours
                                           are framed alike and carry the same items

`compare` prints one ok/FAIL line per check and "zabbix-frames: N passed, N failed"; it
exits 1 on any failure.
"""
import json
import struct
import sys


def split(raw, name):
    """(flags, length field as 8 little-endian bytes, body) of a frame, checking the header."""
    if len(raw) < 13 or raw[:4] != b"ZBXD":
        raise ValueError(f"{name}: not a ZBXD frame ({raw[:13]!r})")
    return raw[4], raw[5:13], raw[13:]


def quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def items_file(frame_path, out_path):
    try:
        _, _, body = split(open(frame_path, "rb").read(), frame_path)
        doc = json.loads(body)
        if not isinstance(doc.get("data"), list):
            raise ValueError('no "data" list')
    except (ValueError, AttributeError) as e:
        print(f"FAIL  {frame_path} is not a sender request: {e}")
        return 1
    with open(out_path, "w") as out:
        for item in doc["data"]:
            out.write(
                f'{quote(item["host"])} {quote(item["key"])} {int(item["clock"])} {quote(str(item["value"]))}\n'
            )
    return 0


def reference(frame_path, out_path):
    _, _, body = split(open(frame_path, "rb").read(), frame_path)
    doc = json.loads(body)
    items = [
        {"host": i["host"], "key": i["key"], "value": str(i["value"]), "clock": int(i["clock"])}
        for i in doc["data"]
    ]
    clock = items[0]["clock"] if items else 0
    ours = json.dumps(
        {"request": "sender data", "data": items, "clock": clock}, separators=(",", ":")
    ).encode()
    with open(out_path, "wb") as out:
        out.write(b"ZBXD\x01" + struct.pack("<Q", len(ours)) + ours)


def compare(ours_path, real_path):
    passed = failed = 0

    def check(what, good, detail=""):
        nonlocal passed, failed
        if good:
            passed += 1
            print(f"ok    {what}")
        else:
            failed += 1
            print(f"FAIL  {what}")
            if detail:
                print(f"      {detail}")

    ours_raw = open(ours_path, "rb").read()
    real_raw = open(real_path, "rb").read()
    ours_flags, ours_len, ours_body = split(ours_raw, "ours")
    real_flags, real_len, real_body = split(real_raw, "zabbix_sender")

    check("header: both ZBXD", ours_raw[:4] == real_raw[:4] == b"ZBXD")
    check(
        f"flags: both 0x01, uncompressed (ours 0x{ours_flags:02x}, zabbix_sender 0x{real_flags:02x})",
        ours_flags == real_flags == 0x01,
    )
    real_data_len, real_reserved = struct.unpack("<II", real_len)
    check(
        "zabbix_sender: 4-byte little-endian length of the body, then 4 zero bytes",
        real_data_len == len(real_body) and real_reserved == 0,
        f"length {real_data_len}, reserved {real_reserved}, body {len(real_body)} bytes",
    )
    check(
        "so both length fields read alike as one 8-byte little-endian length",
        struct.unpack("<Q", ours_len)[0] == len(ours_body)
        and struct.unpack("<Q", real_len)[0] == len(real_body),
        f"ours says {struct.unpack('<Q', ours_len)[0]} for {len(ours_body)} bytes",
    )
    try:
        ours = json.loads(ours_body)
        real = json.loads(real_body)
    except ValueError as e:
        check("both bodies are JSON", False, str(e))
        print(f"zabbix-frames: {passed} passed, {failed} failed")
        return 1
    check("both bodies are JSON", True)
    check(
        'both request "sender data"',
        ours.get("request") == real.get("request") == "sender data",
        f'ours {ours.get("request")!r}, zabbix_sender {real.get("request")!r}',
    )
    ours_items, real_items = ours.get("data", []), real.get("data", [])
    check(
        f"same number of items ({len(ours_items)})",
        len(ours_items) == len(real_items) and len(ours_items) > 0,
        f"ours {len(ours_items)}, zabbix_sender {len(real_items)}",
    )
    for field in ("host", "key", "value", "clock"):
        mismatches = [
            (a.get(field), b.get(field))
            for a, b in zip(ours_items, real_items)
            if a.get(field) != b.get(field)
        ]
        check(f"every item's {field} equal, in order", not mismatches, f"first: {mismatches[:1]}")
    check(
        "values are JSON strings in both",
        all(isinstance(i.get("value"), str) for i in ours_items + real_items),
    )
    check(
        "ours has a numeric top-level clock",
        isinstance(ours.get("clock"), int),
        f"clock {ours.get('clock')!r}",
    )
    only_real = sorted(set(real) - set(ours)) + sorted(
        {k for i in real_items for k in i} - {k for i in ours_items for k in i}
    )
    only_ours = sorted(set(ours) - set(real)) + sorted(
        {k for i in ours_items for k in i} - {k for i in real_items for k in i}
    )
    print(f"note  fields only zabbix_sender sends: {only_real or 'none'} (optional in the protocol)")
    check("ours sends no field zabbix_sender does not know", not only_ours, f"{only_ours}")
    print(f"zabbix-frames: {passed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("items-file", "reference", "compare"):
        print(__doc__, file=sys.stderr)
        return 2
    command, a, b = sys.argv[1:]
    if command == "items-file":
        return items_file(a, b)
    elif command == "reference":
        reference(a, b)
    else:
        return compare(a, b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
