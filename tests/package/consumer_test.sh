#!/usr/bin/env bash
# consumer_test.sh BUILD_DIR SOURCE_DIR NINJS_FIXTURE [COMPILER_FLAGS]
# Installs the build into a temporary prefix, builds tests/package/consumer against it twice (as a
# CMake project with find_package(kabar CONFIG), and with pkg-config's flags), starts the
# installed kabar-broker on a free loopback port, and has each build publish the fixture and get
# it back. COMPILER_FLAGS: the sanitizers the build was made with, which its libraries need.
set -euo pipefail
build=$1 source=$2 fixture=$3 flags=${4:-}
work=$(mktemp -d)
source "$source/scripts/lib/broker.sh"
trap 'stop_broker; rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
prefix=$work/prefix
for file in bin/kabar-broker bin/kabar-pub bin/kabar-sub bin/kabar-bench include/kabar/client/client.hpp \
            include/kabar/v1/kabar.pb.h include/kabar/version.hpp; do
  [ -e "$prefix/$file" ] || { echo "not installed: $file" >&2; exit 1; }
done

cmake -S "$source/tests/package/consumer" -B "$work/with-cmake" -G Ninja \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$work/with-cmake" >/dev/null

pc_file=$(find "$prefix" -name kabar.pc)
[ -n "$pc_file" ] || { echo "kabar.pc not installed" >&2; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc_file")
# shellcheck disable=SC2046,SC2086 # pkg-config's flags are words
g++ -std=c++20 $flags "$source/tests/package/consumer/publish_fixture.cpp" -o "$work/with-pkg-config" \
  $(pkg-config --cflags --libs kabar)

# --store memory keeps no history, so the second build's publish is not a duplicate of the first's.
start_broker "$prefix/bin/kabar-broker" --store memory

id=$(sed -n 's/.*"uri" *: *"\([^"]*\)".*/\1/p' "$fixture" | head -1)
for program in with-cmake/publish_fixture with-pkg-config; do
  out=$("$work/$program" "ws://127.0.0.1:$port/v1/ws" "package.test" "$fixture")
  echo "$program: $out"
  case "$out" in
    *"delivered $id v"*" at offset "*) ;;
    *) echo "$program: expected the delivery of $id" >&2; exit 1 ;;
  esac
done
