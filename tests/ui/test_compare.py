"""Compare runs: the config values that differ, highlighted; results side by side; any
aggregate metric plotted; the table exported as CSV."""

from __future__ import annotations

import csv

from app.core.fl_config import FLConfig
from app.services.security.auth import SYSTEM
from app.storage.models import RoundMetric
from app.ui.pages.compare import DIFFERS, ComparePage
from app.ui.run_views.comparison import comparison
from app.ui.run_views.labels import run_duration, run_label
from tests.helpers import SAMPLE_CONFIG


def two_runs(services):
    services.projects.create(SYSTEM, "p")
    base = FLConfig.model_validate(SAMPLE_CONFIG)
    services.configs.save(SYSTEM, base)
    training = base.training.model_copy(update={"lr": 0.2, "local_epochs": 3})
    services.configs.save(SYSTEM, base.model_copy(update={"name": "faster", "training": training}))
    for name in ("e1", "e2"):
        services.edges.register(SYSTEM, name)
    ids = []
    for config, accuracy in ((base.name, 0.91), ("faster", 0.95)):
        job = services.jobs.create(SYSTEM, f"with {config}", "p", config, ["e1", "e2"])
        services.jobs.transition(SYSTEM, job.id, "STARTING")
        services.jobs.transition(SYSTEM, job.id, "RUNNING")
        with services.db.session() as s:
            for rnd in (1, 2):
                for name, value in (
                    ("test_accuracy", accuracy - 0.1 * (2 - rnd)),
                    ("fed_val_accuracy", accuracy - 0.02),
                    ("hub_bytes_in", 1000.0),
                ):
                    s.add(
                        RoundMetric(
                            job_id=job.id, round=rnd, node="aggregate", name=name, value=value
                        )
                    )
        services.jobs.settle(SYSTEM, job.id, "FINISHED", "", 2)
        ids.append(job.id)
    return ids


def test_only_what_differs_is_listed_then_the_results(services):
    ids = two_runs(services)
    jobs = [services.jobs.get(SYSTEM, i) for i in ids]
    series = {
        j.id: {
            m.name: [
                (m2.round, m2.value)
                for m2 in services.run_data.metrics(SYSTEM, j.id)
                if m2.name == m.name
            ]
            for m in services.run_data.metrics(SYSTEM, j.id)
        }
        for j in jobs
    }
    rows = {r.label: r for r in comparison(jobs, series)}
    config_rows = {k for k, r in rows.items() if r.section == "config"}
    assert config_rows == {"name", "training.lr", "training.local_epochs"}
    assert all(rows[k].differs for k in config_rows)
    assert rows["training.lr"].values == [str(SAMPLE_CONFIG["training"]["lr"]), "0.2"]
    assert rows["final test_accuracy"].values == ["0.91", "0.95"]
    assert rows["final fed_val_accuracy"].values == ["0.89", "0.93"]
    assert "final hub_bytes_in" not in rows  # per-round traffic, not a result
    assert rows["status"].values == ["FINISHED", "FINISHED"] and not rows["status"].differs
    assert rows["rounds"].values == ["2/2", "2/2"]
    # the same wording as the Overview tab's
    shown = rows["duration"].values[0]
    assert shown == run_duration(jobs[0]) and shown.endswith(" s") and "." in shown
    assert rows["task"].values == ["digits (built in)"] * 2


def test_the_page_highlights_differences_plots_any_metric_and_exports(
    qtbot, admin_ctx, tmp_path, monkeypatch
):
    ids = two_runs(admin_ctx.services)
    page = ComparePage(admin_ctx)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.runs.count() == 2 and page.table.rowCount() > 0, timeout=5000)
    assert sorted(page.selected_ids()) == sorted(ids)
    labels = [page.table.item(r, 0).text() for r in range(page.table.rowCount())]
    lr = labels.index("training.lr")
    assert page.table.item(lr, 1).background().color() == DIFFERS
    status = labels.index("status")
    assert page.table.item(status, 1).background().color() != DIFFERS
    assert page.metric_boxes[0].currentText() == "test_accuracy"
    page.metric_boxes[1].setCurrentText("fed_val_accuracy")  # federated evaluation, too
    curves = page.plots[1].getPlotItem().listDataItems()
    by_run = {c.name(): [round(v, 2) for v in c.yData] for c in curves}
    named = {i: run_label(admin_ctx.services.jobs.get(SYSTEM, i)) for i in ids}
    assert by_run == {named[ids[0]]: [0.89, 0.89], named[ids[1]]: [0.93, 0.93]}
    out = tmp_path / "compare.csv"
    monkeypatch.setattr(
        "app.ui.pages.compare.QFileDialog.getSaveFileName", lambda *a, **k: (str(out), "")
    )
    page.export_csv()
    table = list(csv.reader(out.open()))
    assert table[0][:2] == ["section", "value"] and len(table[0]) == 4
    assert ["config", "training.lr", str(SAMPLE_CONFIG["training"]["lr"]), "0.2"] in table
    png = tmp_path / "compare.png"
    monkeypatch.setattr(
        "app.ui.pages.compare.QFileDialog.getSaveFileName", lambda *a, **k: (str(png), "")
    )
    page.export_png()
    assert png.stat().st_size > 1000
