"""Parity with the official CI-SIS pipeline (issue 17): one-defect mutants and their stored verdicts."""
