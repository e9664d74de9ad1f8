"""Evaluation of matting results: the paper's metrics, the LR/HR evaluators and the test-set generators.

See documentation/evaluation.md.
"""
