"""The FastAPI paper-trading server: auth, routes, WebSocket, on the one engine."""
