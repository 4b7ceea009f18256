/* liblo's decoding of OSC packets, for test/protocols/osc/decode-differential.test.ts: reads one
 * packet a line in hex on stdin and hands it to liblo's server as if it had arrived; prints what
 * liblo dispatched ("M <address> <types> <arg>...", "B <seconds> <fraction>" / "E" around a
 * bundle's elements) and then "R <result>" (the bytes used, < 0 when liblo refused the packet).
 * Build: cc -O2 liblo-decode.c -llo (Debian liblo-dev). */
#include <lo/lo.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void hex(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

static int on_message(const char *path, const char *types, lo_arg **argv, int argc, lo_message m, void *u) {
  (void)m; (void)u;
  printf("M ");
  hex((const unsigned char *)path, strlen(path));
  printf(" %s", types);
  for (int i = 0; i < argc; i++) {
    lo_arg *a = argv[i];
    uint32_t f;
    uint64_t d;
    switch (types[i]) {
      case 'i': printf(" %d", a->i); break;
      case 'f': memcpy(&f, &a->f, 4); printf(" %08x", f); break;
      case 'd': memcpy(&d, &a->d, 8); printf(" %016llx", (unsigned long long)d); break;
      case 'h': printf(" %lld", (long long)a->h); break;
      case 't': printf(" %u.%u", a->t.sec, a->t.frac); break;
      case 's': case 'S': printf(" "); hex((const unsigned char *)&a->s, strlen(&a->s)); break;
      case 'c': printf(" %u", a->c); break;
      case 'm': printf(" "); hex(a->m, 4); break;
      case 'b': printf(" %d:", a->blob.size); hex((const unsigned char *)&a->blob.data, (size_t)a->blob.size); break;
      default: printf(" %c", types[i]); break;
    }
  }
  printf("\n");
  return 0;
}

static int on_bundle_start(lo_timetag t, void *u) {
  (void)u;
  printf("B %u %u\n", t.sec, t.frac);
  return 0;
}

static int on_bundle_end(void *u) {
  (void)u;
  printf("E\n");
  return 0;
}

static int nibble(int c) {
  return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static unsigned char data[65536 + 16];
static char line[2 * sizeof data + 2];

int main(void) {
  lo_server s = lo_server_new_with_proto(NULL, LO_UDP, NULL);
  if (!s) return 1;
  lo_server_add_method(s, NULL, NULL, on_message, NULL);
  lo_server_add_bundle_handlers(s, on_bundle_start, on_bundle_end, NULL);
  while (fgets(line, sizeof line, stdin)) {
    size_t n = strcspn(line, "\r\n") / 2;
    for (size_t i = 0; i < n; i++) data[i] = (unsigned char)(nibble(line[2 * i]) << 4 | nibble(line[2 * i + 1]));
    printf("R %d\n", lo_server_dispatch_data(s, data, n));
    fflush(stdout);
  }
  lo_server_free(s);
  return 0;
}
