"""`kguard diff BASE [HEAD]`: what a change does to security, between two revisions of a repository.

Both revisions are scanned as repositories (`scanner.plan`) in temporary git worktrees (HEAD defaults to the
working tree) with the same policies, and compared unit by unit (one unit per overlay, plus the files and charts):

- `revision`: plan, load and scan one revision, keeping each unit's objects for the deltas;
- `compare`: findings matched by fingerprint (new, fixed, unchanged, updated);
- `deltas`: network paths opened/closed, permissions gained/lost, escalation paths, Pod Security posture;
- `render`: the comparison as text, JSON, SARIF (`baselineState`) and Markdown.
"""
