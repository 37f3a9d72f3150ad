"""What runs without an operator: schedules (trigger arithmetic, fires, history), flows (a
DAG of jobs with conditions), the engines that advance them under database leases, and
`ticker`, the one thread that drives both."""
