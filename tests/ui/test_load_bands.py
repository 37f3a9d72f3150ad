"""Device load at lab scale: a min-max band and the mean instead of a line per edge."""

import numpy as np

from app.ui.run_views.load import MAX_LINES, LoadTab, band
from bench.plot_refresh import synthetic_view


def test_band_is_min_mean_max_across_series():
    t = np.arange(10.0)
    series = [(t, np.full(10, 1.0)), (t, np.full(10, 3.0)), (t[5:], np.full(5, 8.0))]
    times, lo, mean, hi = band(series, 0.0, 10.0, 10)
    assert len(times) == 10
    assert np.allclose(lo, 1.0) and np.allclose(hi[:5], 3.0) and np.allclose(hi[5:], 8.0)
    assert np.allclose(mean[:5], 2.0) and np.allclose(mean[5:], 4.0)


def test_many_edges_draw_bands_few_draw_lines(qtbot):
    many, few = LoadTab(), LoadTab()
    for tab in (many, few):
        qtbot.addWidget(tab)
    many.render(synthetic_view(MAX_LINES + 8, 5, 120))
    few.render(synthetic_view(3, 5, 120))
    assert not many._curves and set(many._bands) == {"cpu", "mem", "net"}
    low, mean, high = many._bands["cpu"]
    _, ys = mean.getData()
    assert len(ys) > 0 and np.all(low.getData()[1] <= ys) and np.all(ys <= high.getData()[1])
    assert not few._bands and len({edge for edge, _ in few._curves}) == 3


def test_live_redraws_do_not_drain_references_to_none(qtbot):
    """PySide6 6.12.0 dropped a reference to None on many calls: on Python 3.11 a live plot
    then crashed the process within minutes ("deallocating None")."""
    import sys

    tab = LoadTab()
    qtbot.addWidget(tab)
    tab.resize(900, 600)
    tab.show()
    view = synthetic_view(20, 5, 120)
    tab.render(view)
    before = sys.getrefcount(None)
    for frame in range(30):
        for edge in view.job.edges:
            view.samples[edge]["cpu"].append(2e9 + frame, 50.0)
        view.version += 1
        tab.render(view)
        tab.repaint()
    assert sys.getrefcount(None) > before - 1000


def test_a_live_view_moves_on_in_steps():
    from app.ui.run_views.load import LIVE_STEP_S, LIVE_WINDOW_S, live_range

    start, end = live_range(1000.0, 5001.0)
    assert end % LIVE_STEP_S == 0 and end > 5001.0 and end - start == LIVE_WINDOW_S
    assert live_range(1000.0, 5002.0) == (start, end)  # a second later: the same range
    assert live_range(4990.0, 5001.0)[0] == 4990.0  # a young run starts at its first sample


def test_the_time_axis_is_laid_out_again_only_when_the_view_steps(qtbot):
    tab = LoadTab()
    qtbot.addWidget(tab)
    view = synthetic_view(MAX_LINES + 8, 5, 120)
    tab.render(view)
    ranges = []
    tab.plots["cpu"].sigXRangeChanged.connect(lambda *_: ranges.append(1))
    last = max(float(view.samples[e]["cpu"].t[-1]) for e in view.job.edges)
    for frame in range(1, 4):  # three more seconds of samples, well within one step
        for edge in view.job.edges:
            view.samples[edge]["cpu"].append(last + frame * 0.001, 50.0)
        view.version += 1
        tab.render(view)
    assert ranges == []
    _, mean, _ = tab._bands["cpu"]
    assert mean.getData()[0][-1] <= tab._range[1]  # the newest samples are in view
