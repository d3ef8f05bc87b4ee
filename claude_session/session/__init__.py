"""The session a user works in: its fields and their rules, the custom headers that carry it, the launcher."""
