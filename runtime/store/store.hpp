// The distro store: state on disk under $LXBOX_ROOT (see DESIGN.md "State on disk").
//
//   registry.json                 distros, containers, default distro (atomic: temp+fsync+rename,
//                                 under an flock on registry.lock)
//   images/<name>/rootfs          an imported distro's root filesystem (read-only by convention)
//   containers/<name>/upper,work  a container's overlayfs layers; rootfs/ is its mount point
//   containers/<name>/state.json  the running instance (pid + start time), absent when stopped
//   tmp/                          imports in progress; stale ones are removed on open()
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/base/error.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::store {

struct ImageRecord {
    std::string name;
    std::string arch;     // "x86_64", "aarch64", ...
    std::string created;  // RFC 3339, UTC
    uint64_t size_bytes = 0;
    std::string source;   // the tarball, manifest, layout or reference it came from
    // An OCI image (registry version 2): its manifest and config blobs ("sha256:<hex>") and its
    // layers' diff_ids, bottom first (each in layers/sha256/<hex>). A rootfs tarball's import
    // (and every distro of a version 1 store) has none: it is a one-layer image whose layer is
    // images/<name>/rootfs, exactly as before.
    std::string manifest;
    std::string config;
    std::vector<std::string> layers;
    // Per-distro settings (host/config/distro_settings.hpp), as set: key -> value.
    std::map<std::string, std::string> settings;
};

// One extracted layer, shared by every image that lists it (Registry::layers, by diff_id).
struct LayerRecord {
    uint64_t size_bytes = 0;  // du of its tree
    std::string created;
};

struct ContainerRecord {
    std::string name;
    std::string image;
    std::string created;
    // Where its changes live: "native" (the store's containers/<name>) or "vm" (the VM's
    // containers disk). Fixed when the container is made; launch without --backend follows it.
    std::string backend = "native";
    // Made integrated (launch --integrate, or its distro's integration setting): fixed at
    // creation, as its files' owners depend on it (rootless: the id map that keeps your uid).
    bool integrated = false;
};

struct Registry {
    // 2: images may be OCI images (ImageRecord::manifest/config/layers) over shared layers.
    // A version 1 file reads as is: its distros are one-layer images.
    static constexpr int kVersion = 2;
    int version = kVersion;
    std::string default_distro;
    // The embedded busybox distro is registered once, on first use; a user who unregisters it
    // does not get it back.
    bool embedded_registered = false;
    std::map<std::string, ImageRecord> images;
    std::map<std::string, ContainerRecord> containers;
    std::map<std::string, LayerRecord> layers;  // "sha256:<diff_id hex>" → layer
};

// The running instance of a container, written by `launch` and checked by `ps`: a pid alone
// can be reused, so the process's start time (from /proc/PID/stat) must match too.
struct InstanceState {
    pid_t pid = 0;
    uint64_t start_time = 0;  // field 22 of /proc/PID/stat, clock ticks since boot
    std::string started;      // RFC 3339
    std::vector<std::string> command;
    std::string backend = "native";
    runtime::SecuritySpec security;  // what the container was started with: exec inherits it
    std::string cgroup;              // the cgroup exec joins; "" = none (rootless, undelegated)
    int namespaces = 0;              // CLONE_NEW* flags of its own namespaces (JoinSpec::namespaces)
    std::string guest_dir;           // vm backend: its directory in the VM, what an exec names
    std::string arch;                // vm backend: the VM's guest arch, what an exec goes to ("" = the host's)
    // The lower dirs its root was mounted over (image layers): prune keeps them while it runs,
    // even once its image is removed or replaced.
    std::vector<std::string> lower_dirs;
    // What `stop` sends its init first (docker's StopSignal); 0 = SIGTERM. systemd as the
    // init (boot.systemd) halts on SIGRTMIN+3.
    int stop_signal = 0;
};

void to_json(nlohmann::json& j, const ImageRecord& r);
void from_json(const nlohmann::json& j, ImageRecord& r);
void to_json(nlohmann::json& j, const LayerRecord& r);
void from_json(const nlohmann::json& j, LayerRecord& r);
void to_json(nlohmann::json& j, const ContainerRecord& r);
void from_json(const nlohmann::json& j, ContainerRecord& r);
void to_json(nlohmann::json& j, const Registry& r);
void from_json(const nlohmann::json& j, Registry& r);
void to_json(nlohmann::json& j, const InstanceState& s);
void from_json(const nlohmann::json& j, InstanceState& s);

// Pure: a distro or container name is 1-64 of [A-Za-z0-9._-], not starting with '.' or '-'.
Status validate_name(const std::string& name);

// Pure: registry.json's text (path names it in errors). Every image and container name, and
// every layer id ("sha256:" + 64 hex), is checked as lxbox checks it before writing: the
// names become paths (images/NAME, containers/NAME, layers/sha256/HEX) that removals delete,
// so a damaged or hand-edited file naming "../x" is an Invalid error, never a path outside
// the store.
Result<Registry> parse_registry(const std::string& text, const std::string& path);
// Pure: a container's state.json (an Invalid error when torn or damaged: its numbers are whole
// and in range, never converted, as the registry's are, and its pid is a process's, > 0).
Result<InstanceState> parse_instance_state(const std::string& text);
// The same over JSON already parsed (a throwaway's state.json, which also names its image).
Result<InstanceState> instance_state_of(const nlohmann::json& j);

// The store root: explicit --root, else $LXBOX_ROOT, else $XDG_DATA_HOME/lxbox, else
// $HOME/.local/share/lxbox. Pure over its inputs.
std::string default_root(const char* lxbox_root_env, const char* xdg_data_home_env, const char* home_env);

class Store {
public:
    // Opens (creating if needed) the store at root and removes stale temp dirs of imports
    // whose process is gone.
    // clean = false leaves them (`lxbox check`, which reports what it removes).
    static Result<Store> open(const std::string& root, bool clean = true);

    const std::string& root() const { return root_; }
    // This store among all stores of the host, while it exists: its root directory's device
    // and inode, in hex ("fe01.2c4a1"). Two stores (two roots, two users) never share it, so
    // it keeps apart what lives outside the store and is named after a container (its cgroup).
    const std::string& id() const { return id_; }
    std::string image_dir(const std::string& name) const { return root_ + "/images/" + name; }
    std::string image_rootfs(const std::string& name) const { return image_dir(name) + "/rootfs"; }
    std::string container_dir(const std::string& name) const { return root_ + "/containers/" + name; }
    // A layer's tree, by its diff_id's hex.
    std::string layer_dir(const std::string& diff_id_hex) const { return root_ + "/layers/sha256/" + diff_id_hex; }
    std::string tmp_dir() const { return root_ + "/tmp"; }

    // Reads the registry (a shared lock while reading).
    Result<Registry> load() const;
    // Runs fn on the registry under the exclusive lock; when fn succeeds and changed it, the
    // result is written atomically (temp + fsync + rename + fsync of the directory).
    // after_write runs once the registry is written, still under the lock: a change on disk
    // that must follow the record, not precede it (a removal's rename to the trash), so that a
    // kill between the two leaves an unregistered dir for clean_stale(), never a registered
    // object whose files are gone.
    Status update(const std::function<Status(Registry&)>& fn, const std::function<void()>& after_write = {});
    // Runs fn on the registry under the exclusive lock, without writing it.
    Status with_lock(const std::function<Status(const Registry&)>& fn);
    // The same, handing fn the registry or the error reading it (`lxbox check` reports an
    // unreadable registry instead of stopping at it).
    Status with_lock_raw(const std::function<Status(const Result<Registry>&)>& fn);

    // The container `name`, made from `image` on first use (upper/work/rootfs dirs + record).
    // An existing container of another image, or of another backend, is an error.
    // integrated: how a new one is made (an existing one keeps how it was made).
    Result<ContainerRecord> ensure_container(const std::string& name, const std::string& image,
                                             const std::string& backend = "native", bool integrated = false);
    // Deletes a container's changes and record; refuses while it runs (ErrorKind::Busy).
    Status remove_container(const std::string& name);
    // How remove_container deletes a container's files: remove_tree unless set. Rootless mode
    // deletes them as root of a user namespace with the container's id maps, since files of
    // the container's users belong to subordinate ids the caller itself may not delete.
    void set_tree_remover(std::function<Status(const std::string&)> remover) { remover_ = std::move(remover); }

    // Instance state (containers/<name>/state.json); nullopt when absent or no longer alive
    // (pid gone, or pid reused: start time differs). Stale files are removed.
    Result<std::optional<InstanceState>> running_instance(const std::string& name) const;
    Status write_instance(const std::string& name, const InstanceState& s);
    Status clear_instance(const std::string& name);

    // Removes leftovers of imports and removals that were killed midway. Runs under the
    // registry lock, so it never races a live import (which renames under the same lock).
    Status clean_stale();
    // The entries of containers/ that clean_stale() removed (a killed launch's throwaway dir, a
    // dead removal's trash): what lives outside the store under their names (a cgroup) is
    // left for the caller, which knows those names.
    const std::vector<std::string>& removed_containers() const { return removed_containers_; }

private:
    Store(std::string root, std::string id) : root_(std::move(root)), id_(std::move(id)) {}
    std::string root_;
    std::string id_;
    std::function<Status(const std::string&)> remover_;
    std::vector<std::string> removed_containers_;
};

// Current time as RFC 3339 UTC ("2026-11-28T16:03:24Z").
std::string now_rfc3339();

}  // namespace lxbox::store
