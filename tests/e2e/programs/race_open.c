/* race_open DIR SECONDS: one thread flips a path buffer between DIR/ok/file and DIR/no/file while another opens
 * it in a loop. Prints how many opens reached each file; exits 1 if the denied file was ever opened. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

static char path[4096];
static char allowed[4096], denied[4096];
static volatile int stop;

static void *flipper(void *arg) {
    (void)arg;
    size_t n = strlen(allowed) + 1;
    while (!stop) {
        memcpy(path, allowed, n);
        memcpy(path, denied, n);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    snprintf(allowed, sizeof allowed, "%s/ok/file", argv[1]);
    snprintf(denied, sizeof denied, "%s/no/file", argv[1]);
    memcpy(path, allowed, strlen(allowed) + 1);
    double seconds = atof(argv[2]);
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long ok = 0, secret = 0, failed = 0;
    do {
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            failed++;
        } else {
            char c = 0;
            if (read(fd, &c, 1) == 1 && c == 'S') secret++; else ok++;
            close(fd);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    stop = 1;
    pthread_join(t, NULL);
    printf("ok=%ld secret=%ld failed=%ld\n", ok, secret, failed);
    return secret > 0;
}
