"""The dashboard's data layer: one module per page, each calling library functions (store
queries, cost, transfer, estimator, forecast, export) and formatting what they return. No SQL,
no component, no figure here: pages build those (see :mod:`dashboard.figures`)."""
