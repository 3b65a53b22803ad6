"""Fail if a built page would load a script, stylesheet or font from the network.

Usage: ``python docs/check_offline.py docs/_build/html``. Reads every HTML
page (script and stylesheet elements, and inline ``<style>``) and every CSS
file (``@import`` and ``url()``) under the folder; a reference to another host,
or one starting with ``//``, is reported with its file. Links a reader clicks
(``<a href>``) and text are not loads, and are allowed. Exits 1 if anything
was found.
"""

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

_REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
_CSS_URL = re.compile(
    r"""@import\s+(?:url\()?\s*['"]?([^'")\s;]+)|url\(\s*['"]?([^'")]+)""",
    re.IGNORECASE,
)
# <link rel=...> values that make the browser fetch the target.
_LOADING_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "icon"}


def _is_remote(url):
    return bool(_REMOTE.match(url)) and not url.strip().lower().startswith("file:")


def remote_loads_in_css(text):
    """The remote URLs a stylesheet imports or loads (fonts, images)."""
    urls = [first or second for first, second in _CSS_URL.findall(text)]
    return [url for url in urls if _is_remote(url)]


class _PageLoads(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.remote = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        if tag == "script" and _is_remote(attrs.get("src", "")):
            self.remote.append(attrs["src"])
        elif tag == "link":
            rels = set(attrs.get("rel", "").lower().split())
            if rels & _LOADING_RELS and _is_remote(attrs.get("href", "")):
                self.remote.append(attrs["href"])
        elif tag == "iframe" and _is_remote(attrs.get("src", "")):
            self.remote.append(attrs["src"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.remote += remote_loads_in_css(data)


def remote_loads_in_html(text):
    """The remote URLs a page loads as scripts, stylesheets, frames or in CSS."""
    parser = _PageLoads()
    parser.feed(text)
    parser.close()
    return parser.remote


def remote_loads(folder):
    """{file: [remote URLs]} for the HTML and CSS files under folder."""
    found = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix not in (".html", ".css"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        check = remote_loads_in_html if path.suffix == ".html" else remote_loads_in_css
        urls = check(text)
        if urls:
            found[path] = urls
    return found


def main(argv):
    if len(argv) != 2 or not Path(argv[1]).is_dir():
        print(__doc__, file=sys.stderr)
        return 2
    found = remote_loads(argv[1])
    n_pages = sum(1 for _ in Path(argv[1]).rglob("*.html"))
    for path, urls in found.items():
        for url in urls:
            print(f"{path}: loads {url}")
    if found:
        print(f"{len(found)} file(s) load from the network.", file=sys.stderr)
        return 1
    print(f"{n_pages} pages checked: nothing loads from the network.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
