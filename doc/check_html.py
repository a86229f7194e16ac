"""Check the built HTML: internal links and anchors resolve, tutorials have figures.

    python doc/check_html.py doc/_build/html

Exits with status 1 and lists the problems if any.
"""

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.images = [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("img", "script") and attrs.get("src"):
            self.links.append(attrs["src"])
            if tag == "img":
                self.images.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.links.append(attrs["href"])


def _parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def check(root):
    root = Path(root).resolve()
    # _static holds theme templates, not pages
    pages = {p: _parse(p) for p in root.rglob("*.html")
             if "_static" not in p.relative_to(root).parts}
    problems = []
    for path, page in pages.items():
        rel = path.relative_to(root)
        for link in page.links:
            url = urlparse(link)
            if url.scheme or link.startswith(("//", "mailto:", "javascript:")):
                continue  # external: not checked offline
            target = path if not url.path else (path.parent / unquote(url.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{rel}: broken link {link}")
                continue
            if url.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if url.fragment not in ids:
                    problems.append(f"{rel}: missing anchor {link}")
    tutorials = sorted((root / "auto_tutorials").glob("plot_*.html"))
    if not tutorials:
        problems.append("no tutorial page was built")
    for path in tutorials:
        figures = [s for s in pages[path].images if re.search(r"sphx_glr_plot_.*\.png", s)]
        if not figures:
            problems.append(f"{path.relative_to(root)}: no figure")
    n_fig = sum(len([s for s in pages[p].images if "sphx_glr_plot_" in s]) for p in tutorials)
    print(f"{len(pages)} pages, {len(tutorials)} tutorials with {n_fig} figures, "
          f"{sum(len(p.links) for p in pages.values())} links checked")
    return problems


if __name__ == "__main__":
    problems = check(sys.argv[1] if len(sys.argv) > 1 else "doc/_build/html")
    for problem in problems:
        print(problem)
    sys.exit(1 if problems else 0)
