"""Checks typeformer-inspect's --json listing of a safetensors file against Python's own reading
of it: every tensor's name, dtype, shape, byte count and CRC-32 (zlib.crc32 of its bytes).

    check_listing.py INSPECT FILE
"""
import json
import struct
import subprocess
import sys
import zlib

inspect, path = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
(header_length,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8 : 8 + header_length])
body = data[8 + header_length :]
expected = {}
for name, entry in header.items():
    if name == "__metadata__":
        continue
    begin, end = entry["data_offsets"]
    expected[name] = {
        "dtype": entry["dtype"],
        "shape": entry["shape"],
        "bytes": end - begin,
        "crc32": "%08x" % zlib.crc32(body[begin:end]),
    }
listing = json.loads(subprocess.run([inspect, path, "--json"], check=True, capture_output=True).stdout)
found = {t["name"]: {k: t[k] for k in ("dtype", "shape", "bytes", "crc32")} for t in listing["tensors"]}
if found != expected:
    for name in sorted(set(found) | set(expected)):
        if found.get(name) != expected.get(name):
            print(f"{name}: typeformer-inspect {found.get(name)}, Python {expected.get(name)}")
    sys.exit(1)
if listing["metadata"] != header.get("__metadata__", {}):
    print("metadata differs:", listing["metadata"], header.get("__metadata__"))
    sys.exit(1)
print(f"{path}: {len(found)} tensors agree with Python's zlib.crc32 and header")
