/* The liblo baseline for `npm run bench -- osc-ingest`: liblo's own server decoding and
 * dispatching every message to a catch-all method, as an app built on liblo would. Prints its
 * UDP port, then on each line read from stdin the messages it has dispatched so far; exits at
 * EOF. Build: cc -O2 liblo-receiver.c -llo (Debian liblo-dev). */
#include <lo/lo.h>
#include <stdio.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned long count;

static int on_message(const char *path, const char *types, lo_arg **argv, int argc, lo_message m, void *u) {
  (void)path; (void)types; (void)argv; (void)argc; (void)m; (void)u;
  count++;
  return 0;
}

int main(void) {
  lo_server s = lo_server_new_with_proto(NULL, LO_UDP, NULL);
  if (!s) return 1;
  lo_server_add_method(s, NULL, NULL, on_message, NULL);
  int fd = lo_server_get_socket_fd(s);
  int size = 4 * 1024 * 1024; /* as the daemon and the bare receiver ask */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  printf("%d\n", lo_server_get_port(s));
  fflush(stdout);
  char line[64];
  for (;;) {
    fd_set in;
    FD_ZERO(&in);
    FD_SET(0, &in);
    FD_SET(fd, &in);
    if (select(fd + 1, &in, NULL, NULL, NULL) < 0) continue;
    if (FD_ISSET(fd, &in)) while (lo_server_recv_noblock(s, 0) > 0) {}
    if (FD_ISSET(0, &in)) {
      if (!fgets(line, sizeof line, stdin)) break;
      printf("%lu\n", count);
      fflush(stdout);
    }
  }
  lo_server_free(s);
  return 0;
}
