"""The registry of the city's official social-media accounts."""
