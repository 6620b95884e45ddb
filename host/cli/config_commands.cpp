// `lxbox config list|get|set|unset`: the user's settings file, $root/config.json
// (host/config/config.hpp), as `limactl edit` or .wslconfig for the utility VM.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "host/cli/app.hpp"
#include "host/config/config.hpp"
#include "host/config/distro_settings.hpp"
#include "runtime/store/store.hpp"

namespace lxbox::cli {

namespace {

struct ConfigRequest {
    std::string key, value;
    std::string distro;  // --distro: that distro's settings (registry.json) instead of config.json
    bool json = false;  // list --json
};

Result<std::vector<config::Setting>> current_settings(const std::string& root) {
    const std::string text = LXBOX_TRY(config::read_text(root));
    return config::settings(text).context(config::config_path(root));
}

// A distro's stored values (an unknown distro is an error naming it).
Result<config::DistroValues> distro_values(const store::Registry& reg, const std::string& distro) {
    auto it = reg.images.find(distro);
    if (it == reg.images.end()) return Error(ErrorKind::NotFound, "no distro named '" + distro + "'");
    return it->second.settings;
}

Result<std::vector<config::Setting>> settings_for(const GlobalOptions& global, const ConfigRequest& req) {
    if (req.distro.empty()) return current_settings(store_root(global));
    auto store = LXBOX_TRY(store::Store::open(store_root(global)));
    const auto values = LXBOX_TRY(distro_values(LXBOX_TRY(store.load()), req.distro));
    // A value broken by hand in registry.json is named, as config.json's are.
    LXBOX_TRY_CTX(config::parse_distro_settings(values), "distro " + req.distro);
    return config::distro_settings_view(values);
}

// Changes a distro's settings under the registry's lock, written atomically (Store::update);
// a refused value leaves registry.json as it was.
Status update_distro(const GlobalOptions& global, const ConfigRequest& req,
                     const std::function<Result<config::DistroValues>(const config::DistroValues&)>& change) {
    auto store = LXBOX_TRY(store::Store::open(store_root(global)));
    return store.update([&](store::Registry& reg) -> Status {
        const auto values = LXBOX_TRY(distro_values(reg, req.distro));
        reg.images[req.distro].settings = LXBOX_TRY(change(values));
        return {};
    });
}

void print_settings(const std::vector<config::Setting>& settings, bool json, const char* source) {
    if (json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& s : settings)
            out.push_back({{"key", s.key},
                           {"value", s.value},
                           {"default", s.is_default},
                           {"description", s.description}});
        std::printf("%s\n", out.dump(2).c_str());
        return;
    }
    std::printf("%-16s %-10s %-12s %s\n", "KEY", "VALUE", "SOURCE", "DESCRIPTION");
    for (const auto& s : settings)
        std::printf("%-16s %-10s %-12s %s\n", s.key.c_str(), s.value.c_str(),
                    s.is_default ? "default" : source, s.description.c_str());
}

Result<int> cmd_config_list(const GlobalOptions& global, const ConfigRequest& req) {
    print_settings(LXBOX_TRY_CTX(settings_for(global, req), "config list"), req.json,
                   req.distro.empty() ? "config.json" : "distro");
    return 0;
}

Result<int> cmd_config_get(const GlobalOptions& global, const ConfigRequest& req) {
    const std::string clause = "config get " + req.key;
    LXBOX_TRY_CTX(req.distro.empty() ? config::check_key(req.key) : config::check_distro_key(req.key), clause);
    for (const auto& s : LXBOX_TRY_CTX(settings_for(global, req), clause)) {
        if (s.key != req.key) continue;
        std::printf("%s\n", s.value.c_str());
        return 0;
    }
    return Error(ErrorKind::Internal, clause + ": a known key without a setting");
}

Result<int> cmd_config_set(const GlobalOptions& global, const ConfigRequest& req) {
    if (!req.distro.empty()) {
        LXBOX_TRY_CTX(update_distro(global, req,
                                    [&](const config::DistroValues& v) { return config::set_distro_key(v, req.key, req.value); }),
                      "config set " + req.key);
        return 0;
    }
    LXBOX_TRY_CTX(config::update(store_root(global),
                                 [&](const std::string& text) {
                                     return config::set_key(text, req.key, req.value);
                                 }),
                  "config set " + req.key);
    return 0;
}

Result<int> cmd_config_unset(const GlobalOptions& global, const ConfigRequest& req) {
    if (!req.distro.empty()) {
        LXBOX_TRY_CTX(update_distro(global, req,
                                    [&](const config::DistroValues& v) { return config::unset_distro_key(v, req.key); }),
                      "config unset " + req.key);
        return 0;
    }
    LXBOX_TRY_CTX(
        config::update(store_root(global),
                       [&](const std::string& text) { return config::unset_key(text, req.key); }),
        "config unset " + req.key);
    return 0;
}

}  // namespace

void add_config_commands(CLI::App& app, CommandContext& ctx) {
    auto* config = app.add_subcommand(
        "config", "Settings of the utility VM ($root/config.json), or of one distro with --distro NAME");
    config->require_subcommand(1);
    auto request = std::make_shared<ConfigRequest>();
    auto verb = [&ctx, request](CLI::App* sub,
                                Result<int> (*cmd)(const GlobalOptions&, const ConfigRequest&)) {
        sub->callback([&ctx, request, cmd] {
            ctx.action = [&ctx, request, cmd] { return cmd(ctx.global, *request); };
        });
    };

    auto* list = config->add_subcommand("list", "Every key with its value and where it comes from");
    list->add_flag("--json", request->json, "Print the settings as JSON");
    list->add_option("--distro", request->distro, "A distro's own settings (user.default, integration, boot.*, vm.host-mount)");
    verb(list, cmd_config_list);

    auto* get = config->add_subcommand("get", "Print one key's value (its default when unset)");
    get->add_option("KEY", request->key, "A key such as vm.memory")->required();
    get->add_option("--distro", request->distro, "A distro's own settings (user.default, integration, boot.*, vm.host-mount)");
    verb(get, cmd_config_get);

    auto* set = config->add_subcommand("set", "Set a key; a bad value leaves the file untouched");
    set->add_option("KEY", request->key, "A key such as vm.memory")->required();
    set->add_option("VALUE", request->value, "Its value, as `config list` describes it")
        ->required();
    set->add_option("--distro", request->distro, "A distro's own settings (user.default, integration, boot.*, vm.host-mount)");
    verb(set, cmd_config_set);

    auto* unset = config->add_subcommand("unset", "Return a key to its default");
    unset->add_option("KEY", request->key, "A key such as vm.memory")->required();
    unset->add_option("--distro", request->distro, "A distro's own settings (user.default, integration, boot.*, vm.host-mount)");
    verb(unset, cmd_config_unset);
}

}  // namespace lxbox::cli
