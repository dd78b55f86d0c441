/*
 * atomicmatrix — error codes.
 *
 * Every public call returns 0 (or a count, where its comment says so) on success and
 * one of these negative codes on failure. am_strerror() turns a code into a sentence.
 * The library never aborts or exits the calling process.
 */
#ifndef ATOMICMATRIX_ERROR_H
#define ATOMICMATRIX_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    AM_OK        = 0,
    AM_ENOMEM    = -1,  /* the arena (or the process) has no memory for this request  */
    AM_EAGAIN    = -2,  /* nothing available right now; try again                     */
    AM_ETIMEDOUT = -3,  /* the timeout ran out                                        */
    AM_ENOENT    = -4,  /* no such arena, topic or service                            */
    AM_EEXIST    = -5,  /* it exists already (AM_CREATE_ONLY)                         */
    AM_EINVAL    = -6,  /* a bad argument: not a live block of this arena, bad name... */
    AM_ECORRUPT  = -7,  /* shared memory holds a value that cannot be right           */
    AM_ETYPE     = -8,  /* the topic carries another payload type                     */
    AM_EPEERDEAD = -9,  /* the peer this call depends on has died                     */
    AM_EPERM     = -10, /* not allowed: foreign owner, symlink, not the block's owner  */
    AM_ETOOBIG   = -11, /* larger than the arena can ever hold                        */
    AM_EFORMAT   = -12, /* the file is not an atomicmatrix arena                      */
    AM_EVERSION  = -13, /* an arena of another format version or layout               */
    AM_EFULL     = -14, /* the participants table is full                             */
    AM_ESYS      = -15, /* a system call failed; errno says which                     */
    AM_ENAME     = -16, /* a topic, service or type name that is too long or has bad characters */
    AM_EDECODE   = -17, /* a payload that does not decode as the message expected     */
    AM_EREMOTE   = -18  /* the server answered the call with an error status          */
};

/* A sentence describing err (any int; unknown codes get a generic sentence). */
const char *am_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
