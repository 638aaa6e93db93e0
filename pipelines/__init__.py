"""Pipelines of investment-signals, declared as data (see pipelines.core.model).

PRODUCT_MODULES lists the modules whose PIPELINE declarations make up the product registry; each
lands with its data source. Deployments add their own with the PIPELINE_MODULES setting.
"""

PRODUCT_MODULES: tuple[str, ...] = ()
