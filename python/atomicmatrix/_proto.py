# SPDX-License-Identifier: Apache-2.0
"""Protobuf without generated code: type fingerprints the C side computes, schemas
(serialized FileDescriptorSets) built from a message class and turned back into classes.

The fingerprint must equal am_pb_type() (codegen/pb_runtime.c) bit for bit, or a C and
a Python port on one topic get AM_ETYPE. That function hashes protobuf-c's view of a
message, so this one rebuilds that view from a Python descriptor:
  - FNV-1a 64 over: the message's full name and a NUL; unless the message is already
    being hashed (recursion) or 16 deep: its field count (u32), then per field in
    protobuf-c's order (by number): name and NUL, number, label, type (u32 each, host
    byte order), and for a message field that message (recursively), for an enum field
    the enum's full name and NUL, then each distinct value (protobuf-c keeps the first
    name declared for a number, sorted by number): name and NUL, number;
  - protobuf-c's labels: required 0, optional 1, repeated 2, none 3 (proto3 fields
    without presence, oneof members included); its types: int32 0 ... message 16;
  - a result of 0 becomes 1.
A service's fingerprint (protoc-gen-am's S__am_type()) is FNV-1a over, per rpc in
order: its name's bytes (no NUL), then the 64-bit input and output fingerprints, each
xored in whole and multiplied once.
"""
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor as FD

_OFFSET = 0xcbf29ce484222325
_PRIME = 0x100000001b3
_MASK = (1 << 64) - 1
_U32 = struct.Struct("<I" if sys.byteorder == "little" else ">I")

# FieldDescriptor.TYPE_* -> ProtobufCType
_PBC_TYPE = {
    FD.TYPE_INT32: 0, FD.TYPE_SINT32: 1, FD.TYPE_SFIXED32: 2, FD.TYPE_INT64: 3,
    FD.TYPE_SINT64: 4, FD.TYPE_SFIXED64: 5, FD.TYPE_UINT32: 6, FD.TYPE_FIXED32: 7,
    FD.TYPE_UINT64: 8, FD.TYPE_FIXED64: 9, FD.TYPE_FLOAT: 10, FD.TYPE_DOUBLE: 11,
    FD.TYPE_BOOL: 12, FD.TYPE_ENUM: 13, FD.TYPE_STRING: 14, FD.TYPE_BYTES: 15,
    FD.TYPE_MESSAGE: 16,
}
_LABEL_REQUIRED, _LABEL_OPTIONAL, _LABEL_REPEATED, _LABEL_NONE = 0, 1, 2, 3
_MAX_DEPTH = 16   # fp.path in pb_runtime.c


def _mix(h, data):
    for b in data:
        h = ((h ^ b) * _PRIME) & _MASK
    return h


def _mix_str(h, s):
    return _mix(h, s.encode() + b"\0")


def _mix_u32(h, v):
    return _mix(h, _U32.pack(v & 0xffffffff))


def _proto3_optional(f):
    o = f.containing_oneof
    return o is not None and len(o.fields) == 1 and o.name == "_" + f.name


def _pbc_label(f):
    if f.label == FD.LABEL_REPEATED:
        return _LABEL_REPEATED
    if f.label == FD.LABEL_REQUIRED:
        return _LABEL_REQUIRED
    if f.containing_type.file.syntax == "proto3" and not _proto3_optional(f):
        return _LABEL_NONE
    return _LABEL_OPTIONAL


def _mix_message(h, d, path):
    h = _mix_str(h, d.full_name)
    if d in path or len(path) == _MAX_DEPTH:
        return h
    path.append(d)
    fields = sorted(d.fields, key=lambda f: f.number)
    h = _mix_u32(h, len(fields))
    for f in fields:
        if f.type not in _PBC_TYPE:
            raise ValueError("%s.%s: protobuf-c has no such field type (groups are not supported)"
                             % (d.full_name, f.name))
        h = _mix_str(h, f.name)
        h = _mix_u32(h, f.number)
        h = _mix_u32(h, _pbc_label(f))
        h = _mix_u32(h, _PBC_TYPE[f.type])
        if f.type == FD.TYPE_MESSAGE:
            h = _mix_message(h, f.message_type, path)
        elif f.type == FD.TYPE_ENUM:
            e = f.enum_type
            h = _mix_str(h, e.full_name)
            first = {}
            for v in e.values:          # declaration order: the first name of a number
                first.setdefault(v.number, v.name)
            for number in sorted(first):
                h = _mix_str(h, first[number])
                h = _mix_u32(h, number)
    path.pop()
    return h


def message_fingerprint(desc):
    """am_pb_type(desc).fingerprint for a message Descriptor."""
    h = _mix_message(_OFFSET, desc, [])
    return h or 1


def service_fingerprint(svc):
    """protoc-gen-am's S__am_type().fingerprint for a ServiceDescriptor."""
    h = _OFFSET
    for m in svc.methods:
        h = _mix(h, m.name.encode())
        h = ((h ^ message_fingerprint(m.input_type)) * _PRIME) & _MASK
        h = ((h ^ message_fingerprint(m.output_type)) * _PRIME) & _MASK
    return h or 1


def descriptor_of(message_class):
    d = getattr(message_class, "DESCRIPTOR", None)
    if d is None or not hasattr(d, "fields"):
        raise TypeError("%r is not a protobuf message class" % (message_class,))
    return d


def file_descriptor_set(file_desc):
    """The serialized FileDescriptorSet of a file and everything it imports (imports
    first, as protoc-gen-am records it), without source info."""
    out, seen = descriptor_pb2.FileDescriptorSet(), set()

    def add(f):
        if f.name in seen:
            return
        seen.add(f.name)
        for dep in f.dependencies:
            add(dep)
        f.CopyToProto(out.file.add())
    add(file_desc)
    return out.SerializeToString()


class Schema:
    """The message classes and services of a serialized FileDescriptorSet (the bytes a
    typed publisher records with its topic), in a descriptor pool of their own."""

    def __init__(self, data):
        fds = descriptor_pb2.FileDescriptorSet()
        fds.ParseFromString(bytes(data))
        self.pool = descriptor_pool.DescriptorPool()
        for f in fds.file:
            self.pool.AddSerializedFile(f.SerializeToString())
        self.files = [f.name for f in fds.file]

    def message(self, full_name):
        """The message class called full_name ("robot.Telemetry"). KeyError if absent."""
        return message_class(self.pool.FindMessageTypeByName(full_name))

    def service(self, full_name):
        """The ServiceDescriptor called full_name ("robot.Planner"). KeyError if absent."""
        return self.pool.FindServiceByName(full_name)


_factories = {}


def message_class(desc):
    """The message class of a Descriptor, made once (GetMessageClass where protobuf has
    it, else a MessageFactory per descriptor pool)."""
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    pool = desc.file.pool
    f = _factories.get(id(pool))
    if f is None or f[0] is not pool:
        f = _factories[id(pool)] = (pool, message_factory.MessageFactory(pool))
    return f[1].GetPrototype(desc)


_schemas = {}


def schema_from_bytes(data):
    """A Schema for these bytes, made once per distinct schema in this process."""
    key = bytes(data)
    s = _schemas.get(key)
    if s is None:
        s = _schemas[key] = Schema(key)
    return s
