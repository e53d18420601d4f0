"""The paper's figures: configurations, the runner that writes files, plots and the report."""
