// libFuzzer target: a container's state.json as lxbox reads it (runtime/store/store.hpp
// parse_instance_state), written by launch and read by ps, exec, stop, check and prune. Bad
// text is an Error of one line (never an exception, never a number converted out of range:
// the pid it names is signalled), and what parses writes back to text that parses the same.
#include <nlohmann/json.hpp>

#include "runtime/store/store.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace lxbox;
    auto state = store::parse_instance_state(fuzz::text_of(data, size));
    fuzz::check_result(state);
    if (!state.ok()) return 0;
    FUZZ_CHECK(state->pid > 0);
    const std::string written = nlohmann::json(*state).dump();
    auto again = store::parse_instance_state(written);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(nlohmann::json(*again).dump() == written);
    return 0;
}
