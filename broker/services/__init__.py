"""Services: keyword-only functions named for what they do. They take a session from the
caller's unit of work and never commit; reads and writes live in separate functions."""
