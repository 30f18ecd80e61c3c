#!/usr/bin/env bash
# Lays out fnctl's release files, as .github/workflows/release.yml publishes
# them and as action.yml (.github/install-fnctl.sh) expects them; the install
# test (tests/it/install.rs) builds its release with this script too.
#
#   release-files.sh archive VERSION TARGET BINARY OUT_DIR
#       OUT_DIR/fnctl-VERSION-TARGET.tar.gz (.zip for a Windows target)
#       holding the folder fnctl-VERSION-TARGET/ with BINARY as fnctl (or
#       fnctl.exe), LICENSE and README.md.
#   release-files.sh sums DIR
#       DIR/SHA256SUMS: `<sha256>  <file>` for every archive in DIR, sorted
#       by name (the format `sha256sum -c` reads).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() {
  printf 'release-files: error: %s\n' "$*" >&2
  exit 1
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

archive() {
  (($# == 4)) || die "usage: release-files.sh archive VERSION TARGET BINARY OUT_DIR"
  local version="${1#v}" target="$2" binary="$3" out="$4"
  [[ -f "$binary" ]] || die "no binary at $binary"
  local name="fnctl-$version-$target" exe=fnctl
  [[ "$target" == *windows* ]] && exe=fnctl.exe
  mkdir -p "$out"
  out="$(cd "$out" && pwd)"
  local stage
  stage="$(mktemp -d)"
  trap 'rm -rf "$stage"' RETURN
  mkdir "$stage/$name"
  cp "$binary" "$stage/$name/$exe"
  chmod 755 "$stage/$name/$exe"
  cp "$repo/LICENSE" "$repo/README.md" "$stage/$name/"
  if [[ "$target" == *windows* ]]; then
    rm -f "$out/$name.zip"
    if command -v 7z >/dev/null 2>&1; then
      (cd "$stage" && 7z a -tzip -bd "$out/$name.zip" "$name" >/dev/null)
    else
      (cd "$stage" && zip -qr "$out/$name.zip" "$name")
    fi
    printf '%s\n' "$out/$name.zip"
  else
    tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
    printf '%s\n' "$out/$name.tar.gz"
  fi
}

sums() {
  (($# == 1)) || die "usage: release-files.sh sums DIR"
  local dir="$1" file
  local files=()
  shopt -s nullglob
  for file in "$dir"/fnctl-*.tar.gz "$dir"/fnctl-*.zip; do
    files+=("$(basename "$file")")
  done
  shopt -u nullglob
  ((${#files[@]})) || die "no fnctl-*.tar.gz or fnctl-*.zip in $dir"
  local sorted
  sorted="$(printf '%s\n' "${files[@]}" | LC_ALL=C sort)"
  : >"$dir/SHA256SUMS"
  while IFS= read -r file; do
    printf '%s  %s\n' "$(sha256 "$dir/$file")" "$file" >>"$dir/SHA256SUMS"
  done <<<"$sorted"
  cat "$dir/SHA256SUMS"
}

command="${1:-}"
shift || true
case "$command" in
  archive) archive "$@" ;;
  sums) sums "$@" ;;
  *) die "usage: release-files.sh archive VERSION TARGET BINARY OUT_DIR | sums DIR" ;;
esac
