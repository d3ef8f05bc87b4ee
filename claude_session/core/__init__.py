"""The shared vocabulary every part may import, and that imports none of them.

Session fields (their header, attribute, env var and validation), Claude Code's gateway
hints, model prices and the exception hierarchy. Standard library only at import: the
patched proxy imports these on its request path, and the launcher must start fast.
"""
