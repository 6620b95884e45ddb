// `lxbox exec`: another process in a running container, native or vm.
#include "host/launch/exec.hpp"

#include <cstdio>

#include "host/launch/decide.hpp"
#include "runtime/container/container.hpp"

namespace lxbox::launch {

Result<int> exec(store::Store& store, const ExecRequest& req) {
    auto view = LXBOX_TRY(find_container(store, req.container));
    if (!view.instance) return Error(ErrorKind::NotFound, "container '" + req.container + "' is not running");
    // The container runs where it was made; the one decision says so (--log-level debug).
    const bool on_vm = view.backend == "vm" || view.instance->backend == "vm";
    auto reg = LXBOX_TRY(store.load());
    const auto image = reg.images.find(view.image);
    const auto choice = LXBOX_TRY(decide_backend(store.root(), image == reg.images.end() ? "" : image->second.arch,
                                                 "auto", on_vm ? "vm" : "native")
                                      .context("exec in " + req.container));
    if (choice.backend == backend::Backend::Vm)
        return exec_in_vm_container(store, req.container, *view.instance, req.process).context("exec in " + req.container);
    runtime::JoinSpec j{view.instance->pid, view.instance->start_time, view.instance->cgroup,
                        LXBOX_TRY(make_process_spec(req.process)), store.root() + "/cache",
                        view.instance->namespaces};
    inherit_security(j.process, req.process, *view.instance);
    auto c = LXBOX_TRY(runtime::Container::join(j).context("exec in " + req.container));
    auto outcome = LXBOX_TRY(c.wait().context("exec in " + req.container));
    if (outcome.exec_error) std::fprintf(stderr, "lxbox: %s\n", outcome.exec_error->message.c_str());
    return outcome.exit_code;
}

}  // namespace lxbox::launch
