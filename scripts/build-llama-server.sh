#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` (CPU only) from the llama.cpp source that the installed node-llama-cpp
# ships (node_modules/node-llama-cpp/llama/gitRelease.bundle at the tag in llama.cpp.info.json, plus every
# patches/*.diff node-llama-cpp applies), so the peer benchmark compares docfleet with the same engine version.
# The binary goes to ${DOCFLEET_CACHE_DIR:-$HOME/.cache/docfleet}/llama-server/<tag>/bin/llama-server and its
# path is printed on stdout (messages go to stderr). Nothing is written inside the repository.
#
# Idempotent: the build is reused while the tag, the bundle and the patches are the same (their sha256 are kept
# in <tag>/build.key). A build takes minutes on two cores; its log is <tag>/build.log.
#
# Needs git, cmake and a C++ compiler (Debian: apt-get install cmake g++). Runs offline.
# Exit codes: 0 ready; 1 the build failed; 2 usage, or a tool or the node-llama-cpp source is missing.
# Environment: DOCFLEET_CACHE_DIR, BUILD_JOBS (default: the number of cores).
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    *) echo "build-llama-server: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say() { echo "build-llama-server: $*" >&2; }
die() { local code=$1; shift; say "$*"; exit "$code"; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
llama_dir="$script_dir/../node_modules/node-llama-cpp/llama"
bundle="$llama_dir/gitRelease.bundle"
info="$llama_dir/llama.cpp.info.json"

for tool in git cmake; do
  command -v "$tool" >/dev/null || die 2 "$tool is missing; install it (Debian: apt-get install cmake g++ git)"
done
command -v c++ >/dev/null || command -v g++ >/dev/null || die 2 "no C++ compiler; install one (Debian: apt-get install g++)"
[ -f "$bundle" ] && [ -f "$info" ] || die 2 "no llama.cpp source in $llama_dir; run npm ci first"

tag=$(sed -n 's/.*"tag": *"\([^"]*\)".*/\1/p' "$info")
[ -n "$tag" ] || die 2 "no tag in $info"
patches=()
if [ -d "$llama_dir/patches" ]; then
  while IFS= read -r patch; do patches+=("$patch"); done < <(find "$llama_dir/patches" -maxdepth 1 -name '*.diff' | sort)
fi
# The build's shape is part of the key, so a binary built another way is rebuilt.
key=$( { echo "$tag cpu-all-variants no-openmp"; sha256sum "$bundle" | cut -d' ' -f1; for p in "${patches[@]}"; do sha256sum "$p"; done; } \
  | sed "s|$llama_dir/||" )

target="${DOCFLEET_CACHE_DIR:-$HOME/.cache/docfleet}/llama-server/$tag"
binary="$target/bin/llama-server"
mkdir -p "$target"

# Two benchmark runs at once must not build into the same directory.
exec 9>"$target/.lock"
flock 9

if [ -x "$binary" ] && [ "$(cat "$target/build.key" 2>/dev/null)" = "$key" ]; then
  say "reusing $binary"
  echo "$binary"
  exit 0
fi

log="$target/build.log"
work="$target/work"
rm -rf "$work" "$target/bin" "$target/build.key"
say "building llama-server $tag into $target (several minutes; log: $log)"
: >"$log"
run() { "$@" >>"$log" 2>&1 || die 1 "'$*' failed; see $log"; }

# The bundle holds the release as its only head (HEAD), so the clone is already at the tag.
run git clone --quiet "$bundle" "$work/src"
for patch in "${patches[@]}"; do
  # A patch already in the source (merged upstream) applies in reverse; node-llama-cpp skips those too.
  if git -C "$work/src" apply --check --reverse --ignore-whitespace "$patch" >/dev/null 2>&1; then
    say "patch $(basename "$patch") is already in the source"
  else
    run git -C "$work/src" apply --ignore-whitespace "$patch"
    say "applied $(basename "$patch")"
  fi
done

# The CPU backend as node-llama-cpp's prebuilt binaries have it: one library per CPU generation, the best the CPU
# runs chosen at start (GGML_CPU_ALL_VARIANTS, loaded dynamically), and ggml's own thread pool rather than OpenMP,
# so both sides run the same kernels the same way, repacked weights and AMX included. The libraries sit beside the
# binary, found through $ORIGIN.
run cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
  -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=ON -DGGML_BACKEND_DL=ON -DGGML_OPENMP=OFF '-DCMAKE_BUILD_RPATH=$ORIGIN' \
  -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON
run cmake --build "$work/build" --config Release --target llama-server -j "${BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"

mkdir -p "$target/bin"
# -P keeps the libraries' version symlinks (the binary asks for lib*.so.0).
cp -P "$work/build/bin/llama-server" "$work"/build/bin/*.so* "$target/bin/"
rm -rf "$work"
echo "$key" >"$target/build.key"
say "built $binary"
echo "$binary"
