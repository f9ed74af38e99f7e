"""The REST routes, one module per area; each route validates, calls the desk, shapes."""
