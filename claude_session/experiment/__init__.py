"""Controlled experiments: prompt variants run on real tasks, in randomized blocks, with a verdict."""
