"""Checks of Python arguments before they reach C (ctypes would wrap a negative number)."""


def rest(size, total, offset):
    """`size`, or when it is None the bytes from `offset` to `total` (0 past the end, which the
    call then refuses as out of range or empty)."""
    if size is not None:
        return size
    return max(total - unsigned("offset", offset), 0)


def unsigned(name, value, bits=64):
    """value as a C unsigned integer of `bits` bits: TypeError when it is not an int,
    ValueError when it is negative or too large."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    if not 0 <= value < 2 ** bits:
        raise ValueError("%s=%d is out of range (0 to 2**%d - 1)" % (name, value, bits))
    return value


def name_bytes(name):
    """A name as C wants it: TypeError for anything but a str."""
    if not isinstance(name, str):
        raise TypeError("name must be a str, not %s" % type(name).__name__)
    return name.encode()
