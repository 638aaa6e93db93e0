"""Step logic of the insider_form4 pipeline (declared in `pipelines.insider_form4`).

discovery: which filings to fetch (current-filings feed, daily form index) and where their XML is;
fetch / detect / score: the step functions; store: the pipeline's tables and idempotent loads.
"""
