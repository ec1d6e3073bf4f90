"""CBOR (RFC 8949) for the CloudWatch bridge: the whole format as far as decoding goes (major types
0-7, indefinite-length strings, arrays and maps, half/single/double floats, simple values, tags;
bignum tags 2 and 3 decode to int), and an encoder for the values the decoder gives back."""

import collections
import struct


class CBORError(ValueError):
    """Bytes that are not one well-formed CBOR data item (or a value CBOR cannot carry)."""


class Tagged(collections.namedtuple("Tagged", "tag value")):
    """A tagged data item (major type 6), e.g. Tagged(1, 1363896240.5), an epoch timestamp. The
    bignum tags 2 and 3 decode to plain int instead."""


class Simple(collections.namedtuple("Simple", "value")):
    """A simple value with no Python equivalent: 0-19 and 32-255 (20-23 are False, True, None and
    UNDEFINED)."""


class _Undefined:
    """CBOR's undefined (0xf7), as distinct from null (None). Falsy."""

    def __repr__(self):
        return "UNDEFINED"

    def __bool__(self):
        return False


UNDEFINED = _Undefined()
_BREAK = object()  # the 0xff that ends an indefinite-length item; never a value
_MAX_DEPTH = 256


def cbor_decode(data):
    """The data item that data (bytes) holds; CBORError unless it is exactly one well-formed item."""
    data = bytes(data)
    value, pos = _cbor_item(data, 0, 0)
    if value is _BREAK:
        raise CBORError("a break (0xff) outside any indefinite-length item")
    if pos != len(data):
        raise CBORError(f"{len(data) - pos} bytes after the data item")
    return value


def _cbor_head(data, pos):
    """(major type, additional information, argument (None: indefinite length), next position)."""
    if pos >= len(data):
        raise CBORError(f"truncated: a data item was expected at byte {pos}")
    major, info = data[pos] >> 5, data[pos] & 0x1F
    if info < 24:
        return major, info, info, pos + 1
    if info <= 27:
        end = pos + 1 + (1 << (info - 24))
        if end > len(data):
            raise CBORError(f"truncated: the argument of the item at byte {pos} runs past the end")
        return major, info, int.from_bytes(data[pos + 1:end], "big"), end
    if info == 31 and major in (2, 3, 4, 5, 7):
        return major, info, None, pos + 1
    raise CBORError(f"additional information {info} is not well-formed for major type {major} (byte {pos})")


def _cbor_item(data, pos, depth):
    """(value, next position); the value is _BREAK for a break code, which callers check for."""
    if depth > _MAX_DEPTH:
        raise CBORError("nested too deeply")
    at = pos
    major, info, arg, pos = _cbor_head(data, pos)
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major in (2, 3):
        if arg is None:
            chunks = []
            while True:
                if pos < len(data) and data[pos] == 0xFF:
                    pos += 1
                    break
                chunk_major, _, length, pos = _cbor_head(data, pos)
                if chunk_major != major or length is None:
                    raise CBORError(f"a chunk of the indefinite-length string at byte {at} is not a definite "
                                    f"{'byte' if major == 2 else 'text'} string")
                chunk, pos = _cbor_bytes(data, pos, length)
                chunks.append(chunk if major == 2 else _cbor_text(chunk, at))
            return (b"" if major == 2 else "").join(chunks), pos
        raw, pos = _cbor_bytes(data, pos, arg)
        return (raw if major == 2 else _cbor_text(raw, at)), pos
    if major == 4:
        items = []
        while arg is None or len(items) < arg:
            item, pos = _cbor_item(data, pos, depth + 1)
            if item is _BREAK:
                if arg is None:
                    break
                raise CBORError(f"a break inside the definite-length array at byte {at}")
            items.append(item)
        return items, pos
    if major == 5:
        pairs, count = {}, 0
        while arg is None or count < arg:
            key, pos = _cbor_item(data, pos, depth + 1)
            if key is _BREAK:
                if arg is None:
                    break
                raise CBORError(f"a break inside the definite-length map at byte {at}")
            value, pos = _cbor_item(data, pos, depth + 1)
            if value is _BREAK:
                raise CBORError(f"a map key without a value in the map at byte {at}")
            if isinstance(key, list):
                key = tuple(key)
            try:
                if key in pairs:
                    raise CBORError(f"duplicate key {key!r} in the map at byte {at}")
            except TypeError:
                raise CBORError(f"a map key that cannot be a Python key (a map) at byte {at}") from None
            pairs[key] = value
            count += 1
        return pairs, pos
    if major == 6:
        value, pos = _cbor_item(data, pos, depth + 1)
        if value is _BREAK:
            raise CBORError(f"a tag without content at byte {at}")
        if arg in (2, 3) and isinstance(value, bytes):  # bignums
            n = int.from_bytes(value, "big")
            return (n if arg == 2 else -1 - n), pos
        return Tagged(arg, value), pos
    # major 7
    if info == 31:
        return _BREAK, pos
    if info < 24:
        return {20: False, 21: True, 22: None, 23: UNDEFINED}.get(info, Simple(info)), pos
    if info == 24:
        if arg < 32:
            raise CBORError(f"simple value {arg} in two bytes is not well-formed (byte {at})")
        return Simple(arg), pos
    fmt, size = {25: (">e", 2), 26: (">f", 4), 27: (">d", 8)}[info]
    return struct.unpack(fmt, arg.to_bytes(size, "big"))[0], pos


def _cbor_bytes(data, pos, length):
    end = pos + length
    if end > len(data):
        raise CBORError(f"truncated: a string of {length} bytes at byte {pos} runs past the end")
    return data[pos:end], end


def _cbor_text(raw, at):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CBORError(f"a text string that is not UTF-8 at byte {at}") from None


def cbor_encode(value, floats="double"):
    """The CBOR bytes of value: None, UNDEFINED, bool, int (beyond 64 bits as bignum tag 2/3),
    float, str, bytes, list/tuple, dict, Tagged, Simple. Lengths are definite and arguments as short
    as they can be. floats="double" writes every float in 8 bytes (the bridge: the Smithy RPC v2 spec
    says not to send half precision); floats="shortest" writes the shortest of half/single/double
    that keeps the value (RFC 8949's preferred serialization, as in its Appendix A)."""
    if floats not in ("double", "shortest"):
        raise ValueError('floats is "double" or "shortest"')
    out = bytearray()
    _cbor_put(out, value, floats, 0)
    return bytes(out)


def _cbor_put_head(out, major, n):
    if n < 24:
        out.append(major << 5 | n)
    elif n < 0x100:
        out += bytes((major << 5 | 24, n))
    elif n < 0x10000:
        out.append(major << 5 | 25)
        out += n.to_bytes(2, "big")
    elif n < 0x100000000:
        out.append(major << 5 | 26)
        out += n.to_bytes(4, "big")
    else:
        out.append(major << 5 | 27)
        out += n.to_bytes(8, "big")


def _cbor_put(out, value, floats, depth):
    if depth > _MAX_DEPTH:
        raise CBORError("nested too deeply")
    if value is None:
        out.append(0xF6)
    elif value is UNDEFINED:
        out.append(0xF7)
    elif value is True or value is False:
        out.append(0xF5 if value else 0xF4)
    elif isinstance(value, int):
        major, n = (0, value) if value >= 0 else (1, -1 - value)
        if n < 1 << 64:
            _cbor_put_head(out, major, n)
        else:  # bignum: tag 2 (unsigned) or 3 (negative) over the big-endian bytes of n
            _cbor_put_head(out, 6, 2 + major)
            raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
            _cbor_put_head(out, 2, len(raw))
            out += raw
    elif isinstance(value, float):
        if floats == "shortest":
            if value != value:
                out += b"\xf9\x7e\x00"  # NaN
                return
            for fmt, info in ((">e", 25), (">f", 26)):
                try:
                    packed = struct.pack(fmt, value)
                except (OverflowError, struct.error):
                    continue
                if struct.unpack(fmt, packed)[0] == value:
                    out.append(0xE0 | info)
                    out += packed
                    return
        out.append(0xFB)
        out += struct.pack(">d", value)
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        _cbor_put_head(out, 3, len(raw))
        out += raw
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        _cbor_put_head(out, 2, len(raw))
        out += raw
    elif isinstance(value, Tagged):
        _cbor_put_head(out, 6, value.tag)
        _cbor_put(out, value.value, floats, depth + 1)
    elif isinstance(value, Simple):
        if not (0 <= value.value < 20 or 32 <= value.value < 256):
            raise CBORError(f"no simple value {value.value}")
        _cbor_put_head(out, 7, value.value)
    elif isinstance(value, (list, tuple)):
        _cbor_put_head(out, 4, len(value))
        for item in value:
            _cbor_put(out, item, floats, depth + 1)
    elif isinstance(value, dict):
        _cbor_put_head(out, 5, len(value))
        for key, item in value.items():
            _cbor_put(out, key, floats, depth + 1)
            _cbor_put(out, item, floats, depth + 1)
    else:
        raise CBORError(f"CBOR cannot carry a {type(value).__name__}")
