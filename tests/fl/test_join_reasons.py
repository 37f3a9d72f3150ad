"""A run that cannot start says who did not join and what is known of each, by name."""

import uuid

from app.backends.factory import create_hub
from app.core.edge import EdgeAgent
from app.core.fl_config import config_from_toml
from app.core.run.server import FLServer
from app.core.run.spec import RunSpec
from app.core.tasks.builtin import builtin_sha256
from app.core.tasks.spec import TaskSpec


def test_too_few_edges_names_each_absent_edge_with_what_is_known(tmp_path):
    url = f"local://join-{uuid.uuid4().hex[:8]}"
    agent = EdgeAgent(create_hub(url, "dev-1"), "dev-1", "site-1", 0.5, cache_dir=tmp_path)
    agent.start()
    server_hub = create_hub(url, "server-1")
    server_hub.connect()
    config = config_from_toml('name = "c"\n[training]\nrounds = 1\nmin_clients = 3\n')
    spec = RunSpec(
        1,
        "lab",
        config,
        ["dev-1", "dev-2", "dev-3", "dev-4"],
        tmp_path / "artifacts",
        TaskSpec("digits", 0, "1", builtin_sha256("digits"), builtin=True),
        join_timeout_s=3.0,
        edge_names={"dev-1": "site-1", "dev-2": "site-2", "dev-3": "site-3", "dev-4": "site-4"},
        edge_states={
            "dev-1": "online when the run started, last seen 2026-12-06 10:00:00",
            "dev-2": "never connected",
            "dev-3": "offline since 2026-12-05 09:30:00",
            "dev-4": "online when the run started, last seen 2026-12-06 10:00:00",
        },
    )
    try:
        outcome = FLServer(server_hub, spec).serve()
    finally:
        agent.stop()
        server_hub.close()
    assert outcome.state == "FAILED"
    assert outcome.reason.startswith("only 1 of 4 edges joined; min_clients is 3. Not joined: ")
    assert "site-2 (never connected)" in outcome.reason
    assert "site-3 (offline since 2026-12-05 09:30:00)" in outcome.reason
    assert (
        "site-4 (online when the run started, last seen 2026-12-06 10:00:00; no answer in 3 s)"
        in (outcome.reason)
    )
    assert "dev-" not in outcome.reason  # edges are named, never by their device ids
