/*
 * cbor.c - see cbor.h. The input is untrusted: every length is checked against
 * the bytes left before it is used, and nothing is allocated.
 */
#include "cbor.h"

#include <math.h>   /* NAN, INFINITY (macros only; no libm needed) */
#include <string.h>

_Static_assert(sizeof(float) == 4 && sizeof(double) == 8,
               "IEEE 754 binary32/binary64 expected");

enum {
    MAJOR_UINT = 0, MAJOR_NINT = 1, MAJOR_BYTES = 2, MAJOR_TEXT = 3,
    MAJOR_ARRAY = 4, MAJOR_MAP = 5, MAJOR_TAG = 6, MAJOR_SIMPLE = 7
};

void cbor_reader_init(cbor_reader *r, const uint8_t *buf, size_t len)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
    r->err = NULL;
    r->err_pos = 0;
}

static bool fail(cbor_reader *r, size_t at, const char *why)
{
    if (r->err == NULL) {
        r->err = why;
        r->err_pos = at;
    }
    return false;
}

/* Invariant: r->pos <= r->len, so the subtraction cannot wrap. */
static bool have(const cbor_reader *r, uint64_t n)
{
    return n <= (uint64_t)(r->len - r->pos);
}

static uint64_t take_be(cbor_reader *r, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | r->buf[r->pos++];
    return v;
}

/* The argument of a head with major type 0..6 (ai 0..27). */
static bool read_arg(cbor_reader *r, unsigned ai, size_t at, uint64_t *out)
{
    if (ai < 24) {
        *out = ai;
        return true;
    }
    if (ai > 27)
        return fail(r, at, "reserved additional information");
    unsigned n = 1u << (ai - 24);
    if (!have(r, n))
        return fail(r, at, "truncated item head");
    *out = take_be(r, n);
    return true;
}

static double pow2i(int e)
{
    double v = 1.0;
    for (; e > 0; e--) v *= 2.0;
    for (; e < 0; e++) v *= 0.5;
    return v;
}

static double half_to_double(uint16_t h)
{
    unsigned e = (h >> 10) & 0x1fu;
    unsigned m = h & 0x3ffu;
    double v;
    if (e == 0)
        v = (double)m * pow2i(-24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = (double)(m + 1024u) * pow2i((int)e - 25);
    return (h & 0x8000u) ? -v : v;
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t k;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf)      { k = 1; cp = c & 0x1fu; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { k = 2; cp = c & 0x0fu; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { k = 3; cp = c & 0x07u; min = 0x10000; }
        else return false;
        if (k > n - i - 1)
            return false;
        for (size_t j = 1; j <= k; j++) {
            uint8_t cc = s[i + j];
            if ((cc & 0xc0u) != 0x80u)
                return false;
            cp = (cp << 6) | (cc & 0x3fu);
        }
        if (cp < min || cp > 0x10ffffu || (cp >= 0xd800u && cp <= 0xdfffu))
            return false;
        i += k + 1;
    }
    return true;
}

bool cbor_read(cbor_reader *r, cbor_item *it)
{
    if (r->err != NULL)
        return false;
    size_t at = r->pos;
    if (!have(r, 1))
        return fail(r, at, "truncated: a data item runs past the end of the frame");
    uint8_t ib = r->buf[r->pos++];
    unsigned major = ib >> 5, ai = ib & 0x1fu;

    it->kind = CBOR_NULL;
    it->u = 0;
    it->data = NULL;
    it->f = 0.0;

    switch (major) {
    case MAJOR_UINT:
    case MAJOR_NINT:
        if (ai == 31)
            return fail(r, at, "indefinite length on an integer");
        if (!read_arg(r, ai, at, &it->u))
            return false;
        it->kind = major == MAJOR_UINT ? CBOR_UINT : CBOR_NINT;
        return true;

    case MAJOR_BYTES:
    case MAJOR_TEXT:
        if (ai == 31)
            return fail(r, at, "indefinite-length string");
        if (!read_arg(r, ai, at, &it->u))
            return false;
        if (!have(r, it->u))
            return fail(r, at, "truncated: a string runs past the end of the frame");
        it->data = r->buf + r->pos;
        if (major == MAJOR_TEXT && !utf8_valid(it->data, (size_t)it->u))
            return fail(r, at, "text string is not valid UTF-8");
        r->pos += (size_t)it->u;
        it->kind = major == MAJOR_BYTES ? CBOR_BYTES : CBOR_TEXT;
        return true;

    case MAJOR_ARRAY:
    case MAJOR_MAP:
        if (ai == 31)
            return fail(r, at, "indefinite-length array or map");
        if (!read_arg(r, ai, at, &it->u))
            return false;
        it->kind = major == MAJOR_ARRAY ? CBOR_ARRAY : CBOR_MAP;
        return true;

    case MAJOR_TAG:
        return fail(r, at, "tag (payloads carry no tags)");

    default: /* MAJOR_SIMPLE */
        switch (ai) {
        case 20: it->kind = CBOR_FALSE; return true;
        case 21: it->kind = CBOR_TRUE; return true;
        case 22: it->kind = CBOR_NULL; return true;
        case 23: it->kind = CBOR_UNDEFINED; return true;
        case 24: return fail(r, at, "unsupported simple value (two-byte form)");
        case 25:
            if (!have(r, 2))
                return fail(r, at, "truncated float");
            it->f = half_to_double((uint16_t)take_be(r, 2));
            it->kind = CBOR_FLOAT;
            return true;
        case 26: {
            if (!have(r, 4))
                return fail(r, at, "truncated float");
            uint32_t bits = (uint32_t)take_be(r, 4);
            float f;
            memcpy(&f, &bits, sizeof f);
            it->f = (double)f;
            it->kind = CBOR_FLOAT;
            return true;
        }
        case 27: {
            if (!have(r, 8))
                return fail(r, at, "truncated float");
            uint64_t bits = take_be(r, 8);
            memcpy(&it->f, &bits, sizeof it->f);
            it->kind = CBOR_FLOAT;
            return true;
        }
        case 28: case 29: case 30:
            return fail(r, at, "reserved additional information");
        case 31:
            return fail(r, at, "break outside an indefinite-length item");
        default:
            return fail(r, at, "unsupported simple value");
        }
    }
}

bool cbor_skip(cbor_reader *r, unsigned depth, unsigned max_depth)
{
    size_t at = r->pos;
    cbor_item it;
    if (!cbor_read(r, &it))
        return false;
    if (it.kind != CBOR_ARRAY && it.kind != CBOR_MAP)
        return true;
    if (depth >= max_depth)
        return fail(r, at, "nesting too deep");
    /* Every item takes at least one byte: refuse impossible counts up front. */
    uint64_t left = (uint64_t)(r->len - r->pos);
    if (it.kind == CBOR_MAP ? it.u > left / 2 : it.u > left)
        return fail(r, at, "truncated: a container count runs past the end of the frame");
    for (uint64_t i = 0; i < it.u; i++) {
        if (it.kind == CBOR_MAP) {
            size_t key_at = r->pos;
            cbor_item key;
            if (!cbor_read(r, &key))
                return false;
            if (key.kind != CBOR_TEXT)
                return fail(r, key_at, "map key is not a text string");
        }
        if (!cbor_skip(r, depth + 1, max_depth))
            return false;
    }
    return true;
}

bool cbor_check(const uint8_t *buf, size_t len, unsigned max_depth,
                const char **err, size_t *err_pos)
{
    cbor_reader r;
    cbor_reader_init(&r, buf, len);
    if (!cbor_skip(&r, 0, max_depth)) {
        *err = r.err;
        *err_pos = r.err_pos;
        return false;
    }
    if (r.pos != len) {
        *err = "trailing bytes after the data item";
        *err_pos = r.pos;
        return false;
    }
    return true;
}

bool cbor_item_to_u64(const cbor_item *it, uint64_t *out)
{
    if (it->kind == CBOR_UINT) {
        *out = it->u;
        return true;
    }
    if (it->kind == CBOR_FLOAT) {
        double d = it->f;
        /* NaN fails the first comparison; 18446744073709551616.0 is 2^64. */
        if (!(d >= 0.0) || !(d < 18446744073709551616.0))
            return false;
        uint64_t v = (uint64_t)d;
        if ((double)v != d)
            return false;
        *out = v;
        return true;
    }
    return false;
}

bool cbor_text_is(const cbor_item *it, const char *s)
{
    size_t n = strlen(s);
    return it->kind == CBOR_TEXT && it->u == n && memcmp(it->data, s, n) == 0;
}

/* ---- writer ---- */

void cbor_writer_init(cbor_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = false;
}

static void put_raw(cbor_writer *w, const void *p, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    if (n > 0)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_head(cbor_writer *w, unsigned major, uint64_t v)
{
    uint8_t b[9];
    size_t n;
    unsigned mt = major << 5;
    if (v < 24) {
        b[0] = (uint8_t)(mt | (unsigned)v);
        n = 1;
    } else {
        unsigned width = v <= 0xffu ? 1 : v <= 0xffffu ? 2 : v <= 0xffffffffu ? 4 : 8;
        unsigned ai = width == 1 ? 24 : width == 2 ? 25 : width == 4 ? 26 : 27;
        b[0] = (uint8_t)(mt | ai);
        for (unsigned i = 0; i < width; i++)
            b[1 + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
        n = 1 + width;
    }
    put_raw(w, b, n);
}

void cbor_put_uint(cbor_writer *w, uint64_t v) { put_head(w, MAJOR_UINT, v); }
void cbor_put_map(cbor_writer *w, uint64_t pairs) { put_head(w, MAJOR_MAP, pairs); }
void cbor_put_bytes_head(cbor_writer *w, uint64_t n) { put_head(w, MAJOR_BYTES, n); }

void cbor_put_bool(cbor_writer *w, bool v)
{
    uint8_t b = v ? 0xf5 : 0xf4;
    put_raw(w, &b, 1);
}

void cbor_put_text(cbor_writer *w, const char *s, size_t n)
{
    put_head(w, MAJOR_TEXT, n);
    put_raw(w, s, n);
}

void cbor_put_cstr(cbor_writer *w, const char *s)
{
    cbor_put_text(w, s, strlen(s));
}
