#include "runtime/linux/pty.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <utility>

namespace lxbox::linux_fx {

Result<PtyPair> open_pty() {
    PtyPair p;
    p.master = LXBOX_TRY(open_fd("/dev/pts/ptmx", O_RDWR | O_NOCTTY));
    int unlock = 0;
    if (::ioctl(p.master.get(), TIOCSPTLCK, &unlock) != 0) return Error::last("unlock pty");
    unsigned n = 0;
    if (::ioctl(p.master.get(), TIOCGPTN, &n) != 0) return Error::last("get pty number");
    p.slave_path = "/dev/pts/" + std::to_string(n);
    return p;
}

Status become_tty_session(const std::string& slave_path) {
    // A container's first process leads a session of its own already (without --init, or an
    // OCI process): then it is the one to take the terminal.
    if (::setsid() < 0 && ::getsid(0) != ::getpid()) return Error::last("setsid");
    // Without O_CLOEXEC on purpose: this fd becomes the command's stdio below.
    int fd = ::open(slave_path.c_str(), O_RDWR);
    if (fd < 0) return Error::last("open " + slave_path);
    if (::ioctl(fd, TIOCSCTTY, 0) != 0) return Error::last("make " + slave_path + " the controlling terminal");
    for (int target = 0; target < 3; ++target) {
        if (::dup2(fd, target) < 0) return Error::last("dup2 " + slave_path);
    }
    if (fd > 2) ::close(fd);
    return {};
}

Status send_fd(int sock, int fd) {
    char byte = 'F';
    struct iovec iov {&byte, 1};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    while (::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) {
        if (errno != EINTR) return Error::last("send the pty to lxbox");
    }
    return {};
}

Result<UniqueFd> recv_fd(int sock) {
    char byte = 0;
    struct iovec iov {&byte, 1};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    while ((n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0) {
        if (errno != EINTR) return Error::last("receive the container's pty");
    }
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (n == 0 || !c || c->cmsg_type != SCM_RIGHTS)
        return Error(ErrorKind::System, "receive the container's pty: the container exited first");
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return UniqueFd(fd);
}

Result<RawTerminal> RawTerminal::enter(int fd) {
    RawTerminal t;
    if (::tcgetattr(fd, &t.saved_) != 0) return Error::last("read terminal settings");
    struct termios raw = t.saved_;
    ::cfmakeraw(&raw);
    if (::tcsetattr(fd, TCSADRAIN, &raw) != 0) return Error::last("set the terminal raw");
    t.fd_ = fd;
    return t;
}

RawTerminal::RawTerminal(RawTerminal&& o) noexcept : fd_(std::exchange(o.fd_, -1)), saved_(o.saved_) {}

RawTerminal::~RawTerminal() {
    if (fd_ >= 0) ::tcsetattr(fd_, TCSADRAIN, &saved_);
}

void copy_window_size(int from, int to) {
    struct winsize ws {};
    if (::ioctl(from, TIOCGWINSZ, &ws) == 0) ::ioctl(to, TIOCSWINSZ, &ws);
}

std::optional<WindowSize> window_size(int fd) {
    struct winsize ws {};
    if (::ioctl(fd, TIOCGWINSZ, &ws) != 0) return std::nullopt;
    return WindowSize{ws.ws_row, ws.ws_col};
}

Status set_window_size(int fd, WindowSize size) {
    struct winsize ws {};
    ws.ws_row = size.rows;
    ws.ws_col = size.cols;
    if (::ioctl(fd, TIOCSWINSZ, &ws) != 0)
        return Error::last("set the pty's size to " + std::to_string(size.rows) + "x" + std::to_string(size.cols));
    return {};
}

}  // namespace lxbox::linux_fx
