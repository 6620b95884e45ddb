// libFuzzer target: docker's seccomp profile format (runtime/plan/seccomp_profile.hpp), what
// `--seccomp FILE` and an OCI config's linux.seccomp bring. Byte 0 picks the capability set,
// the architecture and the kernel release the rules are matched against.
#include "runtime/plan/seccomp_profile.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace lxbox;
    if (size < 1) return 0;
    static const char* const kArches[] = {"amd64", "arm64", "x86", "s390x"};
    static const char* const kKernels[] = {"", "6.1.0-26-amd64", "4.4", "junk"};
    const uint8_t pick = data[0];
    const uint64_t caps = (pick & 1) ? ~uint64_t{0} : (uint64_t{1} << 21);  // all, or CAP_SYS_ADMIN
    auto plan = runtime::parse_docker_seccomp_profile(fuzz::text_of(data + 1, size - 1), caps,
                                                      kArches[(pick >> 1) & 3], kKernels[(pick >> 3) & 3]);
    fuzz::check_result(plan);
    return 0;
}
