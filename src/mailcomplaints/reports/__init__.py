"""The performance report as a page, a PDF and CSV (figures: domain.reporting)."""
