"""pytest: doctests of src/ run with the tests; the CLI entry module is not imported for them."""

collect_ignore = ["src/yotsuba/__main__.py"]
