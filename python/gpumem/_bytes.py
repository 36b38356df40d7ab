"""Python objects as C memory: bytes, bytearray, memoryview, numpy arrays, anything with the
buffer protocol."""
import ctypes


def readable(data):
    """(address, size, keep): C-contiguous bytes of `data`, copied only when `data` is not
    contiguous or is read-only and not bytes; `keep` must live while the address is used."""
    if isinstance(data, bytes):
        return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0, len(data), data
    view = _view(data)
    if view.readonly or not view.c_contiguous:
        copy = view.tobytes()
        return readable(copy)
    return _address(view), view.nbytes, view


def writable(out):
    """(address, size, keep) of a writable, C-contiguous buffer."""
    view = _view(out)
    if view.readonly:
        raise ValueError("the output buffer is read-only")
    if not view.c_contiguous:
        raise ValueError("the output buffer is not C-contiguous")
    return _address(view), view.nbytes, view


def _view(data):
    try:
        return memoryview(data)
    except TypeError:
        raise TypeError("expected bytes, bytearray, memoryview, a numpy array or another "
                        "object with the buffer protocol, not %s" % type(data).__name__) from None


def _address(view):
    if view.nbytes == 0:
        return 0
    flat = view.cast("B") if view.format != "B" or view.ndim != 1 else view
    return ctypes.addressof(ctypes.c_char.from_buffer(flat))
