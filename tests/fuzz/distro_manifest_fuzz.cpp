// libFuzzer target: a scripted import's manifest (host/distro/manifest.hpp, distro-images/*.json).
// A parsed manifest registers a valid name, has exactly one source, a 64-hex sha256 or none,
// and writes only to absolute paths with modes within 07777.
#include "host/distro/manifest.hpp"
#include "runtime/store/store.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace lxbox;
    auto m = distro::parse_manifest(fuzz::text_of(data, size), "/manifests");
    fuzz::check_result(m);
    if (!m.ok()) return 0;
    FUZZ_CHECK(store::validate_name(m->name).ok());
    FUZZ_CHECK(m->tarball.empty() != m->build.empty());
    FUZZ_CHECK(m->sha256.empty() || m->sha256.size() == 64);
    for (const auto& step : m->post_import) {
        FUZZ_CHECK(!step.path.empty() && step.path[0] == '/');
        FUZZ_CHECK(step.mode <= 07777);
    }
    return 0;
}
