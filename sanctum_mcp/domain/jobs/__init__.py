"""Scheduled jobs: cron-style jobs that run an SMCP plugin command or fall due for an agent, and the
in-process scheduler that runs them and the registry's housekeeping.

Modules: cron (expressions and time zones), models (what the job tools return), service (JobService:
the job tools), wakeup (the scheduler's wake-up, set by whatever changes jobs), scheduler (the loop:
claims, runs, housekeeping), plugin_runs (what a run of an SMCP plugin command executes and keeps).
"""
