// The effects behind ensure_guest_image: apt, the kernel cache, the initramfs write.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "host/vm/guest_image.hpp"
#include "host/vm/initramfs.hpp"
#include "host/vm/kernel_package.hpp"
#include "host/vm/module_order.hpp"
#include "host/vm/qemu_command.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/container/container.hpp"

namespace lxbox::vm {

namespace bp = boost::process;
namespace fs = std::filesystem;

namespace {

Status make_dirs(const std::string& path) {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) return Error::sys(ec.value(), "create " + path);
    return {};
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Runs a host tool; stdout captured, stderr to `log` (apt's progress and warnings).
Result<std::string> run_tool(const std::vector<std::string>& argv, const std::string& cwd,
                             const std::string& log) {
    auto exe = bp::search_path(argv[0]);
    if (exe.empty()) return Error(ErrorKind::Unsupported, argv[0] + " not found in PATH");
    std::string cmdline;
    for (const auto& a : argv) cmdline += (cmdline.empty() ? "" : " ") + a;
    spdlog::debug("run {} in {}", cmdline, cwd);
    bp::ipstream out;
    int code;
    std::string text;
    try {
        bp::child child(exe, bp::args(std::vector<std::string>(argv.begin() + 1, argv.end())),
                        bp::start_dir(cwd), bp::std_out > out, bp::std_err > log, bp::std_in < bp::null);
        std::string line;
        while (std::getline(out, line)) text += line + "\n";
        child.wait();
        code = child.exit_code();
    } catch (const bp::process_error& e) {
        return Error(ErrorKind::System, "run " + cmdline + ": " + e.what());
    }
    if (code != 0)
        return Error(ErrorKind::System, cmdline + " exited with status " + std::to_string(code) +
                                            " (see " + log + ")");
    return text;
}

// apt's package lists change only on `apt-get update`, which rewrites this directory.
int64_t apt_lists_mtime_ns() {
    struct stat st {};
    if (::stat("/var/lib/apt/lists", &st) != 0) return 0;
    return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// The versioned kernel package the meta package points at (apt-cache, local data only).
// apt-cache takes ~1 s here, so its answer is kept until apt's lists change.
Result<std::string> resolve_kernel_package(const GuestRecipe& recipe, const std::string& cache) {
    const std::string memo = cache + "/kernel-package.json";
    const int64_t lists = apt_lists_mtime_ns();
    if (auto text = read_file(memo)) {
        auto j = nlohmann::json::parse(*text, nullptr, false);
        if (j.is_object() && j.value("meta", "") == recipe.kernel_meta_package &&
            j.value("apt_lists_mtime_ns", int64_t(-1)) == lists && !j.value("package", "").empty())
            return j.value("package", "");
    }
    // Qualified with the arch: the arm64 kernel on an amd64 host is a foreign package.
    auto out = LXBOX_TRY(run_tool({"apt-cache", "depends", recipe.kernel_meta_package + ":" + recipe.deb_arch}, cache,
                                  cache + "/apt.log"));
    auto package = LXBOX_TRY(parse_kernel_dependency(out).context("resolve " + recipe.kernel_meta_package));
    nlohmann::json j{{"meta", recipe.kernel_meta_package}, {"package", package}, {"apt_lists_mtime_ns", lists}};
    if (auto saved = write_file_atomic(memo, j.dump() + "\n"); !saved)
        spdlog::debug("cannot remember the kernel package: {}", saved.error().message);
    return package;
}

std::string find_cached_deb(const std::string& cache, const std::string& package) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cache, ec)) {
        std::string name = e.path().filename().string();
        if (name.rfind(package + "_", 0) == 0 && e.path().extension() == ".deb") return e.path().string();
    }
    return {};
}

// The package file, downloaded once with `apt-get download` (Debian's mirror, signed index).
// A foreign arch's needs `dpkg --add-architecture` first (tools/setup does it for arm64).
Result<std::string> fetch_kernel_deb(const std::string& package, const std::string& deb_arch, const std::string& cache) {
    if (auto deb = find_cached_deb(cache, package); !deb.empty()) return deb;
    spdlog::info("downloading {}:{} with apt-get", package, deb_arch);
    LXBOX_TRY(run_tool({"apt-get", "download", "-q", package + ":" + deb_arch}, cache, cache + "/apt.log"));
    if (auto deb = find_cached_deb(cache, package); !deb.empty()) return deb;
    return Error(ErrorKind::NotFound, "apt-get download " + package + " left no .deb in " + cache);
}

struct KernelCache {
    std::string dir;   // vm/kernel/<release>
    std::string arch;  // the guest's: x86_64 boots the vmlinux by PVH, aarch64 the Image
    std::string vmlinux() const { return dir + (arch == "aarch64" ? "/Image" : "/vmlinux"); }
    std::string modules_dep() const { return dir + "/modules.dep"; }
    std::string builtin() const { return dir + "/modules.builtin"; }
    std::string module(const std::string& name) const { return dir + "/modules/" + name + ".ko"; }
};

DebProgress step_progress(const ImageProgress& progress, const std::string& step) {
    if (!progress) return {};
    return [progress, step](uint64_t done, uint64_t total) { progress(step, done, total); };
}

// Pass 1 over the package: the vmlinux out of the bzImage, and a modules.dep written from
// every module's .modinfo (the package ships none: depmod runs in its postinst).
Status scan_kernel_package(const std::string& deb, const std::string& release,
                           const KernelCache& cache, const ImageProgress& progress) {
    const std::string vmlinuz = "boot/vmlinuz-" + release;
    const std::string moddir = "lib/modules/" + release + "/";
    std::map<std::string, ModuleFile> modules;
    bool found_kernel = false;
    auto visit = [&](const std::string& path, uint64_t, const auto& read) -> Status {
        if (path == vmlinuz && cache.arch == "aarch64") {
            auto image = LXBOX_TRY(read());
            if (!is_arm64_image(image)) return Error(ErrorKind::Unsupported, path + ": not an arm64 kernel Image");
            found_kernel = true;
            return write_file_atomic(cache.vmlinux(), image);
        }
        if (path == vmlinuz) {
            auto bz = LXBOX_TRY(read());
            auto elf = LXBOX_TRY_CTX(extract_vmlinux(bz), path);
            if (!has_pvh_note(elf))
                return Error(ErrorKind::Unsupported, path + ": no PVH entry note (CONFIG_PVH off?)");
            found_kernel = true;
            return write_file_atomic(cache.vmlinux(), elf);
        }
        if (path.rfind(moddir, 0) != 0) return {};
        std::string rel = path.substr(moddir.size());
        if (rel == "modules.builtin") return write_file_atomic(cache.builtin(), LXBOX_TRY(read()));
        if (rel.find(".ko") == std::string::npos) return {};
        auto ko = LXBOX_TRY(decompress_module(rel, LXBOX_TRY(read())));
        auto info = read_modinfo(ko);
        if (!info) {
            spdlog::debug("{}: {}", path, info.error().message);
            return {};
        }
        modules[module_name(rel)] = ModuleFile{rel, info->depends};
        return {};
    };
    LXBOX_TRY(for_each_deb_file(deb, visit, step_progress(progress, "reading kernel package")));
    if (!found_kernel) return Error(ErrorKind::NotFound, deb + ": no " + vmlinuz);
    if (!exists(cache.builtin())) LXBOX_TRY(write_file_atomic(cache.builtin(), ""));
    return write_file_atomic(cache.modules_dep(), write_modules_dep(modules));
}

// Pass 2: the modules the image needs, decompressed and without their signatures.
Status extract_modules(const std::string& deb, const std::string& release,
                       const std::vector<std::string>& paths, const KernelCache& cache,
                       const ImageProgress& progress) {
    LXBOX_TRY(make_dirs(cache.dir + "/modules"));
    const std::string moddir = "lib/modules/" + release + "/";
    std::set<std::string> wanted(paths.begin(), paths.end());
    auto visit = [&](const std::string& path, uint64_t, const auto& read) -> Status {
        if (path.rfind(moddir, 0) != 0 || !wanted.count(path.substr(moddir.size()))) return {};
        auto ko = LXBOX_TRY(decompress_module(path, LXBOX_TRY(read())));
        return write_file_atomic(cache.module(module_name(path)), strip_module_signature(std::move(ko)));
    };
    return for_each_deb_file(deb, visit, step_progress(progress, "extracting modules"));
}

}  // namespace
}  // namespace lxbox::vm

namespace lxbox::vm {

namespace {

// Whether the cached image matches these inputs and its files are still there.
bool image_current(const std::string& vm_dir, const std::string& hash) {
    auto image = load_guest_image(vm_dir);
    return image && image->inputs_hash == hash && exists(image->vmlinux) && exists(image->initramfs);
}

// The image's modules in load order: boot ones (and their dependencies) first, then the later
// ones, the share ones and the hotplug ones; each phase's end.
struct ModulePlan {
    std::vector<std::string> paths;
    PhaseEnds ends;
};

// The runtime's cache entry of the default seccomp filter, compiled here for the guest: the
// agent puts it into its cache at boot (compiling it in the guest costs ~45 ms of a cold
// start under TCG). The entry's name carries the arch and the libseccomp version, so a guest
// that differs from this host in either looks for another name and compiles its own.
Result<std::vector<InitramfsFile>> compiled_cache_files() {
    namespace fs = std::filesystem;
    auto dir = LXBOX_TRY(TempDir::make("/tmp", "lxbox-guest-cache-"));
    LXBOX_TRY(runtime::Container::warm_cache({}, dir.path()).context("compile the guest's seccomp filter"));
    std::vector<InitramfsFile> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir.path(), ec))
        files.push_back({std::string(kGuestCacheInImage) + "/" + entry.path().filename().string(),
                         LXBOX_TRY(read_file(entry.path().string())), 0644});
    if (ec) return Error(ErrorKind::System, "list " + dir.path() + ": " + ec.message());
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    return files;
}

Result<std::vector<InitramfsFile>> image_files(const std::string& agent_bytes, const ModulePlan& plan,
                                               const KernelCache& cache, std::vector<std::string>& names) {
    const auto depends = module_dependencies(LXBOX_TRY(read_file(cache.modules_dep())));
    std::vector<InitramfsFile> files{{"init", agent_bytes, 0755}};
    for (const auto& path : plan.paths) {
        names.push_back(module_name(path));
        auto ko = LXBOX_TRY(read_file(cache.module(names.back())));
        files.push_back({"lib/modules/" + names.back() + ".ko", std::move(ko), 0644});
    }
    files.push_back({"lib/modules/load-order", load_order_text(names, plan.ends, depends), 0644});
    // A filter compiled here fits only a guest of this host's arch (another's compiles its own).
    if (cache.arch == build_arch())
        for (auto& f : LXBOX_TRY(compiled_cache_files())) files.push_back(std::move(f));
    return files;
}

Result<ModulePlan> module_plan(const GuestRecipe& recipe, const KernelCache& cache) {
    auto dep = LXBOX_TRY(read_file(cache.modules_dep()));
    auto builtin = LXBOX_TRY(read_file(cache.builtin()));
    // Resolving each phase with the ones before it makes those a prefix of the order.
    std::vector<std::string> names = recipe.boot_modules;
    ModulePlan plan;
    plan.ends.boot = LXBOX_TRY(resolve_module_order(dep, names, builtin)).size();
    names.insert(names.end(), recipe.later_modules.begin(), recipe.later_modules.end());
    plan.ends.later = LXBOX_TRY(resolve_module_order(dep, names, builtin)).size();
    names.insert(names.end(), recipe.share_modules.begin(), recipe.share_modules.end());
    plan.ends.share = LXBOX_TRY(resolve_module_order(dep, names, builtin)).size();
    names.insert(names.end(), recipe.hotplug_modules.begin(), recipe.hotplug_modules.end());
    plan.paths = LXBOX_TRY(resolve_module_order(dep, names, builtin));
    return plan;
}

Result<GuestImage> build_image(const ImageRequest& req, GuestImage image, const std::string& agent_bytes) {
    KernelCache cache{req.vm_dir + "/kernel/" + image.kernel_release, req.recipe.arch};
    LXBOX_TRY(make_dirs(cache.dir));
    if (req.rebuild || !exists(cache.vmlinux()) || !exists(cache.modules_dep()))
        LXBOX_TRY(scan_kernel_package(image.deb, image.kernel_release, cache, req.progress));
    const ModulePlan plan = LXBOX_TRY(module_plan(req.recipe, cache));
    std::vector<std::string> missing;
    for (const auto& path : plan.paths)
        if (req.rebuild || !exists(cache.module(module_name(path)))) missing.push_back(path);
    if (!missing.empty())
        LXBOX_TRY(extract_modules(image.deb, image.kernel_release, missing, cache, req.progress));
    auto files = LXBOX_TRY(image_files(agent_bytes, plan, cache, image.modules));
    image.vmlinux = cache.vmlinux();
    image.initramfs = req.vm_dir + "/image/initramfs.cpio";
    LXBOX_TRY(write_initramfs(image.initramfs, files));
    struct stat st {};
    if (::stat(image.vmlinux.c_str(), &st) == 0) image.vmlinux_bytes = uint64_t(st.st_size);
    if (::stat(image.initramfs.c_str(), &st) == 0) image.initramfs_bytes = uint64_t(st.st_size);
    LXBOX_TRY(write_file_atomic(req.vm_dir + "/image/manifest.json", nlohmann::json(image).dump(2) + "\n"));
    image.rebuilt = true;
    return image;
}

}  // namespace

Result<GuestImage> ensure_guest_image(const ImageRequest& req) {
    const std::string cache = req.vm_dir + "/cache";
    LXBOX_TRY(make_dirs(cache));
    LXBOX_TRY(make_dirs(req.vm_dir + "/image"));
    GuestImage image;
    image.agent = req.agent_path.empty() ? LXBOX_TRY(find_agent_binary(req.recipe.arch)) : req.agent_path;
    // Hashing the agent is most of a check that finds the image current (~40 ms of 50, twice
    // per cold start): its sha1 is kept with the file's stamp and taken again while that holds.
    struct stat st {};
    if (::stat(image.agent.c_str(), &st) != 0) return Error::last("read the agent " + image.agent);
    image.agent_stamp = file_stamp(uint64_t(st.st_size), int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                                   uint64_t(st.st_dev), uint64_t(st.st_ino));
    std::string agent_bytes;
    if (auto previous = load_guest_image(req.vm_dir); !req.rebuild && previous && previous->agent == image.agent &&
                                                      previous->agent_stamp == image.agent_stamp &&
                                                      previous->agent_sha1.size() == 40) {
        image.agent_sha1 = previous->agent_sha1;
    } else {
        agent_bytes = LXBOX_TRY_CTX(read_file(image.agent), "read the agent");
        image.agent_sha1 = sha1_hex(agent_bytes);
    }
    image.kernel_package = LXBOX_TRY(resolve_kernel_package(req.recipe, cache));
    image.kernel_release = image.kernel_package.substr(std::string("linux-image-").size());
    image.deb = LXBOX_TRY(fetch_kernel_deb(image.kernel_package, req.recipe.deb_arch, cache));
    image.inputs_hash = image_inputs_hash(req.recipe, image.kernel_package,
                                          fs::path(image.deb).filename().string(), image.agent_sha1);
    if (!req.rebuild && image_current(req.vm_dir, image.inputs_hash)) {
        auto current = LXBOX_TRY(load_guest_image(req.vm_dir));
        if (current.agent_stamp != image.agent_stamp || current.agent != image.agent) {
            // The same agent in a new file (a relink, a copy): remembered under its new stamp.
            current.agent = image.agent;
            current.agent_sha1 = image.agent_sha1;
            current.agent_stamp = image.agent_stamp;
            if (auto saved = write_file_atomic(req.vm_dir + "/image/manifest.json", nlohmann::json(current).dump(2) + "\n");
                !saved)
                spdlog::debug("cannot remember the agent's stamp: {}", saved.error().message);
        }
        return current;
    }
    if (agent_bytes.empty()) {
        // Built again all the same (a file of the image is gone): from the agent as it is now.
        agent_bytes = LXBOX_TRY_CTX(read_file(image.agent), "read the agent");
        image.agent_sha1 = sha1_hex(agent_bytes);
        image.inputs_hash = image_inputs_hash(req.recipe, image.kernel_package,
                                              fs::path(image.deb).filename().string(), image.agent_sha1);
    }
    spdlog::info("building the guest image ({})", image.kernel_package);
    return build_image(req, std::move(image), agent_bytes).context("build the guest image");
}

}  // namespace lxbox::vm
