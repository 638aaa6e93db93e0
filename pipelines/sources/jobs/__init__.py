"""Public job boards (Greenhouse, Lever, Ashby): normalised postings and hiring-change tracking."""
