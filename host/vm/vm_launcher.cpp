#include "host/vm/vm_launcher.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <thread>

#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox::vm {

namespace bp = boost::process;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

struct RunningVm::Process {
    bp::child child;
};

RunningVm::RunningVm(std::unique_ptr<Process> process, ChannelClient channel)
    : process_(std::move(process)), channel_(std::move(channel)) {}

RunningVm::~RunningVm() { kill(); }

int RunningVm::pid() const { return process_->child.id(); }

bool RunningVm::running() {
    std::error_code ec;
    return process_->child.valid() && process_->child.running(ec);
}

void RunningVm::kill() {
    std::error_code ec;
    if (running()) process_->child.terminate(ec);  // SIGKILL
    if (process_->child.valid()) process_->child.wait(ec);
}

bool RunningVm::wait_exit(Millis timeout) {
    std::error_code ec;
    return process_->child.wait_for(timeout, ec) || !running();
}

Status RunningVm::shutdown(Millis timeout) {
    auto sent = channel_.send(proto::make_frame(proto::kConnectionSession, proto::Shutdown{}));
    if (sent && wait_exit(timeout)) return {};
    kill();
    if (!sent) return std::move(sent).error();
    return Error(ErrorKind::System, "the VM did not power off within " +
                                        std::to_string(timeout.count()) + " ms: killed");
}

namespace {

// The last line of QEMU's stderr, to say why it died.
std::string qemu_complaint(const std::string& log) {
    auto text = read_file(log);
    if (!text || text->empty()) return "";
    std::string t = *text;
    while (!t.empty() && t.back() == '\n') t.pop_back();
    return " (QEMU: " + t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1) + ")";
}

struct Attempt {
    std::unique_ptr<RunningVm::Process> process;
    Result<ChannelClient> channel = Error(ErrorKind::Internal, "not connected");
    Result<proto::Hello> hello = Error(ErrorKind::Internal, "no hello");
    Millis took{0};
};

}  // namespace

namespace {

Result<bp::child> start_qemu(const std::vector<std::string>& argv, const std::string& log) {
    auto exe = argv[0].find('/') == std::string::npos ? bp::search_path(argv[0])
                                                      : boost::filesystem::path(argv[0]);
    if (exe.empty()) return Error(ErrorKind::Unsupported, argv[0] + " not found in PATH");
    try {
        // QEMU dies with whoever started it (the supervisor): an orphaned QEMU would hold the
        // containers disk's write lock and keep the next VM from booting.
        return bp::child(exe, bp::args(std::vector<std::string>(argv.begin() + 1, argv.end())),
                         bp::std_in < bp::null, bp::std_out > bp::null, bp::std_err > log,
                         bp::extend::on_exec_setup = [](auto&) { ::prctl(PR_SET_PDEATHSIG, SIGKILL); });
    } catch (const bp::process_error& e) {
        return Error(ErrorKind::System, "start " + argv[0] + ": " + e.what());
    }
}

// One boot: QEMU started, channel connected, hello received — or the deadline.
Attempt attempt_boot(const VmConfig& config, const VmPlatform& facts, const std::string& vm_dir,
                     Millis deadline) {
    Attempt a;
    ::unlink(config.channel_socket.c_str());
    ::unlink(config.qmp_socket.c_str());
    auto argv = qemu_command(config, facts);
    spdlog::debug("starting QEMU with -accel {}", argv.size() > 2 ? argv[2] : "");
    auto start = Clock::now();
    auto child = start_qemu(argv, vm_dir + "/qemu.log");
    if (!child) {
        a.channel = std::move(child).error();
        return a;
    }
    a.process = std::make_unique<RunningVm::Process>(RunningVm::Process{std::move(*child)});
    auto left = [&] { return std::chrono::duration_cast<Millis>(start + deadline - Clock::now()); };
    a.channel = ChannelClient::connect(config.channel_socket, left());
    if (a.channel) a.hello = a.channel->hello(std::max(left(), Millis(1)));
    a.took = std::chrono::duration_cast<Millis>(Clock::now() - start);
    return a;
}

void kill_attempt(Attempt& a) {
    std::error_code ec;
    if (!a.process) return;
    if (a.process->child.running(ec)) a.process->child.terminate(ec);
    a.process->child.wait(ec);
}

VmConfig with_defaults(VmConfig config, const std::string& vm_dir) {
    if (config.channel_socket.empty()) config.channel_socket = vm_dir + "/agent.sock";
    if (config.qmp_socket.empty()) config.qmp_socket = vm_dir + "/qmp.sock";
    if (config.serial_log.empty()) config.serial_log = vm_dir + "/console.log";
    return config;
}

}  // namespace
}  // namespace lxbox::vm

namespace lxbox::vm {

namespace {

// KVM that exists can still hang every real guest (nested KVM on this kind of host: no
// console output at all). A stored verdict for this kernel + QEMU skips the doomed attempt.
bool remembered_hang(const std::string& verdict_path, const KvmVerdict& current) {
    auto stored = load_kvm_verdict(verdict_path);
    return stored && stored->hangs &&
           kvm_verdict_applies(*stored, current.kernel_release, current.qemu_version);
}

void remember(const std::string& verdict_path, const KvmVerdict& verdict) {
    auto stored = load_kvm_verdict(verdict_path);
    if (stored && stored->hangs == verdict.hangs &&
        kvm_verdict_applies(*stored, verdict.kernel_release, verdict.qemu_version))
        return;
    if (auto saved = save_kvm_verdict(verdict_path, verdict); !saved)
        spdlog::warn("cannot remember the KVM verdict: {}", saved.error().message);
}

}  // namespace

Result<std::unique_ptr<RunningVm>> boot_vm(BootRequest req) {
    req.config = with_defaults(std::move(req.config), req.vm_dir);
    const std::string verdict_path = req.vm_dir + "/kvm-verdict.json";
    KvmVerdict current{host_kernel_release(), "", false};
    Accel accel = req.config.force_accel.value_or(req.facts.accel);
    if (accel == Accel::Kvm) {
        auto version = qemu_version(qemu_binary(req.facts));
        current.qemu_version = version ? *version : "";
        if (!req.config.force_accel && remembered_hang(verdict_path, current)) {
            req.facts.accel = Accel::Tcg;
            accel = Accel::Tcg;
        }
    }
    Attempt a = attempt_boot(req.config, req.facts, req.vm_dir,
                             accel == Accel::Kvm ? req.kvm_budget : req.boot_deadline);
    if (accel == Accel::Kvm && !a.hello && !req.config.force_accel) {
        kill_attempt(a);
        if (req.notice)
            req.notice(kvm_fallback_notice(a.took, req.kvm_budget, qemu_complaint(req.vm_dir + "/qemu.log")));
        current.hangs = true;
        remember(verdict_path, current);
        req.facts.accel = Accel::Tcg;
        accel = Accel::Tcg;
        a = attempt_boot(req.config, req.facts, req.vm_dir, req.boot_deadline);
    } else if (accel == Accel::Kvm && a.hello) {
        remember(verdict_path, current);
    }
    if (!a.hello && a.process && accel == Accel::Tcg) {
        // A TCG boot can hang in early boot too (measurements.md; 1 of 100 stop/start cycles in
        // the stress test): a second boot of the same VM is the cure, once.
        kill_attempt(a);
        spdlog::warn("the VM did not answer within {} ms under TCG: booting it once more", req.boot_deadline.count());
        a = attempt_boot(req.config, req.facts, req.vm_dir, req.boot_deadline);
    }
    if (!a.hello) {
        kill_attempt(a);
        Error e = a.channel ? std::move(a.hello).error() : std::move(a.channel).error();
        e.message += qemu_complaint(req.vm_dir + "/qemu.log");
        return std::move(e.context(std::string("boot the VM (") + to_string(accel) + ")"));
    }
    std::unique_ptr<RunningVm> vm(new RunningVm(std::move(a.process), std::move(*a.channel)));
    vm->accel_ = accel;
    vm->hello_ = std::move(*a.hello);
    vm->boot_time_ = a.took;
    return vm;
}

}  // namespace lxbox::vm
