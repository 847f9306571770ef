"""After the run: per-requirement results and the verdict, the JSON report, known deviations
(baseline), diff, CI glue, renderings and the report subcommands."""
