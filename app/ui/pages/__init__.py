"""The window's pages, one module each: what the navigation list opens."""
