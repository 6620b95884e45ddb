// `lxbox launch` without --backend where native cannot run: an ordinary user whose user
// namespaces the kernel refuses (a seccomp filter of the parent, as in a container) is sent to
// the VM, told so once with why and how to force native, and the container runs there.
#include <functional>

#include "tests/common/test_support.hpp"
#include "tests/common/test_users.hpp"
#include "tests/vm/vm_fixture.hpp"
#include "tests/vm/vm_users.hpp"

namespace lxbox::test {
namespace {

TEST(VmAuto, WhereNativeCannotRunAutoTakesTheVmAndSaysSoOnce) {
    if (auto why = vm_unavailable_reason(); !why.empty()) LXBOX_SKIP(why);
    if (!is_root()) LXBOX_SKIP("needs root (to create the unprivileged test user)");
    auto image = test_guest_image();
    ASSERT_TRUE(image) << image.error().message;
    TestUser user{"lxbox-va-" + std::to_string(::getpid())};
    ASSERT_TRUE(make_user(user));
    ScratchDir home;
    const std::string store = home / "store", lxbox = home / "bin/lxbox";
    auto lx = [&](bool refuse_userns, std::vector<std::string> args) {
        args.insert(args.begin(), {lxbox, "--root", store});
        auto argv = as_user(user, args);
        return run(refuse_userns ? without_user_namespaces(argv, home.path()) : argv);
    };
    struct Cleanup {
        std::function<void()> f;
        ~Cleanup() { f(); }
    } cleanup{[&] {
        lx(false, {"vm", "stop"});
        run({"pkill", "-KILL", "-u", user.name});
        delete_user(user);
    }};
    ASSERT_NO_FATAL_FAILURE(install_lxbox_for(user, home, store));
    // The default distro, imported as the user can (unfiltered: the import keeps owners in a
    // user namespace of its own).
    ASSERT_EQ(lx(false, {"list"}).exit_code, 0);

    auto r = lx(true, {"launch", "--rm", "--", "sh", "-c", "echo in-the-vm; cat /proc/1/comm"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.substr(0, 10), "in-the-vm\n") << r.out;
    const std::string notice = "lxbox: running in the VM (x86_64, ";
    ASSERT_NE(r.err.find(notice), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("): not native: user namespaces are unavailable to uid " + std::to_string(user.uid)),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(". --backend native forces native; this notice is shown once\n"), std::string::npos) << r.err;
    // ps saw it on the vm backend while it ran; the next launch goes there too, silently.
    r = lx(true, {"launch", "--rm", "--", "true"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find(notice), std::string::npos) << r.err;
    // Forcing native says why it cannot run, in one line.
    r = lx(true, {"launch", "--rm", "--backend", "native", "--", "true"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("the native backend cannot run here: user namespaces are unavailable"), std::string::npos)
        << r.err;
    ASSERT_EQ(lx(false, {"vm", "stop"}).exit_code, 0);
}

}  // namespace
}  // namespace lxbox::test
