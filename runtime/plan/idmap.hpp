// Rootless mode's id mapping, decided purely: which host ids a container's user namespace maps,
// from the caller's ids and its ranges in /etc/subuid and /etc/subgid (shadow's format), and
// what the kernel files and the newuidmap/newgidmap helpers are given.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <optional>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/plan/users.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::runtime {

// One range of subordinate ids: host ids [start, start+count).
struct SubIdRange {
    uint32_t start = 0, count = 0;
};

// The ranges /etc/subuid (or /etc/subgid) text grants a user, named either by login name or by
// numeric id ("alice:100000:65536", "1000:165536:65536"); malformed lines are ignored, as
// shadow's own tools do.
std::vector<SubIdRange> parse_subids(const std::string& text, const std::string& user, uint32_t id);

// The user namespace of a rootless container: the caller's id is 0 inside; when it has ranges
// and the helpers exist, ids 1, 2, ... follow through the ranges in file order, as podman
// maps them. Without a range: the caller's id alone (one user, setgroups denied).
UserNamespaceSpec plan_rootless_userns(uid_t uid, gid_t gid, const std::vector<SubIdRange>& subuids,
                                       const std::vector<SubIdRange>& subgids, bool helpers_available);

// An integrated container's user namespace (podman's --userns=keep-id): the caller's own ids
// are uid/gid inside too (files in the shared home stay theirs), and the subordinate ranges
// fill the ids around them (0 .. uid-1, then uid+1 ..), so the container's root is the first
// subordinate id. Needs maps of plan_rootless_userns with a range (use_helpers).
UserNamespaceSpec keep_id_userns(const UserNamespaceSpec& rootless, uid_t uid, gid_t gid);

// True when id (as seen inside) is mapped by maps.
bool id_mapped(const std::vector<IdMapping>& maps, uint32_t id);
// The host id that id (as seen inside) maps to, if any.
std::optional<uint32_t> host_id(const std::vector<IdMapping>& maps, uint32_t id);
// How many ids inside are mapped.
uint64_t mapped_count(const std::vector<IdMapping>& maps);

// /proc/PID/uid_map text: "inside outside count" per line.
std::string id_map_text(const std::vector<IdMapping>& maps);
// Parses that text back (as read from /proc/self/uid_map).
std::vector<IdMapping> parse_id_map(const std::string& text);
// newuidmap/newgidmap's arguments after the program name: PID then the triples.
std::vector<std::string> id_map_helper_args(pid_t pid, const std::vector<IdMapping>& maps);

// What a process inside a user namespace may become: the ids mapped there, and whether
// setgroups(2) is allowed (it is denied when lxbox wrote a one-id map itself).
struct IdMapsView {
    bool in_userns = false;
    std::vector<IdMapping> uids, gids;
    bool setgroups_allowed = true;
};
IdMapsView id_maps_view(const UserNamespaceSpec& u);

// Fits a resolved user to the namespace: an unmapped uid or primary gid is an error naming the
// fix; supplementary groups that are not mapped are dropped, and all of them when setgroups is
// denied (an empty `groups` tells switch_user to leave the groups alone).
Result<ResolvedUser> fit_user(ResolvedUser user, const IdMapsView& view);

}  // namespace lxbox::runtime
