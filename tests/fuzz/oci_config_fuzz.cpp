// libFuzzer target: an OCI bundle's config.json (runtime/oci/config.hpp parse_config), the
// file any engine hands `lxbox-oci create`. A parsed config must name its root inside the
// path it was given or as written, and a second parse of the same text must agree.
#include "runtime/oci/config.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace lxbox;
    const std::string text = fuzz::text_of(data, size);
    auto config = runtime::oci::parse_config(text, "/bundle");
    fuzz::check_result(config);
    if (config.ok()) {
        auto again = runtime::oci::parse_config(text, "/bundle");
        FUZZ_CHECK(again.ok());
        FUZZ_CHECK(again->spec.process.args == config->spec.process.args);
        FUZZ_CHECK(again->annotations == config->annotations);
    }
    return 0;
}
