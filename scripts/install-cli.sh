#!/usr/bin/env bash
# Installs the modelops command line on PATH, so it starts in a fraction of a second from any folder (no `dotnet run`):
# publishes clients/ModelOps.Cli (Release, framework-dependent) to $prefix/lib/modelops and writes $prefix/bin/modelops,
# which runs it with the dotnet found now. prefix: $MODELOPS_PREFIX, else /usr/local as root, else ~/.local.
# Publishes again only when a source the command line is built from is newer than the installed copy.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '[install-cli] %s\n' "$*"; }

if [ -n "${MODELOPS_PREFIX:-}" ]; then
  prefix="$MODELOPS_PREFIX"
elif [ "$(id -u)" -eq 0 ]; then
  prefix=/usr/local
else
  prefix="$HOME/.local"
fi
lib="$prefix/lib/modelops"
bin="$prefix/bin/modelops"
dotnet="$(readlink -f "$(command -v dotnet)")"

# What the command line is built from: its project, the client libraries, the ledger's verification and the protos.
sources=("$root/clients/ModelOps.Cli" "$root/clients/ModelOps.Client" "$root/clients/ModelOps.Tracking.Client"
         "$root/clients/ModelOps.Registry.Client" "$root/clients/ModelOps.Drift.Client"
         "$root/libraries/ModelOps.Ledger.Verification" "$root/protos" "$root/Directory.Packages.props" "$root/Directory.Build.props")
if [ -x "$bin" ] && [ -f "$lib/modelops.dll" ] &&
   [ -z "$(find "${sources[@]}" \( -name bin -o -name obj \) -prune -o -type f -newer "$lib/modelops.dll" -print -quit)" ]; then
  say "modelops is up to date at $bin"
else
  say "publishing clients/ModelOps.Cli to $lib"
  staging="$(mktemp -d)"
  trap 'rm -rf "$staging"' EXIT
  "$dotnet" publish "$root/clients/ModelOps.Cli" -c Release -o "$staging/out" --nologo -v quiet -p:UseAppHost=false >/dev/null
  mkdir -p "$prefix/lib" "$prefix/bin"
  rm -rf "$lib"
  mv "$staging/out" "$lib"
  touch "$lib/modelops.dll"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$dotnet" "$lib/modelops.dll" > "$bin.tmp"
  chmod 755 "$bin.tmp"
  mv "$bin.tmp" "$bin"
  say "installed $bin"
fi

case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) say "$prefix/bin is not on PATH: add it (export PATH=\"$prefix/bin:\$PATH\") or run $bin" ;;
esac
