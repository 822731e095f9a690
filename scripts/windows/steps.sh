# Named steps with a summary, for the Windows check scripts (sourced by test.sh and pascal.sh):
# `step <name> <command...>` runs a step, prints PASS or FAIL and returns its status, `skip
# <name> <why>` reports one that cannot run here, `summary` prints "N passed, M failed" and
# fails if any step did.
passed=0 failed=0 skipped=0

step() {  # step <name> <command...>
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    echo "-- PASS: $name"
    passed=$((passed + 1))
  else
    echo "-- FAIL: $name"
    failed=$((failed + 1))
    return 1
  fi
}

skip() {  # skip <name> <why>
  echo "-- SKIP: $1 ($2)"
  skipped=$((skipped + 1))
}

summary() {
  ((skipped)) && echo "$skipped skipped"
  echo "$passed passed, $failed failed"
  ((failed == 0))
}
