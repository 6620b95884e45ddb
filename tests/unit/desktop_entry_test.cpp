// A distro app's menu entry on the host (`lxbox shim --desktop`, issue 20), decided purely: the
// rewrite of the .desktop file, the Exec quoting, the icon choice and the export's manifest.
#include <gtest/gtest.h>

#include "host/desktop/desktop_entry.hpp"

namespace lxbox::desktop {
namespace {

// Debian's xterm entry, shortened, with an action, a TryExec and a translated name.
const char* kXterm =
    "# a comment\n"
    "[Desktop Entry]\n"
    "Name=XTerm\n"
    "Name[de]=XTerm (deutsch)\n"
    "Exec=xterm %F\n"
    "TryExec=xterm\n"
    "DBusActivatable=true\n"
    "Type=Application\n"
    "Icon=mini.xterm\n"
    "Categories=System;TerminalEmulator;\n"
    "\n"
    "[Desktop Action new]\n"
    "Name=New Window\n"
    "Exec = xterm -e top\n"
    "Icon=mini.xterm\n";

Rewrite to_debian() {
    return {{"/usr/bin/lxbox", "--root", "/root/.local/share/lxbox", "launch", "--integrate", "debian", "--"},
            " (on debian)",
            "lxbox-debian-mini.xterm",
            {"X-Lxbox-Distro=debian"}};
}

TEST(DesktopEntry, ExecRunsThroughLxboxIntoTheDistroAndTheEntrySaysWhere) {
    auto out = rewrite_entry(kXterm, to_debian());
    ASSERT_TRUE(out) << out.error().message;
    EXPECT_EQ(*out,
              "# a comment\n"
              "[Desktop Entry]\n"
              "X-Lxbox-Distro=debian\n"
              "Name=XTerm (on debian)\n"
              "Name[de]=XTerm (deutsch) (on debian)\n"
              "Exec=/usr/bin/lxbox --root /root/.local/share/lxbox launch --integrate debian -- xterm %F\n"
              "Type=Application\n"
              "Icon=lxbox-debian-mini.xterm\n"
              "Categories=System;TerminalEmulator;\n"
              "\n"
              "[Desktop Action new]\n"
              "Name=New Window\n"
              "Exec=/usr/bin/lxbox --root /root/.local/share/lxbox launch --integrate debian -- xterm -e top\n"
              "Icon=lxbox-debian-mini.xterm\n");
}

TEST(DesktopEntry, WhatIsNoApplicationEntryIsRefused) {
    auto none = rewrite_entry("[Other]\nName=x\n", to_debian());
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().message, "not a desktop entry (no [Desktop Entry] group with Name and Type)");
    auto link = rewrite_entry("[Desktop Entry]\nName=Site\nType=Link\nURL=https://example.org\n", to_debian());
    ASSERT_FALSE(link);
    EXPECT_EQ(link.error().message, "a desktop entry of Type Link, not an Application");
    auto dbus_only = rewrite_entry("[Desktop Entry]\nName=S\nType=Application\nDBusActivatable=true\n", to_debian());
    ASSERT_FALSE(dbus_only);
    EXPECT_EQ(dbus_only.error().message, "the entry has no Exec line to run (started by D-Bus activation only)");
}

TEST(DesktopEntry, ExecQuotingFollowsTheSpecThenTheStringEscapes) {
    EXPECT_EQ(exec_quote({"/usr/bin/lxbox", "--root", "/a b"}), "/usr/bin/lxbox --root \"/a b\"");
    // A reserved character quotes the argument; inside, " ` $ \ take a backslash, and the
    // string type then doubles every backslash.
    EXPECT_EQ(exec_quote({"a$b"}), "\"a\\\\$b\"");
    EXPECT_EQ(exec_quote({"say \"hi\""}), "\"say \\\\\"hi\\\\\"\"");
    EXPECT_EQ(exec_quote({"c:\\x"}), "\"c:\\\\\\\\x\"");
    EXPECT_EQ(exec_quote({"100%"}), "100%%");  // not a field code
    EXPECT_EQ(exec_quote({""}), "\"\"");
}

TEST(DesktopEntry, EntryValueReadsTheGroupAsked) {
    EXPECT_EQ(entry_value(kXterm, "Icon"), "mini.xterm");
    EXPECT_EQ(entry_value(kXterm, "Exec", "Desktop Action new"), "xterm -e top");
    EXPECT_EQ(entry_value(kXterm, "URL"), std::nullopt);
}

TEST(DesktopIcon, AScalableSvgBeatsTheLargestPngWhichBeatsPixmaps) {
    const std::vector<std::string> found = {
        "/usr/share/pixmaps/mini.xterm_32x32.xpm", "/usr/share/pixmaps/mini.xterm_48x48.xpm",
        "/usr/share/icons/hicolor/48x48/apps/mini.xterm.png", "/usr/share/icons/hicolor/256x256/apps/mini.xterm.png",
        "/usr/share/icons/hicolor/scalable/apps/mini.xterm.svg", "/usr/share/icons/hicolor/scalable/apps/xterm.svg"};
    auto svg = choose_icon(found, "mini.xterm", "lxbox-d-mini.xterm");
    ASSERT_TRUE(svg);
    EXPECT_EQ(svg->source, "/usr/share/icons/hicolor/scalable/apps/mini.xterm.svg");
    EXPECT_EQ(svg->dest, "icons/hicolor/scalable/apps/lxbox-d-mini.xterm.svg");
    auto png = choose_icon({found.begin(), found.begin() + 4}, "mini.xterm", "n");
    ASSERT_TRUE(png);
    EXPECT_EQ(png->source, "/usr/share/icons/hicolor/256x256/apps/mini.xterm.png");
    EXPECT_EQ(png->dest, "icons/hicolor/256x256/apps/n.png");
    auto xpm = choose_icon({found.begin(), found.begin() + 2}, "mini.xterm", "n");
    ASSERT_TRUE(xpm);
    EXPECT_EQ(xpm->source, "/usr/share/pixmaps/mini.xterm_48x48.xpm");
    EXPECT_EQ(xpm->dest, "icons/hicolor/48x48/apps/n.xpm");
    // A pixmap of no known size goes where the spec's unthemed lookup finds it.
    auto plain = choose_icon({"/usr/share/pixmaps/foo.png"}, "foo", "n");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->dest, "icons/n.png");
    EXPECT_FALSE(choose_icon({"/usr/share/icons/hicolor/48x48/apps/other.png", "/usr/share/pixmaps/foo.txt"}, "foo", "n"));
    // An absolute Icon names its file.
    auto abs = choose_icon({"/opt/app/icons/64x64/app.png"}, "/opt/app/icons/64x64/app.png", "n");
    ASSERT_TRUE(abs);
    EXPECT_EQ(abs->dest, "icons/hicolor/64x64/apps/n.png");
}

TEST(DesktopIcon, OnlyPlainNamesAreLookedUp) {
    EXPECT_TRUE(icon_name_usable("mini.xterm"));
    EXPECT_TRUE(icon_name_usable("/usr/share/pixmaps/a.png"));
    for (const char* bad : {"", "*", "a?b", "x[1]", "a/b", "..", "/usr/../etc/shadow"}) EXPECT_FALSE(icon_name_usable(bad)) << bad;
}

TEST(DesktopNames, TheAppIsAPlainFileName) {
    EXPECT_EQ(*desktop_file_name("xterm"), "xterm.desktop");
    EXPECT_EQ(*desktop_file_name("org.gnome.Foo.desktop"), "org.gnome.Foo.desktop");
    for (const char* bad : {"", ".desktop", "../x", "a b", ".."}) EXPECT_FALSE(desktop_file_name(bad)) << bad;
    EXPECT_EQ(exported_name("debian", "xterm.desktop"), "lxbox-debian-xterm.desktop");
}

TEST(DesktopManifest, RemoveTrustsOnlyWhatAnExportOfTheDistroMakes) {
    const Manifest m{"debian", {"icons/hicolor/scalable/apps/lxbox-debian-x.svg"},
                     {"icons/hicolor/scalable/apps", "icons/hicolor/scalable", "applications"}};
    auto entry = rewrite_entry(kXterm, {{"lxbox"}, "", "", manifest_marks(m)});
    ASSERT_TRUE(entry);
    auto back = read_manifest(*entry, "debian");
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->files, m.files);
    EXPECT_EQ(back->dirs, m.dirs);
    EXPECT_EQ(read_manifest(*entry, "fedora").error().message, "it was not exported from fedora by lxbox shim --desktop");
    EXPECT_FALSE(read_manifest(kXterm, "debian"));
    for (const auto& files : {"icons/../../.bashrc", "/etc/passwd", "icons/hicolor/48x48/apps/firefox.png",
                              "applications/lxbox-debian-x.desktop"}) {
        auto bad = rewrite_entry(kXterm, {{"lxbox"}, "", "", {"X-Lxbox-Distro=debian", std::string("X-Lxbox-Files=") + files}});
        EXPECT_FALSE(read_manifest(*bad, "debian")) << files;
    }
    for (const auto& dirs : {"..", "Documents", "icons/../.."}) {
        auto bad = rewrite_entry(kXterm, {{"lxbox"}, "", "", {"X-Lxbox-Distro=debian", std::string("X-Lxbox-Dirs=") + dirs}});
        EXPECT_FALSE(read_manifest(*bad, "debian")) << dirs;
    }
}

}  // namespace
}  // namespace lxbox::desktop
