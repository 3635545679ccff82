#!/usr/bin/env bash
# The credit-risk sample, end to end, against a running stack (dotnet run --project Aspire.AppHost):
#   1. train an XGBoost model on synthetic applicants, log the run with its provenance, register the version and set
#      its drift reference (pipeline.py train);
#   2. give the model its promotion policy: provenance, integrity, a drift baseline and two reviewers;
#   3. ask for Production (pipeline.py promote); two reviewers approve from the command line;
#   4. serve: ask the registry what is in Production, score six windows of applicants (a recession from the fourth)
#      and send the decisions and the late outcomes to drift (pipeline.py serve);
#   5. read what drift made of it, write the first shifted window's report, and verify the ledger that recorded it all;
#   6. judge the decisions' fairness across sex and age band, the features' importance, and show the alerts raised;
#   7. explain one applicant's decision from the model's decision log (kept by its monitoring policy, step 2).
# The clients find the stack themselves; PYTHON names a Python with the modelops package (default python3), MODEL the
# model's name (default credit-risk), OUT where the files go (default ./credit-risk-out).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
model="${MODEL:-credit-risk}"
out="$(mkdir -p "${OUT:-credit-risk-out}" && cd "${OUT:-credit-risk-out}" && pwd)"
# MODELOPS_CLI runs another build of the command line (the tests run the one they built).
if [ -n "${MODELOPS_CLI:-}" ]; then
  modelops() { $MODELOPS_CLI "$@"; }
fi
step() { printf '\n== %s\n' "$*"; }

if ! "$python" -c 'import modelops, xgboost' 2>/dev/null; then
  echo "$python cannot import modelops and xgboost: install the package (README, 'From Python') and python3-xgboost, or set PYTHON" >&2
  exit 2
fi
if ! stack="$(modelops stack)"; then
  printf '%s\n\nStart the stack first: dotnet run --project Aspire.AppHost\n' "$stack" >&2
  exit 2
fi
tokens="$(awk '$1 == "tokens" { print $2 }' <<<"$stack")"
verifier_key="$(awk '$1 == "verifier-key" { print $2 }' <<<"$stack")"

step "1. train, log the run, register the version, set its drift reference"
trained="$("$python" "$here/pipeline.py" train --model "$model" --out "$out")"
echo "$trained"
version="$("$python" -c 'import json, sys; print(json.load(sys.stdin)["version"])' <<<"$trained")"
run_id="$("$python" -c 'import json, sys; print(json.load(sys.stdin)["run_id"])' <<<"$trained")"
modelops runs show "$run_id"

step "2. the model's promotion policy (an admin's), and its monitoring policy: keep each decision a year"
modelops models policy set "$model" --file "$here/policy.json" --reason "sample: no Production without provenance, a drift baseline and two reviewers"
modelops drift policy set "$model" --file "$here/monitoring.json" --reason "sample: an applicant may ask why, so each decision is kept for a year"

step "3. ask for Production; two reviewers approve"
requested="$("$python" "$here/pipeline.py" promote --model "$model" --version "$version")"
echo "$requested"
request="$("$python" -c 'import json, sys; print(json.load(sys.stdin)["request_id"])' <<<"$requested")"
modelops approve "$request" -m "validation AUC and provenance checked"
modelops approve "$request" -m "second review: drift reference in place" --token "$tokens/reviewer-2.jwt"
modelops history "$model"

step "4. serve: score six windows of applicants, a recession from the fourth, and report outcomes"
"$python" "$here/pipeline.py" serve --model "$model" --out "$out"

step "5. what drift saw, the report of the first shifted window, and the ledger"
modelops drift status
modelops drift reports "$model" "$version"
modelops drift report "$model" "$version" --window 3 -o "$out/drift-window-3.html"
modelops ledger verify --key "$verifier_key" --save-checkpoint "$out/checkpoint.note"

step "6. fair across sex and age band? what drives the decisions? what alerting made of the drift"
modelops fairness evaluate "$model" "$version" --run "$run_id" --artifact evaluation.csv --label default --score score \
    --sensitive sex,age_band --privileged sex=M
modelops explain importance "$model" "$version" --run "$run_id" --path validation.csv
modelops alerts -f "model=\"$model\""

step "7. an applicant asks why: the decision the log kept for their application, explained (an auditor's)"
modelops explain decision "$model" application-3-7
echo
echo "Done. Open $out/drift-window-3.html, and the dashboard: $(awk '$1 == "dashboard" { print $2 }' <<<"$stack")"
