#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Debian packages, as a team would use them: configure a release build for /usr in
# its own build tree (no tests, benchmarks or examples), cpack -G DEB, lintian (no
# errors), install (dpkg -i when root and none of them is installed already; otherwise,
# or with AM_PACKAGES_EXTRACT=1, dpkg-deb -x into a scratch root), then:
#   - the exported symbols of the installed libraries against tests/abi/*.symbols;
#   - tests/install's projects with CMake (find_package, with and without protobuf);
#   - examples/first.c with pkg-config only, and tests/install/consumer.c from .proto
#     with protoc, protoc-gen-am and pkg-config atomicmatrix-protobuf;
#   - amctl --version and the man pages;
#   - am-bridge (atomicmatrix-bridge, built where libnats-dev is installed): --help,
#     --version, its libraries;
#   - the Python package: imported by /usr/bin/python3, a sample through an arena.
# The packages are removed again (dpkg --purge) whatever happens.
#   tests/packages/run.sh SOURCE_DIR WORK_DIR     (AM_JOBS=N: build with -jN; default nproc)
set -euo pipefail
src=$(cd "$1" && pwd) work=$2
pkgs=(atomicmatrix-tools libatomicmatrix-dev libatomicmatrix0 python3-atomicmatrix)
# am-bridge is built (and packaged) where libnats is; then its package is required.
if pkg-config --exists libnats 2>/dev/null; then pkgs+=(atomicmatrix-bridge); fi
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work"
work=$(cd "$work" && pwd)
version=$(sed -n 's/^project(atomicmatrix VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")

echo "== packages: build and cpack ($work/build)"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
      -DAM_BUILD_TESTS=OFF -DAM_BUILD_BENCHMARKS=OFF -DAM_BUILD_EXAMPLES=OFF > "$work/configure.log"
cmake --build "$work/build" -j"${AM_JOBS:-$(nproc)}" > "$work/build.log" || fail "build: $(tail -20 "$work/build.log")"
(cd "$work/build" && cpack -G DEB > "$work/cpack.log") || fail "cpack: $(cat "$work/cpack.log")"
debs=()
for p in "${pkgs[@]}"; do
    f=$(ls "$work/build/${p}_${version}_"*.deb 2>/dev/null | head -1)
    [ -n "$f" ] || fail "no package $p ($(ls "$work/build"/*.deb 2>/dev/null | xargs -n1 basename | tr '\n' ' '))"
    debs+=("$f")
    echo "   $(basename "$f"): $(dpkg-deb -f "$f" Depends)"
done
contents=$(dpkg-deb -c "${debs[2]}")
grep -q 'libatomicmatrix\.so\.0 ' <<< "$contents" || fail "libatomicmatrix0 has no libatomicmatrix.so.0"
grep -q 'libatomicmatrix_protobuf\.so\.0 ' <<< "$contents" || fail "libatomicmatrix0 has no libatomicmatrix_protobuf.so.0"
for f in "${debs[@]}"; do
    ! dpkg-deb -c "$f" | grep -q 'testing\.h' || fail "testing.h is packaged"
done

if command -v lintian > /dev/null; then
    echo "== packages: lintian"
    # Errors fail; warnings are printed. (--allow-root: CI runs as root.)
    lintian --allow-root --fail-on error --suppress-tags-from-file /dev/null "${debs[@]}" | tee "$work/lintian.log" \
        || fail "lintian found errors"
else
    echo "== packages: lintian is not installed (scripts/deps.sh installs it): skipped"
fi

mode=extract
if [ "$(id -u)" -eq 0 ] && [ "${AM_PACKAGES_EXTRACT:-0}" != 1 ]; then
    mode=install
    for p in "${pkgs[@]}"; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed"; then
            echo "   $p is installed on this machine already: extracting instead of installing"
            mode=extract
        fi
    done
fi
root=""
cleanup() {
    if [ "$mode" = install ]; then
        # a failed purge leaves the machine changed: that fails the test too
        dpkg --purge "${pkgs[@]}" > "$work/purge.log" 2>&1 || { echo "FAIL: dpkg --purge"; cat "$work/purge.log"; exit 1; }
    fi
}
trap cleanup EXIT
if [ "$mode" = install ]; then
    echo "== packages: dpkg -i"
    dpkg -i "${debs[@]}" > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
    usr=/usr
else
    echo "== packages: dpkg-deb -x into $work/root"
    root=$work/root
    for f in "${debs[@]}"; do dpkg-deb -x "$f" "$root"; done
    usr=$root/usr
fi
multiarch=$(gcc -print-multiarch 2>/dev/null || true)
libdir=$usr/lib/${multiarch}
[ -e "$libdir/libatomicmatrix.so.0" ] || libdir=$usr/lib
export PKG_CONFIG_PATH=$libdir/pkgconfig
export LD_LIBRARY_PATH=""
cmake_args=()
if [ "$mode" = extract ]; then
    export LD_LIBRARY_PATH=$libdir
    cmake_args=(-DCMAKE_PREFIX_PATH="$usr")
fi

echo "== packages: exported symbols"
bash "$src/tests/abi/check.sh" "$src/tests/abi/atomicmatrix.symbols" "$libdir/libatomicmatrix.so.0"
bash "$src/tests/abi/check.sh" "$src/tests/abi/atomicmatrix_protobuf.symbols" "$libdir/libatomicmatrix_protobuf.so.0"

echo "== packages: CMake consumers (tests/install)"
mkdir -p "$work/consume"
bash "$src/tests/install/consume.sh" "$work/consume" "${cmake_args[@]}"

echo "== packages: pkg-config only"
[ "$(pkg-config --modversion atomicmatrix)" = "$version" ] || fail "pkg-config atomicmatrix: $(pkg-config --modversion atomicmatrix)"
[ "$(pkg-config --modversion atomicmatrix-protobuf)" = "$version" ] || fail "pkg-config atomicmatrix-protobuf"
pc=$work/pkgconfig && mkdir -p "$pc/gen"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$src/examples/first.c" -o "$pc/first" $(pkg-config --cflags --libs atomicmatrix)
"$pc/first" | tee "$pc/first.out"
grep -q "^took \"hi there\" (seq 1) with atomicmatrix $version\$" "$pc/first.out" || fail "first (pkg-config)"
protoc -I"$src/tests/install" --plugin=protoc-gen-c="$(command -v protoc-gen-c)" \
       --plugin=protoc-gen-am="$usr/bin/protoc-gen-am" --c_out="$pc/gen" --am_out="$pc/gen" greeting.proto
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -I"$pc/gen" "$src/tests/install/consumer.c" "$pc/gen/greeting.pb-c.c" "$pc/gen/greeting.am.c" \
   -o "$pc/consumer" $(pkg-config --cflags --libs atomicmatrix-protobuf)
"$pc/consumer"

echo "== packages: amctl and the man pages"
[ "$("$usr/bin/amctl" --version)" = "amctl $version (atomicmatrix library $version)" ] || fail "amctl --version"
for m in man1/amctl.1.gz man1/protoc-gen-am.1.gz; do
    gzip -t "$usr/share/man/$m" || fail "$m"
done
if [ "$mode" = install ]; then
    ldd /usr/bin/amctl | grep -q libatomicmatrix && fail "amctl should carry the core statically"
fi
if [[ " ${pkgs[*]} " == *" atomicmatrix-bridge "* ]]; then
    echo "== packages: am-bridge"
    [ "$("$usr/bin/am-bridge" --version)" = "am-bridge $version (atomicmatrix library $version)" ] \
        || fail "am-bridge --version"
    "$usr/bin/am-bridge" --help | grep -q -- '--arena NAME --url nats://' || fail "am-bridge --help"
    "$usr/bin/am-bridge" --bogus > /dev/null 2>&1 && fail "am-bridge accepted --bogus"
    gzip -t "$usr/share/man/man1/am-bridge.1.gz" || fail "man1/am-bridge.1.gz"
    bridge_deb=${debs[4]}
    depends=$(dpkg-deb -f "$bridge_deb" Depends)
    grep -q 'libnats3\.4' <<< "$depends" || fail "atomicmatrix-bridge does not depend on libnats3.4: $depends"
    grep -q "libatomicmatrix0 (= $version)" <<< "$depends" || fail "atomicmatrix-bridge: $depends"
    # every library it needs is found, libatomicmatrix.so.0 in the packages' own directory
    libs=$(ldd "$usr/bin/am-bridge")
    ! grep -q 'not found' <<< "$libs" || fail "am-bridge: $libs"
    found=$(sed -n 's/^[[:space:]]*libatomicmatrix\.so\.0 => \([^ ]*\) .*/\1/p' <<< "$libs")
    [ -n "$found" ] && [ "$(readlink -f "$found")" = "$(readlink -f "$libdir/libatomicmatrix.so.0")" ] \
        || fail "am-bridge does not use the packaged libatomicmatrix.so.0: $libs"
    grep -q 'libnats\.so\.3\.4 ' <<< "$libs" || fail "am-bridge does not link libnats.so.3.4: $libs"
fi
echo "== packages: the Python package"
pydir=$usr/lib/python3/dist-packages
[ -e "$pydir/atomicmatrix/__init__.py" ] || fail "python3-atomicmatrix has no $pydir/atomicmatrix"
PYTHONPATH=$pydir /usr/bin/python3 -c "
import atomicmatrix as am
assert am.version() == '$version', am.version()
name = 'pkgtest_%d' % __import__('os').getpid()
with am.Arena(name, size=1 << 20) as a:
    s, p = a.subscriber('t'), a.publisher('t')
    p.publish(b'from the package')
    with s.take(timeout=1) as m:
        assert m.data == b'from the package'
am.Arena.unlink(name)
print('   python3-atomicmatrix:', am.LIBRARY, am.version())
" || fail "python3-atomicmatrix"
echo "== packages: fine ($mode)"
