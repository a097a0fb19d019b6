#!/usr/bin/env bash
# Bad option values are usage errors for every subcommand: exit 2 and a
# message naming the option and the value, before anything starts (no MPI,
# no server, no run dir).
source "$(dirname "$0")/lib.sh"

expect_bad() { # CMD OPT VALUE ARGS...
  local cmd=$1 opt=$2 val=$3; shift 3
  set +e
  "$WFMPI" "$cmd" "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
  expect_rc 2 "$cmd --$opt $val"
  grep -qF "wfmpi $cmd: invalid value '$val' for --$opt" "$TMP/err" ||
    fail "$cmd --$opt $val: message: $(cat "$TMP/err")"
}

cd "$TMP"
expect_bad run retries x --retries x wf.yml
expect_bad run drain-grace -1 --drain-grace -1 wf.yml
expect_bad run walltime-end tomorrow --walltime-end tomorrow wf.yml
expect_bad serve port abc --port abc --tokens t --state-dir s
expect_bad serve port 70000 --port 70000 --tokens t --state-dir s
expect_bad serve lease 1x --lease 1x --tokens t --state-dir s
expect_bad serve retries -2 --retries -2 --tokens t --state-dir s
G="--server http://127.0.0.1:9 --token-file t"
expect_bad glidein lifetime -5 $G --lifetime -5
expect_bad glidein idle-timeout soon $G --idle-timeout soon
expect_bad glidein max-claim 0 $G --max-claim 0
expect_bad glidein cores-per-node 2.5 $G --cores-per-node 2.5
expect_bad glidein exec maybe $G --exec maybe
[ ! -e s ] && [ ! -e wf.wfmpi ] || fail "a refused command must create nothing"
pass "bad option values: exit 2 with the option named, nothing created"
