/* A static probe run inside containers by the hardening tests: makes one syscall with
 * harmless arguments and prints "ok" or the errno's name, so a test can tell a seccomp or
 * capability refusal (EPERM) from the kernel's own answer (EINVAL, EFAULT, ENOSYS...).
 *   syscall_probe NAME     e.g. keyctl, bpf, unshare-user, clone-newuser, socket-vsock
 * and, for the network tests, a sniffer that needs CAP_NET_RAW:
 *   syscall_probe sniff-udp PORT   reads the loopback interface through an AF_PACKET socket,
 *                                  prints "listening", then "seen" once it captures a UDP
 *                                  datagram to PORT carrying "lxbox-sniff" (or "timeout") */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long probe(const char* name) {
    if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0);
    if (!strcmp(name, "add_key")) return syscall(SYS_add_key, "user", "lxbox", "x", 1, -3);
    if (!strcmp(name, "request_key")) return syscall(SYS_request_key, "user", "lxbox", NULL, -3);
    if (!strcmp(name, "bpf")) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        return syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
    }
    if (!strcmp(name, "perf_event_open")) {
        struct perf_event_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        return syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    }
    if (!strcmp(name, "userfaultfd")) return syscall(SYS_userfaultfd, 0);
    if (!strcmp(name, "kexec_load")) return syscall(SYS_kexec_load, 0, 0, NULL, 0);
    if (!strcmp(name, "open_by_handle_at")) return syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0);
    if (!strcmp(name, "init_module")) return syscall(SYS_init_module, NULL, 0, "");
    if (!strcmp(name, "mount")) return mount("none", "/tmp", "tmpfs", 0, NULL);
    if (!strcmp(name, "unshare-user")) return unshare(CLONE_NEWUSER);
    if (!strcmp(name, "clone-newuser") || !strcmp(name, "clone-plain")) {
        long flags = SIGCHLD | (!strcmp(name, "clone-newuser") ? CLONE_NEWUSER : 0);
        long pid = syscall(SYS_clone, flags, 0, NULL, NULL, 0);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid((pid_t)pid, NULL, 0);
        return pid < 0 ? -1 : 0;
    }
    if (!strcmp(name, "clone3")) return syscall(SYS_clone3, NULL, 0);
    if (!strcmp(name, "personality-query")) return personality(0xffffffff) < 0 ? -1 : 0;
    if (!strcmp(name, "personality-norandom")) return personality(ADDR_NO_RANDOMIZE);
    if (!strcmp(name, "socket-vsock")) return socket(40 /* AF_VSOCK */, SOCK_STREAM, 0);
    if (!strcmp(name, "socket-unix")) return socket(AF_UNIX, SOCK_STREAM, 0);
    if (!strcmp(name, "socket-packet")) return socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (!strcmp(name, "socket-raw")) return socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    fprintf(stderr, "syscall_probe: unknown probe %s\n", name);
    _exit(2);
}

/* The IP packets crossing lo, without their link header, until one is a UDP datagram to port
 * whose payload holds the marker; bounded by a receive timeout so a test cannot hang on it. */
static int sniff_udp(int port) {
    int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
    if (fd < 0) {
        printf("%s\n", strerrorname_np(errno));
        return 1;
    }
    struct sockaddr_ll lo;
    memset(&lo, 0, sizeof lo);
    lo.sll_family = AF_PACKET;
    lo.sll_protocol = htons(ETH_P_IP);
    lo.sll_ifindex = (int)if_nametoindex("lo");
    struct timeval wait = {20, 0};
    if (!lo.sll_ifindex || bind(fd, (struct sockaddr*)&lo, sizeof lo) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait) != 0) {
        printf("setup %s\n", strerrorname_np(errno));
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    char packet[65536];
    for (;;) {
        ssize_t n = recv(fd, packet, sizeof packet, 0);
        if (n < 0) {
            printf(errno == EAGAIN ? "timeout\n" : "recv failed\n");
            return 1;
        }
        const struct iphdr* ip = (const struct iphdr*)packet;
        size_t header = (size_t)ip->ihl * 4;
        if ((size_t)n < header + sizeof(struct udphdr) || ip->protocol != IPPROTO_UDP) continue;
        const struct udphdr* udp = (const struct udphdr*)(packet + header);
        if (ntohs(udp->dest) == port && memmem(packet, (size_t)n, "lxbox-sniff", 11)) {
            printf("seen\n");
            return 0;
        }
    }
}

int main(int argc, char** argv) {
    if (argc == 3 && !strcmp(argv[1], "sniff-udp")) return sniff_udp(atoi(argv[2]));
    if (argc != 2) {
        fprintf(stderr, "usage: syscall_probe NAME\n");
        return 2;
    }
    errno = 0;
    long r = probe(argv[1]);
    if (r >= 0 || errno == 0) {
        puts("ok");
        return 0;
    }
    const char* e = strerrorname_np(errno);
    puts(e ? e : "E?");
    return 1;
}
