"""FL domain: configs, messages, algorithms, models, data. No Qt, no database."""
