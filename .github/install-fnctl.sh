#!/usr/bin/env bash
# The install step of the setup action (action.yml): downloads a released
# fnctl for this runner's OS and architecture, verifies the archive against
# the release's SHA256SUMS (a mismatch or a missing line refuses the
# install), unpacks it, checks that `fnctl --version` names the version
# asked for, and adds its folder to the job's PATH.
#
# Environment (action.yml sets the first three from its inputs):
#   FNCTL_VERSION       0.3.1 or v0.3.1; empty: the version in the Cargo.toml
#                       beside this script, i.e. the action's own tag
#   FNCTL_REPOSITORY    owner/name of the releases (default: $GITHUB_REPOSITORY)
#   FNCTL_DOWNLOAD_URL  the folder holding the release files (default:
#                       https://github.com/$FNCTL_REPOSITORY/releases/download/v$VERSION);
#                       the install test points it at a loopback server
#   FNCTL_INSTALL_DIR   where fnctl goes (default: under $RUNNER_TOOL_CACHE,
#                       else $RUNNER_TEMP, else a new temporary folder)
#   RUNNER_OS, RUNNER_ARCH  set by GitHub (Linux|macOS|Windows, X64|ARM64);
#                       uname's answer when unset
#   GITHUB_PATH, GITHUB_OUTPUT  set by GitHub; outputs `version` and `path`
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say() { printf 'install-fnctl: %s\n' "$*" >&2; }
die() {
  printf 'install-fnctl: error: %s\n' "$*" >&2
  exit 1
}

# The version this copy of the action was tagged with: its Cargo.toml's.
own_version() {
  local manifest="$here/../Cargo.toml"
  [[ -f "$manifest" ]] || die "no version given and no Cargo.toml at $manifest"
  sed -n 's/^version = "\([^"]*\)".*/\1/p' "$manifest" | head -n 1
}

version="${FNCTL_VERSION:-}"
[[ -n "$version" ]] || version="$(own_version)"
version="${version#v}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] \
  || die "version '$version' is not a release version such as 0.3.1"

os="${RUNNER_OS:-$(uname -s)}"
arch="${RUNNER_ARCH:-$(uname -m)}"
case "$os" in
  Linux | linux) os=linux ;;
  macOS | Darwin) os=macos ;;
  Windows | MINGW* | MSYS* | CYGWIN*) os=windows ;;
  *) die "no fnctl release for the OS '$os' (Linux, macOS and Windows have one)" ;;
esac
case "$arch" in
  X64 | x86_64 | amd64 | AMD64) arch=x86_64 ;;
  ARM64 | arm64 | aarch64) arch=aarch64 ;;
  *) die "no fnctl release for the architecture '$arch' (X64 and ARM64 have one)" ;;
esac
case "$os-$arch" in
  linux-*) target="$arch-unknown-linux-gnu" ext=tar.gz exe=fnctl ;;
  macos-*) target="$arch-apple-darwin" ext=tar.gz exe=fnctl ;;
  windows-x86_64) target="x86_64-pc-windows-msvc" ext=zip exe=fnctl.exe ;;
  *) die "no fnctl release for $os on $arch" ;;
esac

name="fnctl-$version-$target"
archive="$name.$ext"
repository="${FNCTL_REPOSITORY:-${GITHUB_REPOSITORY:-}}"
base="${FNCTL_DOWNLOAD_URL:-}"
if [[ -z "$base" ]]; then
  [[ -n "$repository" ]] || die "FNCTL_REPOSITORY is not set (owner/name of the releases)"
  base="https://github.com/$repository/releases/download/v$version"
fi
base="${base%/}"

if [[ -n "${FNCTL_INSTALL_DIR:-}" ]]; then
  dir="$FNCTL_INSTALL_DIR"
elif [[ -n "${RUNNER_TOOL_CACHE:-}" ]]; then
  dir="$RUNNER_TOOL_CACHE/fnctl/$version/$arch"
elif [[ -n "${RUNNER_TEMP:-}" ]]; then
  dir="$RUNNER_TEMP/fnctl-$version"
else
  dir="$(mktemp -d)"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch() {
  curl --fail --silent --show-error --location --retry 3 --retry-delay 2 \
    --output "$work/$1" "$base/$1" \
    || die "could not download $base/$1"
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

say "fnctl $version for $target from $base"
fetch SHA256SUMS
fetch "$archive"

# The line naming exactly this archive (`<hash>  <name>`, or `<hash> *<name>`).
want="$(awk -v file="$archive" '$2 == file || $2 == "*" file { print $1; exit }' "$work/SHA256SUMS")"
[[ -n "$want" ]] || die "SHA256SUMS has no line for $archive: refusing to install it unverified"
got="$(sha256 "$work/$archive")"
if [[ "$(printf '%s' "$want" | tr 'A-F' 'a-f')" != "$got" ]]; then
  die "checksum mismatch for $archive: SHA256SUMS says $want, the download is $got; refusing to install it"
fi
say "verified $archive (sha256 $got)"

mkdir -p "$work/unpacked"
if [[ "$ext" == zip ]]; then
  if command -v unzip >/dev/null 2>&1; then
    unzip -q "$work/$archive" -d "$work/unpacked"
  else
    7z x -bd -y "-o$work/unpacked" "$work/$archive" >/dev/null
  fi
else
  tar -xzf "$work/$archive" -C "$work/unpacked"
fi
[[ -f "$work/unpacked/$name/$exe" ]] || die "$archive holds no $name/$exe"

unpacked="$work/unpacked/$name/$exe"
chmod 755 "$unpacked"
printed="$("$unpacked" --version)" || die "fnctl --version of $archive failed"
[[ "$printed" == "fnctl $version "* || "$printed" == "fnctl $version" ]] \
  || die "fnctl --version of $archive printed '$printed', not fnctl $version"

mkdir -p "$dir"
cp "$unpacked" "$dir/$exe"
say "installed $printed at $dir/$exe"

if [[ -n "${GITHUB_PATH:-}" ]]; then
  printf '%s\n' "$dir" >>"$GITHUB_PATH"
else
  say "add $dir to PATH"
fi
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  printf 'version=%s\npath=%s\n' "$version" "$dir/$exe" >>"$GITHUB_OUTPUT"
fi
