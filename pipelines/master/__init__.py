"""Steps shared by master pipelines, which start other pipelines' runs and report on them as one."""
