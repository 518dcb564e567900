"""Cache bundles from the command line (chapter 00).

    python -m gaputils.cache export --chapter 2              # the runs chapter 02 used
    python -m gaputils.cache export --all --out runs.tar.gz  # every run in the cache
    python -m gaputils.cache import runs.tar.gz              # a file or a URL
    python -m gaputils.cache fetch --chapter 2               # the book's release bundle

``export --chapter N`` needs the chapter's ledger, which ``python -m gaputils.reproduce``
writes while it executes the chapter (GAPUTILS_CHAPTER). ``fetch`` downloads the bundle of this
version's release from the repository the package names and imports it. ``--cache DIR`` picks
the cache folder (default: GAPUTILS_CACHE, else cache/ of the checkout).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..runtime import cache_dir, mode
from . import bundle


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gaputils.cache", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("export", "import", "fetch"))
    p.add_argument("source", nargs="?", help="import: the bundle's path or URL")
    p.add_argument("--chapter", type=int, help="export/fetch: the chapter's runs")
    p.add_argument("--all", action="store_true", help="export: every run in the cache")
    p.add_argument("--mode", default=None, help="the runs' mode (default: GAPUTILS_MODE)")
    p.add_argument("--out", type=Path, help="export: the bundle (default: its release name)")
    p.add_argument("--cache", type=Path, default=None, help="the cache folder")
    args = p.parse_args(argv)
    if args.what == "import" and not args.source:
        p.error("import needs the bundle's path or URL")
    if args.what in ("export", "fetch") and args.chapter is None and not args.all:
        p.error(f"{args.what} needs --chapter N" + (" or --all" if args.what == "export" else ""))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    folder = args.cache or cache_dir()
    run_mode = args.mode or mode()
    if args.what == "export":
        keys = ([p.stem for p in sorted(folder.glob("*.json"))] if args.all
                else bundle.chapter_keys(f"{args.chapter:02d}", folder))
        out = args.out or Path(bundle.file_name(args.chapter, run_mode) if not args.all
                               else "gaputils-cache-all.tar.gz")
        manifest = bundle.export(keys, out, folder, run_mode)
        print(f"{out}: {len(manifest['keys'])} runs")
        return 0
    source = args.source if args.what == "import" else bundle.release_url(args.chapter,
                                                                          run_mode)
    got = bundle.load(source, folder)
    print(f"{source}: {got['added']} runs added to {folder}, {got['kept']} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
