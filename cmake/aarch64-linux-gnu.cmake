# Cross-compiling for aarch64 with Debian's g++-aarch64-linux-gnu and the :arm64 -dev packages
# (dpkg --add-architecture arm64; tools/setup installs them). Used for the aarch64 guest agent
# (guest-agent/CMakeLists.txt builds it as an ExternalProject with LXBOX_AGENT_ONLY).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Debian's multiarch layout: arm64 libraries and CMake packages under /usr/lib/aarch64-linux-gnu,
# headers shared in /usr/include. Programs are the build host's.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
