#include "runtime/plan/seccomp_profile.hpp"

#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

namespace lxbox::runtime {

namespace {

Error bad(const std::string& where, const std::string& what) {
    return Error(ErrorKind::Invalid, "seccomp profile: " + where + ": " + what);
}

struct Action {
    SeccompAction action;
    bool takes_errno;
};

Result<Action> action_of(const std::string& name, const std::string& where) {
    static const std::map<std::string, Action> actions = {
        {"SCMP_ACT_ALLOW", {SeccompAction::Allow, false}},
        {"SCMP_ACT_ERRNO", {SeccompAction::Errno, true}},
        {"SCMP_ACT_KILL", {SeccompAction::KillThread, false}},
        {"SCMP_ACT_KILL_THREAD", {SeccompAction::KillThread, false}},
        {"SCMP_ACT_KILL_PROCESS", {SeccompAction::KillProcess, false}},
        {"SCMP_ACT_TRAP", {SeccompAction::Trap, false}},
        {"SCMP_ACT_LOG", {SeccompAction::Log, false}},
    };
    if (auto it = actions.find(name); it != actions.end()) return it->second;
    if (name == "SCMP_ACT_TRACE" || name == "SCMP_ACT_NOTIFY")
        return bad(where, "action '" + name + "' needs a tracer or a notify listener: not supported");
    return bad(where, "unknown action '" + name + "'");
}

Result<SeccompArg> arg_of(const nlohmann::json& j, const std::string& where) {
    static const std::map<std::string, SeccompArg::Op> ops = {
        {"SCMP_CMP_EQ", SeccompArg::Op::Eq},        {"SCMP_CMP_NE", SeccompArg::Op::Ne},
        {"SCMP_CMP_LT", SeccompArg::Op::Lt},        {"SCMP_CMP_LE", SeccompArg::Op::Le},
        {"SCMP_CMP_GE", SeccompArg::Op::Ge},        {"SCMP_CMP_GT", SeccompArg::Op::Gt},
        {"SCMP_CMP_MASKED_EQ", SeccompArg::Op::MaskedEq}};
    if (!j.is_object()) return bad(where, "not an object");
    SeccompArg a;
    auto index = j.find("index");
    if (index == j.end() || !index->is_number_unsigned() || index->get<unsigned>() > 5)
        return bad(where + ".index", "must be 0 to 5");
    a.index = index->get<unsigned>();
    auto op = j.find("op");
    if (op == j.end() || !op->is_string()) return bad(where + ".op", "missing");
    auto it = ops.find(op->get<std::string>());
    if (it == ops.end()) return bad(where + ".op", "unknown operator '" + op->get<std::string>() + "'");
    a.op = it->second;
    auto number = [&](const char* key, uint64_t& out) -> Status {
        auto v = j.find(key);
        if (v == j.end() || v->is_null()) return {};
        if (!v->is_number_unsigned()) return bad(where + "." + key, "must be an unsigned number");
        out = v->get<uint64_t>();
        return {};
    };
    uint64_t value = 0, value_two = 0;
    LXBOX_TRY(number("value", value));
    LXBOX_TRY(number("valueTwo", value_two));
    if (a.op == SeccompArg::Op::MaskedEq) {  // libseccomp's datum_a is the mask, datum_b the value
        a.mask = value;
        a.value = value_two;
    } else {
        a.value = value;
    }
    return a;
}

Result<std::vector<std::string>> strings_of(const nlohmann::json& j, const char* key, const std::string& where) {
    std::vector<std::string> out;
    auto v = j.find(key);
    if (v == j.end() || v->is_null()) return out;
    if (!v->is_array()) return bad(where + "." + key, "must be a list");
    for (const auto& s : *v) {
        if (!s.is_string()) return bad(where + "." + key, "must be a list of strings");
        out.push_back(s.get<std::string>());
    }
    return out;
}

// Does the rule's includes/excludes let it apply to this process on this host?
Result<bool> applies(const nlohmann::json& rule, uint64_t caps, const std::string& arch,
                     const std::string& kernel_release, const std::string& where) {
    auto has_cap = [&](const std::string& name) -> Result<bool> {
        auto n = capability_number(name);
        if (!n) return bad(where, "unknown capability '" + name + "'");
        return (caps & cap_bit(*n)) != 0;
    };
    if (auto inc = rule.find("includes"); inc != rule.end() && !inc->is_null()) {
        if (!inc->is_object()) return bad(where + ".includes", "not an object");
        for (const auto& c : LXBOX_TRY(strings_of(*inc, "caps", where + ".includes")))
            if (!LXBOX_TRY(has_cap(c))) return false;
        auto arches = LXBOX_TRY(strings_of(*inc, "arches", where + ".includes"));
        if (!arches.empty() && std::find(arches.begin(), arches.end(), arch) == arches.end()) return false;
        if (auto mk = inc->find("minKernel"); mk != inc->end() && mk->is_string() && !kernel_release.empty()) {
            const auto want = kernel_version(mk->get<std::string>());
            if (kernel_version(kernel_release) < want) return false;
        }
    }
    if (auto exc = rule.find("excludes"); exc != rule.end() && !exc->is_null()) {
        if (!exc->is_object()) return bad(where + ".excludes", "not an object");
        for (const auto& c : LXBOX_TRY(strings_of(*exc, "caps", where + ".excludes")))
            if (LXBOX_TRY(has_cap(c))) return false;
        auto arches = LXBOX_TRY(strings_of(*exc, "arches", where + ".excludes"));
        if (std::find(arches.begin(), arches.end(), arch) != arches.end()) return false;
    }
    return true;
}

}  // namespace

const char* native_docker_arch() {
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "x86";
#else
    return "unknown";
#endif
}

std::pair<int, int> kernel_version(const std::string& release) {
    int major = 0, minor = 0;
    if (std::sscanf(release.c_str(), "%d.%d", &major, &minor) < 1) return {0, 0};
    return {major, minor};
}

Result<SeccompPlan> parse_docker_seccomp_profile(const std::string& json, uint64_t caps, const std::string& arch,
                                                 const std::string& kernel_release) {
    const auto j = nlohmann::json::parse(json, nullptr, false);
    if (j.is_discarded()) return bad("(file)", "not valid JSON");
    if (!j.is_object()) return bad("(file)", "not a JSON object");
    SeccompPlan plan;
    auto def = j.find("defaultAction");
    if (def == j.end() || !def->is_string()) return bad("defaultAction", "missing");
    const Action d = LXBOX_TRY(action_of(def->get<std::string>(), "defaultAction"));
    plan.default_action = d.action;
    plan.default_errno = 1;  // EPERM, docker's default errno
    if (auto e = j.find("defaultErrnoRet"); e != j.end() && !e->is_null()) {
        if (!e->is_number_unsigned()) return bad("defaultErrnoRet", "must be an unsigned number");
        plan.default_errno = e->get<int>();
    }
    auto syscalls = j.find("syscalls");
    if (syscalls == j.end() || syscalls->is_null()) return plan;
    if (!syscalls->is_array()) return bad("syscalls", "must be a list");
    for (size_t i = 0; i < syscalls->size(); ++i) {
        const auto& r = (*syscalls)[i];
        const std::string where = "syscalls[" + std::to_string(i) + "]";
        if (!r.is_object()) return bad(where, "not an object");
        std::vector<std::string> names = LXBOX_TRY(strings_of(r, "names", where));
        if (auto n = r.find("name"); n != r.end() && n->is_string()) names.push_back(n->get<std::string>());
        if (names.empty()) return bad(where, "no names");
        auto act = r.find("action");
        if (act == r.end() || !act->is_string()) return bad(where + ".action", "missing");
        const Action a = LXBOX_TRY(action_of(act->get<std::string>(), where + ".action"));
        int err = 1;
        if (auto e = r.find("errnoRet"); e != r.end() && !e->is_null()) {
            if (!e->is_number_unsigned()) return bad(where + ".errnoRet", "must be an unsigned number");
            err = e->get<int>();
        }
        std::vector<SeccompArg> args;
        if (auto av = r.find("args"); av != r.end() && !av->is_null()) {
            if (!av->is_array()) return bad(where + ".args", "must be a list");
            for (size_t k = 0; k < av->size(); ++k)
                args.push_back(LXBOX_TRY(arg_of((*av)[k], where + ".args[" + std::to_string(k) + "]")));
        }
        if (!LXBOX_TRY(applies(r, caps, arch, kernel_release, where))) continue;
        // A rule with the default's action adds nothing (and libseccomp refuses it).
        if (a.action == plan.default_action && (!a.takes_errno || err == plan.default_errno) && args.empty()) continue;
        for (const auto& name : names) plan.rules.push_back({name, a.action, a.takes_errno ? err : 0, args});
    }
    return plan;
}

}  // namespace lxbox::runtime
