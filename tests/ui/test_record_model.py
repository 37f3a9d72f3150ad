"""List pages' cells: what they show and how they sort."""

from app.ui.record_model import SORT_ROLE, Bytes, RecordTableModel


def test_sizes_show_as_people_read_them_and_sort_as_numbers():
    model = RecordTableModel([("Size", lambda n: Bytes(n))])
    model.set_rows([500, 19_600, 20_000_000])
    shown = [model.data(model.index(r, 0)) for r in range(3)]
    assert shown == ["500 B", "19.1 KB", "19.1 MB"]
    assert [model.data(model.index(r, 0), SORT_ROLE) for r in range(3)] == [500, 19_600, 20_000_000]
