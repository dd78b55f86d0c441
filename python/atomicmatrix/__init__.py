# SPDX-License-Identifier: Apache-2.0
"""atomicmatrix: message passing between processes through shared memory, from Python.

    import atomicmatrix as am
    with am.Arena("bus") as arena:
        pub = arena.publisher("robot/pose")
        sub = arena.subscriber("robot/pose")
        pub.publish(b"hello")
        with sub.take(timeout=1.0) as s:     # s.data: a read-only view into the arena
            print(bytes(s.data), s.seq)

Typed topics and services use protobuf message classes (python3-protobuf), generated
or built at run time from the schema a publisher recorded (sample.decode(),
arena.schema(topic)). docs/python.md has the whole story.
"""
from ._core import (Arena, Channel, Client, Loan, Participant, Port, Publisher, Remote, Reply, Request,
                    Sample, Server, Stats, Subscriber, version)
from ._errors import ERRORS, Error
from ._ffi import FOREVER, LIBRARY

globals().update(ERRORS)        # atomicmatrix.ETIMEDOUT, .ENOENT, ... (subclasses of Error)


def load_schema(data):
    """A Schema (message classes and services) from serialized FileDescriptorSet bytes:
    what a typed topic records, or `protoc --include_imports --descriptor_set_out=`."""
    from ._proto import schema_from_bytes
    return schema_from_bytes(data)


def type_of(message_class):
    """(full name, fingerprint) of a protobuf message class: am_pb_type() of the C side."""
    from ._proto import descriptor_of, message_fingerprint
    d = descriptor_of(message_class)
    return d.full_name, message_fingerprint(d)


def service_type(service):
    """(full name, fingerprint) of a ServiceDescriptor: protoc-gen-am's S__am_type()."""
    from ._proto import service_fingerprint
    return service.full_name, service_fingerprint(service)


__all__ = ["Arena", "Publisher", "Subscriber", "Server", "Client", "Sample", "Request", "Reply", "Loan",
           "Remote", "Error", "Channel", "Port", "Participant", "Stats", "FOREVER", "LIBRARY", "version",
           "load_schema", "type_of", "service_type"] + sorted(ERRORS)
__version__ = version()
