// The VM numbers of the targets, measured under TCG (run by tools/bench/vm.sh):
//   cold start: QEMU start → agent hello, vs a bare PVH boot (same kernel and command line, a
//     /init that powers off at once: QEMU start → QEMU exit), round-robin so noise hits both;
//   ping: round trips of a Ping/Pong on a booted VM;
//   ingest: host → guest bytes through the channel and the agent's decoder (Stdin frames of
//     the maximum size; this agent refuses them with one small Error each, which is read back).
#include <algorithm>
#include <boost/process.hpp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "host/vm/initramfs.hpp"
#include "runtime/base/unique_fd.hpp"
#include "tests/vm/vm_fixture.hpp"

using namespace lxbox;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

// The bare boot's QEMU command: the same kernel, machine and command line, the trivial /init.
std::vector<std::string> bare_argv(const vm::BootRequest& base, const std::string& initrd) {
    vm::VmConfig config = base.config;
    config.initrd = initrd;
    config.channel_socket = base.vm_dir + "/bare.sock";
    config.qmp_socket = base.vm_dir + "/bare-qmp.sock";
    config.serial_log = base.vm_dir + "/bare-console.log";
    return vm::qemu_command(config, base.facts);
}

Result<double> bare_boot_ms(const vm::BootRequest& base, const std::string& initrd) {
    auto argv = bare_argv(base, initrd);
    auto start = Clock::now();
    namespace bp = boost::process;
    bp::child qemu(bp::search_path(argv[0]), bp::args(std::vector<std::string>(argv.begin() + 1, argv.end())),
                   bp::std_in < bp::null, bp::std_out > bp::null, bp::std_err > bp::null);
    if (!qemu.wait_for(std::chrono::seconds(60))) {
        qemu.terminate();
        return Error(ErrorKind::System, "bare boot did not power off within 60 s");
    }
    return ms_since(start);
}

Result<double> ingest_mb_per_s(vm::ChannelClient& c, size_t mib) {
    std::string chunk(proto::kMaxPayload, 'd');
    std::string frame = proto::encode_frame(proto::Frame{proto::FrameType::Stdin, 1, chunk});
    size_t frames = mib * (1u << 20) / chunk.size();
    auto start = Clock::now();
    for (size_t i = 0; i < frames; ++i) LXBOX_TRY(c.send_raw(frame));
    LXBOX_TRY(c.send(proto::make_frame(0, proto::Ping{42})));
    for (;;) {
        auto f = LXBOX_TRY(c.receive(60s));
        if (f.type == proto::FrameType::Pong) break;
    }
    double seconds = ms_since(start) / 1000;
    return double(frames * chunk.size()) / seconds / 1e6;
}

}  // namespace

//   lxbox_vm_bench [BOOTS] [PINGS]       the numbers above
//   lxbox_vm_bench --bare-command DIR MIB CPUS
//       the bare boot's QEMU command with this memory and vCPUs, one argument per line, its
//       files in DIR: for a script that times it beside something else (vm-launch.sh)
int main(int argc, char** argv) {
    const bool bare_command = argc == 5 && std::string(argv[1]) == "--bare-command";
    int boots = argc > 1 && !bare_command ? std::atoi(argv[1]) : 5;
    int pings = argc > 2 && !bare_command ? std::atoi(argv[2]) : 1000;
    auto image = test::test_guest_image();
    if (!image) return std::fprintf(stderr, "image: %s\n", image.error().message.c_str()), 1;
    auto run = bare_command ? Result<TempDir>(TempDir::adopt(argv[2])) : TempDir::make("/tmp", "lxbox-vm-bench-");
    if (!run) return std::fprintf(stderr, "%s\n", run.error().message.c_str()), 1;
    auto trivial = read_file(LXBOX_TRIVIAL_INIT);
    std::string bare_initrd = run->path() + "/bare.cpio";
    if (!trivial || !vm::write_initramfs(bare_initrd, {{"init", *trivial, 0755}}))
        return std::fprintf(stderr, "cannot write the bare initramfs\n"), 1;
    auto req = test::test_boot_request(*image, run->path());
    if (bare_command) {
        req.config.memory_mib = unsigned(std::atoi(argv[3]));
        req.config.cpus = unsigned(std::atoi(argv[4]));
        for (const auto& arg : bare_argv(req, bare_initrd)) std::printf("%s\n", arg.c_str());
        (void)run->release();  // the caller's directory: it stays
        return 0;
    }
    std::printf("host TSC %llu kHz; %d boots each, round-robin\n", (unsigned long long)req.facts.tsc_khz, boots);
    std::vector<double> bare, agent, ping_ms;
    double ingest = 0;
    for (int i = 0; i < boots; ++i) {
        auto b = bare_boot_ms(req, bare_initrd);
        if (!b) return std::fprintf(stderr, "%s\n", b.error().message.c_str()), 1;
        bare.push_back(*b);
        auto vm = vm::boot_vm(req);
        if (!vm) return std::fprintf(stderr, "%s\n", vm.error().message.c_str()), 1;
        agent.push_back(double((*vm)->boot_time().count()));
        std::printf("boot %d: bare %.0f ms, agent hello %.0f ms\n", i + 1, bare.back(), agent.back());
        if (i == 0) {
            for (int p = 0; p < pings; ++p) {
                auto rtt = (*vm)->channel().ping(5s);
                if (!rtt) return std::fprintf(stderr, "%s\n", rtt.error().message.c_str()), 1;
                ping_ms.push_back(std::chrono::duration<double, std::milli>(*rtt).count());
            }
            auto mbs = ingest_mb_per_s((*vm)->channel(), 64);
            if (!mbs) return std::fprintf(stderr, "%s\n", mbs.error().message.c_str()), 1;
            ingest = *mbs;
        }
        (void)(*vm)->shutdown(20s);
    }
    double bare_med = percentile(bare, 0.5), agent_med = percentile(agent, 0.5);
    std::printf("\ncold start (ms)       min     median  max\n");
    std::printf("bare PVH boot       %7.0f  %7.0f  %7.0f\n", percentile(bare, 0), bare_med, percentile(bare, 1));
    std::printf("agent hello         %7.0f  %7.0f  %7.0f\n", percentile(agent, 0), agent_med, percentile(agent, 1));
    std::printf("ratio (medians)     %.2fx (target <= 1.3x)\n", agent_med / bare_med);
    std::printf("ping (%d): median %.3f ms, p99 %.3f ms, max %.3f ms (target < 1 ms)\n", pings,
                percentile(ping_ms, 0.5), percentile(ping_ms, 0.99), percentile(ping_ms, 1));
    std::printf("host->guest ingest (64 MiB of 1 MiB frames): %.0f MB/s (target > 50 MB/s)\n", ingest);
    return 0;
}
