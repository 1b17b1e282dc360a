#!/usr/bin/env bash
# Post-deploy verification: the three receptionist end-to-end scripts in smoke mode (read-only, safe
# against production) against a deployed server.
#   E2E_EMAIL=ops-check@example.com E2E_PASSWORD=... scripts/post_deploy_verify.sh https://api.example.com
# URL is the server's base URL (the scripts add /api/v1). The account must exist and own a business
# (tests/e2e/provision_user.py creates both). Credentials come from the environment only, never from
# arguments (those show in ps). Optional environment:
#   POST_DEPLOY_REPORTS  where each script's log goes (default reports/post-deploy; <name>.log)
#   E2E_TIMEOUT          seconds per request (default 10)
#   PYTHON               the interpreter (default python3; the scripts need only the standard library)
# Prints a summary table and exits 1 when any script failed, 2 on bad usage.
set -uo pipefail

usage() { echo "usage: E2E_EMAIL=... E2E_PASSWORD=... $0 URL" >&2; exit 2; }
[ $# -eq 1 ] || usage
url=$1
case "$url" in http://* | https://*) ;; *) echo "post_deploy_verify: URL must start with http:// or https://" >&2; usage ;; esac
if [ -z "${E2E_EMAIL:-}" ] || [ -z "${E2E_PASSWORD:-}" ]; then
  echo "post_deploy_verify: set E2E_EMAIL and E2E_PASSWORD" >&2
  usage
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
e2e_dir="$here/../tests/e2e"
reports=${POST_DEPLOY_REPORTS:-reports/post-deploy}
python=${PYTHON:-python3}
mkdir -p "$reports" || exit 2

meaning() {
  case "$1" in
    0) echo "passed" ;;
    1) echo "auth failed" ;;
    2) echo "fetch failed" ;;
    3) echo "update/integration failed" ;;
    4) echo "persistence/consistency failed" ;;
    5) echo "unexpected error" ;;
    *) echo "crashed" ;;
  esac
}

names=(settings calendar twilio)
codes=()
for name in "${names[@]}"; do
  log="$reports/$name.log"
  echo "== $name (smoke) -> $log"
  # The scripts read E2E_EMAIL/E2E_PASSWORD themselves; SMOKE_TEST makes sure no write is attempted.
  SMOKE_TEST=true "$python" "$e2e_dir/test_${name}_e2e.py" --url "$url" --smoke --timeout "${E2E_TIMEOUT:-10}" 2>&1 |
    tee "$log"
  codes+=("${PIPESTATUS[0]}")
done

failed=0
echo
printf '%-10s %-5s %s\n' "check" "exit" "meaning"
for i in "${!names[@]}"; do
  printf '%-10s %-5s %s\n' "${names[$i]}" "${codes[$i]}" "$(meaning "${codes[$i]}")"
  [ "${codes[$i]}" -eq 0 ] || failed=$((failed + 1))
done
echo "post_deploy_verify: $((${#names[@]} - failed)) passed, $failed failed (logs in $reports)"
[ "$failed" -eq 0 ]
