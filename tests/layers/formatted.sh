#!/usr/bin/env bash
# Every C++ file of the repository is formatted by its .clang-format
# (a code habit made a test): prints the files that are not.
set -euo pipefail
root="$1"
cd "$root"
if ! command -v clang-format >/dev/null; then
  echo "clang-format is not installed (scripts/setup installs it)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.cpp' '*.h' 2>/dev/null || find . -name '*.cpp' -o -name '*.h')
bad=()
for f in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if ((${#bad[@]})); then
  printf 'not formatted (run clang-format -i on it): %s\n' "${bad[@]}"
  exit 1
fi
echo "all ${#files[@]} C++ files formatted"
