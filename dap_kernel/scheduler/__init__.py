"""Scheduled notebook reports: papermill runs as the schedule's owner, in the DAP service.

- :mod:`.model` — what a schedule and a run are (plain records, no storage);
- :mod:`.cron` — cron expressions in a time zone (DST as Debian's cron handles it);
- :mod:`.params` — typed parameters checked against the notebook's ``parameters`` cell;
- :mod:`.store` — schedules, runs and the leases that keep two schedulers off one occurrence;
- :mod:`.api` — the governed feature: who may see, change and run which schedule;
- :mod:`.execute` — one run: a papermill subprocess talking to DAP with a key of the run;
- :mod:`.scheduler` — the loop in the DAP service: what is due, claim, run, retry, deliver;
- :mod:`.outputs`, :mod:`.delivery` — report files (ipynb, HTML, PDF), mail and webhooks.
"""
