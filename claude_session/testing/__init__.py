"""Test doubles shipped with the package: the fake Anthropic Messages upstream.

Used by the offline demo, the tests and the benchmarks.
"""
