"""The rule test table: one module per rule family, each exporting ``CASES``."""
