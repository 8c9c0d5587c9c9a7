"""Read a few scalar metadata fields of a GGUF file quickly.

``gguf.GGUFReader`` materialises every array (262k vocabulary strings take ~20 s); this scanner
walks the key/value section with the same type codes (``gguf.GGUFValueType``), returns the
requested scalars and only the *length* of arrays."""
from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9


def read_metadata(path: str | Path, keys: set[str]) -> dict[str, Any]:
    """``{key: value}`` for the requested keys; an array's value is its element count."""
    out: dict[str, Any] = {}
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:4] != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        (n_kv,) = struct.unpack_from("<Q", buf, 16)
        pos = 24

        def string(p: int) -> tuple[bytes, int]:
            (n,) = struct.unpack_from("<Q", buf, p)
            return buf[p + 8:p + 8 + n], p + 8 + n

        def skip(vtype: int, p: int) -> tuple[Any, int]:
            if vtype in _SCALARS:
                fmt = _SCALARS[vtype]
                return struct.unpack_from(fmt, buf, p)[0], p + struct.calcsize(fmt)
            if vtype == STRING:
                raw, p = string(p)
                return raw.decode("utf-8", errors="replace"), p
            if vtype == ARRAY:
                etype, count = struct.unpack_from("<IQ", buf, p)
                p += 12
                if etype in _SCALARS:
                    return count, p + count * struct.calcsize(_SCALARS[etype])
                for _ in range(count):
                    _, p = skip(etype, p)
                return count, p
            raise ValueError(f"{path}: unknown GGUF value type {vtype}")

        for _ in range(n_kv):
            raw_key, pos = string(pos)
            (vtype,) = struct.unpack_from("<I", buf, pos)
            value, pos = skip(vtype, pos + 4)
            key = raw_key.decode()
            if key in keys:
                out[key] = value
                if len(out) == len(keys):
                    break
    return out
