// Exposes libwebsockets to Swift: macros and variadic functions Swift cannot
// import become static inline functions here.
#ifndef SWITCHBOARD_CLIBWEBSOCKETS_SHIM_H
#define SWITCHBOARD_CLIBWEBSOCKETS_SHIM_H
#include <libwebsockets.h>

static inline size_t sb_lws_pre(void) { return LWS_PRE; }

static inline void sb_lws_set_log_level(int level) { lws_set_log_level(level, NULL); }

static inline int sb_lws_write_text(struct lws *wsi, unsigned char *buf, size_t len) {
    return lws_write(wsi, buf, len, LWS_WRITE_TEXT);
}

static inline int sb_lws_write_binary(struct lws *wsi, unsigned char *buf, size_t len) {
    return lws_write(wsi, buf, len, LWS_WRITE_BINARY);
}

static inline int sb_lws_write_http_final(struct lws *wsi, unsigned char *buf, size_t len) {
    return lws_write(wsi, buf, len, LWS_WRITE_HTTP_FINAL);
}

/// Writes a close frame (payload: 2-byte code + reason) directly.
static inline int sb_lws_write_close(struct lws *wsi, unsigned char *buf, size_t len) {
    // 4 is lws' internal LWS_WRITE_CLOSE (not exported in 4.1.6 headers).
    return lws_write(wsi, buf, len, (enum lws_write_protocol)4);
}

#endif
