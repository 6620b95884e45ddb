// libFuzzer target: the store's registry.json as lxbox reads it (runtime/store/store.hpp
// parse_registry). Whatever loads holds only names a writer would have accepted (they become
// paths that removals delete), and writes back to a file that loads to the same registry.
#include <nlohmann/json.hpp>

#include "runtime/store/store.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace lxbox;
    auto reg = store::parse_registry(fuzz::text_of(data, size), "registry.json");
    fuzz::check_result(reg);
    if (!reg.ok()) return 0;
    for (const auto& [name, image] : reg->images) FUZZ_CHECK(store::validate_name(name).ok());
    for (const auto& [name, container] : reg->containers) {
        FUZZ_CHECK(store::validate_name(name).ok());
        FUZZ_CHECK(store::validate_name(container.image).ok());
    }
    for (const auto& [id, layer] : reg->layers) FUZZ_CHECK(id.find('/') == std::string::npos);
    const std::string written = nlohmann::json(*reg).dump();
    auto again = store::parse_registry(written, "registry.json");
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(nlohmann::json(*again).dump() == written);
    return 0;
}
