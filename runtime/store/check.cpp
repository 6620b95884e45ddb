// The pure half of `lxbox check`: findings from what was seen.
#include "runtime/store/check.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "runtime/store/stale.hpp"

namespace lxbox::store {

namespace {

bool in_folder(const CheckInput& in, const std::string& folder, const std::string& name) {
    auto it = in.folders.find(folder);
    if (it == in.folders.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(), [&](const FolderEntry& e) { return e.name == name; });
}

// Whether a container dir entry (registered name or work name) may still be in use: a live
// owner's work, a busy registered container, or (registry unreadable) any registered-looking one.
bool entry_live(const CheckInput& in, const std::string& entry, std::optional<bool> owner_alive) {
    if (!entry.empty() && entry[0] == '.') return owner_alive.value_or(true);  // unparsable: not ours
    if (in.registry_error) return true;
    auto c = in.containers.find(entry);
    return c != in.containers.end() && c->second.busy;
}

// images/, containers/, layers/sha256/, tmp/: dead owners' work, and (registry readable) dirs
// no record names — what an import or removal killed between its two steps leaves.
void check_folders(const CheckInput& in, std::vector<Finding>& out) {
    for (const auto& [folder, entries] : in.folders) {
        for (const auto& e : entries) {
            const std::string path = in.root + "/" + folder + "/" + e.name;
            if (e.owner_alive) {
                if (!*e.owner_alive) out.push_back({"stale-work", path, "left by an lxbox that was killed", Repair::RemoveTree});
                continue;
            }
            if (e.name[0] == '.' || in.registry_error || folder == "tmp") continue;
            bool known = folder == "images"       ? in.registry.images.count(e.name) > 0
                         : folder == "containers" ? in.registry.containers.count(e.name) > 0
                                                  : in.registry.layers.count("sha256:" + e.name) > 0;
            if (!known) out.push_back({"unregistered-dir", path, "no record names it", Repair::RemoveTree});
        }
    }
}

// Records whose files are gone: reported, never "repaired" by dropping the record (that is the
// user's call: lxbox unregister, rm).
void check_records(const CheckInput& in, std::vector<Finding>& out) {
    for (const auto& [name, img] : in.registry.images) {
        if (img.layers.empty() && !in_folder(in, "images", name))
            out.push_back({"missing-rootfs", in.root + "/images/" + name, "image '" + name + "' has no rootfs", Repair::None});
        for (const auto& id : img.layers) {
            const std::string hex = id.substr(id.find(':') + 1);
            if (!in.registry.layers.count(id) || !in_folder(in, "layers/sha256", hex))
                out.push_back({"missing-layer", in.root + "/layers/sha256/" + hex,
                               "layer " + id + " of image '" + name + "' is missing", Repair::None});
        }
    }
    for (const auto& [name, c] : in.registry.containers) {
        if (!in_folder(in, "containers", name))
            out.push_back({"missing-container-dir", in.root + "/containers/" + name,
                           "container '" + name + "' has no directory", Repair::None});
        if (!in.registry.images.count(c.image))
            out.push_back({"dangling-container", in.root + "/containers/" + name,
                           "container '" + name + "' was made from '" + c.image + "', which is gone", Repair::None});
    }
}

void check_containers(const CheckInput& in, std::vector<Finding>& out) {
    for (const auto& [name, c] : in.containers) {
        if (c.busy) continue;
        const std::string dir = in.root + "/containers/" + name;
        if (c.stale_state)
            out.push_back({"stale-state", dir + "/state.json", "names a process that is gone", Repair::ClearState});
        for (const auto& t : c.temp_files)
            out.push_back({"temp-file", dir + "/" + t, "a write killed before its rename", Repair::RemoveFile});
    }
}

// Cgroups and mounts belong to a container dir entry; those of an entry that is not live are
// leftovers of a launcher killed -9.
void check_leftovers(const CheckInput& in, std::vector<Finding>& out) {
    for (const auto& cg : in.cgroups) {
        if (!cg.name.starts_with(in.cgroup_prefix)) continue;
        if (!entry_live(in, cg.name.substr(in.cgroup_prefix.size()), cg.owner_alive))
            out.push_back({"orphan-cgroup", cg.name, "the cgroup of a container no lxbox runs", Repair::RemoveCgroup});
    }
    const std::string containers = in.root + "/containers/";
    for (const auto& m : in.mounts) {
        if (!m.name.starts_with(containers)) {
            out.push_back({"leftover-mount", m.name, "a mount inside the store", Repair::None});
            continue;
        }
        const std::string rest = m.name.substr(containers.size());
        if (!entry_live(in, rest.substr(0, rest.find('/')), m.owner_alive))
            out.push_back({"leftover-mount", m.name, "the mount of a container no lxbox runs", Repair::Unmount});
    }
}

}  // namespace

std::vector<Finding> plan_check(const CheckInput& in) {
    std::vector<Finding> out;
    if (in.registry_error)
        out.push_back({"registry-unreadable", in.root + "/registry.json", *in.registry_error, Repair::None});
    for (const auto& t : in.root_temps)
        out.push_back({"temp-file", in.root + "/" + t, "a write killed before its rename", Repair::RemoveFile});
    check_folders(in, out);
    if (!in.registry_error) {
        check_records(in, out);
        check_containers(in, out);
    }
    check_leftovers(in, out);
    return out;
}

bool healthy(const std::vector<Finding>& findings) {
    return std::all_of(findings.begin(), findings.end(), [](const Finding& f) { return f.repaired; });
}

void to_json(nlohmann::json& j, const Finding& f) {
    static const char* const kRepairs[] = {"none", "remove", "remove", "remove-cgroup", "unmount", "clear-state"};
    j = {{"kind", f.kind}, {"target", f.target}, {"detail", f.detail},
         {"repair", kRepairs[static_cast<int>(f.repair)]}, {"repaired", f.repaired}};
    if (!f.error.empty()) j["error"] = f.error;
}

}  // namespace lxbox::store
