"""Evidence files: screenshots and documents attached to a case, stored under server-made names."""
