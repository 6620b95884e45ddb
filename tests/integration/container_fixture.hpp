// A busybox image extracted from the build's tarball, and helpers to run containers on it
// through the runtime directly (no store, no CLI).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "runtime/base/unique_fd.hpp"
#include "runtime/container/container.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {

class ContainerFixture : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string image = dir / "image";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (namespaces, mounts)");
        ::mkdir(image.c_str(), 0755);
        auto r = run({"tar", "-xf", busybox_tarball(), "-C", image});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }

    // A container dir under the scratch dir; persistent ones get upper/work/rootfs like the store's.
    runtime::ContainerSpec spec(const std::string& name, bool ephemeral = true) {
        runtime::ContainerSpec s;
        s.name = name;
        s.image_rootfs = image;
        s.container_dir = dir / ("c-" + name);
        s.ephemeral = ephemeral;
        ::mkdir(s.container_dir.c_str(), 0700);
        if (!ephemeral)
            for (const char* sub : {"/upper", "/work", "/rootfs"}) ::mkdir((s.container_dir + sub).c_str(), 0755);
        return s;
    }

    struct Ran {
        int code = -1;
        std::string out;
        std::optional<Error> exec_error;
    };

    // Runs the container with the test's stdout pointed at a file (the container writes to the
    // caller's own fd 1: no copying), then reads what it wrote.
    Ran run_in(runtime::ContainerSpec s, std::vector<std::string> args) {
        s.process.args = std::move(args);
        const std::string out_path = dir / "stdout";
        Ran ran;
        {
            auto out = open_fd(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            EXPECT_TRUE(out.ok());
            std::fflush(stdout);
            UniqueFd saved(::fcntl(1, F_DUPFD_CLOEXEC, 3));
            ::dup2(out->get(), 1);
            auto c = runtime::Container::start(s);
            auto o = c ? c->wait() : Result<runtime::Outcome>(c.error());
            ::dup2(saved.get(), 1);
            if (!o) {
                ADD_FAILURE() << o.error().message;
                return ran;
            }
            ran.code = o->exit_code;
            ran.exec_error = o->exec_error;
        }
        ran.out = read_file(out_path).value();
        return ran;
    }

    Ran sh(const runtime::ContainerSpec& s, const std::string& script) { return run_in(s, {"/bin/sh", "-c", script}); }
};

}  // namespace lxbox::test
