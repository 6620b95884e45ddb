// The VM supervisor's distro disks (boot, hot-plug, detach) and forwarded ports (-p, and
// localhost forwarding), kept per session.
#include "host/vm/supervisor_impl.hpp"

#include <algorithm>

#include "host/vm/disks.hpp"
#include "runtime/base/log.hpp"

namespace lxbox::vm::supervisor_detail {

Status Supervisor::publish(ClientSession s, const std::vector<PortForward>& ports) {
    for (const auto& p : ports) {
        Qmp* q = LXBOX_TRY(qmp().context("publish " + hostfwd_key(p)));
        auto out = q->hmp(std::string("hostfwd_add ") + kNetdevId + " " + hostfwd_rule(p));
        // HMP answers success with nothing and failure with a line of text.
        if (!out || !out->empty()) {
            std::string why = out ? *out : out.error().message;
            while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
            return Error(ErrorKind::Busy, "publish " + hostfwd_key(p) + ": " + why + " (is the port in use?)");
        }
        published_[s].push_back(p);
    }
    return {};
}

PortForwarder::Hooks Supervisor::forwarder_hooks() {
    PortForwarder::Hooks h;
    h.open_session = [this] { return router_.open({kForwarderClient, next_forward_++}); };
    h.close_session = [this](uint32_t id) { router_.close(id); };
    h.to_agent = [this](const Frame& f) { to_agent(f); };
    h.warn = [this](uint32_t session, const std::string& line) {
        // Told to the client whose container listens; a port nobody can be named for is in the log only.
        auto owner = router_.owner(session);
        if (!owner) return;
        if (auto c = clients_.find(owner->client); c != clients_.end())
            reply(*c->second, make_frame(owner->local, Notice{line}));
    };
    return h;
}

std::set<uint16_t> Supervisor::published_ports() const {
    std::set<uint16_t> out;
    for (const auto& [session, ports] : published_)
        for (const auto& p : ports) {
            out.insert(p.host_port);
            out.insert(p.guest_port);
        }
    return out;
}

Result<Qmp*> Supervisor::qmp() {
    if (qmp_) return &*qmp_;
    if (!vm_) return Error(ErrorKind::Unsupported, "the VM is not running");
    auto connected = Qmp::connect(paths_.qmp, Millis(5000));
    if (!connected) return Error(ErrorKind::Unsupported, "no QMP connection to the VM: " + connected.error().message);
    qmp_.emplace(std::move(*connected));
    return &*qmp_;
}

Status Supervisor::hotplug(const std::vector<AttachDisk>& disks) {
    Qmp* q = LXBOX_TRY(qmp().context("hot-plug a disk"));
    for (const auto& d : disks) {
        for (const auto& [command, arguments] : hotplug_disk_commands({d.path, d.readonly, d.serial}))
            LXBOX_TRY(q->execute(command, arguments).context(command + " " + d.serial));
        disks_.push_back({d, true});
        spdlog::info("hot-plugged the disk {} ({})", d.serial, d.path);
    }
    return {};
}

void Supervisor::reconcile_disks() {
    reconcile_due_ = false;
    // An agent from before Detach (an image not rebuilt yet) keeps its disks until it stops.
    const std::vector<std::string> caps = vm_ ? vm_->hello().capabilities : std::vector<std::string>{};
    if (std::find(caps.begin(), caps.end(), "detach") == caps.end()) return answer_detach_waiters();
    std::set<std::string> on_file, in_use;
    for (const auto& d : built_distro_disks(opts_.vm_dir)) on_file.insert(d.serial);
    for (const auto& [session, serials] : disk_users_) in_use.insert(serials.begin(), serials.end());
    std::vector<std::string> mounted;
    for (const auto& d : disks_)
        if (d.state == AttachedDisk::Mounted) mounted.push_back(d.disk.serial);
    const auto go = disks_to_detach(mounted, on_file, in_use);
    stale_in_use_ = std::any_of(mounted.begin(), mounted.end(), [&](const std::string& serial) {
        return !on_file.count(serial) && in_use.count(serial);
    });
    for (const auto& serial : go) {
        for (auto& d : disks_)
            if (d.disk.serial == serial) d.state = AttachedDisk::Detaching;
        to_agent(make_frame(0, Detach{serial, guest_image_dir(serial), "", false}));
    }
    answer_detach_waiters();
}

void Supervisor::on_detached(const Detach& answer) {
    auto it = std::find_if(disks_.begin(), disks_.end(), [&](const AttachedDisk& d) {
        return d.disk.serial == answer.serial && d.state == AttachedDisk::Detaching;
    });
    if (it == disks_.end()) return;
    if (!answer.error.empty()) {
        // Still in use (a process with its cwd there, say): tried again when a session ends.
        spdlog::warn("detach the disk {}: {}", answer.serial, answer.error);
        it->state = AttachedDisk::Mounted;
        stale_in_use_ = true;
    } else if (!it->hotplugged) {
        spdlog::info("the disk {} is unmounted in the VM; its file stays open until the VM stops", answer.serial);
        it->state = AttachedDisk::Held;
    } else if (auto unplugged = unplug(answer.serial); !unplugged) {
        spdlog::warn("unplug the disk {}: {}", answer.serial, unplugged.error().message);
        it->state = AttachedDisk::Held;
    } else {
        spdlog::info("unplugged the disk {} ({})", answer.serial, it->disk.path);
        disks_.erase(it);
    }
    answer_detach_waiters();
}

Status Supervisor::unplug(const std::string& serial) {
    Qmp* q = LXBOX_TRY(qmp().context("unplug a disk"));
    const DiskUnplug u = unplug_disk_commands(serial);
    LXBOX_TRY(q->execute(u.device_del.first, u.device_del.second).context(u.device_del.first + " " + serial));
    // The node is the device's until QEMU says it is gone (a SCSI disk goes at once).
    LXBOX_TRY(q->wait_event("DEVICE_DELETED",
                            [&](const nlohmann::json& data) { return data.value("device", "") == u.device_id; },
                            Millis(5000)));
    LXBOX_TRY(q->execute(u.blockdev_del.first, u.blockdev_del.second).context(u.blockdev_del.first + " " + serial));
    return {};
}

void Supervisor::answer_detach_waiters() {
    const auto detaching = [](const AttachedDisk& d) { return d.state == AttachedDisk::Detaching; };
    if (std::any_of(disks_.begin(), disks_.end(), detaching)) return;
    for (uint64_t id : std::exchange(detach_waiters_, {}))
        if (auto c = clients_.find(id); c != clients_.end())
            reply(*c->second, Frame{FrameType::Status, 0, nlohmann::json(status()).dump()});
}

void Supervisor::session_ended(ClientSession s) {
    unpublish(s);
    if (disk_users_.erase(s) && stale_in_use_) reconcile_due_ = true;
}

void Supervisor::client_ended(uint64_t client) {
    unpublish_client(client);
    if (std::erase_if(disk_users_, [client](const auto& entry) { return entry.first.client == client; }) &&
        stale_in_use_)
        reconcile_due_ = true;
}

void Supervisor::unpublish(ClientSession s) {
    auto it = published_.find(s);
    if (it == published_.end()) return;
    for (const auto& p : it->second)
        if (qmp_) (void)qmp_->hmp(std::string("hostfwd_remove ") + kNetdevId + " " + hostfwd_key(p));
    published_.erase(it);
}

void Supervisor::unpublish_client(uint64_t client) {
    std::vector<ClientSession> mine;
    for (const auto& [s, ports] : published_)
        if (s.client == client) mine.push_back(s);
    for (const auto& s : mine) unpublish(s);
}

void Supervisor::fail_all(const std::string& why) {
    // Every client gets the reason on each session it had open (on the connection when it
    // had none), then its connection ends.
    for (auto& [id, c] : clients_) {
        for (uint32_t local : router_.local_ids(id)) reply_error(*c, local, why);
        if (router_.count(id) == 0 && !c->wants_stop) reply_error(*c, kConnectionSession, why);
        router_.close_client(id);
        c->conn.closed = true;
    }
}

}  // namespace lxbox::vm::supervisor_detail
