"""Shelter placement and capacity broker: domain rules, persistence, services and CLI."""
