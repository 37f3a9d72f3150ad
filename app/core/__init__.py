"""The FL runtimes: configs (`fl_config`), algorithms (`algorithms/`, one registry), a
run's server side (`run/`), the edge agent (`edge`, `edge_runs`), tasks (`tasks/`), models,
data and training. No Qt, no database; messages and topics are in `app.wire`."""
