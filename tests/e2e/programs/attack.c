/* attack OP ARGS...: one raw syscall through a chosen entry point, or one io_uring operation, for the attack lists
 * of tests/e2e/attacks.rs. Prints `ok VALUE` or `err ENAME` on the first line, then `buf HEX` for each buffer
 * argument as it is after the call. A filter's kill shows as the exit status (SIGSYS: 159).
 *
 *   int80 NR ARG...       i386 syscall through `int 0x80` (at most 5 arguments)
 *   x32 NR ARG...         x32 syscall (NR | __X32_SYSCALL_BIT)
 *   native NR ARG...      x86_64 syscall
 *   uring-openat PATH FLAGS, uring-unlinkat PATH FLAGS, uring-renameat OLD NEW, uring-mkdirat PATH,
 *   uring-connect PORT    one io_uring submission (connect: TCP to 127.0.0.1:PORT, then sends "io_uring")
 *   connect PORT          a plain connect(2) to 127.0.0.1:PORT, then sends "connect"
 *   exe-swap EXE PORT     makes EXE this process's /proc/PID/exe (prctl PR_SET_MM_MAP with exe_fd, which needs
 *                         CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE in the process's own user namespace: root, or any
 *                         user after `unshare -Ur`), then connects as `connect` does and sends "exe-swap". The kernel
 *                         changes the exe only once no mapping of the old file is left, so the last steps run from
 *                         anonymous memory with raw syscalls; the result is the exit status: 0 sent, 64+errno the
 *                         prctl failed, 128+errno (capped) the connect failed.
 *
 * An argument is a number (strtoll, base 0), `s:TEXT` (a NUL-terminated string), `h:HEX` (bytes) or `z:N` (N zero
 * bytes). Strings and bytes live below 2 GiB (MAP_32BIT), where i386 and x32 pointers reach them. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static char *low;
static size_t low_used;
static struct {
    unsigned char *p;
    size_t n;
} bufs[8];
static int nbufs;

static void *low_alloc(size_t n) {
    if (!low) {
        low = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (low == MAP_FAILED) {
            perror("mmap");
            exit(2);
        }
    }
    if (low_used + n > (1 << 20)) exit(2);
    void *p = low + low_used;
    low_used += (n + 15) & ~(size_t)15;
    return p;
}

static void keep(unsigned char *p, size_t n) {
    if (nbufs < 8) {
        bufs[nbufs].p = p;
        bufs[nbufs].n = n;
        nbufs++;
    }
}

static long arg(const char *text) {
    if (!strncmp(text, "s:", 2)) {
        char *p = low_alloc(strlen(text + 2) + 1);
        strcpy(p, text + 2);
        return (long)p;
    }
    if (!strncmp(text, "h:", 2)) {
        size_t n = strlen(text + 2) / 2;
        unsigned char *p = low_alloc(n + 1);
        for (size_t i = 0; i < n; i++) sscanf(text + 2 + 2 * i, "%2hhx", &p[i]);
        keep(p, n);
        return (long)p;
    }
    if (!strncmp(text, "z:", 2)) {
        size_t n = strtoul(text + 2, NULL, 0);
        unsigned char *p = low_alloc(n);
        keep(p, n);
        return (long)p;
    }
    return strtoll(text, NULL, 0);
}

/* The i386 entry: the number in eax, arguments in ebx, ecx, edx, esi, edi; the result in eax. */
static long int80(long nr, long a1, long a2, long a3, long a4, long a5) {
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a1), "c"(a2), "d"(a3), "S"(a4), "D"(a5)
                     : "memory", "r8", "r9", "r10", "r11");
    return (int)ret;
}

static int report(long ret) {
    if (ret < 0 && ret > -4096) {
        const char *name = strerrorname_np((int)-ret);
        printf("err %s\n", name ? name : "E?");
    } else {
        printf("ok %ld\n", ret);
    }
    for (int i = 0; i < nbufs; i++) {
        printf("buf ");
        for (size_t j = 0; j < bufs[i].n; j++) printf("%02x", bufs[i].p[j]);
        printf("\n");
    }
    return 0;
}

/* Submits one SQE and waits for it: the completion's result, or -errno of the set-up. */
static long uring_one(const struct io_uring_sqe *tmpl) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int fd = syscall(__NR_io_uring_setup, 4, &p);
    if (fd < 0) return -errno;
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) sq_size = cq_size = sq_size > cq_size ? sq_size : cq_size;
    char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    char *cq = (p.features & IORING_FEAT_SINGLE_MMAP)
                   ? sq
                   : mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof *sqes, PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) return -errno;
    unsigned *tail = (unsigned *)(sq + p.sq_off.tail), mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    unsigned t = *tail, idx = t & mask;
    sqes[idx] = *tmpl;
    array[idx] = idx;
    __atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
    if (syscall(__NR_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) return -errno;
    unsigned head = __atomic_load_n((unsigned *)(cq + p.cq_off.head), __ATOMIC_ACQUIRE);
    struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return cqes[head & *(unsigned *)(cq + p.cq_off.ring_mask)].res;
}

/* What the exe-swap stub reads (offsets fixed: the assembly below uses them). */
struct swap {
    long ranges[32][2]; /* 0: mappings of the program's own file, to unmap */
    long n;             /* 512 */
    long map;           /* 520: struct prctl_mm_map * */
    long sock;          /* 528 */
    long addr;          /* 536 */
    long addrlen;       /* 544 */
    long msg;           /* 552 */
    long msglen;        /* 560 */
};
_Static_assert(sizeof(struct swap) == 568, "struct swap layout");

/* swap_stub(struct swap *): munmap each range, prctl(PR_SET_MM, PR_SET_MM_MAP, map, 104), connect, write, exit. */
extern char swap_stub[], swap_stub_end[];
__asm__(".pushsection .text\n"
        "swap_stub:\n"
        "  mov %rdi, %rbx\n"
        "  xor %r12, %r12\n"
        "1: cmp 512(%rbx), %r12\n"
        "  jge 2f\n"
        "  mov %r12, %rax\n"
        "  shl $4, %rax\n"
        "  mov (%rbx,%rax), %rdi\n"
        "  mov 8(%rbx,%rax), %rsi\n"
        "  mov $11, %eax\n" /* munmap */
        "  syscall\n"
        "  inc %r12\n"
        "  jmp 1b\n"
        "2: mov $157, %eax\n" /* prctl */
        "  mov $35, %edi\n"   /* PR_SET_MM */
        "  mov $14, %esi\n"   /* PR_SET_MM_MAP */
        "  mov 520(%rbx), %rdx\n"
        "  mov $104, %r10d\n" /* sizeof(struct prctl_mm_map) */
        "  xor %r8, %r8\n"
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jz 3f\n"
        "  neg %rax\n"
        "  lea 64(%rax), %rdi\n"
        "  mov $231, %eax\n" /* exit_group */
        "  syscall\n"
        "3: mov $42, %eax\n" /* connect */
        "  mov 528(%rbx), %rdi\n"
        "  mov 536(%rbx), %rsi\n"
        "  mov 544(%rbx), %rdx\n"
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jz 4f\n"
        "  neg %rax\n"
        "  cmp $127, %rax\n"
        "  jbe 5f\n"
        "  mov $127, %eax\n"
        "5: lea 128(%rax), %rdi\n"
        "  mov $231, %eax\n"
        "  syscall\n"
        "4: mov $1, %eax\n" /* write */
        "  mov 528(%rbx), %rdi\n"
        "  mov 552(%rbx), %rsi\n"
        "  mov 560(%rbx), %rdx\n"
        "  syscall\n"
        "  xor %edi, %edi\n"
        "  mov $231, %eax\n"
        "  syscall\n"
        "swap_stub_end:\n"
        ".popsection\n");

static struct sockaddr_in *loopback(const char *port) {
    static struct sockaddr_in sin;
    sin.sin_family = AF_INET;
    sin.sin_port = htons(atoi(port));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return &sin;
}

static int exe_swap(const char *exe, const char *port) {
    static char self[4096], stat[4096], line[8192];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) return report(-errno);
    self[n] = 0;
    struct swap *s = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FILE *maps = fopen("/proc/self/maps", "r");
    if (s == MAP_FAILED || !maps) return report(-errno);
    while (fgets(line, sizeof line, maps) && s->n < 32) {
        unsigned long lo, hi;
        char path[4096] = "";
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %4095s", &lo, &hi, path) >= 2 && !strcmp(path, self)) {
            s->ranges[s->n][0] = (long)lo;
            s->ranges[s->n][1] = (long)(hi - lo);
            s->n++;
        }
    }
    fclose(maps);
    /* struct prctl_mm_map from the current layout (/proc/self/stat fields 26-28 and 45-51), plus exe_fd. */
    FILE *st = fopen("/proc/self/stat", "r");
    if (!st) return report(-errno);
    size_t got = fread(stat, 1, sizeof stat - 1, st);
    fclose(st);
    stat[got] = 0;
    char *p = strrchr(stat, ')');
    if (!p) return 2;
    p += 4; /* ") S " */
    unsigned long long f[53] = {0};
    for (int i = 4; i <= 52; i++) f[i] = strtoull(p, &p, 10);
    unsigned long long *map = (unsigned long long *)((char *)s + 6000);
    unsigned long long fields[] = {f[26], f[27], f[45], f[46], f[47], (unsigned long long)(long)sbrk(0),
                                   f[28], f[48], f[49], f[50], f[51]};
    memcpy(map, fields, sizeof fields);
    map[11] = 0;                                   /* auxv */
    unsigned int *tail = (unsigned int *)&map[12]; /* auxv_size, exe_fd */
    tail[0] = 0;
    int fd = open(exe, O_RDONLY);
    if (fd < 0) return report(-errno);
    tail[1] = (unsigned int)fd;
    s->map = (long)map;
    s->sock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in *sin = (struct sockaddr_in *)((char *)s + 4096);
    *sin = *loopback(port);
    s->addr = (long)sin;
    s->addrlen = sizeof *sin;
    memcpy((char *)s + 4200, "exe-swap", 8);
    s->msg = (long)s + 4200;
    s->msglen = 8;
    size_t len = (size_t)(swap_stub_end - swap_stub);
    char *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) return report(-errno);
    memcpy(code, swap_stub, len);
    fflush(stdout);
    ((void (*)(struct swap *))(void *)code)(s);
    return 2; /* not reached: the stub exits */
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *op = argv[1];
    if (!strcmp(op, "int80") || !strcmp(op, "x32") || !strcmp(op, "native")) {
        long a[6] = {0};
        if (argc < 3 || argc > 9) return 2;
        long nr = arg(argv[2]);
        for (int i = 3; i < argc; i++) a[i - 3] = arg(argv[i]);
        if (!strcmp(op, "int80")) {
            if (argc > 8) return 2;
            return report(int80(nr, a[0], a[1], a[2], a[3], a[4]));
        }
        if (!strcmp(op, "x32")) nr |= 0x40000000;
        long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        return report(r < 0 ? -errno : r);
    }
    if (!strcmp(op, "connect") && argc == 3) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        long rc = connect(fd, (struct sockaddr *)loopback(argv[2]), sizeof(struct sockaddr_in)) ? -errno : 0;
        if (rc == 0 && write(fd, "connect", 7) != 7) rc = -errno;
        return report(rc);
    }
    if (!strcmp(op, "exe-swap") && argc == 4) return exe_swap(argv[2], argv[3]);
    struct io_uring_sqe sqe;
    memset(&sqe, 0, sizeof sqe);
    sqe.fd = AT_FDCWD;
    int sock = -1;
    if (!strcmp(op, "uring-openat") && argc == 4) {
        sqe.opcode = IORING_OP_OPENAT;
        sqe.addr = (unsigned long)argv[2];
        sqe.open_flags = arg(argv[3]);
        sqe.len = 0644;
    } else if (!strcmp(op, "uring-unlinkat") && argc == 4) {
        sqe.opcode = IORING_OP_UNLINKAT;
        sqe.addr = (unsigned long)argv[2];
        sqe.unlink_flags = arg(argv[3]);
    } else if (!strcmp(op, "uring-renameat") && argc == 4) {
        sqe.opcode = IORING_OP_RENAMEAT;
        sqe.addr = (unsigned long)argv[2];
        sqe.len = AT_FDCWD;
        sqe.addr2 = (unsigned long)argv[3];
    } else if (!strcmp(op, "uring-mkdirat") && argc == 3) {
        sqe.opcode = IORING_OP_MKDIRAT;
        sqe.addr = (unsigned long)argv[2];
        sqe.len = 0755;
    } else if (!strcmp(op, "uring-connect") && argc == 3) {
        sock = socket(AF_INET, SOCK_STREAM, 0);
        sqe.opcode = IORING_OP_CONNECT;
        sqe.fd = sock;
        sqe.addr = (unsigned long)loopback(argv[2]);
        sqe.off = sizeof(struct sockaddr_in);
    } else {
        return 2;
    }
    long res = uring_one(&sqe);
    if (sock >= 0 && res == 0 && write(sock, "io_uring", 8) != 8) res = -errno;
    return report(res);
}
