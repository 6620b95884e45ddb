// Scripted imports (`lxbox import --script distro-images/NAME.json`): the manifest format.
//
//   {
//     "name": "debian",                       distro name to register
//     "arch": "x86_64",                       optional; default: read from the rootfs
//     "source": {"tarball": "path.tar.zst"}   a local tarball (relative to the manifest), or
//     "source": {"build": ["sh", "x.sh"]}     a command that writes a tarball to stdout (run in
//                                             the manifest's directory)
//     "sha256": "…",                          optional; verified before anything is registered
//     "post_import": [                        optional; applied to the rootfs before it is
//       {"write": {"path": "/etc/hostname", "content": "debian\n", "mode": "0644"}}
//     ]                                       registered
//   }
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::distro {

struct WriteStep {
    std::string path;  // absolute, inside the rootfs
    std::string content;
    unsigned mode = 0644;
};

struct Manifest {
    std::string name;
    std::string arch;
    std::string tarball;               // resolved against the manifest's directory
    std::vector<std::string> build;    // argv; exactly one of tarball/build is set
    std::string sha256;                // lower-case hex, or empty
    std::string directory;             // the manifest's directory (cwd of the build command)
    std::vector<WriteStep> post_import;
};

// Pure: parses manifest text; `directory` is where the manifest lives. Errors name the field.
Result<Manifest> parse_manifest(const std::string& text, const std::string& directory);

// Reads and parses a manifest file.
Result<Manifest> load_manifest(const std::string& path);

}  // namespace lxbox::distro
