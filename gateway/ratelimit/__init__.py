"""Per-operator pacing: token buckets (compiled in gateway._core) fed by the clock the caller
passes in, and the trio limiter that sleeps on them. Built with the daemon issue."""
