"""Developer tools run by scripts/check (not part of the installed package)."""
