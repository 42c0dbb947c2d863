"""Route modules, one per resource; each exposes add_routes(app)."""
