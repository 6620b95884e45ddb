#include "runtime/linux/security.hpp"

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/unique_fd.hpp"
#include "runtime/image/digest.hpp"

namespace lxbox::linux_fx {

namespace {

using runtime::SeccompAction;
using runtime::SeccompArg;
using runtime::SeccompPlan;

struct CtxFree {
    void operator()(scmp_filter_ctx c) const { seccomp_release(c); }
};
using Ctx = std::unique_ptr<void, CtxFree>;

uint32_t action_of(SeccompAction a, int err) {
    switch (a) {
    case SeccompAction::Allow: return SCMP_ACT_ALLOW;
    case SeccompAction::Errno: return SCMP_ACT_ERRNO(static_cast<uint32_t>(err));
    case SeccompAction::KillThread: return SCMP_ACT_KILL_THREAD;
    case SeccompAction::KillProcess: return SCMP_ACT_KILL_PROCESS;
    case SeccompAction::Trap: return SCMP_ACT_TRAP;
    case SeccompAction::Log: return SCMP_ACT_LOG;
    }
    return SCMP_ACT_KILL_PROCESS;
}

scmp_arg_cmp cmp_of(const SeccompArg& a) {
    scmp_arg_cmp c{};
    c.arg = a.index;
    switch (a.op) {
    case SeccompArg::Op::Eq:
        // The low 32 bits only, for arguments the kernel truncates to int.
        if (a.low32) {
            c.op = SCMP_CMP_MASKED_EQ;
            c.datum_a = 0xffffffffULL;
            c.datum_b = a.value & 0xffffffffULL;
        } else {
            c.op = SCMP_CMP_EQ;
            c.datum_a = a.value;
        }
        break;
    case SeccompArg::Op::Ne:
        c.op = SCMP_CMP_NE;
        c.datum_a = a.low32 ? (a.value & 0xffffffffULL) : a.value;
        break;
    case SeccompArg::Op::Lt: c.op = SCMP_CMP_LT; c.datum_a = a.value; break;
    case SeccompArg::Op::Le: c.op = SCMP_CMP_LE; c.datum_a = a.value; break;
    case SeccompArg::Op::Ge: c.op = SCMP_CMP_GE; c.datum_a = a.value; break;
    case SeccompArg::Op::Gt: c.op = SCMP_CMP_GT; c.datum_a = a.value; break;
    case SeccompArg::Op::MaskedEq:
        c.op = SCMP_CMP_MASKED_EQ;
        c.datum_a = a.mask;
        c.datum_b = a.value;
        break;
    }
    return c;
}

Result<Ctx> build_filter(SeccompAction default_action, int default_errno, const std::vector<runtime::SeccompRule>& rules) {
    Ctx ctx(seccomp_init(action_of(default_action, default_errno)));
    if (!ctx) return Error(ErrorKind::System, "seccomp: cannot create a filter");
    // A binary tree over the syscall numbers instead of a linear chain: every syscall of the
    // container runs this filter, ~10 comparisons instead of ~300 for docker's allowlist.
    (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
    // i386 binaries get the same filter; the x32 ABI (rarely enabled, never needed in a
    // container) is not added, so its syscalls get libseccomp's bad-architecture kill.
#if defined(__x86_64__)
    for (uint32_t arch : {SCMP_ARCH_X86}) {
        int r = seccomp_arch_add(ctx.get(), arch);
        if (r != 0 && r != -EEXIST) return Error::sys(-r, "seccomp: add architecture");
    }
#elif defined(__aarch64__)
    if (int r = seccomp_arch_add(ctx.get(), SCMP_ARCH_ARM); r != 0 && r != -EEXIST)
        return Error::sys(-r, "seccomp: add architecture");
#endif
    for (const auto& rule : rules) {
        const int nr = seccomp_syscall_resolve_name(rule.syscall.c_str());
        if (nr == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp: nothing to allow
        std::vector<scmp_arg_cmp> cmps;
        for (const auto& a : rule.args) cmps.push_back(cmp_of(a));
        const int r = seccomp_rule_add_array(ctx.get(), action_of(rule.action, rule.errno_value), nr,
                                             static_cast<unsigned>(cmps.size()), cmps.data());
        // -EDOM: the syscall does not exist on one of the added ABIs; the others have it.
        if (r != 0 && r != -EDOM && r != -EEXIST) return Error::sys(-r, "seccomp: rule for " + rule.syscall);
    }
    return ctx;
}

// A plan's filters as one string, as they are cached and carried: each program's instruction
// count (8 bytes, so that its instructions stay aligned as sock_filter wants) and then its
// instructions, in the order they are loaded.
using Count = uint64_t;
static_assert(sizeof(Count) == sizeof(sock_filter));

std::string pack(const std::vector<std::string>& programs) {
    std::string out;
    for (const auto& p : programs) {
        const Count n = p.size() / sizeof(sock_filter);
        out.append(reinterpret_cast<const char*>(&n), sizeof n);
        out += p;
    }
    return out;
}

// The programs of a packed string; nullopt when it is not one (a cache file cut short).
std::optional<std::vector<std::string_view>> unpack(std::string_view packed) {
    std::vector<std::string_view> programs;
    while (!packed.empty()) {
        Count n = 0;
        if (packed.size() < sizeof n) return std::nullopt;
        std::memcpy(&n, packed.data(), sizeof n);
        packed.remove_prefix(sizeof n);
        if (n == 0 || n > BPF_MAXINSNS || packed.size() < n * sizeof(sock_filter)) return std::nullopt;
        programs.push_back(packed.substr(0, n * sizeof(sock_filter)));
        packed.remove_prefix(n * sizeof(sock_filter));
    }
    if (programs.empty()) return std::nullopt;
    return programs;
}

// Installs compiled filters (what seccomp_load would do with each program).
Status load_programs(std::string_view packed) {
    auto programs = unpack(packed);
    if (!programs) return Error(ErrorKind::Internal, "seccomp: the compiled filter is damaged");
    for (auto bpf : *programs) {
        sock_fprog prog{};
        prog.len = static_cast<unsigned short>(bpf.size() / sizeof(sock_filter));
        prog.filter = reinterpret_cast<sock_filter*>(const_cast<char*>(bpf.data()));
        if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return Error::last("seccomp: load the filter");
    }
    return {};
}

Result<std::string> export_program(const Ctx& ctx) {
    UniqueFd mem(::memfd_create("lxbox-seccomp", MFD_CLOEXEC));
    if (!mem) return Error::last("seccomp: memfd");
    if (int r = seccomp_export_bpf(ctx.get(), mem.get()); r != 0) return Error::sys(-r, "seccomp: compile the filter");
    if (::lseek(mem.get(), 0, SEEK_SET) != 0) return Error::last("seccomp: rewind");
    return read_all(mem.get());
}

// The plan's filters, packed: its refusals first (a filter that allows everything else, so
// loading the allowlist after it cannot be refused by it), then the allowlist.
Result<std::string> compile(const SeccompPlan& plan) {
    std::vector<std::string> programs;
    if (!plan.refusals.empty())
        programs.push_back(LXBOX_TRY(export_program(LXBOX_TRY(build_filter(SeccompAction::Allow, 0, plan.refusals)))));
    programs.push_back(LXBOX_TRY(export_program(LXBOX_TRY(build_filter(plan.default_action, plan.default_errno, plan.rules)))));
    return pack(programs);
}

// Part of every cache key: bump it when the way a plan is compiled changes (attributes,
// architectures, the packing), so no launch loads a program compiled the old way.
constexpr const char* kCompileVersion = "tree-x86-4";

std::string cache_salt() {
    const scmp_version* v = seccomp_version();
    struct utsname u {};
    ::uname(&u);
    return std::string(kCompileVersion) + "/" + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
           std::to_string(v->micro) + "/" + u.machine;
}

int capset_raw(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {
        {static_cast<uint32_t>(effective), static_cast<uint32_t>(permitted), static_cast<uint32_t>(inheritable)},
        {static_cast<uint32_t>(effective >> 32), static_cast<uint32_t>(permitted >> 32),
         static_cast<uint32_t>(inheritable >> 32)}};
    return static_cast<int>(::syscall(SYS_capset, &hdr, data));
}

}  // namespace

Status enter_security(const runtime::SecurityPlan& plan) {
    if (plan.privileged) return {};
    for (int cap = 0; cap < 64; ++cap) {
        if (plan.capabilities & runtime::cap_bit(cap)) continue;
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL) break;  // past the kernel's last capability
            return Error::last("drop " + runtime::capability_name(cap) + " from the bounding set");
        }
    }
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return Error::last("clear the ambient capabilities");
    if (plan.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Error::last("set no_new_privs");
    if (plan.seccomp || plan.profile) {
        if (!plan.seccomp_program.empty()) return load_programs(plan.seccomp_program);
        return load_programs(LXBOX_TRY(compile(plan.profile ? *plan.profile : runtime::default_seccomp(plan.capabilities))));
    }
    return {};
}

namespace {

// A cached filter is its packed programs, then the SHA-256 (64 hex digits) of what it was
// compiled from and of the programs: the file name is a 64-bit hash of the plan, which two
// plans may share, and a file of the right size may hold anything (a damaged or planted one).
constexpr size_t kSealSize = 64;

std::string seal(std::string_view identity, std::string_view programs) {
    image::Sha256 h;
    h.update(identity);
    h.update(std::string_view("\0", 1));
    h.update(programs);
    return h.finish().hex;
}

// The programs of a cached file, only when its seal matches identity and they unpack.
std::optional<std::string> unseal(std::string text, std::string_view identity) {
    if (text.size() <= kSealSize) return std::nullopt;
    const std::string_view programs(text.data(), text.size() - kSealSize);
    if (seal(identity, programs) != std::string_view(text).substr(programs.size()) || !unpack(programs))
        return std::nullopt;
    text.resize(programs.size());
    return text;
}

}  // namespace

Result<std::string> seccomp_program(const runtime::SecurityPlan& plan, const std::string& cache_dir) {
    if (!plan.seccomp && !plan.profile) return std::string();
    const std::string salt = cache_salt();
    const std::string key = plan.profile ? runtime::seccomp_plan_key(*plan.profile, salt)
                                         : runtime::seccomp_cache_key(plan.capabilities, salt);
    const std::string path = cache_dir.empty() ? "" : cache_dir + "/seccomp-" + key + ".bpf";
    // The default filter is the binary's own rules for a capability set; a profile is its rules.
    const std::string identity = plan.profile ? runtime::seccomp_plan_text(*plan.profile, salt)
                                              : "default|" + salt + "|" + std::to_string(plan.capabilities);
    if (!path.empty()) {
        auto cached = read_file(path);
        if (cached)
            if (auto programs = unseal(std::move(*cached), identity)) return std::move(*programs);
    }
    std::string bpf = LXBOX_TRY(compile(plan.profile ? *plan.profile : runtime::default_seccomp(plan.capabilities)));
    if (!path.empty()) {
        // A cache: failing to keep it only costs the next launch the compile.
        if (::mkdir(cache_dir.c_str(), 0700) == 0 || errno == EEXIST)
            (void)write_file_atomic(path, bpf + seal(identity, bpf), Durability::RenameOnly, 0600);
    }
    return bpf;
}

Status set_capabilities(const runtime::SecurityPlan& plan, uid_t uid) {
    if (plan.sets) {
        // Kept across the user switch (PR_SET_KEEPCAPS), now set to exactly what was asked.
        const auto& s = *plan.sets;
        if (capset_raw(s.effective, s.permitted, s.inheritable) != 0) return Error::last("set capabilities");
        for (int cap = 0; cap < 64; ++cap) {
            if (!(s.ambient & runtime::cap_bit(cap))) continue;
            // Only a capability both permitted and inheritable can be ambient; runc skips the
            // others the same way (runc spec's default asks for ambient ones it does not inherit).
            if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0 && errno != EPERM)
                return Error::last("raise ambient " + runtime::capability_name(cap));
        }
        return {};
    }
    if (plan.privileged || uid != 0) return {};
    if (capset_raw(plan.capabilities, plan.capabilities, 0) != 0) return Error::last("set capabilities");
    return {};
}

Result<CapabilitySets> current_capabilities() {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (::syscall(SYS_capget, &hdr, data) != 0) return Error::last("capget");
    CapabilitySets s;
    s.effective = data[0].effective | (uint64_t{data[1].effective} << 32);
    s.permitted = data[0].permitted | (uint64_t{data[1].permitted} << 32);
    s.inheritable = data[0].inheritable | (uint64_t{data[1].inheritable} << 32);
    return s;
}

}  // namespace lxbox::linux_fx
