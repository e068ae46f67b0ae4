# Sourced by the long training scripts just before they exec the trainer at nice 19.
# Started with setsid, a run leads its own session, and Linux's autogroup scheduler shares the CPU
# evenly between sessions whatever a process's nice value: at nice 19 alone the long run still took
# half of the two cores from an evaluation started in another session (2026-12-07). Giving the
# session's group nice 19 makes the run yield for real. A script running inside someone else's
# session (a branch started from a shell) leaves the group alone: it holds the caller's work too.
if [ "$(ps -o sid= -p $$ | tr -d ' ')" = "$$" ] && [ -w /proc/self/autogroup ]; then
  echo 19 > /proc/self/autogroup 2>/dev/null || true
fi
