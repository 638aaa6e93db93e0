"""The clinical_trials pipeline's steps and tables (declared in `pipelines.clinical_trials`).

fetch: raw ClinicalTrials.gov pages and SEC company_tickers.json, archived as artifacts.
detect: stored snapshots per study and version, change events (first sighting is a baseline).
score: events of mapped industry sponsors -> signals and queued alerts; metrics: counts and the
unmapped sponsors an operator may add to `pipelines/data/sponsor_overrides.csv`.
"""
