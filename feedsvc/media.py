"""The local files a site serves besides its articles: lead images and the brand's
icon and logo, found only inside the articles dir."""

from __future__ import annotations

import functools
from pathlib import Path

from .articles import Article
from .config import Config


def _inside(root: Path, *candidates: Path) -> Path | None:
    """The first candidate that is a file inside the articles dir, resolved."""
    for candidate in candidates:
        path = candidate.resolve()
        if path.is_relative_to(root) and path.is_file():
            return path
    return None


def local_image(article: Article, root: Path) -> Path | None:
    """The lead image's file: beside the article, else from the articles dir's top,
    and only inside the articles dir. None for a URL or a missing file."""
    if not article.image or "://" in article.image:
        return None
    folder = (root / article.path).parent
    return _inside(root, folder / article.image, root / article.image.lstrip("/"))


def brand_file(cfg: Config, key: str) -> Path | None:
    """The local file of site.icon or site.logo (key), if it names one in the articles
    dir. None for a URL, nothing set, or a missing file."""
    value: str = getattr(cfg.site, key)
    if not value or "://" in value:
        return None
    return _inside(cfg.articles_dir, cfg.articles_dir / value.lstrip("/"))


@functools.lru_cache(maxsize=4096)
def _size(path: Path, mtime_ns: int, size: int) -> tuple[int | None, int | None]:
    import PIL.Image  # here: a start with nothing to build never needs Pillow

    try:
        with PIL.Image.open(path) as image:  # reads the header, not the pixels
            return image.size
    except (PIL.UnidentifiedImageError, PIL.Image.DecompressionBombError, ValueError):
        return None, None


def image_size(path: Path) -> tuple[int | None, int | None]:
    """Width and height in pixels from the file's header (None, None when it is not
    an image Pillow knows); remembered while the file does not change."""
    info = path.stat()
    return _size(path, info.st_mtime_ns, info.st_size)
