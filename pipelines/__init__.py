"""Pipelines of investment-signals, declared as data (see pipelines.core.model).

PRODUCT_MODULES lists the modules whose PIPELINE declarations make up the product registry: the
one list every task name, queue, route, beat entry and Helm worker pool is derived from.
Deployments add their own with the PIPELINE_MODULES setting.
"""

PRODUCT_MODULES: tuple[str, ...] = (
    "pipelines.clinical_trials",
    "pipelines.patent_ip",
    "pipelines.insider_form4",
    "pipelines.institutional_13f",
    "pipelines.hiring",
    "pipelines.insider_hiring_master",
)
