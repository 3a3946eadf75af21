#!/usr/bin/env bash
# Regenerate the committed example manifests with a real `dbt parse`.
#
# Why committed: the demo, the docs and the tests read these manifests and must not
# need dbt (or a network) to run. This script is the only place that needs dbt.
#
# Usage:
#   scripts/regen_manifests.sh                  # rewrite examples/manifests/*.json.gz + README.md
#   scripts/regen_manifests.sh --large OUTDIR   # write OUTDIR/shop_5000.manifest.json (not committed)
#
# Environment:
#   DBT            dbt executable (default: `dbt` on PATH); must be dbt-core 1.11.x with dbt-duckdb
#   PYTHON         python for the generator (default: python3)
#   LARGE_MODELS   model count for --large (default: 5000)
#   LARGE_MIN_MB   --large fails below this many MB (default: 50)
#   LARGE_EXTRA_COLUMNS  extra columns per raw table for --large (default: 0)
set -euo pipefail

DBT="${DBT:-dbt}"
PYTHON="${PYTHON:-python3}"
LARGE_MODELS="${LARGE_MODELS:-5000}"
LARGE_MIN_MB="${LARGE_MIN_MB:-50}"
LARGE_EXTRA_COLUMNS="${LARGE_EXTRA_COLUMNS:-0}"
SCALED_MODELS=260
FOCAL=fct_orders

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE_PROJECT="$REPO_ROOT/examples/shop"
OUT_DIR="$REPO_ROOT/examples/manifests"
GENERATOR="$REPO_ROOT/scripts/gen_example.py"

die() { echo "regen_manifests: error: $*" >&2; exit 2; }

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

LARGE_OUT=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --large)
            [[ $# -ge 2 ]] || die "--large needs an output directory. Fix: --large /tmp/bench"
            LARGE_OUT="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1'. Fix: see --help" ;;
    esac
done

command -v "$DBT" >/dev/null 2>&1 \
    || die "dbt not found ('$DBT'). Fix: DBT=/path/to/venv/bin/dbt $0 (dbt-core 1.11.x + dbt-duckdb)"

# Versions without the network: ask the python that runs dbt (its shebang), else `dbt --version`.
DBT_PATH="$(command -v "$DBT")"
DBT_PYTHON="$(head -n1 "$DBT_PATH" | sed -n 's/^#! *\([^ ]*python[0-9.]*\).*/\1/p')"
CORE_VERSION="" DUCKDB_VERSION=""
if [[ -n "$DBT_PYTHON" && -x "$DBT_PYTHON" ]]; then
    read -r CORE_VERSION DUCKDB_VERSION < <("$DBT_PYTHON" -c '
from importlib.metadata import PackageNotFoundError, version
def v(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"
print(v("dbt-core"), v("dbt-duckdb"))') || true
else
    DBT_VERSION_TEXT="$("$DBT" --version 2>/dev/null || true)"
    CORE_VERSION="$(sed -n 's/^ *- installed: *\([0-9][0-9.]*\).*/\1/p' <<<"$DBT_VERSION_TEXT" | head -n1)"
    DUCKDB_VERSION="$(sed -n 's/^ *- duckdb: *\([0-9][0-9.]*\).*/\1/p' <<<"$DBT_VERSION_TEXT" | head -n1)"
fi
[[ "$DUCKDB_VERSION" == "-" ]] && DUCKDB_VERSION=""
[[ "$CORE_VERSION" == 1.11.* ]] \
    || die "need dbt-core 1.11.x, found '${CORE_VERSION:-unknown}'. Fix: pip install 'dbt-core==1.11.*' 'dbt-duckdb==1.11.1' in a separate venv"
[[ -n "$DUCKDB_VERSION" ]] || die "dbt-duckdb is not installed for '$DBT'. Fix: pip install 'dbt-duckdb==1.11.1'"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/decp-regen.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# A throwaway profile: dbt parse never connects, but it insists on a profile.
mkdir -p "$WORK/profiles"
cat >"$WORK/profiles/profiles.yml" <<'YAML'
shop:
  target: parse
  outputs:
    parse:
      type: duckdb
      path: ":memory:"
      threads: 1
YAML

# parse PROJECT_DIR: runs `dbt parse` there, prints the wall time in seconds.
parse() {
    local project="$1" start end
    start="$(date +%s.%N)"
    (
        cd "$project"
        DBT_PROFILES_DIR="$WORK/profiles" \
        DBT_SEND_ANONYMOUS_USAGE_STATS=false \
        DBT_USE_COLORS=false \
            "$DBT" parse --no-partial-parse --no-version-check --log-path "$WORK/logs" >&2
    )
    end="$(date +%s.%N)"
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }'
}

if [[ -n "$LARGE_OUT" ]]; then
    mkdir -p "$LARGE_OUT"
    echo "generating a $LARGE_MODELS-model project ..." >&2
    "$PYTHON" "$GENERATOR" "$WORK/shop_$LARGE_MODELS" --models "$LARGE_MODELS" \
        --extra-columns "$LARGE_EXTRA_COLUMNS" >&2
    echo "dbt parse (this takes minutes) ..." >&2
    seconds="$(parse "$WORK/shop_$LARGE_MODELS")"
    target="$LARGE_OUT/shop_$LARGE_MODELS.manifest.json"
    cp "$WORK/shop_$LARGE_MODELS/target/manifest.json" "$target"
    bytes="$(wc -c <"$target")"
    mb="$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')"
    echo "wrote $target: $mb MB, $LARGE_MODELS models, dbt parse ${seconds}s (dbt-core $CORE_VERSION, dbt-duckdb $DUCKDB_VERSION)"
    if (( bytes < LARGE_MIN_MB * 1000000 )); then
        die "$target is $mb MB, below ${LARGE_MIN_MB} MB. Fix: raise LARGE_MODELS or LARGE_EXTRA_COLUMNS"
    fi
    exit 0
fi

mkdir -p "$OUT_DIR"
declare -a ROWS=()

# build NAME PROJECT_DIR COMMAND: parse and store NAME.manifest.json.gz.
build() {
    local name="$1" project="$2" how="$3" seconds
    echo "dbt parse: $name ..." >&2
    seconds="$(parse "$project")"
    gzip -n -9 -c "$project/target/manifest.json" >"$OUT_DIR/$name.manifest.json.gz"
    ROWS+=("$name|$how|$seconds|$project/target/manifest.json")
}

cp -R "$BASE_PROJECT" "$WORK/shop"
rm -rf "$WORK/shop/target" "$WORK/shop/logs" "$WORK/shop/dbt_packages"
build shop "$WORK/shop" "examples/shop as committed"

"$PYTHON" "$GENERATOR" "$WORK/shop_$SCALED_MODELS" --models "$SCALED_MODELS" >&2
build "shop_$SCALED_MODELS" "$WORK/shop_$SCALED_MODELS" \
    "python3 scripts/gen_example.py OUT --models $SCALED_MODELS"

# Write the provenance README from the manifests themselves (counts can never drift).
"$PYTHON" - "$OUT_DIR" "$CORE_VERSION" "$DUCKDB_VERSION" "$FOCAL" "${ROWS[@]}" <<'PY'
import gzip, hashlib, json, os, sys
from collections import Counter

out_dir, core, duckdb, focal, *rows = sys.argv[1:]

def closure(start, edges):
    seen, stack = set(), [start]
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen

table = []
for row in rows:
    name, how, seconds, raw_path = row.split("|")
    raw = open(raw_path, "rb").read()
    m = json.loads(raw)
    kinds = Counter(n["resource_type"] for n in m["nodes"].values())
    uid = f"model.{m['metadata']['project_name']}.{focal}"
    lineage = closure(uid, m["parent_map"]) | closure(uid, m["child_map"]) | {uid}
    selected = {u for u in lineage if not u.startswith("test.")}
    by_kind = Counter(u.split(".")[0] for u in selected)
    # dbt's default (eager) indirect selection adds every test that touches a selected node.
    tests = sum(1 for n in m["nodes"].values() if n["resource_type"] == "test"
                and selected & set(n["depends_on"]["nodes"]))
    gz = os.path.getsize(os.path.join(out_dir, f"{name}.manifest.json.gz"))
    table.append((name, how, seconds, kinds, m, len(raw), gz, hashlib.sha256(raw).hexdigest(),
                  by_kind, tests))

lines = [
    "# Example manifests",
    "",
    "Real dbt manifests of the example project, parsed by real dbt and committed so that the",
    "demo, the docs and the tests need neither dbt nor a warehouse. Do not edit them by hand:",
    "regenerate them with `scripts/regen_manifests.sh` (see docs/how-to/regenerate-examples.md).",
    "This file is written by that script.",
    "",
    f"- dbt-core {core}, dbt-duckdb {duckdb} (manifest schema "
    f"`{table[0][4]['metadata']['dbt_schema_version'].rsplit('/', 1)[-1].removesuffix('.json')}`)",
    "- command: `dbt parse --no-partial-parse --no-version-check`, with",
    "  `DBT_SEND_ANONYMOUS_USAGE_STATS=false` and a throwaway duckdb `:memory:` profile",
    "- compressed with `gzip -n -9`; `dbt parse` stores `raw_code` only (no `compiled_code`)",
    "",
    "| file | project | models | tests | seeds | sources | exposures | nodes | raw bytes | gzip bytes |",
    "|---|---|---|---|---|---|---|---|---|---|",
]
for name, how, seconds, kinds, m, raw, gz, sha, by_kind, tests in table:
    lines.append(
        f"| {name}.manifest.json.gz | {how} | {kinds['model']} | {kinds['test']} | {kinds['seed']} "
        f"| {len(m['sources'])} | {len(m['exposures'])} | {len(m['nodes'])} | {raw} | {gz} |"
    )
lines += [
    "",
    f"Lineage of the focal model `{focal}`, as dbt selects `+{focal}+`: its ancestors, itself and",
    "its descendants (closures over `parent_map` / `child_map`), plus the tests that touch any of",
    "them (dbt's default eager indirect selection):",
    "",
    "| file | models | seeds | sources | exposures | non-test nodes | tests |",
    "|---|---|---|---|---|---|---|",
]
for name, how, seconds, kinds, m, raw, gz, sha, by_kind, tests in table:
    lines.append(
        f"| {name}.manifest.json.gz | {by_kind['model']} | {by_kind['seed']} | {by_kind['source']} "
        f"| {by_kind['exposure']} | {sum(by_kind.values())} | {tests} |"
    )
lines += ["", "SHA-256 of the uncompressed manifests and `dbt parse` wall time at generation:", ""]
for name, how, seconds, kinds, m, raw, gz, sha, by_kind, tests in table:
    lines.append(f"- {name}: `{sha}` ({seconds} s, generated_at {m['metadata']['generated_at']})")
with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as fh:
    fh.write("\n".join(lines) + "\n")
PY

echo "wrote $OUT_DIR:" >&2
ls -l "$OUT_DIR" >&2
