"""Step logic of the patent_ip pipeline (FDA Orange Book): extraction, enrichment, calendar, scores,
load and reports. The declaration is `pipelines/patent_ip.py`; parsing lives in
`pipelines/sources/orange_book`, scoring in `pipelines/scoring/patent.py`."""
