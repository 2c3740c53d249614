"""Pure domain: types and rules as plain dataclasses and functions, no I/O beyond reading data files."""
