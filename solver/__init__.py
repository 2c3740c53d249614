"""Pure optimisation for placements: no database or web imports live in this package."""
