"""Controllers per area. Each handler parses, calls one service and returns a schema."""
