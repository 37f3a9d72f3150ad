"""Tasks: what gets federated. A task is a folder with `task.toml` and a Python module
(`build_model`, `load_data`, optional `train`, `evaluate`, `load_test_data`), packed into
a normalised archive whose SHA-256 names it, signed by the control center, and imported
by the server and by the edges that opted in. See docs/tasks.md."""
