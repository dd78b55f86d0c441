/*
 * error.c — am_strerror: a sentence for every AM_E* code.
 */
#include "atomicmatrix/error.h"

const char *am_strerror(int err)
{
    switch (err) {
    case AM_OK:        return "success";
    case AM_ENOMEM:    return "out of memory: no free block is large enough now";
    case AM_EAGAIN:    return "resource temporarily unavailable; try again";
    case AM_ETIMEDOUT: return "the timeout expired";
    case AM_ENOENT:    return "no such arena, topic or service";
    case AM_EEXIST:    return "it already exists";
    case AM_EINVAL:    return "invalid argument (not a live block of this arena, bad name or option, or a handle inherited across fork)";
    case AM_ECORRUPT:  return "shared memory is corrupt: a value read from it cannot be right";
    case AM_ETYPE:     return "the topic or service carries another payload type";
    case AM_EPEERDEAD: return "the peer this call depends on has died";
    case AM_EPERM:     return "permission denied (another user's arena, a symlink, or not the block's owner)";
    case AM_ETOOBIG:   return "too big: larger than the arena can ever hold";
    case AM_EFORMAT:   return "the file is not an atomicmatrix arena";
    case AM_EVERSION:  return "the arena was made by an incompatible version of atomicmatrix";
    case AM_EFULL:     return "the arena's participants table is full";
    case AM_ESYS:      return "a system call failed (see errno)";
    case AM_ENAME:     return "bad name: a topic, service or type name that is empty, too long or has characters outside [A-Za-z0-9_./-]";
    case AM_EDECODE:   return "the payload does not decode as the expected message (malformed or truncated)";
    case AM_EREMOTE:   return "the server answered the call with an error status (am_client_status says which)";
    default:           return "unknown atomicmatrix error";
    }
}
