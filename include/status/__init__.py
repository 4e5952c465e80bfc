"""Read models of the operator UI: status tables, VM lists and plot series, computed from the store.

Pure queries over our state database (no Airflow, no cloud, no pool), so they are tested and
benchmarked without the plugin; the plugin's pages render what these return.
"""
