"""List pages' cells: what they show and how they sort."""

from app.ui.widgets.record_model import SORT_ROLE, Bytes, RecordTableModel


def test_sizes_show_as_people_read_them_and_sort_as_numbers():
    model = RecordTableModel([("Size", lambda n: Bytes(n))])
    model.set_rows([500, 19_600, 20_000_000])
    shown = [model.data(model.index(r, 0)) for r in range(3)]
    assert shown == ["500 B", "19.1 KB", "19.1 MB"]
    assert [model.data(model.index(r, 0), SORT_ROLE) for r in range(3)] == [500, 19_600, 20_000_000]


def test_rows_sort_in_the_model_keep_their_cells_and_grow_at_the_end(qtbot):
    from datetime import UTC, datetime, timedelta

    from PySide6.QtCore import Qt

    from app.services.entities.records import JobRecord
    from app.services.entities.run_data import LogRecord
    from app.ui.run_views.data import RunView
    from app.ui.run_views.logs import LogsTab
    from app.ui.widgets.record_model import Ago, SourceSortingProxy

    now = datetime.now(UTC)
    model = RecordTableModel(
        [("Name", lambda r: r[0]), ("Seen", lambda r: Ago(r[1]))], key=lambda r: r[0]
    )
    proxy = SourceSortingProxy()
    proxy.setSourceModel(model)
    rows = [("b", now - timedelta(minutes=3)), ("a", None), ("c", now - timedelta(seconds=5))]
    assert model.set_rows(rows) is True
    proxy.sort(1, Qt.SortOrder.DescendingOrder)  # the most recently seen first
    assert [proxy.index(r, 0).data() for r in range(3)] == ["c", "b", "a"]
    assert [proxy.index(r, 1).data() for r in range(3)] == ["5 s ago", "3 min ago", "never"]
    # The same rows again: repainted in place (no reset), still sorted.
    assert model.set_rows(list(reversed(rows))) is False
    assert [proxy.index(r, 0).data() for r in range(3)] == ["c", "b", "a"]

    job = JobRecord(1, "j", [], "p", "c", 1, {}, ["e1"], "RUNNING", "", 0, 2, None, now, now, None)
    view = RunView(job)
    view.logs = [LogRecord(now + timedelta(seconds=i), "e1", "INFO", f"line {i}") for i in range(3)]
    logs = LogsTab()
    qtbot.addWidget(logs)
    logs.render(view)
    view.logs.extend(
        LogRecord(now + timedelta(seconds=i), "server", "WARNING", f"line {i}") for i in (3, 4)
    )
    logs.render(view)
    assert logs.model.rowCount() == 5
    texts = [logs.model.index(r, 3).data() for r in range(5)]
    assert texts == [f"line {i}" for i in range(5)]
