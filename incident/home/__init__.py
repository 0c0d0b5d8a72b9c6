"""The home page (after login): what needs me now, per role, in a fixed number of queries."""
