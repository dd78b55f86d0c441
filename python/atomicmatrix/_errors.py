# SPDX-License-Identifier: Apache-2.0
"""Exceptions: one class per AM_E* code, made from the library's own table
(am_err_name, am_strerror), all subclasses of atomicmatrix.Error."""
from ._ffi import ffi, lib


class Error(Exception):
    """A failed atomicmatrix call: .code (negative int), .name ("AM_ETIMEDOUT"),
    .message (am_strerror), .report (what the library said more, or "")."""

    def __init__(self, code, what="", report=""):
        self.code = code
        self.name = ffi.string(lib.am_err_name(code)).decode()
        self.message = ffi.string(lib.am_strerror(code)).decode()
        self.report = report
        text = "%s: %s" % (self.name, self.message)
        if what:
            text = "%s: %s" % (what, text)
        if report:
            text += " (%s)" % report
        super().__init__(text)


Error.__module__ = "atomicmatrix"
# Python's own exceptions a code also is, so `except TimeoutError` works.
_ALSO = {"AM_ETIMEDOUT": (TimeoutError,), "AM_EINVAL": (ValueError,), "AM_ENAME": (ValueError,),
         "AM_ENOENT": (LookupError,), "AM_ETYPE": (TypeError,), "AM_EPERM": (PermissionError,)}

_by_code = {}
for _code in range(-1, -64, -1):
    _name = ffi.string(lib.am_err_name(_code)).decode()
    if _name == "unknown":
        break
    _short = _name[3:]                       # "ETIMEDOUT"
    _by_code[_code] = type(_short, (Error,) + _ALSO.get(_name, ()),
                           {"__doc__": ffi.string(lib.am_strerror(_code)).decode(),
                            "__module__": "atomicmatrix"})
del _code, _name, _short

ERRORS = {cls.__name__: cls for cls in _by_code.values()}


def error(code, what="", report=""):
    return _by_code.get(code, Error)(code, what, report)


def check(rc, what="", report=None):
    """Raise the exception of rc if it is negative; return it otherwise."""
    if rc < 0:
        text = ""
        if report is not None:
            text = ffi.string(report()).decode(errors="replace")
        raise error(rc, what, text)
    return rc
