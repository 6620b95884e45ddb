#include "host/distro/scripted_import.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/process.hpp>

#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/syscalls.hpp"

namespace bp = boost::process;

namespace lxbox::distro {

Status write_in_rootfs(const std::string& rootfs, const WriteStep& step) {
    auto root = LXBOX_TRY(open_fd(rootfs, O_PATH | O_DIRECTORY));
    const auto slash = step.path.rfind('/');
    std::string parent = step.path.substr(0, slash);
    const std::string leaf = step.path.substr(slash + 1);
    if (leaf.empty() || leaf == "." || leaf == "..")
        return Error(ErrorKind::Invalid, "write " + step.path + ": not a file name");
    if (parent.empty()) parent = "/";
    int dfd = sys::openat2(root.get(), parent.c_str(), O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (dfd < 0) return Error::last("write " + step.path + ": open " + parent + " in the rootfs");
    UniqueFd dir(dfd);
    // O_NOFOLLOW: the leaf itself must not be a symlink either; replace it if it is.
    struct stat st;
    if (::fstatat(dir.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        ::unlinkat(dir.get(), leaf.c_str(), 0);
    auto fd = LXBOX_TRY_CTX(openat_fd(dir.get(), leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, step.mode),
                            "write " + step.path);
    LXBOX_TRY_CTX(write_all(fd.get(), step.content), "write " + step.path);
    if (::fchmod(fd.get(), step.mode) != 0) return Error::last("chmod " + step.path);
    return {};
}

static Result<std::string> sha256_of(const std::string& path) {
    // Hashing is a host tool's job (coreutils), not code of ours.
    bp::ipstream out;
    int rc = bp::system(bp::search_path("sha256sum"), path, bp::std_out > out, bp::std_err > bp::null);
    std::string line;
    std::getline(out, line);
    if (rc != 0 || line.size() < 64) return Error(ErrorKind::System, "sha256sum " + path + " failed");
    return line.substr(0, 64);
}

static Result<store::ImageRecord> import_tarball(store::Store& store, const Manifest& m,
                                                 store::ImportOptions opts) {
    if (!m.sha256.empty()) {
        auto sum = LXBOX_TRY(sha256_of(m.tarball));
        if (sum != m.sha256)
            return Error(ErrorKind::Refused, "source " + m.tarball + ": sha256 is " + sum + ", the manifest expects " + m.sha256);
    }
    auto fd = LXBOX_TRY(open_fd(m.tarball, O_RDONLY));
    opts.source = m.tarball;
    return store::import_image(store, m.name, fd.get(), opts);
}

static Result<store::ImageRecord> import_built(store::Store& store, const Manifest& m, store::ImportOptions opts) {
    if (!m.sha256.empty())
        return Error(ErrorKind::Invalid, "'sha256' applies to a tarball source, not to a build command");
    const auto exe = m.build[0].find('/') == std::string::npos ? bp::search_path(m.build[0])
                                                                : boost::filesystem::path(m.build[0]);
    if (exe.empty()) return Error(ErrorKind::NotFound, "build command '" + m.build[0] + "' not found in PATH");
    std::vector<std::string> args(m.build.begin() + 1, m.build.end());
    bp::pipe pipe;
    bp::child child;
    try {
        child = bp::child(exe, bp::args(args), bp::start_dir(m.directory), bp::std_out > pipe, bp::std_in < bp::null);
    } catch (const bp::process_error& e) {
        return Error(ErrorKind::System, "run build command " + m.build[0] + ": " + e.what());
    }
    // Boost 1.74's pipe has no close_sink(): close our copy of the write end by hand, so EOF
    // reaches the extractor when the build command exits.
    ::close(pipe.native_sink());
    pipe.assign_sink(-1);
    std::string cmdline;
    for (const auto& a : m.build) cmdline += (cmdline.empty() ? "" : " ") + a;
    // A build command that fails after writing part of a valid tarball must not be imported:
    // its exit status is checked before the rootfs is registered.
    opts.before_commit = [&, prev = opts.before_commit](const std::string& rootfs) -> Status {
        child.wait();
        if (child.exit_code() != 0)
            return Error(ErrorKind::System, "build command '" + cmdline + "' exited with status " +
                                                std::to_string(child.exit_code()));
        return prev ? prev(rootfs) : Status{};
    };
    opts.source = cmdline;
    auto r = store::import_image(store, m.name, pipe.native_source(), opts);
    pipe.close();
    std::error_code ec;
    if (child.running(ec)) child.terminate(ec);
    if (child.valid()) child.wait(ec);
    // A build that died before writing a valid tarball is the cause worth naming, not the
    // "not an archive" that its empty output produced.
    if (!r && !ec && child.exit_code() != 0 &&
        r.error().message.find("exited with status") == std::string::npos)
        return Error(ErrorKind::System, "build command '" + cmdline + "' exited with status " +
                                            std::to_string(child.exit_code()));
    return r;
}

Result<store::ImageRecord> scripted_import(store::Store& store, const Manifest& m, bool replace,
                                           const archive::ProgressFn& progress) {
    store::ImportOptions opts;
    opts.replace = replace;
    opts.arch = m.arch;
    opts.progress = progress;
    opts.before_commit = [&m](const std::string& rootfs) -> Status {
        for (const auto& step : m.post_import) LXBOX_TRY(write_in_rootfs(rootfs, step));
        return {};
    };
    return m.tarball.empty() ? import_built(store, m, opts) : import_tarball(store, m, opts);
}

}  // namespace lxbox::distro
