"""Cases: incidents on the city's accounts, with offending items, notes and a timeline."""
