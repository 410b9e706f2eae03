"""Attacks on Lumen, each as a test that failed before its fix (issue 11)."""
