"""Talking to Phoenix: the REST/GraphQL client, filter expressions, price registration."""
