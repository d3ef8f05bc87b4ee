"""The report cache: span summaries in a local DuckDB file, kept in step with Phoenix (sync.py)
and aggregated in SQL (aggregate.py) into exactly the uncached report's figures."""
