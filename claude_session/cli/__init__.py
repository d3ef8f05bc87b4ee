"""The command line: parses flags and environment once, runs a command, turns errors into one line."""
