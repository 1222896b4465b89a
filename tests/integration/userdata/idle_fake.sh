#!/bin/bash
# Stand-ins for the idle watcher's commands (ss, who, sleep, shutdown, wall,
# nproc), driven by a fake clock: the file $IDLE_CLOCK holds the epoch time
# the watcher reads, and `sleep N` adds N to it instead of sleeping, then
# writes $IDLE_LOADAVG for the new time.  A scenario is given in the
# environment, in seconds since $IDLE_T0:
#   IDLE_SESSIONS="a-b c-d"   ss (and who) list an SSH connection then
#   IDLE_LOAD="a-b:1.50 ..."  the 1-minute load then (else 0.02)
#   IDLE_END=s                the sleep that reaches s stops the watcher
# Every call is appended to $FAKE_LOG as "t cmd args..." (t: its time).
# Bash, not Python: the watcher calls these hundreds of times per test.
cmd=${0##*/}
read -r now <"$IDLE_CLOCK"
t=$((now - IDLE_T0))
echo "$t $cmd $*" >>"$FAKE_LOG"

# within SPEC T: print the value of the first "a-b[:v]" range holding T
within() {
  local r a b v
  for r in $1; do
    v=${r#*:}; [ "$v" = "$r" ] && v=1
    r=${r%%:*}; a=${r%-*}; b=${r#*-}
    if [ "$2" -ge "$a" ] && [ "$2" -lt "$b" ]; then echo "$v"; return; fi
  done
}

case $cmd in
ss)
  [ -z "$(within "${IDLE_SESSIONS:-}" "$t")" ] ||
    echo "0 0 10.0.0.5:22 203.0.113.7:50022" ;;
who)
  [ -z "$(within "${IDLE_SESSIONS:-}" "$t")" ] ||
    echo "ec2-user pts/0 2026-12-07 10:00 (203.0.113.7)" ;;
nproc) echo 2 ;;
sleep)
  t=$((t + $1))
  echo $((t + IDLE_T0)) >"$IDLE_CLOCK"
  load=$(within "${IDLE_LOAD:-}" "$t")
  echo "${load:-0.02} 0.05 0.01 1/123 4567" >"$IDLE_LOADAVG"
  [ "$t" -lt "$IDLE_END" ] || kill -TERM "$PPID" ;;
esac
exit 0
