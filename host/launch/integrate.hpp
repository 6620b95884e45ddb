// Integrated containers (`launch --integrate`, a distro's `integration` setting; issue 20), as
// distrobox and WSL run a distro: the command runs as the invoking host user (the account made
// in the container on its first start), with $HOME shared read-write at the same path, the cwd
// kept, TERM/LANG/the timezone carried, the host's /etc/hosts and resolv.conf, and the user's
// display, sound and session bus where the host has them. What is shared is decided here,
// purely, from plain facts of the host session that read_host_session() gathers.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::launch {

// The host session's facts integration reads.
struct HostSession {
    runtime::AccountSpec user;                 // the invoking user (home: $HOME when set)
    std::map<std::string, std::string> env;    // the variables of session_variables() that are set
    std::string cwd;
    std::string localtime_link;                // readlink(/etc/localtime), "" when not a link
    std::string hosts;                         // /etc/hosts
    std::set<std::string> present;             // which of candidate_paths() exist on the host
};

// What an integrated container gets.
struct Integration {
    std::vector<runtime::BindMount> binds;  // read-write, at the same path, in this order
    std::vector<std::string> env;           // K=V, over the clean environment
    std::string cwd;                        // where the command starts; the home where the container lacks it
    runtime::AccountSpec account;
    std::string hosts;
    bool gpu = false;                       // /dev/dri among the binds
};

// The host variables integration carries or reads.
const std::vector<std::string>& session_variables();
// Pure: the host paths whose existence decides a bind (sockets, devices, the home).
std::vector<std::string> candidate_paths(const HostSession& s);
// Pure: the binds, environment, cwd and account of an integrated container.
Integration plan_integration(const HostSession& s);
// Pure: what of the session reaches a container in the VM: the user, the home (over the VM's
// share of the host's files), the cwd, hosts and the variables; not the display's, sound's and
// bus's sockets nor /dev/dri, which are the host kernel's (a unix socket does not cross 9p).
HostSession vm_session(const HostSession& s);
// Pure: the binds of a distro's vm.host-mount for a vm container: none; `home`, the home at the
// same path; or a guest directory, the host's / there (WSL's /mnt/c).
std::vector<runtime::BindMount> host_mount_binds(const std::string& setting, const std::string& home);
// Pure: the timezone name of /etc/localtime's link target (".../zoneinfo/Europe/Paris" ->
// "Europe/Paris"), "" when it names none.
std::string timezone_from_link(const std::string& link);

// Pure: the process runs as the account (unless -u named another), with the integration's
// environment under the user's own -e, in its cwd unless --cd.
void integrate_process(runtime::ProcessSpec& process, const Integration& in);
// Pure: spec becomes an integrated container's for the session: integrate_process, the binds
// before the -v ones, the account, the host's /etc/hosts, /dev/dri, setuid allowed (sudo:
// no_new_privs off, as docker's default), and rootless the id map that keeps the caller's ids
// (refused in one line without a subordinate range: the container's root needs an id of its own).
// in_vm: vm_session's share of it, and no id map (the guest agent is root of its own VM).
Status integrate(runtime::ContainerSpec& spec, const HostSession& session, bool in_vm = false);

// Effects: the invoking user's account (from the host's /etc/passwd and /etc/group, its
// groups from getgroups), the session's variables, cwd, /etc/hosts and which candidate paths
// exist.
Result<HostSession> read_host_session();

}  // namespace lxbox::launch
