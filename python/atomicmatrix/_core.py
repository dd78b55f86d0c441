# SPDX-License-Identifier: Apache-2.0
"""Arena, topics and services over libatomicmatrix.so (cffi, ABI mode).

Zero-copy both ways: a taken sample's .data is a read-only memoryview of the arena
block itself, a loan's .data a writable one. A view must not outlive its block, so
every view this module hands out is released when its block is given back (ack, send,
reply, close), and giving it back is refused (BufferError, nothing released) while
anything still refers to it: an exported buffer (numpy.frombuffer, memoryview(view))
or a slice of it. Copy with bytes(sample.data) what must live longer.
"""
import asyncio
import collections
import sys
import threading

from ._errors import ERRORS, Error, check, error
from ._ffi import FOREVER, MAX_CHANNELS, MAX_PARTICIPANTS, MAX_PORTS, ffi, lib

ETIMEDOUT = ERRORS["ETIMEDOUT"]
_E_TIMEDOUT = -3
_E_NOENT = -4

# A wait without a deadline (timeout=None) is made of slices this long in the main
# thread, so that Ctrl-C (a Python signal handler) gets to run in between.
_SLICE_NS = 200_000_000

AM_ATTACH_ONLY, AM_CREATE_ONLY, AM_TRUST_OTHER_OWNER, AM_ANY_SIZE, AM_EXACT_MODE, AM_EXTENDED_OPTS = \
    0x1, 0x2, 0x4, 0x8, 0x10, 0x20

POLICIES = {"default": 0, "drop_newest": 1, "drop_oldest": 2, "block": 3}


_MAX_NS = 2**63 - 1


def _ns(timeout):
    """seconds (None or infinity: no deadline) -> the library's nanoseconds."""
    if type(timeout) in (int, float) and 0 <= timeout < 9e9:
        return int(timeout * 1e9)
    if timeout is None or timeout == float("inf"):
        return FOREVER
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("timeout must be seconds (int or float) or None, not %r" % (timeout,))
    if not timeout >= 0:
        raise ValueError("timeout must be >= 0 seconds, or None to wait without a deadline")
    return min(int(timeout * 1e9), _MAX_NS)


def _name(s, what):
    if isinstance(s, str):
        s = s.encode()
    if not isinstance(s, bytes):
        raise TypeError("%s must be a str, not %s" % (what, type(s).__name__))
    if b"\0" in s:
        raise ValueError("%s must not contain NUL characters" % what)
    return s


def _count(v, what, lo=0, hi=None):
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("%s must be an int, not %r" % (what, v))
    if v < lo or (hi is not None and v > hi):
        raise ValueError("%s must be in [%d, %s], not %d" % (what, lo, hi if hi is not None else "...", v))
    return v


def _wait(call, timeout_ns):
    """Run call(timeout_ns) -> rc; with no deadline, in slices in the main thread."""
    if timeout_ns != FOREVER or threading.current_thread() is not threading.main_thread():
        return call(timeout_ns)
    while True:
        rc = call(_SLICE_NS)
        if rc != _E_TIMEDOUT:
            return rc


def _cstr(chars):
    return ffi.string(chars).decode(errors="replace")


def _is_message(obj):
    return hasattr(obj, "SerializeToString") and hasattr(obj, "DESCRIPTOR")


def _payload(data):
    """bytes, a buffer or a protobuf message -> (something cffi passes as const void*, len)."""
    if _is_message(data):
        data = data.SerializeToString()
    if isinstance(data, bytes):
        return data, len(data)
    try:
        buf = ffi.from_buffer(data)
    except TypeError:
        raise TypeError("expected bytes, a buffer (bytearray, memoryview, ...) or a protobuf message, "
                        "not %s" % type(data).__name__) from None
    return buf, len(buf)


# Views over arena memory that can be taken back. An object that hands out such a view
# keeps three slots: _raw (the exporter, a cffi buffer of the block), _base (a writable
# memoryview of it) and _view (what was handed out: _base itself, or a read-only view):
# set by _Held.__init__ and Loan._views, released here.
_refcount = getattr(sys, "getrefcount", None)


def _release_views(o, force=False):
    """Release o's views; unless force, refuse (BufferError, o unchanged) while anything
    else still refers to the memory."""
    readonly = o._view is not o._base
    try:
        o._view.release()
        o._base.release()
    except BufferError:
        if not force:
            raise BufferError("the data is still exported (a memoryview or array made from it); "
                              "release that first, or copy it with bytes()") from None
    # Slices of the view share its buffer: while one lives, the exporter has a reference
    # beyond ours and the argument's (CPython reference counts; other interpreters skip
    # the check). The memory is still ours then: hand out fresh views and refuse.
    if not force and _refcount is not None and _refcount(o._raw) > 2:
        o._base = memoryview(o._raw)
        o._view = o._base.toreadonly() if readonly else o._base
        raise BufferError("a slice of the data is still alive; delete it, or copy it with bytes(), first")
    o._raw = o._base = o._view = None


def _gone(*_):
    raise ValueError("this sample was acked (or its port closed): its data is gone; copy it with "
                     "bytes(sample.data) before ack to keep it")


class _Held:
    """A block a port holds until it gives it back: .data, a read-only memoryview of it
    in the arena, valid until then; `with` gives it back at the end of the block."""
    __slots__ = ("_port", "_c", "_raw", "_base", "_view")

    def __init__(self, port, c):
        self._port = port
        self._c = c
        self._raw = ffi.buffer(c.data, c.len)
        self._base = memoryview(self._raw)
        self._view = self._base.toreadonly()

    @property
    def data(self):
        v = self._view
        if v is None:
            _gone()
        return v

    @property
    def acked(self):
        """Given back already (acked, answered, or its port closed)."""
        return self._view is None

    @property
    def address(self):
        """The payload's address in this process (it lies inside the arena's mapping)."""
        if self._view is None:
            _gone()
        return int(ffi.cast("uintptr_t", self._c.data))

    def __len__(self):
        return self._c.len

    def __bytes__(self):
        return bytes(self.data)

    def _drop(self):
        """The port is closing: release the view whatever refers to it."""
        if self._view is not None:
            _release_views(self, force=True)

    def _give_back(self):
        if self._view is None:
            raise error(-6, "ack", "this was given back already")
        _release_views(self)   # BufferError, and nothing given back, while it is referenced
        port = self._port
        port._held.pop(id(self), None)
        return port

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._view is not None:
            self._finish()


class Sample(_Held):
    """A sample taken from a topic: .data (a read-only memoryview into the arena, valid
    until ack()), .seq, .send_ns (CLOCK_MONOTONIC), .publisher, len(sample).
    `with sub.take() as s:` acks at the end of the block."""
    __slots__ = ()
    _ctype = "am_sample *"

    seq = property(lambda self: self._c.seq, doc="the publisher's sequence number, from 1")
    send_ns = property(lambda self: self._c.send_ns, doc="when it was sent (CLOCK_MONOTONIC, ns)")
    publisher = property(lambda self: self._c.publisher, doc="the sender's port number on the topic")

    def decode(self):
        """The payload as a protobuf message: of the subscriber's message_class, or of the
        class the topic's recorded schema (FileDescriptorSet) describes for its type."""
        cls = self._port._message_class()
        return cls.FromString(bytes(self.data))    # a private copy: peers share this memory

    def ack(self):
        """Give the sample back (the last holder frees its block). Its views are released
        first; BufferError (and nothing released) if something still refers to them."""
        port = self._give_back()
        rc = port._ack_fn(port._h, self._c)
        if rc:
            raise error(rc, "ack")

    _finish = ack

    def __repr__(self):
        state = "acked" if self._view is None else "%d bytes" % self._c.len
        return "<atomicmatrix.%s seq=%d %s>" % (type(self).__name__, self.seq, state)


class _Handle:
    """A C handle (self._h) closed once, by close() or leaving a `with` block."""
    _what = "port"

    def _handle(self):
        if self._h is None:
            raise error(-6, self.__class__.__name__.lower(), "the %s is closed" % self._what)
        return self._h

    @property
    def closed(self):
        return self._h is None

    def close(self):
        """Close (idempotent)."""
        if self._h is not None:
            self._close()
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Port(_Handle):
    """What every port shares: its arena, its handle, the samples it holds, and the
    waitset asyncio waits on. Closing it releases held samples (their views die)."""
    _close_fn = None

    def __init__(self, arena, name, open_fn, opts):
        """Open the port with open_fn(arena, name, opts, &handle)."""
        kind = type(self).__name__.lower()
        h = ffi.new(ffi.typeof(open_fn).args[3])
        check(open_fn(arena._handle(), _name(name, "topic" if kind in ("publisher", "subscriber") else "service"),
                      opts, h), "%s %r" % (kind, name), lib.am_channel_open_report)
        self.arena = arena
        self.name = name
        self._h = h[0]
        self._held = {}                  # id -> what it holds and has not given back
        self._ws = None
        self._ws_fd = -1
        arena._ports.add(self)

    def _close(self):
        for s in list(self._held.values()):
            s._drop()
        self._held.clear()
        if self._ws is not None:
            lib.am_waitset_close(self._ws)
            self._ws = None
        type(self)._close_fn(self._h)
        self.arena._ports.discard(self)

    def _take(self, take_fn, cls, timeout):
        h = self._h or self._handle()
        c = ffi.new(cls._ctype)
        if timeout is None:
            rc = _wait(lambda t: take_fn(h, c, t), FOREVER)
        else:
            rc = take_fn(h, c, _ns(timeout))
        if rc < 0:
            raise error(rc, "take")
        held = cls(self, c)
        self._held[id(held)] = held
        return held

    async def _take_async(self, add):
        while True:
            try:
                return self.take(0)
            except ETIMEDOUT:
                pass
            await self._readable(add)

    # ---- asyncio: the waitset's descriptor in the running loop, no thread
    def _fd(self, add):
        if self._ws is None:
            w = ffi.new("am_waitset **")
            check(lib.am_waitset_open(w), "waitset")
            ws = w[0]
            rc = add(ws, self._handle(), ffi.NULL)
            if rc < 0:
                lib.am_waitset_close(ws)
                check(rc, "waitset")
            fd = lib.am_waitset_fd(ws)
            if fd < 0:
                lib.am_waitset_close(ws)
                check(fd, "am_waitset_fd")
            self._ws, self._ws_fd = ws, fd
        return self._ws_fd

    async def _readable(self, add):
        fd = self._fd(add)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        loop.add_reader(fd, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            loop.remove_reader(fd)


class Publisher(_Port):
    """A topic's publisher: publish(bytes | buffer | message), loan(size) for zero-copy."""
    _close_fn = staticmethod(lambda h: lib.am_pub_close(h))

    def __init__(self, arena, topic, type=None, message_class=None, history=0, send_timeout=0.0):
        tname, fp, schema = _resolve_type(type, message_class)
        o = ffi.new("am_pub_opts *")
        keep = _set_type(o.type, tname, fp)
        o.history = _count(history, "history", 0, 1024)
        o.send_timeout_ns = _ns(send_timeout)
        super().__init__(arena, topic, lib.am_pub_open, o)
        del keep
        self.message_class = message_class
        if schema is not None:
            self.set_schema(schema)

    def publish(self, data):
        """Copy data (bytes, any buffer, or a protobuf message: serialized) into a new
        block and send it to every subscriber."""
        if type(data) is bytes:
            check(lib.am_pub_publish(self._h or self._handle(), data, len(data)), "publish")
            return
        if self.message_class is not None and _is_message(data) and \
                data.DESCRIPTOR.full_name != self.message_class.DESCRIPTOR.full_name:
            raise TypeError("this publisher sends %s, not %s"
                            % (self.message_class.DESCRIPTOR.full_name, data.DESCRIPTOR.full_name))
        buf, n = _payload(data)
        check(lib.am_pub_publish(self._handle(), buf, n), "publish")

    def publish_many(self, messages):
        """Publish a sequence of bytes objects, in order, in one call into the library
        (am_pub_publish_packed): what makes many small messages cheap from Python.
        Returns how many were sent (all, unless a send failed after the first)."""
        lens = [len(m) for m in messages]
        if not lens:
            return 0
        arr = ffi.new("uint32_t[]", lens)
        return check(lib.am_pub_publish_packed(self._h or self._handle(), b"".join(messages), arr, len(lens)),
                     "publish_many")

    def loan(self, size):
        """A block of size bytes in the arena to write in place: a Loan whose .data is a
        writable memoryview; loan.send(n) publishes it without a copy."""
        _count(size, "size", 0)
        p = ffi.new("void **")
        check(lib.am_pub_loan(self._handle(), size, p), "loan")
        return Loan(self, p[0], size)

    def set_schema(self, data):
        """Record bytes describing the payload with the topic (the first schema stays)."""
        buf, n = _payload(data)
        check(lib.am_pub_set_schema(self._handle(), buf, n), "set_schema")

    def stats(self):
        st = ffi.new("am_pub_counts *")
        check(lib.am_pub_stats(self._handle(), st), "stats")
        return PubStats(st.sent, st.dropped, st.timeouts, st.subscribers)


class Loan:
    """A block loaned by a publisher: write .data (a writable memoryview of exactly the
    block), then send(length=None) (the whole block by default) or discard(). Leaving a
    `with` block without sending discards it."""
    __slots__ = ("_pub", "_ptr", "_raw", "_base", "_view", "size")

    def __init__(self, pub, ptr, size):
        self._pub, self._ptr, self.size = pub, ptr, size
        self._views()

    def _views(self):
        self._raw = ffi.buffer(self._ptr, self.size)
        self._base = self._view = memoryview(self._raw)

    @property
    def data(self):
        if self._view is None:
            raise ValueError("this loan was sent or discarded: its memory is no longer yours")
        return self._view

    @property
    def address(self):
        return int(ffi.cast("uintptr_t", self._ptr))

    def __len__(self):
        return self.size

    def send(self, length=None):
        if self._view is None:
            raise ValueError("this loan was sent or discarded already")
        n = self.size if length is None else _count(length, "length", 0, self.size)
        _release_views(self)
        rc = lib.am_pub_send(self._pub._handle(), self._ptr, n)
        if rc < 0:              # a full blocking subscriber: the loan is still ours
            self._views()
            check(rc, "send")

    def discard(self):
        if self._view is None:
            return
        _release_views(self)
        check(lib.am_pub_discard(self._pub._handle(), self._ptr), "discard")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.discard()


class Subscriber(_Port):
    """A topic's subscriber: take(timeout=None) -> Sample; `for s in sub`, or in asyncio
    `await sub.take_async()` / `async for s in sub`."""
    _close_fn = staticmethod(lambda h: lib.am_sub_close(h))

    def __init__(self, arena, topic, type=None, message_class=None, policy="drop_oldest", depth=0,
                 history=0, max_held=0):
        tname, fp, _ = _resolve_type(type, message_class)
        o = ffi.new("am_sub_opts *")
        keep = _set_type(o.type, tname, fp)
        if isinstance(policy, str):
            if policy not in POLICIES:
                raise ValueError("policy must be one of %s, not %r" % (", ".join(POLICIES), policy))
            policy = POLICIES[policy]
        o.policy = _count(policy, "policy", 0, 3)
        o.depth = _count(depth, "depth", 0, 65535)
        o.history = _count(history, "history", 0, 1024)
        o.max_held = _count(max_held, "max_held", 0)
        super().__init__(arena, topic, lib.am_sub_open, o)
        del keep
        self.message_class = message_class
        self._scratch = ffi.new("am_sample *")     # take_bytes' sample (ports are single-threaded)
        self._many = None                           # take_many's (max, lens, buffer)

    def take(self, timeout=None):
        """The next sample, waiting up to timeout seconds (0: not at all, None: without a
        deadline). ETIMEDOUT (a TimeoutError) if none came; EAGAIN if max_held samples
        are held and not acked."""
        return self._take(lib.am_sub_take, Sample, timeout)

    def take_bytes(self, timeout=None):
        """The next sample's payload copied out (bytes), the sample acked at once: for data
        that must outlive the sample, and the cheapest way to take a small one."""
        h = self._h or self._handle()
        c = self._scratch
        if timeout is None:
            rc = _wait(lambda t: lib.am_sub_take(h, c, t), FOREVER)
        else:
            rc = lib.am_sub_take(h, c, _ns(timeout))
        if rc:
            raise error(rc, "take")
        data = ffi.buffer(c.data, c.len)[:]
        lib.am_sub_ack(h, c)
        return data

    def take_many(self, max=256, timeout=None, max_bytes=1 << 20):
        """Up to max samples' payloads as a list of bytes (at least one: waiting up to
        timeout for the first, then taking what is queued), copied out and acked in one
        call into the library (am_sub_take_copies): the cheapest way to drain many
        small samples. A sample larger than max_bytes raises TOOBIG (take() gets it)."""
        _count(max, "max", 1)
        _count(max_bytes, "max_bytes", 1)
        h = self._h or self._handle()
        if self._many is None or self._many[0] < max or len(self._many[2]) < max_bytes:
            self._many = (max, ffi.new("uint32_t[]", max), ffi.new("uint8_t[]", max_bytes))
        _, lens, buf = self._many
        cap = _count(max_bytes, "max_bytes", 1)            # the buffer may be bigger
        if timeout is None:
            n = _wait(lambda t: lib.am_sub_take_copies(h, buf, cap, lens, ffi.NULL, max, t), FOREVER)
        else:
            n = lib.am_sub_take_copies(h, buf, cap, lens, ffi.NULL, max, _ns(timeout))
        if n < 0:
            raise error(n, "take_many")
        mv = ffi.buffer(buf, cap)
        out, off = [], 0
        for ln in ffi.unpack(lens, n):
            out.append(mv[off:off + ln])
            off += ln
        return out

    _ack_fn = staticmethod(lib.am_sub_ack)

    async def take_async(self):
        """Await the next sample: the waitset's descriptor in the running loop (no thread)."""
        return await self._take_async(lib.am_waitset_add_sub)

    def __iter__(self):
        return self

    def __next__(self):
        return self.take()

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self.take_async()

    def stats(self):
        st = ffi.new("am_sub_counts *")
        check(lib.am_sub_stats(self._handle(), st), "stats")
        return SubStats(st.received, st.dropped, st.queued, st.held)

    def schema(self):
        """The schema bytes a publisher recorded with the topic, or None."""
        d, n = ffi.new("void **"), ffi.new("size_t *")
        rc = lib.am_sub_schema(self._handle(), d, n)
        if rc == _E_NOENT:
            return None
        check(rc, "schema")
        return ffi.buffer(d[0], n[0])[:]

    def _message_class(self):
        if self.message_class is None:
            self.message_class = self.arena._class_of(self.name, self.schema())
        return self.message_class


class Request(_Held):
    """A request taken by a server: .data (read-only memoryview, valid until answered),
    .method (the rpc number: 1.. for typed services, what call(method=) said otherwise),
    decode(), then reply(data | message), fail(status) or drop(). Leaving a `with` block
    unanswered drops it (its caller times out)."""
    __slots__ = ()
    _ctype = "am_request *"

    method = property(lambda self: self._c.method, doc="the method number the caller gave")

    @property
    def rpc(self):
        """The rpc's MethodDescriptor (typed services), or None."""
        return self._port._method(self.method)

    def decode(self):
        """The request as the rpc's input message (typed services)."""
        m = self._port._method(self.method)
        if m is None:
            raise error(-17, "decode", "method %d is not an rpc of this server's service" % self.method)
        return self._port._classes(m)[0].FromString(bytes(self.data))

    def _answer(self, fn, what, *args):
        self._give_back()
        check(fn(self._port._handle(), self._c, *args), what)

    def reply(self, data):
        m = self._port._method(self.method)
        if m is not None and _is_message(data) and data.DESCRIPTOR.full_name != m.output_type.full_name:
            raise TypeError("rpc %s replies %s, not %s" % (m.name, m.output_type.full_name, data.DESCRIPTOR.full_name))
        buf, n = _payload(data)
        self._answer(lib.am_server_reply, "reply", buf, n)

    def fail(self, status):
        if _count(status, "status", -2**31, 2**31 - 1) == 0:
            raise ValueError("a failure status must not be 0")
        self._answer(lib.am_server_fail, "fail", status)

    def drop(self):
        self._answer(lib.am_server_drop, "drop")

    _finish = drop


class Server(_Port):
    """A service's server: take(timeout) -> Request; serve(handlers) for typed services."""
    _close_fn = staticmethod(lambda h: lib.am_server_close(h))

    def __init__(self, arena, name, service=None, type=None, depth=0, max_held=0):
        tname, fp, self.service = _resolve_service(service, type)
        o = ffi.new("am_server_opts *")
        keep = _set_type(o.type, tname, fp)
        o.depth = _count(depth, "depth", 0, 65535)
        o.max_held = _count(max_held, "max_held", 0)
        super().__init__(arena, name, lib.am_server_open, o)
        del keep
        self._cls = {}

    def take(self, timeout=None):
        """The next request, waiting up to timeout seconds (None: without a deadline)."""
        return self._take(lib.am_server_take, Request, timeout)

    async def take_async(self):
        """Await the next request (the waitset's descriptor in the running loop)."""
        return await self._take_async(lib.am_waitset_add_server)

    def serve(self, handlers, timeout=None):
        """Take one request and answer it with handlers[rpc name](request message) ->
        reply message (typed services). A handler raising atomicmatrix.Remote(status)
        fails the call with that status; a missing handler drops the request."""
        with self.take(timeout) as r:
            fn = handlers.get(r.rpc.name) if r.rpc is not None else None
            if fn is None:
                return r.drop()
            try:
                out = fn(r.decode())
            except Remote as e:
                return r.fail(e.status)
            r.reply(out)

    def _method(self, number):
        if self.service is None or not 1 <= number <= len(self.service.methods):
            return None
        return self.service.methods[number - 1]

    def _classes(self, m):
        if m.full_name not in self._cls:
            self._cls[m.full_name] = _method_classes(m)
        return self._cls[m.full_name]


class Remote(Exception):
    """Raised by a serve() handler to fail its call: the caller gets AM_EREMOTE and
    Client.status is this status."""

    def __init__(self, status):
        super().__init__("the server failed the call with status %d" % status)
        self.status = status


class Reply(Sample):
    """A raw call's reply: like a Sample (.data valid until ack(); `with` acks)."""
    __slots__ = ()

    def __init__(self, client, c):
        super().__init__(client, c)


class Client(_Port):
    """A service's client: call(request, timeout=None)."""
    _close_fn = staticmethod(lambda h: lib.am_client_close(h))

    def __init__(self, arena, name, service=None, type=None, depth=0):
        tname, fp, self.service = _resolve_service(service, type)
        o = ffi.new("am_client_opts *")
        keep = _set_type(o.type, tname, fp)
        o.depth = _count(depth, "depth", 0, 65535)
        super().__init__(arena, name, lib.am_client_open, o)
        del keep
        self._cls = {}

    def call(self, request, timeout=None, method=None):
        """Send request and wait up to timeout seconds (None: no deadline) for the reply.
        With a service: request is a message of one of its rpcs' input types (or give
        method= the rpc's name) and the reply comes back decoded. Raw: request is bytes or
        a buffer, method a number (0 default), and the reply a Reply to ack. Errors:
        ETIMEDOUT, ENOENT (no server), EPEERDEAD (the server died), EREMOTE (it failed the
        call: .status)."""
        rpc = None
        if self.service is not None:
            rpc = self._rpc_for(request, method)
            number = list(self.service.methods).index(rpc) + 1
        else:
            number = 0 if method is None else _count(method, "method", 0, 2**32 - 1)
        buf, n = _payload(request)
        c = ffi.new("am_sample *")
        rc = lib.am_client_call_method(self._handle(), number, buf, n, c, _ns(timeout))
        if rc < 0:
            raise error(rc, "call", "status %d" % self.status if rc == -18 else "")
        reply = Reply(self, c)
        if rpc is None:
            self._held[id(reply)] = reply
            return reply
        try:
            return self._classes(rpc)[1].FromString(bytes(reply.data))
        finally:
            reply.ack()

    _ack_fn = staticmethod(lib.am_client_ack)

    @property
    def status(self):
        """The status of the last reply (0, or what the server's fail() sent)."""
        return lib.am_client_status(self._handle())

    def stats(self):
        st = ffi.new("am_client_counts *")
        check(lib.am_client_stats(self._handle(), st), "stats")
        return ClientStats(st.calls, st.timeouts, st.late)

    def _rpc_for(self, request, method):
        methods = self.service.methods
        if method is not None:
            for m in methods:
                if m.name == method:
                    return m
            raise ValueError("service %s has no rpc %r" % (self.service.full_name, method))
        if not _is_message(request):
            raise TypeError("a typed client calls with a message (or say method=)")
        hits = [m for m in methods if m.input_type.full_name == request.DESCRIPTOR.full_name]
        if len(hits) != 1:
            raise TypeError("%s is the input of %d rpcs of %s: say which with method=" %
                            (request.DESCRIPTOR.full_name, len(hits), self.service.full_name))
        return hits[0]

    _classes = Server._classes


def _method_classes(m):
    """The input and output classes of an rpc, from the pool its service came from."""
    from . import _proto
    return _proto.message_class(m.input_type), _proto.message_class(m.output_type)


def _set_type(t, name, fp):
    if name is None:
        return None
    keep = ffi.new("char[]", _name(name, "type"))
    t.name = keep
    t.fingerprint = fp
    return keep


def _resolve_type(type, message_class):
    """(type name, fingerprint, schema bytes to record or None)."""
    if message_class is not None:
        from . import _proto
        d = _proto.descriptor_of(message_class)
        fp = _proto.message_fingerprint(d)
        if type is not None and type not in (d.full_name, (d.full_name, fp)):
            raise ValueError("type %r disagrees with message_class %s" % (type, d.full_name))
        return d.full_name, fp, _proto.file_descriptor_set(d.file)
    if type is None:
        return None, 0, None
    if isinstance(type, (str, bytes)):
        return type, 0, None
    if isinstance(type, tuple) and len(type) == 2:
        return type[0], _count(type[1], "fingerprint", 0, 2**64 - 1), None
    raise TypeError("type must be a name, a (name, fingerprint) tuple or None, not %r" % (type,))


def _resolve_service(service, type):
    if service is not None:
        from . import _proto
        if not hasattr(service, "methods"):
            raise TypeError("service must be a protobuf ServiceDescriptor, not %r" % (service,))
        return service.full_name, _proto.service_fingerprint(service), service
    name, fp, _ = _resolve_type(type, None)
    return name, fp, None


Channel = collections.namedtuple("Channel", "name type kind publishers subscribers servers clients has_schema fingerprint")
Port = collections.namedtuple("Port", "role pid process node sent received dropped port")
Participant = collections.namedtuple("Participant", "slot pid name node joined_ns")
PubStats = collections.namedtuple("PubStats", "sent dropped timeouts subscribers")
SubStats = collections.namedtuple("SubStats", "received dropped queued held")
ClientStats = collections.namedtuple("ClientStats", "calls timeouts late")
Stats = collections.namedtuple(
    "Stats", "size heap used free largest_free free_blocks used_blocks sectors participants fragmentation "
             "allocs frees repairs reclaimed sector_size")
_KINDS = {1: "topic", 2: "service"}
_ROLES = {1: "publisher", 2: "subscriber", 3: "server", 4: "client"}


class Arena(_Handle):
    """An arena (the file am.<name> in /dev/shm or $AM_SHM_DIR), created if absent.
    size: bytes when creating (None: 64 MiB); when attaching None takes the arena's size.
    create=False only attaches (ENOENT otherwise); exclusive=True only creates (EEXIST).
    A context manager: leaving it closes every port opened on it, then the arena."""

    def __init__(self, name, size=None, *, create=True, exclusive=False, any_size=False, mode=0,
                 sectors=0, node=None, max_size=None, trust_other_owner=False):
        o = ffi.new("am_arena_opts *")
        o.size = 0 if size is None else _count(size, "size", 1)
        o.sectors = _count(sectors, "sectors", 0)
        o.mode = _count(mode, "mode", 0, 0o7777)
        flags = (0 if create else AM_ATTACH_ONLY) | (AM_CREATE_ONLY if exclusive else 0) | \
            (AM_ANY_SIZE if any_size else 0) | (AM_TRUST_OTHER_OWNER if trust_other_owner else 0)
        keep = None
        if node is not None:
            keep = ffi.new("char[]", _name(node, "node"))
            o.node = keep
            flags |= AM_EXTENDED_OPTS
        if max_size is not None:
            o.max_size = _count(max_size, "max_size", 1)
            flags |= AM_EXTENDED_OPTS
        o.flags = flags
        h = ffi.new("am_arena **")
        check(lib.am_arena_open(_name(name, "arena name"), o, h), "arena %r" % name, lib.am_arena_open_report)
        self.name = name
        self._h = h[0]
        self._what = "arena"
        self._ports = set()
        self._schema_classes = {}

    def _close(self):
        for p in list(self._ports):
            p.close()
        lib.am_arena_close(self._h)

    @staticmethod
    def unlink(name):
        """Remove the arena's name and its lock file (ENOENT if there is none)."""
        check(lib.am_arena_unlink(_name(name, "arena name")), "unlink %r" % name)

    # ---- ports
    def publisher(self, topic, type=None, message_class=None, history=0, send_timeout=0.0):
        return Publisher(self, topic, type, message_class, history, send_timeout)

    def subscriber(self, topic, type=None, message_class=None, policy="drop_oldest", depth=0, history=0,
                   max_held=0):
        return Subscriber(self, topic, type, message_class, policy, depth, history, max_held)

    def server(self, name, service=None, type=None, depth=0, max_held=0):
        return Server(self, name, service, type, depth, max_held)

    def client(self, name, service=None, type=None, depth=0):
        return Client(self, name, service, type, depth)

    # ---- discovery
    def channels(self):
        """The topics and services of the arena (am_channels_list), as Channel tuples."""
        out = ffi.new("am_channel_info[]", MAX_CHANNELS)
        n = check(lib.am_channels_list(self._handle(), out, MAX_CHANNELS), "channels")
        return [Channel(_cstr(c.name), _cstr(c.type), _KINDS.get(c.kind, c.kind), c.publishers,
                        c.subscribers, c.servers, c.clients, bool(c.has_schema), c.fingerprint)
                for c in out[0:min(n, MAX_CHANNELS)]]

    def ports(self, name):
        """The live ports of a topic or service (am_channel_ports), as Port tuples."""
        out = ffi.new("am_port_info[]", MAX_PORTS)
        n = check(lib.am_channel_ports(self._handle(), _name(name, "channel name"), out, MAX_PORTS),
                  "ports %r" % name)
        return [Port(_ROLES.get(p.role, p.role), p.pid, _cstr(p.process), _cstr(p.node), p.sent,
                     p.received, p.dropped, p.port) for p in out[0:min(n, MAX_PORTS)]]

    def participants(self):
        """The live processes (handles) attached, as Participant tuples."""
        info, out = ffi.new("am_participant_info *"), []
        for slot in range(MAX_PARTICIPANTS):
            if check(lib.am_arena_participant_info(self._handle(), slot, info), "participants") == 1:
                out.append(Participant(info.slot, info.pid, _cstr(info.name), _cstr(info.node), info.joined_ns))
        return out

    def schema(self, topic):
        """The Schema (message classes, services) recorded with a typed topic, or None."""
        from . import _proto
        if not any(c.name == topic and c.kind == "topic" for c in self.channels()):
            return None                     # opening a subscriber would create the topic
        with self.subscriber(topic) as s:
            data = s.schema()
        return None if data is None else _proto.schema_from_bytes(data)

    def _class_of(self, topic, schema):
        """The message class of a topic's type, from its recorded schema."""
        from . import _proto
        tname = next((c.type for c in self.channels() if c.name == topic), "")
        if not tname:
            raise error(-8, "decode", "topic %r is untyped: give the subscriber a message_class" % topic)
        if schema is None:
            raise error(_E_NOENT, "decode", "no schema is recorded with topic %r (type %s)" % (topic, tname))
        try:
            return _proto.schema_from_bytes(schema).message(tname)
        except KeyError:
            raise error(-17, "decode", "the schema of %r has no message %s" % (topic, tname)) from None

    # ---- housekeeping
    def stats(self):
        st = ffi.new("am_stats *")
        check(lib.am_arena_stats(self._handle(), st), "stats")
        return Stats(*(getattr(st, f) for f in Stats._fields))

    def check(self):
        """Verify every invariant of the arena; ECORRUPT with the reason otherwise."""
        check(lib.am_arena_check(self._handle()), "check", lib.am_arena_check_report)

    def gc(self):
        """Release what dead ports held (am_channels_gc): the number of ports cleaned."""
        return check(lib.am_channels_gc(self._handle()), "gc")

    def reclaim(self):
        """Free what dead participants owned (am_arena_reclaim): blocks reclaimed."""
        return check(lib.am_arena_reclaim(self._handle()), "reclaim")

    def offset(self, address):
        """An address in this process -> its offset in the arena (0: not in the heap)."""
        return lib.am_offset(self._handle(), ffi.cast("void *", address))

    def __repr__(self):
        return "<atomicmatrix.Arena %r%s>" % (self.name, " closed" if self._h is None else "")


def version():
    """The version of the library loaded."""
    return ffi.string(lib.am_version()).decode()


__all__ = ["Arena", "Publisher", "Subscriber", "Server", "Client", "Sample", "Request", "Reply", "Loan",
           "Remote", "Error", "Channel", "Port", "Participant", "Stats", "version"]
