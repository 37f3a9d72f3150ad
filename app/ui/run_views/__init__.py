"""One run's views: the detail page and its tabs (overview, curves, load, logs, models,
topology), over one `RunData`."""
