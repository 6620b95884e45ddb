// libFuzzer target: the store's config.json (host/config/config.hpp): parse_config, the
// settings `config list` shows, and set/unset over the same text. What `config list` shows
// for a valid file, `config set` must take back; and a set value must read back as set.
#include "host/config/config.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace lxbox;
    const std::string text = fuzz::text_of(data, size);
    auto config = config::parse_config(text);
    fuzz::check_result(config);
    auto shown = config::settings(text);
    fuzz::check_result(shown);
    FUZZ_CHECK(shown.ok() == config.ok());
    if (!shown.ok()) return 0;
    for (const auto& s : *shown) {
        auto set = config::set_key(text, s.key, s.value);
        fuzz::check_result(set);
        FUZZ_CHECK(set.ok());
        FUZZ_CHECK(config::parse_config(*set).ok());
        auto unset = config::unset_key(text, s.key);
        fuzz::check_result(unset);
        FUZZ_CHECK(unset.ok() && config::parse_config(*unset).ok());
    }
    return 0;
}
