"""What the Python objects share: their handle, their owner, and releases held back while
memory of theirs is still viewed from outside.

A Python view of a buffer's memory (a numpy array over a mapping, a DLPack tensor) points at
memory gpumem would free when the buffer, its pool or its device goes. So while such a view
lives, destroying one of them only marks it destroyed for Python (every later use raises
GpumemError DESTROYED); the C object is released when the last view is gone.
"""
import threading

from . import errors
from ._library import lib

# Taken by every change of the release state, the view counts and the streams' holds (destroy,
# a view's start and end, a queued transfer), so that a view counted or a transfer queued on one
# thread and a destroy on another see each other: a view or hold is counted only while its
# buffer is alive, and a buffer is released only with none counted. Held only to decide: never
# across a C call, which may wait for other threads' calls (a stream's destroy, a device's
# close) while they wait for this lock.
_state = threading.RLock()
# Objects collected while their thread held _state (a collection may start at any allocation):
# their release, which may wait in C, runs at the next release outside the lock.
_deferred = []


def _release_deferred():
    """Releases the objects collected while their thread held the lock (outside it)."""
    while _deferred and not _state._is_owned():
        try:
            item = _deferred.pop()
        except IndexError:
            return
        try:
            if not item._released and not item._owner_done():
                item.destroy()
        except Exception:
            pass


def handle_of(value, kind, name):
    """The live handle of `value`, a gpumem object of class `kind` passed as argument `name`:
    TypeError for anything else (not the AttributeError of a missing method)."""
    if not isinstance(value, kind):
        raise TypeError("%s must be a gpumem %s, not %s" % (name, kind.__name__,
                                                           type(value).__name__))
    return value._live_handle()


class Object:
    """A gpumem object seen from Python: `_handle` is the C handle, `_owner` the object whose
    destruction destroys this one too (None for a device and a virtual block)."""

    _kind = "object"
    _destroy_function = None  # the C function that releases it, e.g. "gpumem_pool_destroy"

    def __init__(self, handle, owner):
        self._handle = handle
        self._owner = owner
        self._released = False  # destroyed for Python
        self._views = 0          # views of memory of this object (or of objects it owns)
        self._done = False       # the C object is released (or its release is under way)

    def _live_handle(self):
        """The handle, or GpumemError DESTROYED when this object or an owner is gone."""
        item = self
        while item is not None:
            if item._released:
                raise errors.destroyed("this %s" % self._kind)
            item = item._owner
        return self._handle

    @property
    def alive(self):
        try:
            self._live_handle()
            return True
        except errors.GpumemError:
            return False

    def destroy(self):
        """Releases the object (a second call does nothing, or tries again a release C refused
        when it was held back). With views of its memory still alive, the C object is released
        when the last of them goes. When C refuses the release, the object stays alive (a later
        destroy tries again) and the error is raised."""
        with _state:
            first = not self._released
            self._released = True
        self._finish_destroy(first)
        _release_deferred()

    def _finish_destroy(self, first):
        """The release of an object just marked destroyed (`first`: by this call)."""
        try:
            self._finish()
        except BaseException:
            if first:
                with _state:
                    self._released = self._done  # refused: alive again
            raise

    def _finish(self):
        """Releases the C object once it is destroyed for Python and no view holds it: decided
        under the lock, released outside it."""
        with _state:
            if not self._released or self._views or self._done:
                return
            self._done = True
        result = self._release()
        # DESTROYED: an owner's release took it already.
        if result is not None and result not in (errors.OK, errors.DESTROYED):
            error = errors.error_of(result)  # this thread's message, before any other call
            with _state:
                self._done = False  # nothing was released: a later finish tries again
            raise error

    def _release(self):
        """Releases the C object; its gpumem_result (None: nothing to release)."""
        if self._destroy_function is None:
            return None
        return getattr(lib, self._destroy_function)(self._handle)

    def _add_view(self):
        """Counts a view of this object's memory: GpumemError DESTROYED (nothing counted) when
        it or an owner is destroyed, checked in the same step."""
        with _state:
            self._live_handle()
            item = self
            while item is not None:
                item._views += 1
                item = item._owner

    def _drop_view(self):
        with _state:
            item = self
            while item is not None:
                item._views -= 1
                item = item._owner
        # Every count down first, and every owner finished even when one's release fails, so
        # that a failure leaks nothing else; the first failure is raised.
        failure = None
        item = self
        while item is not None:
            try:
                item._finish()
            except Exception as error:
                failure = failure or error
            item = item._owner
        if failure is not None:
            raise failure

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.destroy()

    def _an_owner_is(self, state):
        """Whether an owner's `state` ("_released", "_done") is set."""
        item = self._owner
        while item is not None:
            if getattr(item, state):
                return True
            item = item._owner
        return False

    def _owner_released(self):
        """Whether an owner is destroyed for Python (its C release takes this one along, after
        the device's streams' work)."""
        return self._an_owner_is("_released")

    def _owner_done(self):
        """Whether an owner's C object was released (it took this one along)."""
        return self._an_owner_is("_done")

    def __del__(self):
        # A Python object that is collected releases its C object, except where an owner's
        # C object went already (its release took this one along). An owner destroyed for
        # Python while views of its memory live keeps its C object, and this one's with it:
        # released here, as the object's keep-alives (a stream's pending arrays, a
        # registration's memory) go (until 2026-12-05 they went and the C object stayed).
        try:
            if not self._released and not self._owner_done():
                if _state._is_owned():  # collected inside a lock section: released after it
                    _deferred.append(self)
                else:
                    self.destroy()
        except Exception:
            pass
