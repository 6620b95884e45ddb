// The device cgroup rules: v1 writes, the v2 BPF program (pure), and loading it.
#include "runtime/cgroups/devices.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "runtime/base/unique_fd.hpp"

namespace lxbox::cgroups {
namespace {

DeviceRule allow(char type, int64_t major, int64_t minor, const char* access = "rwm") {
    return DeviceRule{true, type, major, minor, access};
}

std::string number(int64_t n) { return n < 0 ? "*" : std::to_string(n); }

// One instruction; the helpers below name the few forms the program uses.
bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}
bpf_insn load_u32(uint8_t dst, int16_t off) { return insn(BPF_LDX | BPF_MEM | BPF_W, dst, BPF_REG_1, off, 0); }
bpf_insn and32(uint8_t dst, int32_t imm) { return insn(BPF_ALU | BPF_AND | BPF_K, dst, 0, 0, imm); }
bpf_insn rsh32(uint8_t dst, int32_t imm) { return insn(BPF_ALU | BPF_RSH | BPF_K, dst, 0, 0, imm); }
bpf_insn mov_reg(uint8_t dst, uint8_t src) { return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
bpf_insn mov_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
bpf_insn jne(uint8_t dst, int32_t imm, int16_t off) { return insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm); }
bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

uint32_t access_bits(const std::string& access) {
    uint32_t bits = 0;
    for (char c : access) {
        if (c == 'm') bits |= BPF_DEVCG_ACC_MKNOD;
        if (c == 'r') bits |= BPF_DEVCG_ACC_READ;
        if (c == 'w') bits |= BPF_DEVCG_ACC_WRITE;
    }
    return bits;
}

constexpr uint32_t kAllAccess = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;

}  // namespace

std::vector<DeviceRule> default_allowed_devices() {
    return {allow('c', -1, -1, "m"), allow('b', -1, -1, "m"),
            allow('c', 1, 3), allow('c', 1, 5), allow('c', 1, 7), allow('c', 1, 8), allow('c', 1, 9),
            allow('c', 5, 0), allow('c', 5, 1), allow('c', 5, 2), allow('c', 136, -1), allow('c', 10, 200)};
}

std::vector<DeviceRule> default_device_rules() {
    std::vector<DeviceRule> rules = {DeviceRule{}};  // deny all
    for (auto& r : default_allowed_devices()) rules.push_back(std::move(r));
    return rules;
}

std::string device_rule_text(const DeviceRule& r) {
    return std::string(1, r.type) + " " + number(r.major) + ":" + number(r.minor) + " " + r.access;
}

std::vector<Write> plan_devices_v1(const std::vector<DeviceRule>& rules) {
    std::vector<Write> w;
    for (const auto& r : rules) {
        // "a" alone resets: the whole-list form the kernel takes for it.
        const std::string text = r.type == 'a' && r.major < 0 && r.minor < 0 && r.access == "rwm" ? "a" : device_rule_text(r);
        w.push_back({"devices", r.allow ? "devices.allow" : "devices.deny", text});
    }
    return w;
}

std::string encode_device_rules(const std::vector<DeviceRule>& rules) {
    std::string out;
    for (const auto& r : rules) out += std::string(r.allow ? "allow " : "deny ") + device_rule_text(r) + "\n";
    return out;
}

Result<std::vector<DeviceRule>> decode_device_rules(const std::string& text) {
    std::vector<DeviceRule> rules;
    size_t b = 0;
    while (b < text.size()) {
        size_t e = text.find('\n', b);
        if (e == std::string::npos) e = text.size();
        const std::string line = text.substr(b, e - b);
        b = e + 1;
        char verb[8] = {}, type = 0, major[16] = {}, minor[16] = {}, access[8] = {};
        if (std::sscanf(line.c_str(), "%7s %c %15[0-9*]:%15[0-9*] %7s", verb, &type, major, minor, access) != 5)
            return Error(ErrorKind::Invalid, "device rule '" + line + "': expected 'allow|deny TYPE MAJOR:MINOR ACCESS'");
        DeviceRule r;
        r.allow = std::strcmp(verb, "allow") == 0;
        r.type = type;
        r.major = major[0] == '*' ? -1 : std::atoll(major);
        r.minor = minor[0] == '*' ? -1 : std::atoll(minor);
        r.access = access;
        rules.push_back(r);
    }
    return rules;
}

std::vector<Write> plan_devices_v2(const std::vector<DeviceRule>& rules) {
    if (rules.empty()) return {};
    return {Write{"devices", kDeviceProgram, encode_device_rules(rules)}};
}

std::vector<bpf_insn> compile_device_program(const std::vector<DeviceRule>& rules) {
    // r2 = device type, r3 = access wanted, r4 = major, r5 = minor.
    std::vector<bpf_insn> p = {load_u32(BPF_REG_2, 0), and32(BPF_REG_2, 0xffff), load_u32(BPF_REG_3, 0),
                               rsh32(BPF_REG_3, 16),   load_u32(BPF_REG_4, 4),   load_u32(BPF_REG_5, 8)};
    // The last matching rule decides, so they are tested last first. A rule that matches
    // everything ends the program: the verifier refuses code that cannot be reached.
    for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
        const DeviceRule& r = *it;
        std::vector<bpf_insn> block;
        std::vector<size_t> skips;  // jumps to the next rule, patched below
        if (r.type == 'c' || r.type == 'b') {
            skips.push_back(block.size());
            block.push_back(jne(BPF_REG_2, r.type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, 0));
        }
        const uint32_t bits = access_bits(r.access);
        if (bits != kAllAccess) {
            // Every access asked for must be one the rule names.
            block.push_back(mov_reg(BPF_REG_1, BPF_REG_3));
            block.push_back(and32(BPF_REG_1, static_cast<int32_t>(~bits & kAllAccess)));
            skips.push_back(block.size());
            block.push_back(jne(BPF_REG_1, 0, 0));
        }
        if (r.major >= 0) {
            skips.push_back(block.size());
            block.push_back(jne(BPF_REG_4, static_cast<int32_t>(r.major), 0));
        }
        if (r.minor >= 0) {
            skips.push_back(block.size());
            block.push_back(jne(BPF_REG_5, static_cast<int32_t>(r.minor), 0));
        }
        block.push_back(mov_imm(BPF_REG_0, r.allow ? 1 : 0));
        block.push_back(exit_insn());
        for (size_t at : skips) block[at].off = static_cast<int16_t>(block.size() - at - 1);
        p.insert(p.end(), block.begin(), block.end());
        if (skips.empty()) return p;  // matches everything: nothing after it can run
    }
    p.push_back(mov_imm(BPF_REG_0, 0));
    p.push_back(exit_insn());
    return p;
}

Status attach_device_program(const std::string& dir, const std::vector<bpf_insn>& program) {
    static const char license[] = "Apache-2.0";
    union bpf_attr load {};
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insn_cnt = static_cast<uint32_t>(program.size());
    load.insns = reinterpret_cast<uintptr_t>(program.data());
    load.license = reinterpret_cast<uintptr_t>(license);
    UniqueFd prog(static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load)));
    if (!prog) {
        const int err = errno;
        return Error::sys(err, "load the device cgroup program",
                          err == EPERM || err == EACCES ? ErrorKind::Unsupported : ErrorKind::System);
    }
    UniqueFd cgroup(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cgroup) return Error::last("open " + dir);
    union bpf_attr attach {};
    attach.target_fd = static_cast<uint32_t>(cgroup.get());
    attach.attach_bpf_fd = static_cast<uint32_t>(prog.get());
    attach.attach_type = BPF_CGROUP_DEVICE;
    attach.attach_flags = BPF_F_ALLOW_MULTI;
    if (::syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof attach) != 0)
        return Error::last("attach the device cgroup program to " + dir);
    // The attachment holds the program for as long as the cgroup exists.
    return {};
}

}  // namespace lxbox::cgroups
