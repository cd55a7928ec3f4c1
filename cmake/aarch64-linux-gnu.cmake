# Cross-compiling for AArch64 Linux with Debian's g++-aarch64-linux-gnu. The arm64 libraries come
# from the sysroot scripts/arm_sysroot.sh unpacks (build/arm-sysroot/root, or LOUPE_ARM_SYSROOT),
# or from arm64 -dev packages installed through multiarch. Test binaries run under qemu-aarch64
# (Debian's qemu-user), also for gtest_discover_tests at build time; LOUPE_QEMU_CPU picks the
# emulated CPU (default max: NEON with the dot-product and i8mm extensions).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# GCC notes that passing std::pair changed ABI in GCC 10.1: nothing to do here.
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")

if(DEFINED ENV{LOUPE_ARM_SYSROOT})
  set(LOUPE_ARM_ROOT "$ENV{LOUPE_ARM_SYSROOT}/root")
else()
  set(LOUPE_ARM_ROOT "${CMAKE_CURRENT_LIST_DIR}/../build/arm-sysroot/root")
endif()
get_filename_component(LOUPE_ARM_ROOT "${LOUPE_ARM_ROOT}" ABSOLUTE)
set(LOUPE_ARM_LIBDIR "${LOUPE_ARM_ROOT}/usr/lib/aarch64-linux-gnu")

set(CMAKE_FIND_ROOT_PATH "${LOUPE_ARM_ROOT}" /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# pkg-config: the sysroot's .pc files first (their -I/-L paths re-rooted), then multiarch ones.
set(ENV{PKG_CONFIG_LIBDIR}
    "${LOUPE_ARM_LIBDIR}/pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
if(EXISTS "${LOUPE_ARM_LIBDIR}/pkgconfig")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${LOUPE_ARM_ROOT}")
  # The sysroot's headers come before the host's (arch-specific ones such as zconf.h differ).
  include_directories(BEFORE SYSTEM "${LOUPE_ARM_ROOT}/usr/include")
  # Libraries the linked ones need (libprotobuf-lite for libsentencepiece, libtinfo for libedit).
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${LOUPE_ARM_LIBDIR}")
  set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${LOUPE_ARM_LIBDIR}")
endif()

if(DEFINED ENV{LOUPE_QEMU_CPU})
  set(LOUPE_QEMU_CPU "$ENV{LOUPE_QEMU_CPU}")
else()
  set(LOUPE_QEMU_CPU max)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -cpu ${LOUPE_QEMU_CPU} -L /usr/aarch64-linux-gnu
    -E LD_LIBRARY_PATH=${LOUPE_ARM_LIBDIR} -E LOUPE_EMULATED=1)
