"""`kguard fix`: findings -> the smallest change that fixes them, written where the user keeps the field.

Modules: `pss` (Pod Security securityContext changes), `changes` (the change record), `locate` (which source
document holds a rendered field), `plan` (in place, or a strategic-merge patch in the overlay), `yamledit`
(round-trip edits that leave untouched lines alone), `run` (scan, plan, write, re-scan, roll back), `output`.
ruamel.yaml is imported lazily by `yamledit`, so scanning never pays for it. See docs/fix.md.
"""
