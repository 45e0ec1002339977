"""Headless Chromium from Debian driven by Selenium, for the console's browser tests.

Both binaries are given by path (``/usr/bin/chromium``, ``/usr/bin/chromedriver``),
so Selenium Manager never runs and nothing is downloaded at test time.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# The console's screenshots README shows, taken by the browser tests.
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def available() -> bool:
    """True when Debian's chromium and chromium-driver and Selenium are installed."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return all(os.access(path, os.X_OK) for path in (CHROMIUM, CHROMEDRIVER))


def chromium(width: int = 1280, height: int = 900):
    """A headless Chromium whose console messages ``get_log("browser")`` returns."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio",
                     "--disable-dev-shm-usage", f"--window-size={width},{height}",
                     "--autoplay-policy=no-user-gesture-required", "--no-first-run",
                     "--disable-extensions", "--disable-background-networking"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which(CHROMEDRIVER) or CHROMEDRIVER)
    return webdriver.Chrome(options=options, service=service)


def is_stale(exc: BaseException) -> bool:
    """True for selenium's StaleElementReferenceException (the page replaced the element)."""
    from selenium.common.exceptions import StaleElementReferenceException
    return isinstance(exc, StaleElementReferenceException)


def screenshot(driver, name: str) -> None:
    """Save what ``driver`` shows as docs/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
