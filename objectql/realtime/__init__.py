"""The subscription core (hub), presence, fan-out backends and transports."""
