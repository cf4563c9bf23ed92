"""Shared pytest configuration."""


def pytest_configure(config):
    # tests/test_browser.py opens the built book in headless Chromium.  It needs
    # a finished build, so `make test` deselects it in the unit-test step
    # (-m "not browser") and runs it after `jupyter-book build` (-m browser).
    config.addinivalue_line("markers", "browser: needs the built book in _build/html and Debian chromium")
