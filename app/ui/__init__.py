"""Qt only: the window, pages, dialogs and item models over services."""
