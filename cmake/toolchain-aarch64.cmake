# Cross build for 64-bit ARM Linux with Debian's gcc-aarch64-linux-gnu (+ libc6-dev-arm64-cross):
#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake -DSLM_KERNELS_ONLY=ON
# Test binaries run under qemu-user (qemu-aarch64 from Debian's qemu-user); scripts/test_arm.sh
# runs them with several emulated CPU models, ctest uses the emulator below.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# "-cpu max": every feature qemu emulates (dotprod, i8mm), so the best path runs under ctest.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-cpu;max;-L;/usr/aarch64-linux-gnu)
