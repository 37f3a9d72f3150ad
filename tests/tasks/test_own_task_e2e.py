"""The task of docs/tasks.md, written from the docs alone into a folder outside the
repository, federated on three edge processes that each read their own data folder, over
MQTT and over gRPC: it reaches the accuracy of a centralized run of the same task, and
what crossed the hub per round is the model, not the data."""

import numpy as np
import pytest
import torch

from app.core.fl_config import TrainingSpec, config_from_toml
from app.core.tasks.runtime import TaskContext, load_task, supervised_evaluate
from app.services.security.auth import SYSTEM
from tests.tasks.conftest import doc_block, write_doc_data, write_doc_task


def centralized_accuracy(folder, sha256, sites, config) -> float:
    """The same task trained on the sites' data pooled, evaluated on their validation sets
    pooled: as many epochs as the federated run's rounds x local epochs."""
    task = load_task(folder, sha256)
    cfg = task.config_for(config)
    parts = [task.load_data(site, cfg) for site in sites]
    pooled = [tuple(np.concatenate([p[i][j] for p in parts]) for j in (0, 1)) for i in (0, 1)]
    torch.manual_seed(0)
    model = task.build_model(cfg)
    epochs = config.training.rounds * config.training.local_epochs
    training = TrainingSpec.model_validate({**config.training.model_dump(), "local_epochs": epochs})
    ctx = TaskContext(torch.device("cpu"), 1, training, 0, __import__("logging").getLogger())
    task.train(model, pooled[0], cfg, ctx)
    return supervised_evaluate(model, pooled[1], torch.device("cpu"))["accuracy"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mqtt", "grpc"])
def test_the_documented_task_federates_on_each_edges_own_data(make_center, tmp_path, backend):
    folder = write_doc_task(tmp_path / "outside" / "cancer-mlp")
    sites = write_doc_data(tmp_path / "outside" / "cancer")
    center = make_center(backend)
    services = center.services
    record, new = services.tasks.add(SYSTEM, folder)
    assert new and record.version == 1 and record.data_key == "cancer"
    config_text = doc_block("toml", 'name = "cancer-fedavg"')
    config = config_from_toml(config_text)
    services.configs.save(SYSTEM, config)
    trust = services.tasks.center_fingerprint()
    names = [f"site-{i}" for i in (1, 2, 3)]
    for name, site in zip(names, sites, strict=True):
        center.edge(name, data={"cancer": site}, trust_center=trust)
    center.wait_online(names)
    job = center.run("cancer-fedavg", names)
    assert job.status == "FINISHED", job.status_reason
    assert (job.task_name, job.task_version, job.task_sha256) == ("cancer-mlp", 1, record.sha256)

    metrics = services.run_data.metrics(SYSTEM, job.id)
    final = {m.name: m.value for m in metrics if m.node == "aggregate"}  # last round wins
    baseline = centralized_accuracy(folder, record.sha256, sites, config)
    print(f"\n{backend}: federated {final['fed_val_accuracy']:.4f}, centralized {baseline:.4f}")
    assert final["fed_val_accuracy"] >= baseline - 0.02, (final, baseline)
    assert final["fed_val_samples"] == sum(
        len((s / "validation.csv").read_text().splitlines()) - 1 for s in sites
    )

    # Per round the server took in three updates of the model and a little more; the data
    # (each site's CSV is many times the model) never crossed the hub.
    per_round = {
        m.round: m.value for m in metrics if m.node == "aggregate" and m.name == "hub_bytes_in"
    }
    model_bytes = final["model_bytes"]
    smallest_site = min((s / "train.csv").stat().st_size for s in sites)
    assert len(per_round) == config.training.rounds
    print(f"bytes in per round: {sorted(per_round.values())[:3]}… model {model_bytes:.0f} B x 3")
    for rnd, received in per_round.items():
        assert 3 * model_bytes <= received <= 3 * model_bytes + 24_000, (rnd, received)
        assert received < smallest_site, (rnd, received, smallest_site)
    logs = services.run_data.logs(SYSTEM, job.id)
    assert any("mean loss" in line.text and line.node != "server" for line in logs)  # ctx.logger
    joined = [line.text for line in logs if "joined run" in line.text]
    assert len(joined) == 3 and all("labels {'0': " in text for text in joined)
