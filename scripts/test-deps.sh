#!/usr/bin/env bash
# `npm test`'s pretest step: the Debian packages the tests run (a real registry, skopeo, wabt, the second
# filter toolchains, ...). This list is the only one: .ci/run gets them by running `npm test` too.
# Already installed: one dpkg-query, nothing else. Missing: installed when we are root or have
# password-less sudo; otherwise we stop at once with the one command to run.
set -euo pipefail

packages=(
  docker-registry apache2-utils skopeo wabt wrk curl openssl ca-certificates
  # The C toolchain the tests build their C proxy-wasm filters with (test/support/c-filters.ts).
  clang lld wasi-libc libclang-rt-14-dev-wasm32
)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "pretest: not a Debian system; the tests need the equivalents of: ${packages[*]}" >&2
  exit 0
fi

# One dpkg-query for all of them; a package dpkg has never heard of is simply not printed.
declare -A installed=()
while read -r name status; do
  if [ "$status" = ii ]; then installed[$name]=1; fi
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for p in "${packages[@]}"; do [ -n "${installed[$p]:-}" ] || missing+=("$p"); done

if [ ${#missing[@]} -gt 0 ]; then
  line="apt-get install -y ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo)
  else
    echo "pretest: the tests need Debian packages that are not installed. Run:" >&2
    echo "  sudo apt-get update && sudo $line" >&2
    exit 1
  fi
  echo "pretest: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -o DPkg::Lock::Timeout=600 "${missing[@]}"
  # The Debian package starts a registry on :5000 as a service on some machines; tests start their own.
  ("${sudo[@]}" systemctl stop docker-registry || "${sudo[@]}" service docker-registry stop || true) >/dev/null 2>&1
fi
