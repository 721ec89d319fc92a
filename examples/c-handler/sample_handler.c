/*
 * sample_handler.c - the umd_mgmt selftest's sample handler, speaking umdkit
 * wire protocol v1 on stdin/stdout. Portable C11 + POSIX, libc only.
 *
 * Like the kernel's sample_handler.c: read an offset, set data[offset] = 1 in
 * a 128 KiB reply (bigger than a pipe buffer on purpose), write the whole
 * reply, reset the byte.
 *
 * Protocol (see docs / DESIGN.md "Wire protocol v1"): a frame is a 4-byte
 * big-endian length N (1 <= N <= 16 MiB), then N bytes holding one CBOR item,
 * always a map with text keys and a text `t`.
 *   -> { t: "hello", v: 1, pid }                 once, first
 *   <- { t: "req", id, m?, p }   -> { t: "res", id, ok: true, p } or
 *                                   { t: "res", id, ok: false, e: { code, message } }
 *   <- { t: "ping", id }         -> { t: "pong", id }
 *   <- { t: "cancel", id }          ignored (requests are answered at once)
 *   <- { t: "bye" }                 exit 0 (nothing is in flight)
 *
 * Exit status: 0 on bye or on end of input at a frame boundary; 2 on a
 * protocol violation (length out of range, bad CBOR, trailing bytes, a
 * message that is not a valid v1 message, end of input inside a frame);
 * 3 on an I/O error (including a closed stdout: SIGPIPE is ignored);
 * 4 when out of memory. stdout carries frames only; stderr gets log lines.
 */
#define _POSIX_C_SOURCE 200809L

#include "cbor.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROTOCOL_VERSION 1u
#define SAMPLE_BYTES     131072u                 /* 128 KiB */
#define MAX_FRAME        (16u * 1024u * 1024u)   /* 16 MiB, the v1 default */
#define MAX_DEPTH        64u                     /* the manager's default nesting limit */
#define METHOD_ECHO_MAX  64u                     /* bytes of an unknown method echoed back */
#define FIRST_BUFFER     65536u

enum { EXIT_PROTOCOL = 2, EXIT_IO = 3, EXIT_NOMEM = 4 };

/* ---- log lines on stderr ---- */

static void diag(const char *fmt, ...);

/* Writes all n bytes, looping over partial writes, EINTR and (should the
 * descriptor be non-blocking) EAGAIN. False on any other error. */
static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT, .revents = 0 };
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                return false;
        } else {
            if (k == 0)
                errno = EIO;
            return false;
        }
    }
    return true;
}

static void diag(const char *fmt, ...)
{
    char line[512];
    int head = snprintf(line, sizeof line, "sample_handler[%ld]: ", (long)getpid());
    if (head < 0 || (size_t)head >= sizeof line)
        return;
    va_list ap;
    va_start(ap, fmt);
    int body = vsnprintf(line + head, sizeof line - (size_t)head, fmt, ap);
    va_end(ap);
    if (body < 0)
        return;
    size_t len = (size_t)head + (size_t)body;
    if (len > sizeof line - 2)
        len = sizeof line - 2;           /* truncated: still one line */
    line[len++] = '\n';
    (void)write_all(STDERR_FILENO, (const uint8_t *)line, len);
}

static _Noreturn void violation(const char *fmt, ...)
{
    char why[384];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    diag("protocol violation: %s", why);
    exit(EXIT_PROTOCOL);
}

static _Noreturn void io_failure(const char *what)
{
    diag("%s failed: %s; exiting", what, strerror(errno));
    exit(EXIT_IO);
}

/* ---- reading ---- */

/* Reads up to n bytes (n > 0). Returns > 0, 0 at end of input, -1 on error. */
static ssize_t read_some(int fd, uint8_t *p, size_t n)
{
    for (;;) {
        ssize_t k = read(fd, p, n);
        if (k >= 0)
            return k;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                return -1;
            continue;
        }
        return -1;
    }
}

/* The body buffer: grown as bytes arrive, never past the announced length, so
 * a lying length prefix costs no more memory than the bytes really sent. */
static uint8_t *frame_buf;
static size_t frame_cap;

/* Reads one frame. Returns its length, or 0 at end of input at a boundary. */
static size_t read_frame(void)
{
    uint8_t hdr[4];
    size_t got = 0;
    while (got < sizeof hdr) {
        ssize_t k = read_some(STDIN_FILENO, hdr + got, sizeof hdr - got);
        if (k < 0)
            io_failure("read");
        if (k == 0) {
            if (got == 0)
                return 0;
            violation("truncated frame: end of input inside the length prefix");
        }
        got += (size_t)k;
    }
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                 (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3];
    /* Checked before any allocation. */
    if (n < 1 || n > MAX_FRAME)
        violation("frame length %" PRIu32 " out of range (1..%u)", n, MAX_FRAME);

    got = 0;
    while (got < n) {
        if (got == frame_cap) {          /* then frame_cap < n */
            size_t next = frame_cap < FIRST_BUFFER / 2 ? FIRST_BUFFER : frame_cap * 2;
            if (next > n)
                next = n;
            uint8_t *p = realloc(frame_buf, next);
            if (p == NULL) {
                diag("out of memory for a frame of %" PRIu32 " bytes", n);
                exit(EXIT_NOMEM);
            }
            frame_buf = p;
            frame_cap = next;
        }
        size_t room = (frame_cap < n ? frame_cap : n) - got;
        ssize_t k = read_some(STDIN_FILENO, frame_buf + got, room);
        if (k < 0)
            io_failure("read");
        if (k == 0)
            violation("truncated frame: end of input after %zu of %" PRIu32 " bytes", got, n);
        got += (size_t)k;
    }
    return n;
}

/* ---- writing ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#define SMALL_FRAME 512u

/* Starts a small frame: the body goes after a 4-byte hole for the length. */
static void small_begin(cbor_writer *w, uint8_t *frame)
{
    cbor_writer_init(w, frame + 4, SMALL_FRAME - 4);
}

static void small_send(cbor_writer *w, uint8_t *frame)
{
    if (w->overflow) {                   /* cannot happen: replies are bounded */
        diag("internal error: reply does not fit");
        exit(EXIT_PROTOCOL);
    }
    put_be32(frame, (uint32_t)w->len);
    if (!write_all(STDOUT_FILENO, frame, 4 + w->len))
        io_failure("write");
}

static void send_hello(void)
{
    uint8_t frame[SMALL_FRAME];
    cbor_writer w;
    small_begin(&w, frame);
    cbor_put_map(&w, 3);
    cbor_put_cstr(&w, "t");   cbor_put_cstr(&w, "hello");
    cbor_put_cstr(&w, "v");   cbor_put_uint(&w, PROTOCOL_VERSION);
    cbor_put_cstr(&w, "pid"); cbor_put_uint(&w, (uint64_t)getpid());
    small_send(&w, frame);
}

static void send_pong(uint64_t id)
{
    uint8_t frame[SMALL_FRAME];
    cbor_writer w;
    small_begin(&w, frame);
    cbor_put_map(&w, 2);
    cbor_put_cstr(&w, "t");  cbor_put_cstr(&w, "pong");
    cbor_put_cstr(&w, "id"); cbor_put_uint(&w, id);
    small_send(&w, frame);
}

/* A bounded string builder for error messages. */
typedef struct {
    char buf[256];
    size_t len;
} text;

static void text_add(text *t, const char *s, size_t n)
{
    if (n > sizeof t->buf - t->len)
        n = sizeof t->buf - t->len;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
}

static void text_addf(text *t, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        text_add(t, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Adds valid UTF-8 `s`, cut on a character boundary after at most max bytes. */
static void text_add_clipped(text *t, const uint8_t *s, size_t n, size_t max)
{
    if (n <= max) {
        text_add(t, (const char *)s, n);
        return;
    }
    size_t k = max;
    while (k > 0 && (s[k] & 0xc0u) == 0x80u)
        k--;
    text_add(t, (const char *)s, k);
    text_add(t, "...", 3);
}

static void send_error(uint64_t id, const char *code, const text *message)
{
    uint8_t frame[SMALL_FRAME];
    cbor_writer w;
    small_begin(&w, frame);
    cbor_put_map(&w, 4);
    cbor_put_cstr(&w, "t");  cbor_put_cstr(&w, "res");
    cbor_put_cstr(&w, "id"); cbor_put_uint(&w, id);
    cbor_put_cstr(&w, "ok"); cbor_put_bool(&w, false);
    cbor_put_cstr(&w, "e");
    cbor_put_map(&w, 2);
    cbor_put_cstr(&w, "code");    cbor_put_cstr(&w, code);
    cbor_put_cstr(&w, "message"); cbor_put_text(&w, message->buf, message->len);
    small_send(&w, frame);
}

/* The sample reply: the frame head is built right-aligned in front of the
 * 128 KiB of data, so the whole frame goes out with one write loop. Static,
 * hence all zero; only data[offset] is ever set, and reset after the write. */
#define HEAD_ROOM 64u
static uint8_t sample_frame[HEAD_ROOM + SAMPLE_BYTES];
static uint8_t *const sample_data = sample_frame + HEAD_ROOM;

static void answer_sample(uint64_t id, uint64_t offset)
{
    uint8_t head[HEAD_ROOM];
    cbor_writer w;
    cbor_writer_init(&w, head + 4, sizeof head - 4);
    cbor_put_map(&w, 4);
    cbor_put_cstr(&w, "t");  cbor_put_cstr(&w, "res");
    cbor_put_cstr(&w, "id"); cbor_put_uint(&w, id);
    cbor_put_cstr(&w, "ok"); cbor_put_bool(&w, true);
    cbor_put_cstr(&w, "p");  cbor_put_bytes_head(&w, SAMPLE_BYTES);
    if (w.overflow) {                    /* cannot happen: at most 34 bytes */
        diag("internal error: reply head does not fit");
        exit(EXIT_PROTOCOL);
    }
    put_be32(head, (uint32_t)(w.len + SAMPLE_BYTES));
    size_t head_len = 4 + w.len;
    uint8_t *start = sample_frame + HEAD_ROOM - head_len;
    memcpy(start, head, head_len);

    sample_data[offset] = 1;
    bool ok = write_all(STDOUT_FILENO, start, head_len + SAMPLE_BYTES);
    sample_data[offset] = 0;
    if (!ok)
        io_failure("write");
}

/* ---- messages ---- */

typedef struct {
    bool seen;
    cbor_item v;
} field;

typedef struct {
    field t, id, m, p;
} message;

static const char *const KEY_NAMES[] = { "t", "id", "m", "p" };

/* Copies at most 32 printable ASCII characters of untrusted text for a log line. */
static void log_safe(char out[40], const cbor_item *s)
{
    size_t n = s->u < 32 ? (size_t)s->u : 32, i;
    for (i = 0; i < n; i++) {
        uint8_t c = s->data[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (s->u > 32)
        for (size_t j = 0; j < 3; j++)
            out[i++] = '.';
    out[i] = '\0';
}

static void parse_message(const uint8_t *buf, size_t n, message *msg)
{
    const char *err;
    size_t at;
    if (!cbor_check(buf, n, MAX_DEPTH, &err, &at))
        violation("bad CBOR: %s (at byte %zu of a %zu-byte frame)", err, at, n);

    /* The item is well-formed from here on; the reads below are still checked. */
    cbor_reader r;
    cbor_reader_init(&r, buf, n);
    cbor_item top;
    if (!cbor_read(&r, &top) || top.kind != CBOR_MAP)
        violation("bad message: not a map");
    memset(msg, 0, sizeof *msg);
    field *slots[] = { &msg->t, &msg->id, &msg->m, &msg->p };
    for (uint64_t i = 0; i < top.u; i++) {
        cbor_item key, value;
        if (!cbor_read(&r, &key))
            violation("bad CBOR: %s", r.err);
        size_t value_at = r.pos;
        if (!cbor_read(&r, &value))
            violation("bad CBOR: %s", r.err);
        r.pos = value_at;
        if (!cbor_skip(&r, 1, MAX_DEPTH))
            violation("bad CBOR: %s", r.err);
        for (size_t k = 0; k < sizeof slots / sizeof slots[0]; k++) {
            if (cbor_text_is(&key, KEY_NAMES[k])) {
                if (slots[k]->seen)
                    violation("bad message: duplicate key \"%s\"", KEY_NAMES[k]);
                slots[k]->seen = true;
                slots[k]->v = value;
            }
        }
    }
    if (!msg->t.seen || msg->t.v.kind != CBOR_TEXT)
        violation("bad message: no text \"t\"");
}

static uint64_t need_id(const message *msg, const char *type)
{
    uint64_t id;
    if (!msg->id.seen || !cbor_item_to_u64(&msg->id.v, &id))
        violation("bad message: \"%s\" without an unsigned integer \"id\"", type);
    return id;
}

static void handle_req(const message *msg)
{
    uint64_t id = need_id(msg, "req");
    text why = { .len = 0 };

    /* Method: absent (or null/undefined) means the default, "offset". */
    const cbor_item *m = &msg->m.v;
    bool default_method = !msg->m.seen || m->kind == CBOR_NULL || m->kind == CBOR_UNDEFINED;
    if (!default_method) {
        if (m->kind != CBOR_TEXT) {
            text_addf(&why, "method must be a text string");
            send_error(id, "EINVAL", &why);
            return;
        }
        if (!cbor_text_is(m, "offset")) {
            text_addf(&why, "unknown method \"");
            text_add_clipped(&why, m->data, (size_t)m->u, METHOD_ECHO_MAX);
            text_addf(&why, "\" (this handler knows \"offset\")");
            send_error(id, "ENOSYS", &why);
            return;
        }
    }

    uint64_t offset;
    if (!msg->p.seen || !cbor_item_to_u64(&msg->p.v, &offset)) {
        text_addf(&why, "payload must be an unsigned integer offset below %u", SAMPLE_BYTES);
        send_error(id, "EINVAL", &why);
        return;
    }
    if (offset >= SAMPLE_BYTES) {
        text_addf(&why, "offset %" PRIu64 " is out of range (must be below %u)", offset, SAMPLE_BYTES);
        send_error(id, "EINVAL", &why);
        return;
    }
    answer_sample(id, offset);
}

/* Returns false when the handler should exit (bye). */
static bool handle_frame(const uint8_t *buf, size_t n)
{
    message msg;
    parse_message(buf, n, &msg);
    const cbor_item *t = &msg.t.v;

    if (cbor_text_is(t, "req")) {
        handle_req(&msg);
    } else if (cbor_text_is(t, "ping")) {
        send_pong(need_id(&msg, "ping"));
    } else if (cbor_text_is(t, "cancel")) {
        /* Best effort, and every request is answered before the next is read. */
    } else if (cbor_text_is(t, "bye")) {
        return false;
    } else {
        char name[40];
        log_safe(name, t);
        diag("ignoring a message of unknown type \"%s\"", name);
    }
    return true;
}

int main(void)
{
    /* A closed stdout must show up as EPIPE from write(), not kill us. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        io_failure("sigaction(SIGPIPE)");

    send_hello();
    diag("ready: wire protocol v%u, sample reply of %u bytes", PROTOCOL_VERSION, SAMPLE_BYTES);

    for (;;) {
        size_t n = read_frame();
        if (n == 0) {
            diag("end of input; exiting");
            break;
        }
        if (!handle_frame(frame_buf, n)) {
            diag("bye; exiting");
            break;
        }
    }
    free(frame_buf);
    return 0;
}
