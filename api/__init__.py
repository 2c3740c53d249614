"""The Litestar web layer: app factory, guards, controllers, error mapping and HTML views."""
