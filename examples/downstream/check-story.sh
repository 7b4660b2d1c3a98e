#!/usr/bin/env bash
# The downstream demo: builds and runs the three applications of `mirror-fetch` (each
# `cargo run -p` on its own, so each gets only its own taskscope features), checks that each
# runs on the runtime it picked, and that all of them print the same story.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() { # name expected-runtime cargo-args...
    local name=$1 expected=$2
    shift 2
    cargo run -q "$@" >"$out/$name"
    local got
    got=$(head -n 1 "$out/$name")
    if [[ "$got" != "runtime: $expected" ]]; then
        echo "FAIL: $name printed '$got', expected 'runtime: $expected'" >&2
        exit 1
    fi
    tail -n +2 "$out/$name" >"$out/$name.story"
    echo "$name: $got"
}

run app-tokio tokio-mt -p mirror-fetch-app-tokio
run app-smol smol -p mirror-fetch-app-smol
run app-both tokio-mt -p mirror-fetch-app-both
run app-both-smol smol -p mirror-fetch-app-both -- --smol

for other in app-smol app-both app-both-smol; do
    if ! diff -u "$out/app-tokio.story" "$out/$other.story"; then
        echo "FAIL: $other told a different story than app-tokio" >&2
        exit 1
    fi
done
echo "the same story on every runtime ($(wc -l <"$out/app-tokio.story") lines):"
cat "$out/app-tokio.story"
