/* A library for LD_PRELOAD (tests/e2e/attacks.rs): its constructor runs inside whatever program loads it, connects
 * to 127.0.0.1:$ATTACK_PORT, sends "preload", reports on stderr and ends the program. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

__attribute__((constructor)) static void attack(void) {
    const char *port = getenv("ATTACK_PORT");
    if (!port) return;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
    if (rc == 0 && write(fd, "preload", 7) != 7) rc = -1;
    fprintf(stderr, "preload connect %s\n", rc == 0 ? "ok" : strerrorname_np(errno));
    close(fd);
    _exit(0);
}
