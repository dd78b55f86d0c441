# SPDX-License-Identifier: Apache-2.0
"""Python's type fingerprints equal the C side's, for every message and service of the
codegen test protos (packages, nesting, enums, oneofs, maps, proto2, c_package), the
typed demo's robot.proto and the edge cases in proto/: the protos are generated with
protoc-gen-am and compiled, and each am_pb_type() / S__am_type() is called through cffi."""
import ctypes
import glob
import os
import shutil
import subprocess

import cffi
import pytest

import atomicmatrix as am
from conftest import HERE, SOURCE, program


def test_fingerprints_match_c(tmp_path):
    plugin = program("AM_PROTOC_GEN_AM")
    protoc_gen_c = shutil.which("protoc-gen-c")
    if not (protoc_gen_c and shutil.which("gcc") and shutil.which("protoc")):
        pytest.skip("needs protoc, protoc-gen-c and gcc")
    inc = [os.path.join(SOURCE, "tests", "codegen"), os.path.join(SOURCE, "examples", "proto"),
           os.path.join(HERE, "proto"), "/usr/include"]
    protos = ["kitchen.proto", "plain.proto", "renamed.proto", "robot.proto", "edges2.proto", "edges3.proto"]
    gen = tmp_path / "gen"
    gen.mkdir()
    iflags = ["-I" + d for d in inc]
    subprocess.run(["protoc"] + iflags + ["--plugin=protoc-gen-c=" + protoc_gen_c, "--plugin=protoc-gen-am=" + plugin,
                    "--c_out=%s" % gen, "--am_out=%s" % gen] + protos, check=True)
    subprocess.run(["protoc"] + iflags + ["--include_imports", "--descriptor_set_out=%s" % (tmp_path / "all.pb")]
                   + protos, check=True)
    so = tmp_path / "libfp.so"
    build = os.path.dirname(am.LIBRARY)         # the build tree: its include/ has version.h
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(so), "-I", str(gen), "-I", os.path.join(SOURCE, "include"),
                    "-I", os.path.join(build, "include")]
                   + glob.glob(str(gen / "*.c")) + [os.path.join(SOURCE, "codegen", "pb_runtime.c"),
                                                    am.LIBRARY, "-lprotobuf-c"], check=True)
    ffi = cffi.FFI()
    ffi.cdef("typedef struct { const char *name; uint64_t fingerprint; } am_type;"
             "am_type am_pb_type(const void *desc);")
    syms = subprocess.run(["nm", "-D", "--defined-only", str(so)], capture_output=True, text=True,
                          check=True).stdout.split()
    descs = [s for s in syms if s.endswith("__descriptor")]
    services = [s for s in syms if s.endswith("__am_type") and not s.startswith("am_")]
    for s in services:
        ffi.cdef("am_type %s(void);" % s)
    lib, raw = ffi.dlopen(str(so)), ctypes.CDLL(str(so))
    schema = am.load_schema((tmp_path / "all.pb").read_bytes())
    checked = 0
    for sym in descs:
        if ctypes.c_uint32.in_dll(raw, sym).value != 0x28aaeef9:      # a message descriptor
            continue
        t = lib.am_pb_type(ffi.cast("void *", ctypes.addressof(ctypes.c_char.in_dll(raw, sym))))
        name = ffi.string(t.name).decode()
        assert am.type_of(schema.message(name)) == (name, t.fingerprint), sym
        checked += 1
    for sym in services:
        t = getattr(lib, sym)()
        name = ffi.string(t.name).decode()
        try:
            svc = schema.service(name)
        except KeyError:
            continue                                   # a message's __am_type: checked above
        assert am.service_type(svc) == (name, t.fingerprint), sym
        checked += 1
    assert checked >= 20
