"""Reports: the case report (printable, Markdown) and the metrics with their CSV exports."""
