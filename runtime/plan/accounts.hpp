// WSL's first-run step for an integrated container (issue 20): the host user's account written
// into the container's own /etc/passwd, /etc/group and /etc/shadow (through the overlay, so into
// the container's upper layer, never the image), decided purely from the files' text.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/spec/spec.hpp"

namespace lxbox::runtime {

// What the container's /etc holds now.
struct AccountFiles {
    std::string passwd, group, shadow;
    bool has_shadow = false;    // /etc/shadow exists (busybox images have none)
    bool has_sudo = false;      // sudo is installed (/usr/bin/sudo) with /etc/sudoers.d
    bool shell_exists = true;   // the host's login shell exists in the container
    bool has_sudoers_entry = false;  // /etc/sudoers.d/lxbox-<name> exists already
};

// The files to write; nullopt leaves one as it is (a second launch changes nothing).
struct AccountChanges {
    std::optional<std::string> passwd, group, shadow;
    std::optional<std::string> sudoers;  // /etc/sudoers.d/lxbox-<name>: passwordless sudo
    bool any() const { return passwd || group || shadow || sudoers; }
};

// Pure. The user is added when the container has no entry of that name (an entry made before,
// or a root user of the image, is kept as the container has it); the primary group when no
// group has its gid; each supplementary group by gid (the user added to its members) or, when
// the container has no group of that gid, as a new group of the host's name unless that name is
// taken. The shell is the host's when the container has it, else /bin/sh.
AccountChanges plan_account(const AccountFiles& files, const AccountSpec& account);

}  // namespace lxbox::runtime
