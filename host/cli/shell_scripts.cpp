#include "host/cli/shell_scripts.hpp"

#include <cstdint>
#include <cstdio>

namespace lxbox::cli {

namespace {

// `__complete -- WORDS` exits 0 with the candidates one per line, or 1 when the word is a path (the
// value of --root, a tarball, the command after --): the shell completes files then.
constexpr const char* kBash = R"SH(# bash completion for lxbox (lxbox completion bash)
_lxbox() {
    local out rc
    out=$("${COMP_WORDS[0]}" __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    rc=$?
    if [ "$rc" -ne 0 ]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "${COMP_WORDS[COMP_CWORD]}"))
        return 0
    fi
    local IFS=$'\n'
    COMPREPLY=($out)
}
complete -F _lxbox lxbox
)SH";

constexpr const char* kZsh = R"SH(#compdef lxbox
# zsh completion for lxbox (lxbox completion zsh): source it, or save it as _lxbox in $fpath
_lxbox() {
    local out
    out="$(${words[1]} __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)" || { _files; return }
    local -a candidates
    candidates=("${(@f)out}")
    compadd -- "${(@)candidates}"
}
if [ "${funcstack[1]}" = "_lxbox" ]; then
    _lxbox "$@"
else
    compdef _lxbox lxbox
fi
)SH";

constexpr const char* kFish = R"SH(# fish completion for lxbox (lxbox completion fish)
function __lxbox_complete
    set -l words (commandline -opc) (commandline -ct)
    $words[1] __complete -- $words[2..-1] 2>/dev/null
    or __fish_complete_path (commandline -ct)
end
complete -c lxbox -f -a '(__lxbox_complete)'
)SH";

// Text set as roff: no line may start with a control character, and a backslash is \e.
// Non-ASCII as \[uXXXX], so groff reads it whatever the locale.
std::string roff(const std::string& text) {
    std::string out;
    bool line_start = true;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (line_start && (c == '.' || c == '\'')) out += "\\&";
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0xc0) {  // a UTF-8 lead byte, then its continuation bytes
            const int more = byte >= 0xf0 ? 3 : byte >= 0xe0 ? 2 : 1;
            uint32_t cp = byte & (0x3f >> more);
            for (int k = 0; k < more && i + 1 < text.size(); ++k) cp = (cp << 6) | (text[++i] & 0x3f);
            char buf[16];
            std::snprintf(buf, sizeof buf, "\\[u%04X]", cp);
            out += buf;
        } else if (byte >= 0x80) {
            // a stray continuation byte: not text
        } else if (c == '\\')
            out += "\\e";
        else if (c == '-')
            out += "\\-";
        else
            out += c;
        line_start = c == '\n';
    }
    return out;
}

std::string option_line(const CliOption& o) {
    std::string names;
    for (const std::string& n : o.names) names += (names.empty() ? "" : ", ") + ("\\fB" + roff(n) + "\\fR");
    if (!o.value_name.empty()) names += " \\fI" + roff(o.value_name) + "\\fR";
    return ".TP\n" + names + "\n" + roff(o.description.empty() ? "(no description)" : o.description) + "\n";
}

std::string usage(const CliCommand& c, const std::string& path) {
    std::string u = "\\fBlxbox " + roff(path) + "\\fR";
    if (c.options.size() > 1) u += " [\\fIOPTIONS\\fR]";
    if (!c.subcommands.empty()) u += " \\fICOMMAND\\fR";
    for (const CliPositional& p : c.positionals) {
        std::string arg = "\\fI" + roff(p.name) + "\\fR" + (p.many ? "..." : "");
        u += " " + (p.required ? arg : "[" + arg + "]");
    }
    return u;
}

// A verb's subsection, then its subcommands' ("vm image", "config get") as their own.
void verb_section(std::string& out, const CliCommand& c, const std::string& path) {
    out += ".SS " + usage(c, path) + "\n" + roff(c.description) + "\n";
    for (const CliPositional& p : c.positionals)
        out += ".TP\n\\fI" + roff(p.name) + "\\fR\n" + roff(p.description) + "\n";
    for (const CliOption& o : c.options)
        if (o.names != std::vector<std::string>{"-h", "--help"}) out += option_line(o);
    for (const CliCommand& sub : c.subcommands) verb_section(out, sub, path + " " + sub.name);
}

}  // namespace

Result<std::string> completion_script(const std::string& shell) {
    if (shell == "bash") return std::string(kBash);
    if (shell == "zsh") return std::string(kZsh);
    if (shell == "fish") return std::string(kFish);
    return Error(ErrorKind::Invalid, "completion: no script for shell '" + shell + "' (bash, zsh or fish)");
}

std::string readme_opening(const std::string& readme) {
    std::string out;
    size_t pos = readme.find('\n');  // past the "# lxbox" title
    const size_t end = readme.find("\n## ");
    if (pos == std::string::npos) return out;
    for (char c : readme.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1))
        if (c != '`' && c != '*') out += c;
    while (!out.empty() && (out.front() == '\n')) out.erase(0, 1);
    while (!out.empty() && (out.back() == '\n')) out.pop_back();
    return out;
}

std::string man_page(const CliCommand& tree, const std::string& version, const std::string& description) {
    std::string out = ".TH LXBOX 1 \"\" \"lxbox " + roff(version) + "\" \"User Commands\"\n";
    const size_t colon = tree.description.find(": ");  // "lxbox: what it is"
    out += ".SH NAME\nlxbox \\- " + roff(colon == std::string::npos ? tree.description : tree.description.substr(colon + 2)) + "\n";
    out += ".SH SYNOPSIS\n\\fBlxbox\\fR [\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]\n";
    out += ".SH DESCRIPTION\n";
    std::string para;
    for (size_t start = 0; start <= description.size();) {  // blank lines are paragraph breaks
        size_t nl = description.find('\n', start);
        std::string line = description.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        out += line.empty() ? ".PP\n" : roff(line) + "\n";
        if (nl == std::string::npos) break;
        start = nl + 1;
    }
    out += ".SH GLOBAL OPTIONS\n";
    for (const CliOption& o : tree.options) out += option_line(o);
    out += ".SH COMMANDS\n";
    for (const CliCommand& c : tree.subcommands) verb_section(out, c, c.name);
    out += ".SH ENVIRONMENT\n"
           ".TP\n\\fBLXBOX_ROOT\\fR\nThe state directory when \\fB\\-\\-root\\fR is not given "
           "(default \\fI$XDG_DATA_HOME/lxbox\\fR, else \\fI~/.local/share/lxbox\\fR).\n"
           ".TP\n\\fBLXBOX_BUSYBOX_TARBALL\\fR, \\fBLXBOX_AGENT\\fR, \\fBLXBOX_REGISTRY_HELPER\\fR\n"
           "The default distro's tarball, the guest agent and the registry client, instead of those "
           "installed with lxbox.\n";
    out += ".SH FILES\n"
           ".TP\n\\fIPREFIX/share/lxbox/busybox\\-rootfs.tar\\fR\nThe default distro, registered on first use.\n"
           ".TP\n\\fIPREFIX/libexec/lxbox/\\fR\nThe guest agent of the VM backend and the registry client.\n";
    out += ".SH SEE ALSO\n\\fBlxbox completion\\fR \\fIbash\\fR|\\fIzsh\\fR|\\fIfish\\fR for shell completion.\n";
    return out;
}

}  // namespace lxbox::cli
