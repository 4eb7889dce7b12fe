#!/usr/bin/env bash
# Fails when a source file includes a header by a relative path that leaves
# its folder ("../"): that would get around the per-library include roots.
set -euo pipefail
root="$1"
found=$(grep -rnE '#include +"\.\./' "$root"/kafka "$root"/log "$root"/mirror "$root"/offsets \
        "$root"/linker "$root"/src "$root"/tools --include='*.h' --include='*.cpp' || true)
if [[ -n "$found" ]]; then
  echo "relative includes that leave their folder:" >&2
  echo "$found" >&2
  exit 1
fi
echo "no relative includes leave their folder"
