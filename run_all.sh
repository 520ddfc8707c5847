set -x
PY=/work/main/.venv/bin/python
$PY -m bench.unaffected_groups --before main --rev live-model --writes 300 --rounds 7 --out docs/benchmarks.md --plot docs/benchmarks-unaffected-groups.png --json /tmp/unaffected.json
$PY -m bench.live_views --sizes 1000 --out docs/benchmarks.md --plot docs/benchmarks-live-views.png
$PY -m bench.fanout --out docs/benchmarks.md --plot docs/benchmarks-fanout.png --json /tmp/final_fanout.json
$PY -m bench.graphql_fanout --sizes 1000,5000 --out docs/benchmarks.md --plot docs/benchmarks-graphql.png --json /tmp/final_gql.json
