"""Evaluation harness: benchmark tasks, answer extraction, metrics, resumable runs and HTML reports.

``hkllm eval list | run | runs | report`` (see ``docs/evals.md``). Tasks register through
``hkllm.evals.task.register``; results are stored in the hkllm database (``hkllm.evals.store``).
"""
