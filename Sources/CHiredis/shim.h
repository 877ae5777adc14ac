// Exposes hiredis to Swift. Swift cannot call C variadic functions, so the
// few commands Switchboard sends are formatted here, with %b (pointer and
// length) so that arguments are binary-safe.
#ifndef SWITCHBOARD_CHIREDIS_SHIM_H
#define SWITCHBOARD_CHIREDIS_SHIM_H
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>

/// Queues `COMMAND arg` (one binary-safe argument) in the context's output buffer.
static inline int sb_redis_append1(redisContext *c, const char *command, const void *arg, size_t arglen) {
    return redisAppendCommand(c, "%s %b", command, arg, arglen);
}

/// Queues `COMMAND a b` (two binary-safe arguments) in the context's output buffer.
static inline int sb_redis_append2(redisContext *c, const char *command, const void *a, size_t alen,
                                   const void *b, size_t blen) {
    return redisAppendCommand(c, "%s %b %b", command, a, alen, b, blen);
}

/// Queues `PING`.
static inline int sb_redis_append_ping(redisContext *c) { return redisAppendCommand(c, "PING"); }

/// Writes the whole output buffer (blocking socket, bounded by redisSetTimeout).
static inline int sb_redis_flush(redisContext *c) {
    int done = 0;
    do {
        if (redisBufferWrite(c, &done) != REDIS_OK) return REDIS_ERR;
    } while (!done);
    return REDIS_OK;
}

/// One reply if one arrives within `timeout_ms`: 1 with `*reply` set, 0 when
/// none came in time, -1 when the connection failed (see c->errstr).
/// It waits in poll() rather than in a read() bounded by SO_RCVTIMEO: in
/// hiredis 0.14 a read that times out marks the context failed for good.
static inline int sb_redis_read(redisContext *c, void **reply, int timeout_ms) {
    *reply = NULL;
    if (redisGetReplyFromReader(c, reply) != REDIS_OK) return -1;
    if (*reply != NULL) return 1;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    if (n == 0) return 0;
    if (n < 0) return errno == EINTR ? 0 : -1;
    if (redisBufferRead(c) != REDIS_OK) return -1;
    if (redisGetReplyFromReader(c, reply) != REDIS_OK) return -1;
    return *reply != NULL ? 1 : 0;
}

/// Wakes a thread blocked on this connection (stop()): reads see EOF, writes fail.
static inline void sb_redis_shutdown(redisContext *c) {
    if (c != NULL && c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
}

/// Sets the connection's send and receive timeouts in milliseconds.
static inline int sb_redis_set_timeout(redisContext *c, int timeout_ms) {
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    return redisSetTimeout(c, tv);
}

/// Connects within `timeout_ms` (NULL only when out of memory; else check c->err).
static inline redisContext *sb_redis_connect(const char *host, int port, int timeout_ms) {
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    return redisConnectWithTimeout(host, port, tv);
}
#endif
