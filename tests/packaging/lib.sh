# Shared by the packaging checks (sourced): named checks that print PASS/FAIL and a summary,
# and running the consumer programs of tests/packaging/consumer with a deadline.
passed=0 failed=0

check() {  # check <title> <command...>: runs the command, its output shown only on failure
  local check_title=$1 out
  shift
  if out=$("$@" 2>&1); then
    echo "PASS: $check_title"
    passed=$((passed + 1))
  else
    echo "FAIL: $check_title"
    echo "$out" | sed 's/^/    /' | tail -40
    failed=$((failed + 1))
  fi
}

expect_output() {  # expect_output <regex> <command...>: the command succeeds and prints a match
  local regex=$1 out
  shift
  out=$(timeout 120 "$@" 2>&1) || { echo "$out"; return 1; }
  grep -Eq "$regex" <<<"$out" || { echo "output lacks /$regex/:"; echo "$out"; return 1; }
}

loads_from() {  # loads_from <folder> <program>: the program's libtcpserver comes from <folder>
  local dir=$1 program=$2 line
  line=$(ldd "$program" | grep 'libtcpserver\.so') || { echo "ldd: no libtcpserver in $program"; return 1; }
  [[ $line == *"=> $dir/"* ]] || { echo "loads ${line# } instead of one in $dir"; return 1; }
}

summary() {
  echo "$passed passed, $failed failed"
  ((failed == 0))
}
