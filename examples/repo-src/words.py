"""Text helpers for the example experiment."""


def slugify(title: str) -> str:
    """A URL slug: lower case, words joined by hyphens."""
    return "_".join(title.lower().split())
