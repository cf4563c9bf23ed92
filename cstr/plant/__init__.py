"""The physics: the reactor model, its integration, and the operating decisions (grades, limit, scenarios).

numpy, scipy and numba only: nothing here knows about environments, controllers or learning.
"""
