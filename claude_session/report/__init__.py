"""Reports: fetch spans from Phoenix, aggregate per group, compare, render as table, JSON, CSV or chart."""
