/*
 * A hostile exec handler: says hello, and for every request tries to have 200 children alive at
 * once (a bounded fork bomb), then releases them and answers {"forked": n, "errno": e, "uid": u}.
 * Exits 0 on EOF or bye. Hand-written CBOR, with the helpers of test/fixtures/c/wire.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../fixtures/c/wire.h"

#define CHILDREN 200

/* A CBOR head at *p: major type and argument (any length); 0 when the frame ends first. */
static int get_head(const uint8_t **p, const uint8_t *end, int *major, uint64_t *arg) {
  if (*p >= end) return 0;
  uint8_t ib = *(*p)++;
  int ai = ib & 31, n = ai < 24 ? 0 : ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : ai == 27 ? 8 : -1;
  *major = ib >> 5;
  if (n < 0 || end - *p < n) return 0;
  *arg = ai < 24 ? (uint64_t)ai : 0;
  while (n-- > 0) *arg = (*arg << 8) | *(*p)++;
  return 1;
}

/* Reads "t" and "id" of a top-level map; stops at the first other key ("m" and "p" come after them). */
static void scan(const uint8_t *p, const uint8_t *end, uint64_t *id, int *is_req, int *is_bye) {
  int major;
  uint64_t pairs, len, value;
  if (!get_head(&p, end, &major, &pairs) || major != 5) return;
  for (uint64_t i = 0; i < pairs; i++) {
    if (!get_head(&p, end, &major, &len) || major != 3 || len > (uint64_t)(end - p)) return;
    const uint8_t *key = p;
    p += len;
    if (len == 1 && key[0] == 't') {
      if (!get_head(&p, end, &major, &value) || major != 3 || value > (uint64_t)(end - p)) return;
      *is_req = value == 3 && memcmp(p, "req", 3) == 0;
      *is_bye = value == 3 && memcmp(p, "bye", 3) == 0;
      p += value;
    } else if (len == 2 && key[0] == 'i' && key[1] == 'd') {
      if (!get_head(&p, end, &major, &value) || major != 0) return;
      *id = value;
    } else {
      return;
    }
  }
}

int main(void) {
  uint8_t out[128];
  size_t n = 0;
  if (send_hello()) return 1;

  for (;;) {
    uint8_t *body;
    uint32_t len;
    int r = read_frame(&body, &len);
    if (r == 0) return 0; /* EOF: the manager is gone */
    if (r == -2) return 2;
    if (r < 0) return 1;
    uint64_t id = 0;
    int is_req = 0, is_bye = 0;
    scan(body, body + len, &id, &is_req, &is_bye);
    free(body);
    if (is_bye) return 0;
    if (!is_req) continue;

    int gate[2], forked = 0, failure = 0;
    if (pipe(gate) != 0) return 1;
    for (int i = 0; i < CHILDREN; i++) {
      pid_t pid = fork();
      if (pid < 0) { failure = errno; break; }
      if (pid == 0) { /* wait until the parent closes the gate, then leave */
        char c;
        close(gate[1]);
        while (read(gate[0], &c, 1) < 0 && errno == EINTR) {}
        _exit(0);
      }
      forked++;
    }
    close(gate[0]);
    close(gate[1]);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {}

    n = 0;
    out[n++] = 0xa4;
    n += put_text(out + n, "t"); n += put_text(out + n, "res");
    n += put_text(out + n, "id"); n += put_head(out + n, 0, id);
    n += put_text(out + n, "ok"); out[n++] = 0xf5;
    n += put_text(out + n, "p");
    out[n++] = 0xa3;
    n += put_text(out + n, "forked"); n += put_head(out + n, 0, (uint64_t)forked);
    n += put_text(out + n, "errno"); n += put_head(out + n, 0, (uint64_t)failure);
    n += put_text(out + n, "uid"); n += put_head(out + n, 0, (uint64_t)getuid());
    if (send_frame(out, n)) return 1;
  }
}
