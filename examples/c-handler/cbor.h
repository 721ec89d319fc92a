/*
 * cbor.h - a minimal, hardened CBOR (RFC 8949) reader and writer for umdkit
 * wire protocol v1. Portable C11, libc only, no allocation.
 *
 * Accepted subset (anything else is refused with a reason):
 *   unsigned and negative integers (every argument width, minimal or not),
 *   definite-length byte strings and text strings (text must be valid UTF-8),
 *   definite-length arrays and maps (map keys must be text strings),
 *   simple values false, true, null and undefined,
 *   half, single and double floats (read, or skipped).
 * Refused: indefinite lengths, tags, other simple values, reserved additional
 * information, items running past the end of the buffer, nesting deeper than
 * the caller's limit.
 *
 * Every read is bounds-checked against the buffer the reader was given.
 */
#ifndef UMDKIT_CBOR_H
#define UMDKIT_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CBOR_UINT,      /* u: the value */
    CBOR_NINT,      /* u: n, the item is -1 - n */
    CBOR_BYTES,     /* u: length, data: content */
    CBOR_TEXT,      /* u: length, data: content (valid UTF-8) */
    CBOR_ARRAY,     /* u: item count (items follow, not consumed) */
    CBOR_MAP,       /* u: pair count (pairs follow, not consumed) */
    CBOR_FALSE,
    CBOR_TRUE,
    CBOR_NULL,
    CBOR_UNDEFINED,
    CBOR_FLOAT      /* f: the value */
} cbor_kind;

typedef struct {
    cbor_kind kind;
    uint64_t u;
    const uint8_t *data;
    double f;
} cbor_item;

typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    const char *err;   /* static text, set on the first failure */
    size_t err_pos;    /* offset of the item that failed */
} cbor_reader;

void cbor_reader_init(cbor_reader *r, const uint8_t *buf, size_t len);

/* Reads the head of the next item; for strings also their content. For arrays
 * and maps only the head is consumed. Returns false (with r->err) on failure. */
bool cbor_read(cbor_reader *r, cbor_item *it);

/* Consumes one complete item. `depth` is the number of containers already
 * open around it; opening one more than `max_depth` fails. Recursion is
 * bounded by `max_depth`. */
bool cbor_skip(cbor_reader *r, unsigned depth, unsigned max_depth);

/* True if buf[0..len) holds exactly one well-formed item of the subset, with
 * nesting at most max_depth and no trailing bytes. On failure *err and
 * *err_pos tell why and where. */
bool cbor_check(const uint8_t *buf, size_t len, unsigned max_depth,
                const char **err, size_t *err_pos);

/* An unsigned integer, or a float holding an integral value in [0, 2^64)
 * (encoders such as cbor-x send integers above 2^32 as doubles). */
bool cbor_item_to_u64(const cbor_item *it, uint64_t *out);

/* True if `it` is a text string equal to the NUL-terminated `s`. */
bool cbor_text_is(const cbor_item *it, const char *s);

/* Writer: appends to a caller-supplied buffer; on overflow sets `overflow`
 * and stops writing (check it once at the end). Heads are minimal. */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool overflow;
} cbor_writer;

void cbor_writer_init(cbor_writer *w, uint8_t *buf, size_t cap);
void cbor_put_uint(cbor_writer *w, uint64_t v);
void cbor_put_map(cbor_writer *w, uint64_t pairs);
void cbor_put_bool(cbor_writer *w, bool v);
void cbor_put_text(cbor_writer *w, const char *s, size_t n);
void cbor_put_cstr(cbor_writer *w, const char *s);
/* Only the head of a byte string; the caller supplies the n content bytes. */
void cbor_put_bytes_head(cbor_writer *w, uint64_t n);

#endif
