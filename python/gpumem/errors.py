"""gpumem's errors as Python exceptions."""
from ._library import lib

OK = 0
INVALID_ARGUMENT = -1
INVALID_HANDLE = -2
DESTROYED = -3
OUT_OF_HOST_MEMORY = -4
OUT_OF_DEVICE_MEMORY = -5
UNSUPPORTED = -6
UNAVAILABLE = -7
NOT_FOUND = -8
LIMIT_EXCEEDED = -9
OUT_OF_RANGE = -10
NOT_MAPPABLE = -11
BAD_STATE = -12
BACKEND = -13
ABI_MISMATCH = -14
INSUFFICIENT_BUFFER = -15
CORRUPTED = -16


class GpumemError(Exception):
    """A gpumem call failed: `code` is the gpumem_result (a negative number, one of this
    module's constants), `name` its name ("GPUMEM_ERROR_DESTROYED"), and `message` the
    library's sentence about it, which starts with the name of the C function."""

    def __init__(self, code, message):
        self.code = code
        self.name = lib.gpumem_result_string(code).decode()
        self.message = message
        super().__init__("%s: %s" % (self.name, message))

    def __reduce__(self):
        # Pickled as its two arguments (a worker process's error reaches its parent whole).
        return (type(self), (self.code, self.message))


def error_of(result):
    """The GpumemError of a failed gpumem_result, with this thread's last error (read now: a
    later gpumem call may replace it)."""
    return GpumemError(result, lib.gpumem_last_error().decode("utf-8", "replace"))


def check(result):
    """Raises GpumemError for a failed gpumem_result, with this thread's last error."""
    if result != OK:
        raise error_of(result)


def destroyed(what):
    """The error for a Python object whose gpumem object was destroyed or closed."""
    return GpumemError(DESTROYED, "%s was destroyed (or its device closed)" % what)
