"""Test helpers that speak real protocols: fake exchange servers for tests and notebooks."""
