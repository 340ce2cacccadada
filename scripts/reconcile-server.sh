#!/usr/bin/env bash
# A real W3C Reconciliation API server (datasette + datasette-reconcile) for
# integration tests and CI.
#
#   scripts/reconcile-server.sh install VENV_DIR
#   scripts/reconcile-server.sh serve VENV_DIR CSV_FILE PORT
#
# serve rebuilds CSV_FILE's sibling .db on every start and runs datasette in the
# foreground (exec), so a test can spawn it, poll the endpoint and kill it.
# Endpoint: http://127.0.0.1:PORT/<csv stem>/register/-/reconcile
# Env: RECONCILE_FTS=0 to match by LIKE '%query%' instead of FTS5 (default 1);
#      RECONCILE_MAX_LIMIT caps a query's `limit` (plugin default 5).
set -euo pipefail

# Pinned: scores come from fuzzywuzzy + Levenshtein, so pin those too.
PINS=(datasette==0.65.5 datasette-reconcile==0.6.3 sqlite-utils==4.2.1
      fuzzywuzzy==0.18.0 python-Levenshtein==0.27.5)

usage() { echo "usage: $0 install VENV_DIR | serve VENV_DIR CSV_FILE PORT" >&2; exit 2; }

case "${1:-}" in
install)
    [ $# -eq 2 ] || usage
    venv=$2
    [ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
    # With == pins pip does not touch the network once they are satisfied.
    "$venv/bin/pip" install -q --disable-pip-version-check "${PINS[@]}"
    ;;
serve)
    [ $# -eq 4 ] || usage
    venv=$2 csv=$3 port=$4
    [ -f "$csv" ] || { echo "no such CSV: $csv" >&2; exit 1; }
    dir=$(cd "$(dirname "$csv")" && pwd)
    stem=$(basename "$csv" .csv)   # datasette names the database after the file
    db=$dir/$stem.db meta=$dir/$stem.metadata.json
    rm -f "$db"
    # --no-detect-types: sqlite-utils 4 would otherwise turn postcodes like
    # 01067 into integers; all columns stay TEXT and ids stay strings.
    "$venv/bin/sqlite-utils" insert "$db" register "$csv" --csv --pk id --no-detect-types
    # The plugin finds register_fts by itself and then matches with FTS5 MATCH
    # (every word must occur, diacritics folded, ranked by bm25 before the
    # limit); without it, it uses name LIKE '%query%'.
    if [ "${RECONCILE_FTS:-1}" != 0 ]; then
        "$venv/bin/sqlite-utils" enable-fts "$db" register name --fts5
    fi
    # Plugin config lives in datasette 0.65's metadata.json, per table. No
    # column descriptions: the plugin's extend breaks when labels != ids.
    cat >"$meta" <<EOF
{"databases": {"$stem": {"tables": {"register": {"plugins": {"datasette-reconcile": {
  "id_field": "id", "name_field": "name",
  "type_default": [{"id": "Organisation", "name": "Organisation"}],
  "max_limit": ${RECONCILE_MAX_LIMIT:-5},
  "service_name": "refsync test register"}}}}}}}
EOF
    echo "reconciliation endpoint: http://127.0.0.1:$port/$stem/register/-/reconcile" >&2
    # -i: immutable, read-only; no journal files next to the CSV.
    exec "$venv/bin/datasette" serve -i "$db" -m "$meta" --host 127.0.0.1 --port "$port"
    ;;
*) usage ;;
esac
