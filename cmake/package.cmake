# The Debian package (CPack's DEB generator): `cpack --config build/CPackConfig.cmake` writes
# lxbox_<version>_<arch>.deb, installed with `apt-get install ./lxbox_*.deb`. lxbox and the
# guest agent are static; lxbox-registry links libcurl (registry-client/CMakeLists.txt).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME lxbox)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "WSL-style Linux container launcher (native namespaces or a QEMU VM)")
set(CPACK_PACKAGE_DESCRIPTION "lxbox launch gives a Linux distribution's userland: natively with namespaces,
overlayfs and cgroups, or inside a small QEMU VM. Distros are imported from rootfs tarballs,
OCI archives or a registry; a busybox distro ships as the default.")
set(CPACK_PACKAGE_CONTACT "lxbox developers <lxbox@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # RelWithDebInfo's lxbox is ~220 MB with its debug info
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # lxbox_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6 (>= 2.36), libcurl4 (>= 7.88)")
# What some verbs use, none needed to launch natively: QEMU for the VM backend (its kernel is
# fetched with apt-get download), mkfs.ext4 for the VM's disks, newuidmap/newgidmap and
# fuse-overlayfs for rootless use, debootstrap for the Debian manifest, CA roots for registries.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(LXBOX_QEMU_PACKAGE qemu-system-arm)
else()
  set(LXBOX_QEMU_PACKAGE qemu-system-x86)
endif()
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "${LXBOX_QEMU_PACKAGE}, e2fsprogs, uidmap, fuse-overlayfs, debootstrap, ca-certificates")
set(CPACK_DEBIAN_COMPRESSION_TYPE zstd)
include(CPack)
